import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// Whether python3 imports `module` (under `make test` a missing one fails the test instead of skipping it).
func pythonImports(_ module: String) -> Bool {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import \(module)"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}

let pymysqlAvailable = pythonImports("pymysql")

@Suite("repro proxy in front of a client that is not ours", .ownThreads)
struct ProxyCommandTests {
    @Test(
        "PyMySQL through `repro proxy --after-idle` sees the idle cut; SIGTERM exits 0",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"),
        .enabled(
            if: pymysqlAvailable || ProcessInfo.processInfo.environment["REPRO_REQUIRE_SERVER"] == "1",
            "PyMySQL not installed: run `make setup`"))
    func pymysqlSeesIdleCut() throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        let port = try #require(LoopbackTCP.freePort())
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: ReproBinary.path)
        proxy.arguments = [
            "proxy", "--listen", "127.0.0.1:\(port)", "--upstream", session.endpoint.hostPort, "--mode", "reset",
            "--after-idle", "1",
        ]
        let log = Pipe()
        proxy.standardOutput = log
        proxy.standardError = FileHandle.nullDevice
        try proxy.run()
        defer { if proxy.isRunning { proxy.terminate() } }
        let script = """
            import pymysql, time, sys
            for attempt in range(50):
                try:
                    c = pymysql.connect(host="127.0.0.1", port=\(port), user="root", password="", read_timeout=5)
                    break
                except pymysql.err.OperationalError:
                    time.sleep(0.1)
            cur = c.cursor()
            cur.execute("SELECT 1")
            print("first", cur.fetchone()[0])
            time.sleep(1.6)
            try:
                cur.execute("SELECT 1")
                print("second ok")
            except pymysql.err.OperationalError as e:
                print("error", e.args[0])
            """
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", script]
        let out = Pipe()
        python.standardOutput = out
        python.standardError = out
        try python.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        #expect(text.contains("first 1"), "\(text)")
        let code = text.split(separator: "\n").first { $0.hasPrefix("error ") }.map { String($0.dropFirst(6)) }
        #expect(code == "2006" || code == "2013", "PyMySQL output: \(text)")
        proxy.terminate()
        proxy.waitUntilExit()
        #expect(proxy.terminationStatus == 0)
        let lines = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(lines.contains("flow 1 open"))
        #expect(lines.contains("flow 1 cut reset: client got rst"))
        #expect(lines.contains("stopped"))
    }

    /// Starts `repro proxy` in front of an embedded server, connects a raw TCP client that reads the greeting, runs
    /// `trigger` with the proxy, and returns what the client read after the greeting and the proxy's log.
    func rawClientCut(extraArguments: [String], trigger: (Process) -> Void) throws -> (client: String, log: String) {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        let port = try #require(LoopbackTCP.freePort())
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: ReproBinary.path)
        proxy.arguments =
            ["proxy", "--listen", "127.0.0.1:\(port)", "--upstream", session.endpoint.hostPort] + extraArguments
        let log = Pipe()
        proxy.standardOutput = log
        proxy.standardError = FileHandle.nullDevice
        try proxy.run()
        defer { if proxy.isRunning { proxy.terminate() } }
        // The client reads the server's greeting, says so, then blocks (5 s at most) until the cut reaches it.
        let script = """
            import socket, sys, time
            for attempt in range(50):
                try:
                    s = socket.create_connection(("127.0.0.1", \(port)), timeout=5)
                    break
                except OSError:
                    time.sleep(0.1)
            print("greeting", len(s.recv(4096)) > 0, flush=True)
            try:
                data = s.recv(4096)
                print("eof" if data == b"" else "data")
            except ConnectionResetError:
                print("reset")
            except socket.timeout:
                print("timeout")
            """
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-u", "-c", script]
        let out = Pipe()
        python.standardOutput = out
        try python.run()
        // Wait (bounded) for the greeting line, so the flow is open and idle before the trigger.
        var text = ""
        let handle = out.fileHandleForReading
        let deadline = Date().addingTimeInterval(10)
        while !text.contains("\n") && Date() < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        trigger(proxy)
        text += String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        proxy.terminate()
        proxy.waitUntilExit()
        #expect(proxy.terminationStatus == 0)
        return (text, String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    @Test(
        "SIGUSR1 cuts every open flow now with the given mode",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func sigusr1Cuts() throws {
        let (client, log) = try rawClientCut(extraArguments: ["--mode", "close"]) { proxy in
            kill(proxy.processIdentifier, SIGUSR1)
        }
        #expect(client.contains("greeting True"), "\(client)")
        #expect(client.contains("eof"), "close sends FIN: \(client)")
        #expect(log.contains("SIGUSR1: cut 1 flow(s) with close"), "\(log)")
    }

    @Test(
        "--cut-after cuts every open flow once, that long after start",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func cutAfter() throws {
        let (client, log) = try rawClientCut(extraArguments: ["--mode", "reset", "--cut-after", "1.5"]) { _ in }
        #expect(client.contains("greeting True"), "\(client)")
        #expect(client.contains("reset"), "reset sends RST: \(client)")
        #expect(log.contains("cut-after: cut 1 flow(s) with reset"), "\(log)")
    }

    /// Runs `repro proxy` with `arguments` (listen address chosen here), lets a Python `client` script talk to its
    /// port (given as PORT), stops the proxy with SIGTERM and returns the client's output, the proxy's stdout and
    /// stderr.
    func proxyRun(_ arguments: [String], client: String) throws -> (client: String, log: String, stderr: String) {
        let port = try #require(LoopbackTCP.freePort())
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: ReproBinary.path)
        proxy.arguments = ["proxy", "--listen", "127.0.0.1:\(port)"] + arguments
        let log = Pipe()
        let errors = Pipe()
        proxy.standardOutput = log
        proxy.standardError = errors
        try proxy.run()
        defer { if proxy.isRunning { proxy.terminate() } }
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-u", "-c", client.replacingOccurrences(of: "PORT", with: "\(port)")]
        let out = Pipe()
        python.standardOutput = out
        python.standardError = out
        try python.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        proxy.terminate()
        proxy.waitUntilExit()
        #expect(proxy.terminationStatus == 0)
        return (
            text, String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }

    @Test("an unreachable --upstream is said once on stderr and on every flow's close line")
    func unreachableUpstream() throws {
        // A port nothing listens on: the proxy's dial is refused.
        let upstream = try #require(LoopbackTCP.freePort())
        let (client, log, stderr) = try proxyRun(
            ["--upstream", "127.0.0.1:\(upstream)"],
            client: """
                import socket, time
                for flow in range(3):
                    s = None
                    for attempt in range(50):
                        try:
                            s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
                            break
                        except ConnectionRefusedError:
                            time.sleep(0.1)
                        except ConnectionResetError:
                            break  # the proxy's RST overtook the end of the handshake: the same answer
                    try:
                        if s is None:
                            raise ConnectionResetError()
                        print("eof" if s.recv(10) == b"" else "data")
                    except ConnectionResetError:
                        print("reset")
                """)
        #expect(client == "reset\nreset\nreset\n", "\(client)")
        let closes = log.split(separator: "\n").filter { $0.contains(" close: ") }
        #expect(closes.count == 3, "\(log)")
        #expect(closes.allSatisfy { $0.contains("client got rst, upstream unreachable: Connection refused") }, "\(log)")
        let lines = stderr.split(separator: "\n")
        #expect(lines.count == 1, "once: \(stderr)")
        #expect(
            lines.first?.hasPrefix("repro: cannot reach the upstream 127.0.0.1:\(upstream): Connection refused") == true
        )
    }

    /// `repro proxy` in front of a fresh embedded server, with `arguments`; returns the run, the server's session
    /// and the proxy's port once it listens.
    func liveProxy(_ arguments: [String]) throws -> (LiveRun, ReproSession, Int) {
        let session = try ReproSession.open(dsn: nil)
        let port = try #require(LoopbackTCP.freePort())
        let run = try LiveRun(
            ["proxy", "--listen", "127.0.0.1:\(port)", "--upstream", session.endpoint.hostPort] + arguments)
        try run.waitForStdout(containing: "listening on", timeout: 30)
        return (run, session, port)
    }

    func connect(port: Int) throws -> MariaDBConnection {
        try MariaDBConnection(
            options: ConnectionOptions(host: "127.0.0.1", port: port, user: "root", password: "", readTimeout: 20))
    }

    @Test(
        "--after-idle cuts a flow silent while a long query runs, as a middlebox does, and the cut line says mid-query",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func afterIdleMidQuery() throws {
        let (run, session, port) = try liveProxy(["--mode", "reset", "--after-idle", "1"])
        defer {
            run.stop()
            session.close()
        }
        let busy = try connect(port: port)
        defer { busy.close() }
        #expect(throws: DatabaseError.self, "silent for 2 s in both directions: cut") {
            try busy.query("SELECT SLEEP(2)")
        }
        try run.waitForStdout(containing: "flow 1 cut reset", timeout: 20)
        // Between queries: the server answered last, so the line does not say mid-query.
        let idle = try connect(port: port)
        defer { idle.close() }
        _ = try idle.query("SELECT 1")
        try run.waitForStdout(containing: "flow 2 cut reset", timeout: 20)
        let cuts = run.stdoutText.split(separator: "\n").filter { $0.contains(" cut reset") }
        #expect(cuts.count == 2, "\(run.stdoutText)")
        #expect(cuts.first?.contains("flow 1 cut reset mid-query (the server had not answered") == true, "\(cuts)")
        #expect(cuts.last?.contains("mid-query") == false, "\(cuts)")
    }

    @Test(
        "SIGUSR1 to a pass-through proxy (no --mode) cuts nothing and says so once",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func sigusr1PassThrough() throws {
        let (run, session, port) = try liveProxy([])
        defer {
            run.stop()
            session.close()
        }
        #expect(run.stdoutText.contains("SIGUSR1 cuts only with --mode"), "\(run.stdoutText)")
        let connection = try connect(port: port)
        defer { connection.close() }
        kill(run.pid, SIGUSR1)
        try run.waitForStderr(containing: "SIGUSR1 ignored", timeout: 20)
        kill(run.pid, SIGUSR1)
        #expect(try connection.query("SELECT 1").first?.first == "1", "the flow still passes")
        run.stop()
        #expect(run.stderrText.components(separatedBy: "SIGUSR1 ignored").count == 2, "once: \(run.stderrText)")
        #expect(!run.stdoutText.contains("SIGUSR1: cut"), "\(run.stdoutText)")
    }

    @Test(
        "proxy usage errors exit 2",
        arguments: [
            (["proxy", "--upstream", "nohost"], "not host:port"),
            (["proxy", "--upstream", "127.0.0.1:3306", "--after-idle", "5"], "needs --mode"),
            (["proxy", "--upstream", "127.0.0.1:3306", "--mode", "snip"], "'snip'"),
            (["proxy", "--upstream", "127.0.0.1:99999"], "out of range"),
        ])
    func usage(arguments: [String], mention: String) async throws {
        let out = try await ReproBinary.run(arguments)
        #expect(out.status == 2)
        #expect(out.stderr.contains(mention), "\(out.stderr)")
    }
}
