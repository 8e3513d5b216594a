import Foundation
import ReproKit
import ReproTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The node-mysql2 adapter needs mysql2 through NODE_PATH (the Makefile points it at ../shared/node/node_modules).
private let nodePath = ProcessInfo.processInfo.environment["NODE_PATH"] ?? ""

/// Runs repro with `--json` and returns the single scenario of its report.
private func runJSON(_ arguments: [String], timeout: TimeInterval = 180) async throws -> (
    ReproBinary.Outcome, [String: Any]
) {
    let dir = ReproBinary.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let out = try await ReproBinary.run(arguments + ["--json", "--quiet", "--report-dir", dir], timeout: timeout)
    let report = (try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8))) as? [String: Any]
    let scenario = (report?["scenarios"] as? [[String: Any]])?.first ?? [:]
    return (out, scenario)
}

/// The errors that reached the caller, in order.
private func callerErrors(_ scenario: [String: Any]) -> [[String: Any]] {
    ((scenario["errors"] as? [[String: Any]]) ?? []).filter { $0["handledBy"] is NSNull }
}

private func timelineDetails(_ scenario: [String: Any], event: String) -> [String] {
    ((scenario["timeline"] as? [[String: Any]]) ?? []).filter { $0["event"] as? String == event }.compactMap {
        $0["detail"] as? String
    }
}

@Suite("real driver stacks as the pool under test", .ownThreads, .serialized, .enabled(if: serverAvailable))
struct DriverCommandTests {
    @Test("repro drivers lists eight available adapters with versions")
    func drivers() async throws {
        let out = try await ReproBinary.run(["drivers", "--node-path", nodePath])
        #expect(out.status == 0, "stdout: \(out.stdout) stderr: \(out.stderr)")
        for name in AdapterCatalog.preferredOrder {
            #expect(out.stdout.contains("✓ \(name)"), "\(name) missing in: \(out.stdout)")
        }
        #expect(out.stdout.contains("ok mysql2 "))
        #expect(out.stdout.contains("ok HikariCP "))
        #expect(AdapterCatalog.preferredOrder.count == 8)
    }

    @Test("with no NODE_PATH and no --node-path, repro drivers finds mysql2 in the current directory's node_modules")
    func findsMysql2InTheProjectsNodeModules() async throws {
        let project = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: project) }
        let before = try await ReproBinary.run(["drivers"], environment: ["NODE_PATH": ""], directory: project)
        #expect(
            before.stdout.contains("missing mysql2") && before.stdout.contains("./node_modules"), "\(before.stdout)")
        let modules = try #require(nodePath.split(separator: ":").first.map(String.init), "NODE_PATH names mysql2")
        try FileManager.default.createSymbolicLink(atPath: project + "/node_modules", withDestinationPath: modules)
        let after = try await ReproBinary.run(["drivers"], environment: ["NODE_PATH": ""], directory: project)
        #expect(after.stdout.contains("✓ node-mysql2") && after.stdout.contains("ok mysql2 "), "\(after.stdout)")
    }

    @Test(
        "django: with CONN_MAX_AGE=60 the gone-away error reaches the view; CONN_HEALTH_CHECKS replaces the connection")
    func djangoPersistentConnections() async throws {
        let (plain, persistent) = try await runJSON([
            "wait-timeout", "--seconds", "1", "--driver", "django", "--driver-option", "CONN_MAX_AGE=60",
        ])
        #expect(plain.status == 0, "stderr: \(plain.stderr)")
        let first = try #require(callerErrors(persistent).first)
        #expect(first["code"] as? Int == 2006)
        let driver = try #require(first["driver"] as? [String: Any])
        #expect(driver["class"] as? String == "django.db.utils.OperationalError")
        #expect((driver["message"] as? String ?? "").hasPrefix("(2006, "), "\(driver)")
        #expect(persistent["recovered"] as? Bool == false)
        // Each worker thread fails once: close_old_connections drops its dead connection when that request ends.
        let results = (persistent["operationResults"] as? [[String: Any]]) ?? []
        #expect(results.map { $0["succeeded"] as? Bool ?? false } == [false, false, false, false, true])
        #expect(timelineDetails(persistent, event: "driver-event").contains { $0.hasPrefix("close-old-connection") })

        let (checked, healthy) = try await runJSON([
            "wait-timeout", "--seconds", "1", "--driver", "django", "--driver-option", "CONN_MAX_AGE=60",
            "--driver-option", "CONN_HEALTH_CHECKS=true",
        ])
        #expect(checked.status == 0, "stderr: \(checked.stderr)")
        #expect(healthy["recovered"] as? Bool == true)
        #expect(callerErrors(healthy).isEmpty)
        #expect(timelineDetails(healthy, event: "driver-event").contains { $0.hasPrefix("health-check-failed") })

        // The default, CONN_MAX_AGE=0: every request connects anew, so nothing idles long enough to die.
        let (fresh, closing) = try await runJSON(["wait-timeout", "--seconds", "1", "--driver", "django"])
        #expect(fresh.status == 0, "stderr: \(fresh.stderr)")
        #expect(callerErrors(closing).isEmpty)
    }

    @Test("go-sql: a half-open cut reaches the caller as invalid connection (bytes written, no retry)")
    func goHalfOpen() async throws {
        let (out, s) = try await runJSON(["network-cut", "--mode", "half-open", "--driver", "go-sql"])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let first = try #require(callerErrors(s).first)
        let driver = try #require(first["driver"] as? [String: Any])
        #expect(driver["class"] as? String == "*errors.errorString")
        #expect(driver["message"] as? String == "invalid connection")
        #expect(first["kind"] as? String == "lost")
        #expect(s["recovered"] as? Bool == false)
        let client = try #require(s["client"] as? [String: Any])
        #expect(client["library"] as? String == "go-sql-driver/mysql")
        #expect((s["idleBeforeOperationsMs"] as? Double ?? 0) >= 1000, "the cut hits connections idle ≥ 1 s")
    }

    @Test("node-mysql2: read ECONNRESET reaches the caller; the retry-on-getConnection branch never runs")
    func mysql2HalfOpen() async throws {
        let (out, s) = try await runJSON([
            "network-cut", "--mode", "half-open", "--driver", "node-mysql2", "--driver-option",
            "app.retryGetConnection=true", "--node-path", nodePath,
        ])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let first = try #require(callerErrors(s).first)
        let driver = try #require(first["driver"] as? [String: Any])
        #expect(driver["message"] as? String == "read ECONNRESET")
        #expect(driver["code"] as? String == "ECONNRESET")
        #expect(first["phase"] as? String == "query")
        let retried = ((s["errors"] as? [[String: Any]]) ?? []).filter { $0["handledBy"] as? String == "retry" }
        #expect(retried.isEmpty, "getConnection never failed, so its retry never ran: \(retried)")
    }

    @Test("a mysql2 run's JSON and JUnit name mysql2, its pool and node, and nothing of Connector/C or repro's pool")
    func driverReportsDescribeTheDriver() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(
            ["network-cut", "--mode", "half-open", "--driver", "node-mysql2", "--node-path", nodePath, "--quiet"]
                + ["--report-dir", dir], timeout: 180)
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let path = dir + "/network-cut-half-open-node-mysql2.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(report["schemaVersion"] as? Int == 3)
        #expect(report["client"] is NSNull, "no scenario ran repro's own client")
        let s = try #require((report["scenarios"] as? [[String: Any]])?.first)
        #expect(s["policy"] is NSNull, "mysql2's pool has no repro policy; its options are client.options")
        let client = try #require(s["client"] as? [String: Any])
        #expect(client["library"] as? String == "mysql2")
        #expect(client["pool"] as? String == "mysql2 Pool")
        let first = try #require(s["firstError"] as? [String: Any])
        #expect(first["code"] is NSNull && first["name"] is NSNull && first["sqlstate"] is NSNull, "\(first)")
        #expect((first["driver"] as? [String: Any])?["code"] as? String == "ECONNRESET")
        for word in ["Connector/C", "REPRO_DRIVER_ERROR", "repro pool", "\"naive\""] {
            #expect(!text.contains(word), "\(word) in a mysql2 run's JSON")
        }
        // mysql2 says which connection served each operation: numbered like repro's own, one lane each.
        let ops = (s["operationResults"] as? [[String: Any]]) ?? []
        #expect(!ops.isEmpty && ops.allSatisfy { $0["connection"] is Int }, "\(ops)")
        #expect((first["threadId"] as? Int ?? 0) > 0 && first["connection"] is Int, "\(first)")
        // mysql2's own events are structured: kind, the message verbatim, the other fields, on their connection.
        let events = ((s["timeline"] as? [[String: Any]]) ?? []).filter { $0["event"] as? String == "driver-event" }
        let reset = try #require(
            events.first { ($0["driver"] as? [String: Any])?["kind"] as? String == "connection-error" }, "\(events)")
        let driverEvent = try #require(reset["driver"] as? [String: Any])
        #expect(driverEvent["message"] as? String == "read ECONNRESET")
        #expect((driverEvent["fields"] as? [String: Any])?["code"] as? String == "ECONNRESET")
        #expect(reset["connection"] is Int && reset["threadId"] is Int, "\(reset)")
        let svg = try String(contentsOfFile: dir + "/network-cut-half-open-node-mysql2.svg", encoding: .utf8)
        for lane in 1...4 { #expect(svg.contains(">conn \(lane)</text>"), "lane \(lane)") }
        // The schema accepts a real driver's report as it is (null client and policy, structured events).
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/report.schema.json").path
        let validated = try await ReproBinary.run(
            [
                "python3", "-c",
                "import json, sys, jsonschema; jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))",
                schema, path,
            ], executable: "/usr/bin/env", directory: dir)
        #expect(validated.status == 0, "the schema refuses a mysql2 report: \(validated.stderr)")
        let junit = try await ReproBinary.run(["report", path, "--format", "junit"])
        #expect(junit.status == 0, "stderr: \(junit.stderr)")
        #expect(junit.stdout.contains("name=\"client.library\" value=\"mysql2\""))
        #expect(junit.stdout.contains("name=\"client.runtime\" value=\"node "))
        #expect(!junit.stdout.contains("Connector/C"), "\(junit.stdout)")
    }

    @Test("mysql2's idle sweep closes its connections before a cut after 5 s idle: 0 flows cut, and the report says so")
    func idleSweepLeavesNothingToCut() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(
            [
                "network-cut", "--mode", "half-open", "--idle", "5", "--driver", "node-mysql2", "--driver-option",
                "idleTimeout=2000", "--driver-option", "maxIdle=3", "--node-path", nodePath, "--json", "--quiet",
                "--report-dir", dir,
            ], timeout: 180)
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
        let s = try #require((report?["scenarios"] as? [[String: Any]])?.first)
        #expect(s["reached"] as? Int == 0, "mysql2 3.23.4 sweeps each second and closed all 4 after 2 s idle")
        #expect(s["recovered"] as? Bool == true)
        let md = try String(contentsOfFile: dir + "/network-cut-half-open-node-mysql2.md", encoding: .utf8)
        #expect(md.contains("Nothing was cut: after 5 s idle the pool had no open connection"), "\(md)")
        #expect(!md.contains("every pooled connection was cut"))
    }

    @Test("node-mysql2: wait_timeout is absorbed by the pool's own eviction, seen only as idle events")
    func mysql2WaitTimeout() async throws {
        let (out, s) = try await runJSON([
            "wait-timeout", "--seconds", "2", "--driver", "node-mysql2", "--node-path", nodePath,
        ])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(s["recovered"] as? Bool == true)
        #expect(callerErrors(s).isEmpty)
        let events = timelineDetails(s, event: "driver-event")
        #expect(events.contains { $0.contains("connection-error: read ECONNRESET") }, "events: \(events)")
    }

    @Test("hikari: KILLed idle connections fail validation (a WARN event) and nothing reaches the caller")
    func hikariKill() async throws {
        let (out, s) = try await runJSON(["kill-thread", "--driver", "hikari"])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(s["recovered"] as? Bool == true)
        let events = timelineDetails(s, event: "driver-event")
        #expect(events.contains { $0.contains("Failed to validate connection") }, "events: \(events)")
    }

    @Test("sqlalchemy: pool_pre_ping recovers from wait_timeout; the default pool does not")
    func sqlalchemyPrePing() async throws {
        let (ping, withPing) = try await runJSON([
            "wait-timeout", "--seconds", "1", "--driver", "sqlalchemy", "--driver-option", "pool_pre_ping=true",
        ])
        #expect(ping.status == 0, "stderr: \(ping.stderr)")
        #expect(withPing["recovered"] as? Bool == true)
        let (plain, without) = try await runJSON(["wait-timeout", "--seconds", "1", "--driver", "sqlalchemy"])
        #expect(plain.status == 0, "stderr: \(plain.stderr)")
        let first = try #require(callerErrors(without).first)
        #expect(first["code"] as? Int == 2006)
        #expect((first["message"] as? String ?? "").contains("MySQL server has gone away"))
        // The first disconnect invalidates the whole pool: one failure, then every operation succeeds.
        let results = (without["operationResults"] as? [[String: Any]]) ?? []
        #expect(results.map { $0["succeeded"] as? Bool ?? false } == [false, true, true, true, true])
    }

    @Test("activerecord: checkout's verify! absorbs a KILL; a held connection gets 2013, then 'not connected' for good")
    func activeRecordKill() async throws {
        let (plain, pooled) = try await runJSON(["kill-thread", "--driver", "activerecord"])
        #expect(plain.status == 0, "stderr: \(plain.stderr)")
        #expect(pooled["recovered"] as? Bool == true)
        #expect(callerErrors(pooled).isEmpty)
        let events = timelineDetails(pooled, event: "driver-event")
        #expect(events.contains { $0.hasPrefix("reconnect") }, "events: \(events)")

        let (out, held) = try await runJSON(["kill-thread", "--driver", "activerecord", "--pattern", "held"])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let errors = callerErrors(held)
        let first = try #require(errors.first)
        #expect(first["code"] as? Int == 2013)
        let driver = try #require(first["driver"] as? [String: Any])
        #expect(driver["class"] as? String == "ActiveRecord::StatementInvalid")
        #expect(
            driver["message"] as? String == "Mysql2::Error::ConnectionError: Lost connection to server during query")
        let later = try #require(errors.dropFirst().first?["driver"] as? [String: Any])
        #expect(later["message"] as? String == "MySQL client is not connected")
        #expect(errors.dropFirst().first?["kind"] as? String == "used-after-fatal")
        #expect(held["recovered"] as? Bool == false)
    }

    @Test("php-pdo: a killed connection gives every job PDO's gone-away; reconnecting on a lost connection recovers")
    func phpWorkers() async throws {
        let (out, plain) = try await runJSON(["kill-thread", "--driver", "php-pdo"])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let first = try #require(callerErrors(plain).first)
        #expect(first["code"] as? Int == 2006)
        let driver = try #require(first["driver"] as? [String: Any])
        #expect(driver["class"] as? String == "PDOException")
        #expect(driver["message"] as? String == "SQLSTATE[HY000]: General error: 2006 MySQL server has gone away")
        #expect(driver["sqlState"] as? String == "HY000")
        // A worker keeps its connection, dead or not: nothing recovers.
        let results = (plain["operationResults"] as? [[String: Any]]) ?? []
        #expect(results.map { $0["succeeded"] as? Bool ?? true } == [false, false, false, false, false])

        let (mysqliOut, mysqli) = try await runJSON([
            "kill-thread", "--driver", "php-pdo", "--driver-option", "app.driver=mysqli",
        ])
        #expect(mysqliOut.status == 0, "stderr: \(mysqliOut.stderr)")
        let other = try #require(callerErrors(mysqli).first?["driver"] as? [String: Any])
        #expect(other["class"] as? String == "mysqli_sql_exception")
        #expect(other["message"] as? String == "MySQL server has gone away")

        let (retryOut, retried) = try await runJSON([
            "kill-thread", "--driver", "php-pdo", "--driver-option", "app.reconnectOnLostConnection=true",
        ])
        #expect(retryOut.status == 0, "stderr: \(retryOut.stderr)")
        #expect(retried["recovered"] as? Bool == true)
        #expect(callerErrors(retried).isEmpty)
        let absorbed = ((retried["errors"] as? [[String: Any]]) ?? []).filter { $0["handledBy"] as? String == "retry" }
        #expect(absorbed.count == 4, "one per worker: \(absorbed.count)")
    }

    @Test("unknown --driver-option exits 2 and lists the keys the adapter knows")
    func unknownOption() async throws {
        let out = try await ReproBinary.run([
            "kill-thread", "--driver", "go-sql", "--driver-option", "MaxIdle=3", "--quiet",
        ])
        #expect(out.status == 2, "stderr: \(out.stderr)")
        #expect(out.stderr.contains("'MaxIdle'"))
        #expect(out.stderr.contains("SetMaxIdleConns"))
        #expect(out.stderr.split(separator: "\n").count == 1)
    }

    @Test("repro matrix --drivers: a real stack and the preset that models it, side by side, from real runs")
    func driversMatrix() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(
            [
                "matrix", "--drivers", "node-mysql", "--configs", "default", "--scenarios",
                "kill-thread,held-kill-thread",
                "--policies", "ping-on-borrow", "--via", "proxy", "--node-path", nodePath, "--quiet", "--report-dir",
                dir,
            ], timeout: 300)
        #expect(out.status == 0, "stdout: \(out.stdout) stderr: \(out.stderr)")
        let report = try DriversReport.decode(Data(contentsOf: URL(fileURLWithPath: dir + "/drivers.json")))
        #expect(report.rows.map(\.id) == ["node-mysql default", "repro ping-on-borrow"])
        let real = try #require(report.row("node-mysql default"))
        #expect(real.client.library == "mysql")
        #expect(real.cell(.killThread)?.survived == true, "mysqljs pings on getConnection")
        let held = try #require(real.cell(.held)?.firstError)
        #expect(held.message == "Cannot enqueue Query after fatal error.")
        let markdown = try String(contentsOfFile: dir + "/drivers.md", encoding: .utf8)
        #expect(markdown.contains("| node-mysql | 2.18.1 | default | ✓"), "\(markdown)")
        #expect(markdown.contains("repro `ping-on-borrow`"))
    }

    @Test(
        "repro matrix --drivers refuses bad input in one line before anything runs",
        arguments: [
            (["--drivers", "nope"], "--drivers 'nope' is unknown"),
            // Typed options: ArgumentParser's line names the value, the option and the allowed values.
            (["--drivers", "go-sql", "--via", "sideways"], "'sideways' is invalid for '--via <via>'"),
            (["--drivers", "go-sql", "--via", "sideways"], "'proxy' and 'kernel'"),
            (["--drivers", "go-sql", "--configs", "best"], "'best' is invalid for '--configs <list>'"),
            (["--drivers", "go-sql", "--configs", "best"], "use default, recommended or both"),
            (["--drivers", "go-sql", "--scenarios", "kill-thread,meteor"], "--scenarios 'meteor' is unknown"),
        ])
    func driversMatrixUsage(arguments: [String], mention: String) async throws {
        let out = try await ReproBinary.run(
            ["matrix"] + arguments + ["--report-dir", ReproBinary.temporaryDirectory()])
        #expect(out.status == 2, "stdout: \(out.stdout) stderr: \(out.stderr)")
        #expect(out.stderr.contains(mention), "stderr: \(out.stderr)")
        #expect(!out.stderr.contains("mariadbd"), "nothing started")
    }

    @Test(
        "go-sql with SetConnMaxIdleTime below the idle period: nothing left to cut, the run reports the pool's own success",
        .enabled(if: getuid() == 0))
    func nothingToCut() async throws {
        let (out, s) = try await runJSON([
            "network-cut", "--mode", "half-open", "--via", "kernel", "--driver", "go-sql", "--driver-option",
            "SetConnMaxIdleTime=300ms",
        ])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(s["recovered"] as? Bool == true)
        #expect(callerErrors(s).isEmpty)
        #expect(timelineDetails(s, event: "scenario").contains { $0.hasPrefix("fault: nothing to cut") })
    }

    @Test(
        "django with its default CONN_MAX_AGE=0 holds no connection between requests: nothing to kill, the run reports the pool's own success"
    )
    func nothingToKill() async throws {
        let (out, s) = try await runJSON(["kill-thread", "--driver", "django"])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(s["recovered"] as? Bool == true)
        #expect(callerErrors(s).isEmpty)
        #expect(timelineDetails(s, event: "scenario").contains { $0.hasPrefix("fault: nothing to kill") })
    }
}

@Suite("driver usage errors exit 2 before anything runs", .ownThreads)
struct DriverUsageTests {
    @Test(
        "bad driver flags",
        arguments: [
            (["kill-thread", "--driver-option", "maxIdle=3"], "--driver"),
            (["kill-thread", "--driver", "go-sql", "--driver-option", "noequals"], "'noequals'"),
            (["kill-thread", "--driver", "go-sql", "--policy", "ping-on-borrow"], "--policy"),
            (["kill-thread", "--driver", "go-sql", "--read-timeout", "2"], "--read-timeout"),
            (["kill-thread", "--driver", "node-mysql2", "--evict-on-socket-event"], "--evict-on-socket-event"),
            (["kill-thread", "--pattern", "sometimes"], "'sometimes'"),
            (["kill-thread", "--driver", "go-sql", "--driver-deadline", "0"], "--driver-deadline 0"),
            (["network-cut", "--mode", "reset", "--idle", "-1"], "--idle -1"),
            (["kill-thread", "--driver", "no-such-driver"], "'no-such-driver'"),
        ])
    func badUsage(arguments: [String], mention: String) async throws {
        let out = try await ReproBinary.run(arguments)
        #expect(out.status == 2, "stderr: \(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count == 1, "one line, got: \(out.stderr)")
        #expect(out.stderr.contains(mention), "stderr: \(out.stderr)")
    }
}

/// Adapters that break the protocol: each must end the run with exit 3 and one clear line, and leave no
/// process behind.
@Suite("broken adapters give exit 3 and leave nothing running", .ownThreads, .serialized, .enabled(if: serverAvailable))
struct BrokenAdapterTests {
    /// A tiny adapter in Python: answers hello/open/warm, then misbehaves as `mode` says.
    static let script = #"""
        import json, os, sys, time
        mode = sys.argv[1]
        open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pid"), "w").write(str(os.getpid()))
        if mode == "never-hello":
            time.sleep(300)
        if mode == "garbage":
            print("hello, I am not JSON", flush=True)
            time.sleep(300)
        if mode == "setsid-grandchild":
            import subprocess
            child = subprocess.Popen(["sleep", "300"], start_new_session=True)
            open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "grandchild"), "w").write(str(child.pid))
        while True:
            line = sys.stdin.readline()
            if not line:
                break
            req = json.loads(line)
            op, rid = req["op"], req["id"]
            if op == "hello":
                answer = {"id": rid, "ok": True, "protocol": 1, "driver": "fake", "driverVersion": "0",
                          "options": {}}
            elif op == "warm" and mode == "hang-warm":
                time.sleep(300)
            elif op == "run" and mode == "exit-mid-run":
                sys.exit(7)
            elif op == "close" and mode == "no-close-answer":
                continue
            else:
                answer = {"id": rid, "ok": True, "threadIds": []}
            print(json.dumps(answer), flush=True)
            if op == "warm" and mode == "stops-reading":
                time.sleep(300)
            if op == "warm" and mode == "closes-stdout":
                os.close(1)
                time.sleep(300)
        """#

    static func makeAdapter(_ mode: String) throws -> (dir: String, pidFile: String) {
        let root = ReproBinary.temporaryDirectory()
        let dir = root + "/" + mode
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try script.write(toFile: dir + "/adapter.py", atomically: true, encoding: .utf8)
        let run = "#!/usr/bin/env bash\nexec python3 \"$(dirname \"$0\")/adapter.py\" \(mode)\n"
        try run.write(toFile: dir + "/run", atomically: true, encoding: .utf8)
        chmod(dir + "/run", 0o755)
        return (root, dir + "/pid")
    }

    @Test(
        "misbehaving adapters",
        arguments: [
            ("never-hello", "did not answer 'hello'"),
            ("garbage", "not protocol JSON: 'hello, I am not JSON'"),
            ("hang-warm", "did not answer 'warm'"),
            ("exit-mid-run", "exited (exit status 7)"),
            ("no-close-answer", "did not answer 'close'"),
            ("closes-stdout", "closed its output (stdout) while still running"),
        ])
    func broken(mode: String, mention: String) async throws {
        let (root, pidFile) = try Self.makeAdapter(mode)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = try await ReproBinary.run(
            ["wait-timeout", "--seconds", "1", "--driver", mode, "--driver-deadline", "2", "--quiet"],
            environment: ["REPRO_ADAPTERS": root], timeout: 120)
        #expect(out.status == 3, "stdout: \(out.stdout) stderr: \(out.stderr)")
        #expect(out.stderr.contains("the \(mode) adapter"), "stderr: \(out.stderr)")
        #expect(out.stderr.contains(mention), "stderr: \(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count == 1, "one line: \(out.stderr)")
        let pid = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""))
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "adapter process \(pid) is still running")
    }

    @Test("an adapter that stops reading its input under load: the write's deadline ends the run, exit 3")
    func stopsReading() async throws {
        let (root, pidFile) = try Self.makeAdapter("stops-reading")
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A statement longer than the pipe holds (64 KiB): its request cannot be written while nobody reads.
        let query = "SELECT '" + String(repeating: "x", count: 100_000) + "'"
        let out = try await ReproBinary.run(
            [
                "wait-timeout", "--seconds", "1", "--driver", "stops-reading", "--driver-deadline", "2",
                "--concurrency",
                "2", "--duration", "1", "--query", query, "--quiet",
            ],
            environment: ["REPRO_ADAPTERS": root], timeout: 120)
        #expect(out.status == 3, "stderr: \(out.stderr.prefix(500))")
        #expect(out.stderr.contains("stopped reading its input"), "stderr: \(out.stderr.prefix(500))")
        let pid = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""))
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "adapter process \(pid) is still running")
    }

    @Test("a grandchild that left the adapter's process group with setsid is stopped with it")
    func setsidGrandchildStopped() async throws {
        let (root, _) = try Self.makeAdapter("setsid-grandchild")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = try await ReproBinary.run(
            ["wait-timeout", "--seconds", "1", "--driver", "setsid-grandchild", "--quiet"],
            environment: ["REPRO_ADAPTERS": root], timeout: 120)
        #expect(out.status == 0 || out.status == 1, "stderr: \(out.stderr)")
        let file = root + "/setsid-grandchild/grandchild"
        let pid = try #require(Int32((try? String(contentsOfFile: file, encoding: .utf8)) ?? ""))
        // Reaped by init a moment after SIGKILL: poll (bounded) until it is gone.
        var gone = false
        for _ in 0..<100 where !gone {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            let zombie = stat.split(separator: ")").last?.split(separator: " ").first == "Z"
            gone = (kill(pid, 0) == -1 && errno == ESRCH) || zombie
            if !gone { usleep(20_000) }
        }
        #expect(gone, "grandchild \(pid) outlived repro")
        if !gone { kill(pid, SIGKILL) }
    }
}
