import Foundation
import ReproKit
import ReproTestSupport
import Testing

@testable import ReproKit

/// The matrix as data: columns from matrix/columns.yaml, cells with ids, shards and their merge.
@Suite("the matrix plan: columns as data, cells, shards and merging them")
struct MatrixPlanTests {
    @Test("every column of matrix/columns.yaml loads, in the file's order, and the compiled-in copy is the file")
    func columnsLoad() throws {
        let file = try String(contentsOf: packageRoot.appendingPathComponent("matrix/columns.yaml"), encoding: .utf8)
        let loaded = try MatrixColumn.load(file)
        #expect(loaded.map(\.id) == MatrixColumn.all.map(\.id))
        #expect(loaded.count >= 16)
        #expect(MatrixColumn.policyColumns.count == 12)
        #expect(MatrixColumn.held.pattern == .held && MatrixColumn.held.operations == 2)
        #expect(MatrixColumn.serverRestartGraceful.restartsServer && MatrixColumn.serverRestartGraceful.hasWhileDown)
        #expect(!MatrixColumn.serverRestartQuiet.hasWhileDown, "no operation while the server is down")
        #expect(MatrixColumn.freezeKillThread.freezes && !MatrixColumn.killThread.freezes)
        #expect(MatrixColumn.freezeNetworkCutHalfOpen.cutsThroughKernel)
        #expect(MatrixColumn.all.filter(\.cutsThroughKernel) == [.freezeNetworkCutHalfOpen])
    }

    @Test("a column's fault follows the settings: via, the wait_timeout, the middlebox's timeout, a row's keepalive")
    func faultFromSettings() {
        let kernel = DriversMatrix.Settings(waitTimeout: 5, via: .kernel)
        #expect(MatrixColumn.networkCutHalfOpen.fault(kernel) == .networkCut(mode: .halfOpen, via: .kernel))
        #expect(
            MatrixColumn.networkCutHalfOpen.fault(.init(via: .proxy)) == .networkCut(mode: .halfOpen, via: .proxy))
        #expect(MatrixColumn.networkCutReset.fault(kernel) == .networkCut(mode: .reset, via: .proxy), "a peer's RST")
        #expect(MatrixColumn.waitTimeout.fault(kernel) == .waitTimeout(seconds: 5))
        #expect(MatrixColumn.freezeWaitTimeout.fault(kernel) == .freeze(seconds: 6, during: .waitTimeout))
        #expect(MatrixColumn.natIdleTimeout.fault(kernel) == .middlebox(.nat, idleTimeout: 32))
        #expect(
            MatrixColumn.natIdleTimeout.fault(kernel, hostKeepaliveTime: 4)
                == .middlebox(.nat, idleTimeout: 32, keepaliveTime: 4))
        #expect(MatrixColumn.killThread.timing(kernel).contains("(4 s)"), "the threshold below the wait_timeout")
        #expect(!MatrixColumn.all.contains { $0.timing(kernel).contains("${") })
    }

    @Test("a broken columns file is refused naming the column and what is wrong")
    func brokenColumnsAreNamed() {
        func problem(_ yaml: String) -> String {
            do {
                _ = try MatrixColumn.load(yaml)
                return "loaded"
            } catch { return "\(error)" }
        }
        let base = "- id: c\n  title: t\n  catalog: thread-killed\n  timing: t\n  in: [drivers]\n"
        #expect(problem(base + "  fault: {kind: kill-thread, target: idle}\n") == "loaded")
        #expect(problem(base + "  fault: {kind: kill-thread, target: sideways}\n").hasPrefix("column c: "))
        #expect(problem(base + "  fault: {kind: kill-thread, mode: reset}\n").contains("does not apply"))
        #expect(
            problem(base + "  fault: {kind: wait-timeout, seconds: \"${nope}\"}\n").contains("${nope} is not a setting")
        )
        #expect(problem(base + "  fault: {kind: kill-thread}\n  colour: red\n").contains("unknown key 'colour'"))
        #expect(problem(base + "  fault: {kind: kill-thread}\n  idle: forever\n").contains("idle 'forever'"))
        #expect(
            problem(base.replacingOccurrences(of: "thread-killed", with: "nothing") + "  fault: {kind: kill-thread}\n")
                .contains("not an entry of the error catalog"))
        #expect(
            problem(base + "  fault: {kind: kill-thread}\n" + base + "  fault: {kind: kill-thread}\n").contains("twice")
        )
    }

    static func plan() -> DriversMatrix {
        let settings = DriversMatrix.Settings()
        let rows = DriversMatrix.rows(
            adapters: ["go-sql", "node-mysql2", "hikari"], configs: DriverConfig.allCases, settings: settings)
        return DriversMatrix(rows: rows, settings: settings)
    }

    @Test("cells have unique ids, row by row, and every shard split holds each cell exactly once")
    func shardsPartitionTheCells() throws {
        let cells = Self.plan().cells
        #expect(Set(cells.map(\.id)).count == cells.count)
        #expect(cells.first?.id == "go-sql default/wait-timeout")
        for count in 1...7 {
            var seen: [String: Int] = [:]
            for index in 1...count {
                for cell in MatrixShard(index: index, count: count).select(cells) { seen[cell.id, default: 0] += 1 }
            }
            #expect(seen.count == cells.count && seen.values.allSatisfy { $0 == 1 }, "\(count) shards")
        }
        // Dealt by expected time: the shards' loads are within one cell of each other.
        let costs = cells.map(MatrixShard.cost)
        for count in [2, 3, 4] {
            let shard = MatrixShard.deal(costs, count: count)
            let loads = (1...count).map { k in cells.indices.filter { shard[$0] == k }.map { costs[$0] }.reduce(0, +) }
            #expect(loads.max()! - loads.min()! <= costs.max()!, "\(count) shards: \(loads)")
        }
        // Deterministic: the same plan, the same slice.
        let shard = MatrixShard(index: 2, count: 3)
        #expect(shard.select(cells).map(\.id) == shard.select(Self.plan().cells).map(\.id))
    }

    @Test("--shard K/N: the error names the form or the range")
    func shardParsing() throws {
        #expect(try MatrixShard.parse("2/3") == MatrixShard(index: 2, count: 3))
        for (text, words) in [
            ("3", "is not K/N"), ("a/b", "is not K/N"), ("0/3", "must be 1 to 3"), ("4/3", "must be 1 to 3"),
            ("1/0", "number of shards"), ("1/65", "number of shards"),
        ] {
            #expect(throws: RunError.self) { try MatrixShard.parse(text) }
            do { _ = try MatrixShard.parse(text) } catch {
                #expect(error.message.contains(words), "\(text): \(error.message)")
            }
        }
    }

    @Test("the plan id changes with the cells and the settings, not with where a release is installed")
    func planIdentity() {
        let plan = Self.plan()
        var moved = plan
        moved.rows = moved.rows.map { row in
            var row = row
            row.driver?.libraryPath = "/elsewhere"
            return row
        }
        #expect(moved.planID == plan.planID)
        var fewer = plan
        fewer.columns = [.waitTimeout]
        #expect(fewer.planID != plan.planID)
        var slower = plan
        slower.settings.waitTimeout = 4
        #expect(slower.planID != plan.planID)
    }

    /// What a run of `plan` (or of one shard of it) writes, with each cell's outcome a function of its id.
    static func report(_ plan: DriversMatrix, shard: MatrixShard?, repro: String = "test") -> DriversReport {
        let chosen = Set((shard.map { $0.select(plan.cells) } ?? plan.cells).map(\.id))
        let rows = plan.rows.map { row in
            let cells = plan.columns.filter(row.runs).filter { chosen.contains("\(row.id)/\($0.id)") }.map {
                column -> DriversReport.Cell in
                var result = sampleResult(recovered: "\(row.id)/\(column.id)".count % 2 == 0)
                result.name = column.id
                return DriversReport.Cell(column: column, result: result)
            }
            return DriversReport.Row(
                id: row.id, stack: row.driver?.name ?? row.id, config: row.config, options: row.driver?.options ?? [:],
                deadline: row.driver?.deadline, client: Report.Client(library: "lib", version: "1", adapter: "a"),
                modeledOn: row.preset?.modeledOn, note: row.note, policy: nil, cells: cells, timing: nil)
        }
        var report = DriversReport(
            generatedAt: "2026-12-03T00:00:0\(shard?.index ?? 9)Z", repro: repro,
            server: Report.Server(version: "10.11", managed: true, address: "127.0.0.1:1"), settings: plan.settings,
            columns: plan.columns.map { DriversReport.Column($0, settings: plan.settings) }, rows: rows,
            commands: Dictionary(uniqueKeysWithValues: plan.cells.map { ("\($0.row.id)|\($0.column.id)", $0.command) }))
        report.plan = plan.planID
        report.shard = shard
        return report
    }

    @Test("merging the shards gives the unsharded report, cell for cell, in any order")
    func mergeEqualsUnsharded() throws {
        let plan = Self.plan()
        let whole = Self.report(plan, shard: nil)
        for count in [1, 2, 3, 4] {
            let shards = (1...count).reversed().map {
                (name: "shard\($0).json", report: Self.report(plan, shard: MatrixShard(index: $0, count: count)))
            }
            var merged = try DriversReport.merge(shards)
            #expect(merged.shard == nil)
            #expect(merged.generatedAt == "2026-12-03T00:00:0\(count)Z", "the latest shard's")
            merged.generatedAt = whole.generatedAt
            #expect(merged == whole, "\(count) shards")
        }
    }

    @Test("merging refuses what would not make the unsharded report, naming the file")
    func mergeRefusals() {
        let plan = Self.plan()
        func refusal(_ reports: [(String, DriversReport)]) -> String {
            do {
                _ = try DriversReport.merge(reports.map { (name: $0.0, report: $0.1) })
                return "merged"
            } catch { return error.message }
        }
        let one = Self.report(plan, shard: MatrixShard(index: 1, count: 2))
        let two = Self.report(plan, shard: MatrixShard(index: 2, count: 2))
        #expect(refusal([("a.json", one), ("b.json", two)]) == "merged")
        #expect(refusal([("a.json", one)]) == "shard 2/2 is missing: give all 2 shards' reports")
        #expect(refusal([("a.json", one), ("b.json", one)]) == "shard 1/2 is given twice: a.json and b.json")
        #expect(
            refusal([("a.json", one), ("w.json", Self.report(plan, shard: nil))]).hasPrefix("w.json is not a shard"))
        var other = plan
        other.settings.waitTimeout = 5
        #expect(
            refusal([("a.json", one), ("b.json", Self.report(other, shard: MatrixShard(index: 2, count: 2)))])
                .hasPrefix("b.json is a shard of another plan"))
        #expect(
            refusal([
                ("a.json", one), ("b.json", Self.report(plan, shard: MatrixShard(index: 2, count: 2), repro: "x")),
            ])
            .contains("written by repro x"))
        #expect(
            refusal([("a.json", one), ("b.json", Self.report(plan, shard: MatrixShard(index: 2, count: 3)))])
                .contains("give the shards of one --shard K/N split"))
        var overlapping = two
        overlapping.rows[0].cells.append(one.rows[0].cells[0])
        #expect(
            refusal([("a.json", one), ("b.json", overlapping)])
                == "cell go-sql default/\(one.rows[0].cells[0].column.id) is in two shards: a.json and b.json")
        #expect(refusal([]).contains("needs the shards"))
    }

    @Test("the policy matrix is the same plan: a row per preset, its columns, the command a user runs")
    func policyMatrixIsAPlan() {
        let matrix = Matrix(scenarios: MatrixColumn.policyColumns, policies: [.naive, .pingOnBorrow])
        let cells = matrix.plan.cells
        #expect(cells.count == 24)
        #expect(cells.first?.id == "naive/wait-timeout")
        #expect(
            matrix.command(.networkCutBlackhole, .pingOnBorrow).hasSuffix("--policy ping-on-borrow --read-timeout 1"))
        #expect(matrix.scenario(.networkCutBlackhole, .pingOnBorrow).policy.readTimeout == 1)
        #expect(matrix.scenario(.networkCutReset, .naive).policy.readTimeout == NetworkCutFault.defaultReadTimeout)
        #expect(matrix.scenario(.networkCutHalfOpen, .naive).fault == .networkCut(mode: .halfOpen, via: .proxy))
        #expect(matrix.scenario(.networkCutHalfOpen, .naive).idle == Scenario.defaultIdleSeconds)
        #expect(matrix.command(.killThread, .naive) == "repro kill-thread --target idle --policy naive")
    }
}

@Suite("the plan against the measured matrix (docs/drivers.json)")
struct MatrixPlanCommittedTests {
    @Test("the plan of the measured rows and columns writes every command line the measurement holds")
    func committedCommands() throws {
        let committed = try committedDrivers()
        let adapters = AdapterCatalog.preferredOrder
        var versions: [DriversMatrix.LibraryVersion] = []
        for row in committed.rows where row.stackLabel.contains("@") {
            let parts = row.stackLabel.split(separator: "@")
            let v = DriversMatrix.LibraryVersion(
                adapter: String(parts[0]), version: String(parts[1]), libraryPath: "/x")
            if !versions.contains(v) { versions.append(v) }
        }
        let rows = DriversMatrix.rows(
            adapters: adapters, configs: DriverConfig.allCases, settings: committed.settings, versions: versions)
        let plan = DriversMatrix(rows: rows, columns: committed.columns.map(\.id), settings: committed.settings)
        var differ: [String] = []
        for cell in plan.cells where committed.commands["\(cell.row.id)|\(cell.column.id)"] != cell.command {
            differ.append("\(cell.id): \(cell.command)")
        }
        #expect(plan.cells.count == committed.commands.count)
        #expect(differ.isEmpty, "the plan writes other lines than the measured ones: \(differ.prefix(3))")
        // The rows' facts come from the manifests: the same notes, columns and timing as measured.
        for row in plan.rows where !row.id.hasPrefix("repro ") {
            let measured = try #require(committed.row(row.id), "\(row.id) was measured")
            #expect(row.note == measured.note, "\(row.id)")
            #expect(plan.columns.filter(row.runs) == measured.cells.map(\.column), "\(row.id)")
            #expect((row.threshold == nil ? nil : plan.settings(for: row)) == measured.timing, "\(row.id)")
        }
    }
}

@Suite("adapters/<name>/matrix.json: each stack's facts as data")
struct AdapterManifestTests {
    @Test("every adapter has a manifest that reads; the order is the manifests'")
    func everyAdapterHasOne() throws {
        let directory = try #require(AdapterCatalog.directory())
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter {
            FileManager.default.fileExists(atPath: "\(directory)/\($0)/run")
        }
        #expect(names.count == 8)
        for name in names {
            let data = try #require(FileManager.default.contents(atPath: "\(directory)/\(name)/matrix.json"), "\(name)")
            _ = try AdapterManifest.decode(data, file: name)
        }
        #expect(
            AdapterCatalog.preferredOrder == [
                "node-mysql2", "node-mysql", "go-sql", "hikari", "sqlalchemy", "django", "php-pdo", "activerecord",
            ])
    }

    @Test("a variant is chosen by release; the installed release is the manifest's own")
    func variantsByRelease() throws {
        let hikari = try #require(AdapterManifest.of("hikari"))
        #expect(hikari.variant("recommended", version: "6.0.0")?.minimumThreshold == 40)
        #expect(hikari.variant("recommended", version: "3.4.5")?.minimumThreshold == 30)
        #expect(hikari.variant("recommended", version: nil)?.minimumThreshold == 30, "Debian's 2.7.9")
        #expect(hikari.variant("persistent", version: nil) == nil, "a configuration it does not list")
        let mysql2 = try #require(AdapterManifest.of("node-mysql2"))
        let recommended = try #require(mysql2.variant("recommended", version: "3.0.0"))
        #expect(
            mysql2.caveats(recommended, version: "3.0.0") == [
                "mysql2 3.0.0 predates `maxIdle`/`idleTimeout` (3.1.0), so only `enableKeepAlive` acts"
            ])
        #expect(mysql2.caveats(recommended, version: "3.1.0").isEmpty)
        #expect(mysql2.matrixReleases == ["2.2.5", "2.3.3", "3.0.0", "3.1.0"])
    }

    @Test("a manifest that does not read is refused naming the file and the problem")
    func brokenManifests() {
        func problem(_ json: String) -> String {
            do {
                _ = try AdapterManifest.decode(Data(json.utf8), file: "x/matrix.json")
                return "read"
            } catch { return error.message }
        }
        #expect(problem(#"{"order": 1, "configs": {}}"#) == "read")
        #expect(problem(#"{"configs": {}}"#).hasPrefix("x/matrix.json: "))
        #expect(
            problem(#"{"order": 1, "configs": {"best": [{"options": {}, "note": ""}]}}"#)
                .contains("configuration 'best' is not one of"))
        #expect(
            problem(#"{"order": 1, "configs": {"recommended": [{"options": {"a": "${nope}"}, "note": ""}]}}"#)
                .contains("${nope} is not a setting"))
        #expect(
            problem(#"{"order": 1, "configs": {"keepalive": [{"options": {}, "note": "", "columns": ["nope"]}]}}"#)
                .contains("column 'nope' is not a matrix column"))
    }
}

@Suite("a fault as its scenario-file keys: read back, its subcommand's flags, the column that measures it")
struct FaultFileValuesTests {
    static let faults: [Fault] = [
        .waitTimeout(seconds: 4, margin: 0.5, scope: .global), .killThread(target: .busy, count: .some(3)),
        .killThread(), .networkCut(mode: .halfOpen, via: .kernel), .networkCut(mode: .reset),
        .middlebox(.nat, idleTimeout: 9, onExpiry: .reset, keepaliveTime: 3), .middlebox(.haproxy, idleTimeout: 5),
        .serverRestart(mode: .crash, down: 2.5, tries: 0), .freeze(seconds: 5, during: .networkCut(.blackhole)),
        Fault(FreezeFault(seconds: 4, during: .killThread, arrival: .queued, followUp: nil)),
    ]

    @Test("every kind's values read back to the same fault, and every column's fault does")
    func roundTrip() throws {
        let columns = MatrixColumn.all.map { $0.fault(DriversMatrix.Settings(), hostKeepaliveTime: 2) }
        for fault in Self.faults + columns {
            let keys = fault.fileValues
            #expect(keys.first?.key == "kind")
            #expect(try ScenarioFile.fault(keys.map { ($0.key, $0.value) }, file: "t") == fault, "\(fault)")
            #expect(fault.arguments.first == fault.kind)
            #expect(fault.arguments.count == 1 + 2 * (keys.count - 1))
        }
        #expect(
            Fault.killThread(target: .busy, count: .some(3)).arguments == [
                "kill-thread", "--target", "busy", "--count", "3",
            ])
    }

    @Test("a scenario's fault finds the column that measures it, whatever its timing, and only that one")
    func measuringColumn() {
        let settings = DriversMatrix.Settings()
        for column in MatrixColumn.allCases {
            #expect(MatrixColumn.measuring(column.fault(settings), pattern: column.pattern) == column, "\(column)")
        }
        #expect(MatrixColumn.measuring(.waitTimeout(seconds: 9, margin: 2), pattern: .pool) == .waitTimeout)
        #expect(MatrixColumn.measuring(.killThread(count: .some(1)), pattern: .pool) == .killThread)
        #expect(MatrixColumn.measuring(.killThread(), pattern: .held) == .held)
        #expect(
            MatrixColumn.measuring(.networkCut(mode: .blackhole, via: .proxy), pattern: .pool) == .networkCutBlackhole)
        #expect(MatrixColumn.measuring(.serverRestart(mode: .crash, down: 3), pattern: .pool) == .serverRestartCrash)
        #expect(MatrixColumn.measuring(.serverRestart(tries: 0), pattern: .pool) == .serverRestartQuiet)
        #expect(MatrixColumn.measuring(.freeze(seconds: 9, during: .killThread), pattern: .pool) == .freezeKillThread)
        #expect(MatrixColumn.measuring(.middlebox(.nat, idleTimeout: 5), pattern: .pool) == .natIdleTimeout)
        #expect(
            MatrixColumn.measuring(.middlebox(.nat, idleTimeout: 5, onExpiry: .reset), pattern: .pool) == nil,
            "the column is the NAT that drops")
        #expect(MatrixColumn.measuring(.waitTimeout(seconds: 2, scope: .global), pattern: .pool) == nil)
        #expect(
            MatrixColumn.measuring(Fault(FreezeFault(during: .killThread, arrival: .queued)), pattern: .pool) == nil)
        #expect(MatrixColumn.measuring(.networkCut(mode: .reset), pattern: .held) == nil)
    }
}
