import Foundation
import ReproKit
import Testing

private let nodePath = ProcessInfo.processInfo.environment["NODE_PATH"] ?? ""

/// `repro matrix --drivers … --shard K/N` on separate servers side by side, as CI machines run them, and
/// `repro report --merge`: the merge is the unsharded run's report, cell for cell.
@Suite("a sharded drivers matrix, merged", .enabled(if: serverAvailable))
struct MatrixShardCommandTests {
    /// A small plan with a real stack, Go, a preset and a column that needs the server alone (a restart).
    static let plan = [
        "matrix", "--drivers", "node-mysql2,go-sql", "--configs", "default", "--scenarios",
        "wait-timeout,kill-thread,server-restart-quiet", "--policies", "naive", "--via", "proxy", "--jobs", "2",
        "--node-path", nodePath, "--quiet",
    ]

    /// What a cell's verdict is, whatever the timings: survived, and the first error's code.
    static func verdicts(_ report: DriversReport) -> [String] {
        report.rows.flatMap { row in
            row.cells.map { "\(row.id)/\($0.column.id) \($0.survived) \($0.firstError.map { "\($0.code)" } ?? "-")" }
        }
    }

    @Test("shards 1/3, 2/3 and 3/3 run side by side and merge into the unsharded matrix, cell for cell")
    func threeShardsMergeToTheWhole() throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runs = ["whole", "1", "2", "3"]
        nonisolated(unsafe) var outcomes: [ReproBinary.Outcome?] = Array(repeating: nil, count: runs.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: runs.count) { index in
            let name = runs[index]
            var arguments = Self.plan + ["--report-dir", "\(dir)/\(name)"]
            if name != "whole" { arguments += ["--shard", "\(name)/3"] }
            let outcome = try? ReproBinary.run(arguments, timeout: 300)
            lock.withLock { outcomes[index] = outcome }
        }
        for (name, outcome) in zip(runs, outcomes) {
            #expect(outcome?.status == 0, "\(name): \(outcome?.stderr ?? "did not run")")
        }
        func load(_ name: String) throws -> DriversReport {
            try DriversReport.decode(Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)/drivers.json")))
        }
        let whole = try load("whole")
        #expect(whole.shard == nil && whole.plan != nil)
        #expect(whole.rows.map(\.id) == ["node-mysql2 default", "go-sql default", "repro naive"])
        #expect(whole.rows.allSatisfy { $0.cells.count == 3 })
        var cellsPerShard: [Int] = []
        for name in ["1", "2", "3"] {
            let shard = try load(name)
            #expect(shard.shard == MatrixShard(index: Int(name)!, count: 3))
            #expect(shard.plan == whole.plan)
            #expect(shard.commands == whole.commands, "every shard carries the plan's commands")
            cellsPerShard.append(shard.rows.map(\.cells.count).reduce(0, +))
        }
        #expect(cellsPerShard == [3, 3, 3], "9 cells, 3 in each shard")

        let merged = "\(dir)/merged.json"
        let out = try ReproBinary.run(
            [
                "report", "--merge", "\(dir)/3/drivers.json", "\(dir)/1/drivers.json", "\(dir)/2/drivers.json", "-o",
                merged,
            ])
        #expect(out.status == 0, "\(out.stderr)")
        let result = try DriversReport.decode(Data(contentsOf: URL(fileURLWithPath: merged)))
        #expect(result.shard == nil)
        #expect(result.plan == whole.plan)
        #expect(result.rows.map(\.id) == whole.rows.map(\.id))
        #expect(result.commands == whole.commands)
        #expect(result.columns == whole.columns)
        #expect(Self.verdicts(result) == Self.verdicts(whole))
        #expect(result.rows.map(\.client.library) == whole.rows.map(\.client.library))

        // The merged report renders as the unsharded one does.
        let markdown = try ReproBinary.run(["report", merged])
        #expect(markdown.status == 0 && markdown.stdout.contains("node-mysql2"))

        // Two shards of three are not the matrix.
        let partial = try ReproBinary.run(["report", "--merge", "\(dir)/1/drivers.json", "\(dir)/2/drivers.json"])
        #expect(partial.status == 2)
        #expect(partial.stderr.contains("shard 3/3 is missing: give all 3 shards' reports"), "\(partial.stderr)")
        // An unsharded report is not a shard.
        let notShard = try ReproBinary.run(["report", "--merge", "\(dir)/whole/drivers.json"])
        #expect(notShard.status == 2)
        #expect(notShard.stderr.contains("is not a shard's report"), "\(notShard.stderr)")
    }

    @Test(
        "--shard and --merge refuse bad input in one line, exit 2, before anything runs",
        arguments: [
            (["matrix", "--shard", "1/2"], "--shard splits the drivers matrix: add --drivers"),
            (["matrix", "--drivers", "go-sql", "--shard", "3/2"], "--shard '3/2': the shard must be 1 to 2"),
            (["matrix", "--drivers", "go-sql", "--shard", "half"], "--shard 'half' is not K/N"),
            (["report", "a.json", "b.json"], "give one report (or --merge with every shard's drivers.json): got 2"),
            (["report", "--merge", "/nonexistent/a.json"], "cannot read '/nonexistent/a.json'"),
        ])
    func badInput(arguments: [String], message: String) throws {
        let out = try ReproBinary.run(arguments)
        #expect(out.status == 2)
        #expect(out.stderr.contains(message), "\(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count <= 2, "one line (and usage): \(out.stderr)")
    }
}
