import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// `--scope global` on a server shared with the tester: an embedded server this test
/// starts, used as a user's server through REPRO_DSN with --allow-global, and acted on during repro's idle phase.
@Suite("Global wait_timeout on a shared server", .ownThreads, .serialized, .enabled(if: serverAvailable))
struct GlobalWaitTimeoutTests {
    /// A repro process running in the background, its output in files (a pipe nobody reads could block it).
    final class Background {
        let process = Process()
        let directory = ReproBinary.temporaryDirectory()

        init(_ arguments: [String], dsn: String) throws {
            process.executableURL = URL(fileURLWithPath: ReproBinary.path)
            process.arguments = arguments + ["--report-dir", directory]
            var env = ProcessInfo.processInfo.environment
            env.removeValue(forKey: "GITHUB_STEP_SUMMARY")
            env["REPRO_DSN"] = dsn
            process.environment = env
            _ = FileManager.default.createFile(atPath: directory + "/stdout", contents: nil)
            _ = FileManager.default.createFile(atPath: directory + "/stderr", contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: directory + "/stdout")
            process.standardError = FileHandle(forWritingAtPath: directory + "/stderr")
            try process.run()
        }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(atPath: directory)
        }

        var stderr: String { (try? String(contentsOfFile: directory + "/stderr", encoding: .utf8)) ?? "" }

        func signal(_ signo: Int32) { kill(process.processIdentifier, signo) }

        /// The exit status, or nil when it is still running after `timeout` seconds.
        func wait(timeout: Double = 60) -> Int32? {
            let ok = GlobalWaitTimeoutTests.poll(timeout: timeout) { !process.isRunning }
            guard ok else { return nil }
            process.waitUntilExit()
            return process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
        }

        /// Every timeline detail of the scenario in the JSON report.
        func timeline() throws -> [String] {
            let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }
            let file = try #require(files.first, "no JSON report in \(directory)")
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let scenarios = try #require(json["scenarios"] as? [[String: Any]])
            let events = scenarios.flatMap { ($0["timeline"] as? [[String: Any]]) ?? [] }
            return events.compactMap { $0["detail"] as? String }
        }
    }

    /// Polls `condition` every 20 ms for at most `timeout` seconds.
    static func poll(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return try condition()
    }

    func poll(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        try Self.poll(timeout: timeout, condition)
    }

    static func connect(_ server: ManagedServer, user: String = "root", password: String = "") throws
        -> MariaDBConnection
    {
        try MariaDBConnection(
            options: ConnectionOptions(
                host: "127.0.0.1", port: server.endpoint.port, user: user, password: password))
    }

    static func value(_ sql: String, on connection: MariaDBConnection) throws -> String? {
        try connection.query(sql).first?.first ?? nil
    }

    static func global(_ connection: MariaDBConnection) throws -> String? {
        try value("SELECT @@GLOBAL.wait_timeout", on: connection)
    }

    /// The scenario's idle phase: the global is at `value` and the pool's `poolSize` connections of `user` are open
    /// (not counting this test's connection nor repro's kept admin connection, the holder of the lock).
    static func waitForIdle(_ admin: MariaDBConnection, value: Int, user: String, poolSize: Int = 2) throws -> Bool {
        try poll(timeout: 30) {
            let count = try Self.value(
                """
                SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '\(user)' AND ID <> CONNECTION_ID()
                AND ID <> COALESCE(IS_USED_LOCK('repro.global_wait_timeout'), 0)
                """, on: admin)
            return try global(admin) == "\(value)" && Int(count ?? "0") ?? 0 >= poolSize
        }
    }

    static func dsn(_ server: ManagedServer, user: String = "root", password: String = "") -> String {
        "mysql://\(user)\(password.isEmpty ? "" : ":" + password)@127.0.0.1:\(server.endpoint.port)/"
    }

    static let globalRun = ["wait-timeout", "--scope", "global", "--allow-global", "--pool-size", "2"]

    @Test("an account locked during the idle phase does not stop the restore")
    func accountLockedDuringIdle() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let admin = try Self.connect(server)
        try admin.query("CREATE USER 'locked'@'%' IDENTIFIED BY 'pw1'")
        try admin.query("GRANT SUPER ON *.* TO 'locked'@'%'")
        let original = try Self.global(admin)
        let run = try Background(
            Self.globalRun + ["--seconds", "2", "--margin", "1"], dsn: Self.dsn(server, user: "locked", password: "pw1")
        )
        #expect(try Self.waitForIdle(admin, value: 2, user: "locked"), "stderr: \(run.stderr)")
        try admin.query("ALTER USER 'locked'@'%' ACCOUNT LOCK")
        let status = run.wait()
        #expect(status != nil, "repro did not finish")
        #expect(try Self.global(admin) == original, "stderr: \(run.stderr)")
        #expect(!run.stderr.contains("RESTORE FAILED"), "\(run.stderr)")
    }

    @Test("Ctrl-C while every connection slot is taken still restores the global")
    func interruptWithEverySlotTaken() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let admin = try Self.connect(server)
        let original = try Self.global(admin)
        try admin.query("SET GLOBAL max_connections=10")
        let run = try Background(Self.globalRun + ["--seconds", "2", "--margin", "5"], dsn: Self.dsn(server))
        #expect(try Self.waitForIdle(admin, value: 2, user: "root"), "stderr: \(run.stderr)")
        // Take every slot that is left (root also gets the one extra slot kept for SUPER).
        var fillers: [MariaDBConnection] = []
        var refused = false
        for _ in 0..<40 {
            do {
                fillers.append(try Self.connect(server))
            } catch {
                refused = true
                break
            }
        }
        #expect(refused, "the server never refused a connection")
        run.signal(SIGINT)
        let status = run.wait()
        for filler in fillers { filler.close() }
        #expect(status == 130, "stderr: \(run.stderr)")
        #expect(try Self.global(admin) == original, "stderr: \(run.stderr)")
    }

    @Test(
        "a restore that cannot work says what to run by hand, in the report too, and exits 3, also on Ctrl-C",
        arguments: [false, true])
    func failedRestoreIsLoud(interrupted: Bool) async throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let admin = try Self.connect(server)
        try admin.query("CREATE USER 'revoked'@'%' IDENTIFIED BY 'pw2'")
        try admin.query("GRANT SUPER ON *.* TO 'revoked'@'%'")
        let original = try #require(try Self.global(admin))
        let run = try Background(
            Self.globalRun + ["--seconds", "2", "--margin", interrupted ? "5" : "1"],
            dsn: Self.dsn(server, user: "revoked", password: "pw2"))
        #expect(try Self.waitForIdle(admin, value: 2, user: "revoked"), "stderr: \(run.stderr)")
        // No new connection may set it back, and the kept one (the holder of the lock, if any) is gone.
        try admin.query("REVOKE SUPER ON *.* FROM 'revoked'@'%'")
        if let holder = try Self.value("SELECT IS_USED_LOCK('repro.global_wait_timeout')", on: admin) {
            try admin.query("KILL CONNECTION \(holder)")
        }
        if interrupted { run.signal(SIGINT) }
        let status = run.wait()
        #expect(status == 3, "stderr: \(run.stderr)")
        #expect(try Self.global(admin) == "2", "the value really is still the test value")
        let line = run.stderr.split(separator: "\n").first { $0.contains("RESTORE FAILED") }.map(String.init) ?? ""
        #expect(line.contains("127.0.0.1:\(server.endpoint.port)"), "\(run.stderr)")
        #expect(line.contains("SET GLOBAL wait_timeout=\(original);"), "\(run.stderr)")
        if !interrupted {
            let timeline = try run.timeline()
            #expect(timeline.contains { $0.contains("RESTORE FAILED") }, "\(timeline)")
            #expect(!timeline.contains { $0.contains("(restored") }, "\(timeline)")
        }
        // The record it left is put back by the next run on this server, whatever its scope.
        let next = try await ReproBinary.run(
            ["wait-timeout", "--seconds", "1", "--margin", "0.1", "--quiet", "--report-dir", run.directory],
            environment: ["REPRO_DSN": Self.dsn(server)])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("restored the global wait_timeout at 127.0.0.1:"), "\(next.stderr)")
        #expect(try Self.global(admin) == original)
    }

    @Test("two overlapping global runs take turns and leave the original value")
    func overlappingRunsTakeTurns() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let admin = try Self.connect(server)
        let original = try Self.global(admin)
        let first = try Background(Self.globalRun + ["--seconds", "1", "--margin", "1.5"], dsn: Self.dsn(server))
        #expect(try poll(timeout: 30) { try Self.global(admin) == "1" }, "stderr: \(first.stderr)")
        // Started while the first holds the value; it idles longer, so without turns it would restore last.
        let second = try Background(Self.globalRun + ["--seconds", "2", "--margin", "1"], dsn: Self.dsn(server))
        let firstStatus = first.wait()
        let secondStatus = second.wait()
        #expect(firstStatus == 0, "\(first.stderr)")
        #expect(secondStatus == 0, "\(second.stderr)")
        #expect(try Self.global(admin) == original, "first: \(first.stderr)\nsecond: \(second.stderr)")
        #expect(
            second.stderr.contains("waiting for another repro run's global wait_timeout scenario"), "\(second.stderr)")
        #expect(try second.timeline().contains("SET GLOBAL wait_timeout=2 (was \(original ?? ""))"))
    }

    @Test("after a SIGKILL the next run puts the original back and says so")
    func killedRunIsRepairedByTheNext() async throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let admin = try Self.connect(server)
        let original = try #require(try Self.global(admin))
        let killed = try Background(Self.globalRun + ["--seconds", "2", "--margin", "5"], dsn: Self.dsn(server))
        #expect(try Self.waitForIdle(admin, value: 2, user: "root"), "stderr: \(killed.stderr)")
        killed.signal(SIGKILL)
        #expect(killed.wait() != nil)
        #expect(try Self.global(admin) == "2", "a SIGKILL leaves the test value")
        let next = try await ReproBinary.run(
            Self.globalRun + ["--seconds", "1", "--margin", "0.1", "--quiet", "--report-dir", killed.directory],
            environment: ["REPRO_DSN": Self.dsn(server)])
        #expect(next.status == 0, "\(next.stderr)")
        let said = next.stderr.split(separator: "\n").filter { $0.contains("restored the global wait_timeout") }
        #expect(said.count == 1, "\(next.stderr)")
        #expect(said.first?.contains("to \(original)") == true, "\(next.stderr)")
        #expect(try Self.global(admin) == original)
    }
}
