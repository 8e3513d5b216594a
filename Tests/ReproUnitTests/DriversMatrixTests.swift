import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("Presets that model real pools: retry of unsent queries, pool invalidation")
struct ModelPresetTests {
    static let lost = DatabaseError(
        code: .serverLost, sqlState: "HY000", message: "Lost connection to server during query")

    @Test("unsent:N retries a query whose write failed (2006), on a new connection at the end")
    func unsentRetriesGoneAway() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(retry: try .init(parsing: "unsent:2+fresh")))
        try pool.warm()
        factory.connections.forEach { $0.kill() }
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(op.succeeded)
        #expect(op.attempts == 3)
        #expect(pool.eventLog.errors.allSatisfy { $0.handledBy == .retry && $0.error.code == .serverGone })
    }

    @Test("unsent:N does not retry a query that was sent and then lost (2013), as database/sql does not")
    func unsentKeepsLostQueries() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(retry: try .init(parsing: "unsent:2+fresh")))
        try pool.warm()
        factory.connections.forEach { $0.failQueries(with: Self.lost) }
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(!op.succeeded)
        #expect(op.attempts == 1)
        #expect(op.error?.error.code == .serverLost)
        #expect(op.error?.handledBy == nil)
        // query:N retries the same failure: the difference is the rule, not the fake.
        let other = FakeFactory()
        let retrying = other.pool(PoolPolicy(retry: .query(2, fresh: true)))
        try retrying.warm()
        other.connections.forEach { $0.failQueries(with: Self.lost) }
        #expect(retrying.execute("SELECT 1", operation: 1).attempts == 3)
    }

    @Test("retry rules parse and print back", arguments: ["unsent:2+fresh", "unsent:1", "query:3+fresh", "acquire:1"])
    func retryRoundTrip(text: String) throws {
        #expect(try PoolPolicy.Retry(parsing: text).description == text)
    }

    @Test("invalidate-on-disconnect: after one disconnect error, every older connection is replaced on borrow")
    func invalidationRecyclesThePool() throws {
        for invalidate in [true, false] {
            let factory = FakeFactory()
            let pool = factory.pool(PoolPolicy(invalidateOnDisconnect: invalidate))
            try pool.warm()
            factory.connections.forEach { $0.kill() }
            let first = pool.execute("SELECT 1", operation: 1)
            #expect(!first.succeeded, "the first operation meets a dead connection either way")
            let rest = (2...3).map { pool.execute("SELECT 1", operation: $0) }
            if invalidate {
                #expect(rest.allSatisfy { $0.succeeded }, "older connections were replaced, not handed out")
                #expect(pool.eventLog.events.contains { $0.event == .evict && $0.detail == "pool invalidated" })
            } else {
                #expect(rest.allSatisfy { !$0.succeeded }, "without the knob every dead connection is handed out")
            }
        }
    }

    @Test("presets say what they model, and the model knobs are set")
    func presetClaims() {
        #expect(PolicyPreset.goSQL.policy.retry == .unsent(2, fresh: true))
        #expect(PolicyPreset.sqlalchemy.policy.invalidateOnDisconnect)
        #expect(PolicyPreset.goSQL.modeledOn == "go-sql")
        #expect(PolicyPreset.naive.modeledOn == nil)
        let decoded = try? JSONDecoder().decode(
            PoolPolicy.self, from: JSONEncoder().encode(PolicyPreset.sqlalchemy.policy))
        #expect(decoded == PolicyPreset.sqlalchemy.policy)
    }
}

@Suite("The drivers matrix: rows, commands, rendering")
struct DriversMatrixShapeTests {
    @Test("rows: each adapter in each configuration, then the presets that model one of them")
    func rows() {
        let settings = DriversMatrix.Settings()
        let rows = DriversMatrix.rows(
            adapters: ["go-sql", "node-mysql2"], configs: DriverConfig.standard, settings: settings)
        #expect(
            rows.map(\.id) == [
                "go-sql default", "go-sql recommended", "node-mysql2 default", "node-mysql2 recommended",
                "repro go-sql",
            ] + PolicyPreset.allCases.filter { $0.modeledOn == "node-mysql2" }.map { "repro \($0.rawValue)" })
        let go = rows[1].driver!
        #expect(go.options["SetConnMaxLifetime"] == "2000ms", "below the 3 s wait_timeout")
        #expect(go.deadline == settings.deadline)
        let command = DriversMatrix(rows: rows, settings: settings).command(rows[1], .networkCutHalfOpen)
        #expect(
            command
                == "repro network-cut --mode half-open --via kernel --idle 5 --driver go-sql --driver-option SetConnMaxLifetime=2000ms --driver-option SetMaxIdleConns=4 --driver-deadline 3"
        )
        let matrix = DriversMatrix(rows: rows, settings: settings)
        let close = matrix.scenario(rows[0], .networkCutClose)
        #expect(close.fault == .networkCut(mode: .close, via: .proxy), "only a peer's stack can send FIN")
        #expect(matrix.scenario(rows[0], .networkCutReset).fault == .networkCut(mode: .reset, via: .proxy))
        #expect(matrix.scenario(rows[0], .networkCutBlackhole).fault == .networkCut(mode: .blackhole, via: .kernel))
        #expect(matrix.scenario(rows[0], .held).pattern == .held)
    }

    @Test("every threshold a configuration sets has its chance before the fault, as in the real world")
    func faultsComeAfterThresholds() throws {
        let settings = DriversMatrix.Settings()
        let rows = DriversMatrix.rows(
            adapters: ["node-mysql2", "go-sql", "hikari", "sqlalchemy", "django", "activerecord"],
            configs: DriverConfig.allCases, settings: settings,
            versions: [.init(adapter: "hikari", version: "6.0.0+3.5.9", libraryPath: "/nowhere")])
        let matrix = DriversMatrix(rows: rows, settings: settings)
        for row in rows where row.preset == nil {
            let timing = matrix.settings(for: row)
            // The row's own thresholds, read back from its options: every one of them (ms or s) is below the
            // wait_timeout and below the idle before a cut, and the sweep after it fits too.
            let perSecond: [String: Double] = [
                "idleTimeout": 1000, "keepAliveInitialDelay": 1000, "maxLifetime": 1000, "keepaliveTime": 1000,
                "SetConnMaxLifetime": 1000, "pool_recycle": 1, "CONN_MAX_AGE": 1, "idle_timeout": 1,
            ]
            // Persistent rows keep connections past the wait_timeout on purpose: that is their failure.
            let thresholds = (row.driver?.options ?? [:]).compactMap { key, value -> Double? in
                guard row.config != DriverConfig.persistent.rawValue, let divisor = perSecond[key],
                    let number = Double(value.filter(\.isNumber))
                else { return nil }
                return number / divisor
            }
            for t in thresholds {
                #expect(t <= timing.threshold, "\(row.id): \(t) s above its threshold \(timing.threshold) s")
            }
            for column in MatrixColumn.allCases where column.idleMode == .cut && row.runs(column) {
                let idle = matrix.scenario(row, column).idleSeconds ?? 0
                #expect(idle >= timing.threshold + 3, "\(row.id) \(column.rawValue): cut after \(idle) s idle")
            }
            if row.runs(.waitTimeout) {
                #expect(matrix.scenario(row, .waitTimeout).fault.summary.contains("\(timing.waitTimeout)"))
                #expect(Double(timing.waitTimeout) > timing.threshold)
            }
            if row.runs(.natIdleTimeout) { #expect(Double(timing.middleboxTimeout) > timing.threshold) }
        }
        // HikariCP refuses maxLifetime/keepaliveTime below 30 s: its recommended rows run longer columns, and say so.
        let hikari6 = try #require(rows.first { $0.id == "hikari@6.0.0+3.5.9 recommended" })
        #expect(hikari6.driver?.options == ["maxLifetime": "40000", "keepaliveTime": "30000"])
        #expect(matrix.settings(for: hikari6).waitTimeout == 41)
        #expect(hikari6.note.contains("longer columns"))
        let hikari = try #require(rows.first { $0.id == "hikari recommended" })
        #expect(hikari.driver?.options == ["maxLifetime": "30000"])
        #expect(
            matrix.command(hikari, .networkCutHalfOpen)
                .contains("--idle 33"))
        #expect(matrix.settings(for: try #require(rows.first { $0.id == "hikari default" })) == settings)
        // Kills stay early: an operator's KILL comes at any moment, before any threshold acts.
        #expect(matrix.scenario(rows[0], .killThread).idleSeconds == settings.idle)
        for column in MatrixColumn.allCases {
            #expect(column.timing(settings).isEmpty == false)
        }
    }

    @Test(
        "keepalive rows: each stack's documented setting, measured where keepalive can matter, with the NAT's host sysctl"
    )
    func keepaliveRows() throws {
        let settings = DriversMatrix.Settings()
        let rows = DriversMatrix.rows(
            adapters: ["go-sql", "hikari", "sqlalchemy"], configs: [.keepAlive], settings: settings)
        #expect(Array(rows.map(\.id).prefix(2)) == ["go-sql keepalive", "hikari keepalive"], "sqlalchemy has none")
        let preset = try #require(rows.first { $0.id == "repro keepalive" }, "repro's keepalive preset, beside them")
        let go = try #require(rows.first)
        #expect(go.driver?.options == ["app.dialKeepAlive": "2000ms"], "below the middleboxes' 32 s")
        #expect(go.only == DriverConfig.keepaliveColumns)
        let hikari = rows[1]
        #expect(hikari.driver?.options == ["dataSource.tcpKeepAlive": "true"])
        #expect(hikari.hostKeepaliveTime == 2)
        #expect(
            DriversMatrix(rows: rows, settings: settings).command(hikari, .natIdleTimeout)
                == "repro network-cut --via nat --idle-timeout 32 --keepalive-time 2 --idle 34 --driver hikari --driver-option dataSource.tcpKeepAlive=true --driver-deadline 25"
        )
        let matrix = DriversMatrix(rows: rows, settings: settings)
        let nat = matrix.scenario(hikari, .natIdleTimeout)
        #expect(nat.fault == .middlebox(.nat, idleTimeout: 32, keepaliveTime: 2))
        #expect(nat.idle == 34, "the pool idles past the NAT's timeout")
        #expect(matrix.scenario(go, .natIdleTimeout).fault == .middlebox(.nat, idleTimeout: 32))
        #expect(matrix.scenario(go, .haproxyIdleTimeout).fault == .middlebox(.haproxy, idleTimeout: 32))
        #expect(preset.only == DriverConfig.keepaliveColumns)
    }

    @Test("older releases get their own rows before the adapter's, and mysql2's patterns apply to mysql2 only")
    func versionAndPatternRows() throws {
        let settings = DriversMatrix.Settings()
        let old = DriversMatrix.LibraryVersion(adapter: "node-mysql2", version: "2.2.5", libraryPath: "/x/node_modules")
        let rows = DriversMatrix.rows(
            adapters: ["go-sql", "node-mysql2"], configs: DriverConfig.allCases, presets: [], settings: settings,
            versions: [old])
        #expect(
            rows.map(\.id) == [
                "go-sql default", "go-sql recommended", "go-sql keepalive", "node-mysql2@2.2.5 default",
                "node-mysql2@2.2.5 recommended", "node-mysql2 default", "node-mysql2 recommended",
                "node-mysql2 keepalive", "node-mysql2 idle-sweep",
                "node-mysql2 ping-before-use", "node-mysql2 retry-query", "node-mysql2 retry-get-connection",
            ])
        let pinned = try #require(rows.first { $0.id == "node-mysql2@2.2.5 recommended" })
        #expect(pinned.driver?.libraryPath == "/x/node_modules")
        #expect(pinned.driver?.version == "2.2.5")
        #expect(pinned.note.contains("predates `maxIdle`/`idleTimeout` (3.1.0)"))
        #expect(pinned.driver?.options["app.followUp"] == "ROLLBACK", "the application pattern of the reports")
        #expect(rows.first { $0.id == "go-sql default" }?.driver?.options.isEmpty == true)
        let command = DriversMatrix(rows: rows, settings: settings).command(pinned, .freezeKillThread)
        #expect(
            command.hasPrefix(
                "repro freeze --for 4 --during kill-thread --driver node-mysql2@2.2.5 --driver-option"))
        let matrix = DriversMatrix(rows: rows, settings: settings)
        let frozen = matrix.scenario(pinned, .freezeWaitTimeout)
        #expect(frozen.fault == .freeze(seconds: 4, during: .waitTimeout))
        #expect(
            frozen.fault.as(FreezeFault.self)?.waitTimeoutSeconds == 3, "the matrix's wait_timeout, inside the freeze")
        #expect(
            MatrixColumn.freezeNetworkCutHalfOpen.fault(settings).parameters["during"]
                == "network-cut:half-open")
    }

    @Test("a preset that disagrees with its real pool is marked in the rendered comparison")
    func disagreementIsShown() throws {
        let report = try Self.syntheticReport(realSurvives: [true, false], modelSurvives: [true, true])
        let text = DriversRenderer.render(report)
        #expect(text.contains("1 of 2; differs in `kill-thread`"))
        #expect(text.contains("✗ `invalid connection`"))
        let agreeing = try Self.syntheticReport(realSurvives: [true, false], modelSurvives: [true, false])
        #expect(DriversRenderer.render(agreeing).contains("| 2 of 2 |"))
    }

    @Test("consecutive releases of one stack and configuration are compared column by column, oldest first")
    func releaseChangesAreFound() throws {
        var report = try Self.syntheticReport(realSurvives: [false, false], modelSurvives: [true, true])
        var newer = try #require(report.row("go-sql default"))
        newer.id = "go-sql@1.10.0 default"
        newer.client = Report.Client(
            library: "go-sql-driver/mysql", version: "1.10.0", pool: "database/sql", poolVersion: "1.27.3",
            runtime: "go", runtimeVersion: "1.27.3", adapter: "go-sql")
        let survived = try Self.syntheticReport(realSurvives: [true, false], modelSurvives: [true, true])
        newer.cells = try #require(survived.row("go-sql default")).cells
        // The newer release listed first, as a run may list them: the comparison orders by version.
        report.rows.insert(newer, at: 0)
        let found = report.releaseChanges()
        #expect(found.compared.count == 1)
        #expect(found.compared.first?.releases == ["1.5.0", "1.10.0"])
        #expect(found.changes.map(\.column) == [.waitTimeout], "kill-thread fails the same way on both")
        #expect(found.changes.first?.before.release == "1.5.0")
        #expect(found.changes.first?.after.cell.survived == true)
        let text = DriversRenderer.render(report)
        #expect(text.contains("## Where a release changes the outcome"))
        #expect(text.contains("  - `wait-timeout`: 1.5.0 ✗ 1/2: `invalid connection` → 1.10.0 ✓"), "\(text)")
        let table = text.components(separatedBy: "\n").filter { $0.hasPrefix("| go-sql |") }
        #expect(table.first?.hasPrefix("| go-sql | 1.5.0 | default |") == true, "oldest first: \(table)")
        #expect(
            Report.Client(library: "x", version: "3.5.9", pool: "HikariCP", poolVersion: "6.0.0").releaseVersion
                == "6.0.0+3.5.9")
    }

    /// Two columns, one real row and one model row, built from real `ScenarioResult` decoding paths.
    static func syntheticReport(realSurvives: [Bool], modelSurvives: [Bool]) throws -> DriversReport {
        let columns: [MatrixColumn] = [.waitTimeout, .killThread]
        func cell(_ column: MatrixColumn, _ ok: Bool, driver: Bool) -> DriversReport.Cell {
            var error = ObservedError(
                error: DatabaseError(code: .serverLost, sqlState: "HY000", message: "lost"), phase: .query,
                atMs: 10)
            if driver {
                error.error = DatabaseError(
                    code: DatabaseError.Code(-3), sqlState: "HY000", message: "invalid connection")
                error.driver = DriverErrorDetail(
                    errorClass: "*errors.errorString", code: "ErrInvalidConn", message: "invalid connection")
            }
            var result = sampleResult(recovered: ok)
            result.name = column.rawValue
            result.errors = ok ? [] : [error]
            result.firstError = ok ? nil : error
            return DriversReport.Cell(column: column, result: result)
        }
        let client = Report.Client(library: "go-sql-driver/mysql", version: "1.5.0", adapter: "go-sql")
        let real = DriversReport.Row(
            id: "go-sql default", stack: "go-sql", config: "default", options: [:], deadline: 3, client: client,
            modeledOn: nil,
            note: "defaults", policy: nil,
            cells: zip(columns, realSurvives).map { cell($0, $1, driver: true) })
        let model = DriversReport.Row(
            id: "repro go-sql", stack: "go-sql", config: "preset", options: [:], deadline: nil,
            client: ReproSession.clientInfo,
            modeledOn: "go-sql", note: "model", policy: "validation=liveness",
            cells: zip(columns, modelSurvives).map { cell($0, $1, driver: false) })
        let settings = DriversMatrix.Settings()
        return DriversReport(
            generatedAt: "2026-01-01T00:00:00Z", repro: "test",
            server: Report.Server(version: "10.11", managed: true, address: "127.0.0.1:1"), settings: settings,
            columns: columns.map { DriversReport.Column($0, settings: settings) }, rows: [real, model], commands: [:])
    }
}

@Suite("docs/drivers.json: the measurement repro's claims come from")
struct MeasuredDriversTests {
    static func committed() throws -> DriversReport {
        try committedDrivers()
    }

    @Test("the drivers matrix compiled into repro decodes and has rows (run make drivers-matrix when it does not)")
    func compiledInDecodes() throws {
        let report = try MeasuredDrivers.report
        #expect(!report.rows.isEmpty)
        #expect(report.rows.contains { !$0.isModel && !$0.cells.isEmpty })
    }

    @Test(
        "a drivers matrix that does not decode is an environment error naming what is wrong and the fix",
        arguments: [
            ("{\"columns\": [", "not valid JSON"),
            ("[]", "found an array"),

            ("{\"schema\": \"repro-drivers/1\"}", "is missing"),
        ])
    func brokenMatrixIsLoud(json: String, reason: String) throws {
        let error = #expect(throws: RunError.self) { try MeasuredDrivers.decode(Data(json.utf8)) }
        #expect(error?.exitCode == 3)
        let message = try #require(error?.message)
        #expect(message.hasPrefix("the measured drivers matrix compiled into repro does not decode: "), "\(message)")
        #expect(message.hasSuffix(": rerun make drivers-matrix"), "\(message)")
        #expect(message.contains(reason), "\(message)")
        #expect(!message.contains("\n"), "one line: \(message)")
    }

    @Test("a committed matrix a newer repro cannot read names where: a row's cells of the wrong type")
    func staleMatrixNamesThePlace() throws {
        var json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: committedDriversFile)) as? [String: Any])
        var rows = try #require(json["rows"] as? [[String: Any]])
        rows[1]["cells"] = "none"
        json["rows"] = rows
        let data = try JSONSerialization.data(withJSONObject: json)
        let error = #expect(throws: RunError.self) { try MeasuredDrivers.decode(data) }
        #expect(error?.message.contains("at 'rows[1].cells': ") == true, "\(error?.message ?? "")")
    }

    @Test("eight real stacks in two configurations and nine other releases in every column; the other rows")
    func coverage() throws {
        let report = try Self.committed()
        let real = report.rows.filter { !$0.isModel }
        let standard = real.filter { DriverConfig.standard.map(\.rawValue).contains($0.config) }
        let current = standard.filter { !$0.id.contains("@") }
        #expect(Set(current.map(\.stack)) == Set(AdapterCatalog.preferredOrder))
        #expect(current.count == 16)
        for row in standard {
            #expect(row.cells.map(\.column) == MatrixColumn.allCases, "\(row.id)")
            #expect(!row.client.version.isEmpty && row.client.version != "unknown", "\(row.id) has its version")
        }
        // Other releases: each row's name is the release its adapter loaded, read from the libraries' own metadata.
        let releases = standard.filter { $0.id.contains("@") }
        #expect(
            Set(releases.map(\.stackLabel)) == [
                "node-mysql2@2.2.5", "node-mysql2@2.3.3", "node-mysql2@3.0.0", "node-mysql2@3.1.0", "go-sql@1.8.1",
                "go-sql@1.10.0", "hikari@6.0.0+3.5.9", "sqlalchemy@1.4.54+1.0.2", "sqlalchemy@2.0.58+1.1.1",
            ])
        for row in releases { #expect(row.stackLabel == "\(row.adapter)@\(row.release)", "\(row.id)") }
        // The installed ones, by their package metadata (PyMySQL's own, not pymysql.__version__'s "2.2.8").
        #expect(report.row("sqlalchemy default")?.release == "2.1.9+1.2.4")
        #expect(report.row("go-sql default")?.release == "1.5.0")
        #expect(report.row("hikari default")?.release == "2.7.9+2.7.6")
        #expect(report.row("hikari@6.0.0+3.5.9 recommended")?.options["keepaliveTime"] == "30000")
        let patterns = real.filter { !DriverConfig.standard.map(\.rawValue).contains($0.config) }
        #expect(
            Set(patterns.map(\.config))
                == ["keepalive", "idle-sweep", "ping-before-use", "retry-query", "retry-get-connection", "persistent"])
        #expect(Set(patterns.filter { $0.config == "persistent" }.map(\.stack)) == ["django", "php-pdo"])
        for row in patterns {
            let config = try #require(DriverConfig(rawValue: row.config))
            #expect(
                row.cells.map(\.column)
                    == config.plan(adapter: row.adapter, settings: report.settings)?.columns ?? MatrixColumn.allCases,
                "\(row.id)")
        }
        // The frameworks, by their package metadata.
        #expect(report.row("django default")?.release == "5.2.19+2.3.2")
        #expect(report.row("activerecord default")?.release == "6.1.7.10+0.5.3")
    }

    @Test("the original reports: mysql2 2.2.5 frozen during a KILL shows the EPIPE and the closed state in order")
    func originalReportIsInTheMatrix() throws {
        let report = try Self.committed()
        let cell = try #require(report.row("node-mysql2@2.2.5 default")?.cell(.freezeKillThread))
        #expect(!cell.survived)
        let seen = [cell.firstError?.message] + (cell.laterErrors ?? []).map(\.message)
        let ended = try #require(seen.firstIndex(of: "This socket has been ended by the other party"), "\(seen)")
        let closed = try #require(
            seen.firstIndex(of: "Can't add new command when connection is in closed state"), "\(seen)")
        #expect(ended < closed)
        // The same release with the application running: KILL and wait_timeout are absorbed by the pool.
        let running = try #require(report.row("node-mysql2@2.2.5 default"))
        #expect(running.cell(.killThread)?.survived == true)
        #expect(running.cell(.waitTimeout)?.survived == true)
    }

    @Test("restarts: what each stack saw while the server was down is measured; a pool that waits is measured waiting")
    func restartColumnsRecordTheDowntime() throws {
        let report = try Self.committed()
        // Every row that runs every column (mysql2's single settings run only the idle and freeze columns).
        for row in report.rows where row.cells.count == report.columns.count {
            for column in [MatrixColumn.serverRestartGraceful, .serverRestartCrash] {
                let cell = try #require(row.cell(column), "\(row.id) \(column.rawValue)")
                #expect(cell.whileDown?.isEmpty == false, "\(row.id) \(column.rawValue)")
                #expect(cell.firstError.map { $0.code != 2003 && $0.code != 2002 } ?? true)
            }
            #expect(row.cell(.serverRestartQuiet)?.whileDown == nil, "\(row.id): nobody tried while it was down")
        }
        // mysql2 fails fast while the server is down; HikariCP holds the caller until the server is back, so the
        // restart must come back on schedule whatever the application's call is doing (not after it times out).
        let mysql2 = try #require(report.row("node-mysql2 default")?.cell(.serverRestartCrash))
        #expect(mysql2.whileDownError?.message.contains("ECONNREFUSED") == true)
        let hikari = try #require(report.row("hikari default")?.cell(.serverRestartCrash))
        #expect(hikari.whileDownError == nil)
        #expect(hikari.whileDown?.first?.contains("succeeded") == true, "\(hikari.whileDown ?? [])")
    }

    @Test("repro explain recognises every message a real stack produced, in the entry of its column")
    func explainRecognisesEveryMessage() throws {
        let report = try Self.committed()
        #expect(report.observedMessages.count > 20)
        // Each distinct message once per entry: the same words from many cells are one search.
        var searched = Set<String>()
        for seen in report.observedMessages where searched.insert(seen.message + "\u{0}" + seen.entry).inserted {
            let hits = ErrorSearch.search(seen.message, measured: report).map(\.entry.id)
            #expect(
                hits.contains(seen.entry),
                "'\(seen.message)' (\(seen.row.id), \(seen.column.rawValue)) -> \(hits)")
        }
        for phrase in [
            "Connection lost: The server closed the connection.", "Cannot enqueue Query after fatal error.",
            "unexpected end of stream", "invalid connection",
        ] {
            #expect(!ErrorSearch.search(phrase, measured: report).isEmpty, "\(phrase)")
        }
    }

    @Test("every preset that says it models a real pool agrees with that pool's measured row in every column")
    func presetsKeepTheirWord() throws {
        let report = try Self.committed()
        for preset in PolicyPreset.allCases {
            guard let stack = preset.modeledOn else { continue }
            let model = try #require(report.row("repro \(preset.rawValue)"), "\(preset.rawValue) was measured")
            let real = try #require(report.row("\(stack) default"))
            let columns = MatrixColumn.allCases.filter { preset.unmodeledColumns[$0] == nil }
            let agreement = DriversRenderer.agreementOf(model: model, real: real, columns: columns)
            // Where the preset says it does not model the stack, the measurement must bear that out.
            for column in preset.unmodeledColumns.keys {
                #expect(model.cell(column)?.survived != real.cell(column)?.survived, "\(preset.rawValue) \(column)")
            }
            #expect(
                agreement.differ.isEmpty,
                "preset \(preset.rawValue) disagrees with \(stack) in \(agreement.differ.map(\.rawValue))")
        }
    }
}
