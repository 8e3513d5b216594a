import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// `repro serve-pool` as a parent process sees it: protocol lines on stdout only, exit 0 at EOF, and a prompt end on
/// SIGTERM although `main` blocks the termination signals.
@Suite("repro serve-pool", .ownThreads)
struct ServePoolCommandTests {
    /// The built binary running `serve-pool`, with pipes on stdin and stdout.
    private struct Child {
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()

        init() throws {
            process.executableURL = URL(fileURLWithPath: ReproBinary.path)
            process.arguments = ["serve-pool"]
            process.environment = ReproBinary.environment()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = errors
            try process.run()
        }

        func send(_ line: String) throws {
            try input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
        }

        /// One line of stdout (bounded wait).
        func readLine(timeout: Double = 10) -> String? {
            let fd = output.fileHandleForReading.fileDescriptor
            var bytes: [UInt8] = []
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 100) > 0 else { continue }
                var byte: UInt8 = 0
                guard read(fd, &byte, 1) == 1 else { return nil }
                if byte == 0x0A { return String(decoding: bytes, as: UTF8.self) }
                bytes.append(byte)
            }
            return nil
        }

        /// Skips event lines until the answer to `id`.
        func answer(to id: Int, timeout: Double = 10) -> JSONValue? {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline, let line = readLine(timeout: deadline.timeIntervalSinceNow) {
                if let value = JSONValue.parse(Data(line.utf8)), value["id"]?.int == id { return value }
            }
            return nil
        }

        /// True when it exited within `timeout` seconds.
        func waitForExit(timeout: Double) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning {
                process.interrupt()
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return false
            }
            return true
        }
    }

    @Test("answers hello with protocol 1, prints only protocol lines, and exits 0 at EOF on stdin")
    func helloThenEOF() throws {
        let child = try Child()
        try child.send(#"{"id":1,"op":"hello"}"#)
        let line = try #require(child.readLine())
        let hello = try #require(JSONValue.parse(Data(line.utf8)))
        #expect(hello["id"]?.int == 1)
        #expect(hello["ok"]?.bool == true)
        #expect(hello["protocol"]?.int == 1)
        #expect(hello["driver"]?.string == "MariaDB Connector/C")
        #expect(hello["pool"]?.string == "repro pool")
        #expect(hello["runtime"]?.string == "swift")
        try child.input.fileHandleForWriting.close()
        #expect(child.waitForExit(timeout: 5), "serve-pool exits at EOF")
        #expect(child.process.terminationReason == .exit)
        #expect(child.process.terminationStatus == 0)
        let rest = String(decoding: child.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(rest.isEmpty, "nothing but the answer on stdout: \(rest)")
    }

    @Test("SIGTERM from the parent ends it at once, the signal mask of main notwithstanding")
    func terminates() throws {
        let child = try Child()
        try child.send(#"{"id":1,"op":"hello"}"#)
        #expect(child.readLine() != nil)
        let sent = Date()
        child.process.terminate()
        #expect(child.waitForExit(timeout: 2), "serve-pool exits on SIGTERM")
        #expect(Date().timeIntervalSince(sent) < 2)
        // The cleanup handler's exit: 128 + SIGTERM.
        #expect(child.process.terminationStatus == 128 + SIGTERM)
    }

    @Test(
        "SIGSTOP through an armed timer: the batch runs when SIGCONT comes, on the dead connections",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func frozenThroughTheTimer() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let child = try Child()
        defer {
            kill(child.process.processIdentifier, SIGCONT)
            try? child.input.fileHandleForWriting.close()
            _ = child.waitForExit(timeout: 5)
        }
        let start = ContinuousClock.now
        func ms() -> Double { EventLog.milliseconds(.now - start) }
        // As repro does: `hello` answered first, so the child is reading when `open` brings it the clock.
        try child.send(#"{"id":0,"op":"hello"}"#)
        #expect(child.answer(to: 0)?["ok"]?.bool == true)
        let e = server.endpoint
        let openedAt = ms()
        try child.send(
            #"{"id":1,"op":"open","host":"\#(e.host)","port":\#(e.port),"user":"\#(e.user)","password":"","poolSize":2,"#
                + #""initSql":[],"policy":"naive","runMs":\#(openedAt)}"#)
        #expect(child.answer(to: 1)?["ok"]?.bool == true)
        // The child's clock lags the test's by the time `open` took to arrive, at most its round trip.
        let lag = ms() - openedAt + 0.01
        try child.send(#"{"id":2,"op":"warm","count":2}"#)
        let ids = (child.answer(to: 2)?["threadIds"]?.array ?? []).compactMap(\.int)
        try #require(ids.count == 2)

        let armedAt = ms()
        try child.send(#"{"id":3,"op":"arm","count":2,"sql":"SELECT 1","delayMs":300}"#)
        #expect(child.answer(to: 3)?["ok"]?.bool == true)
        kill(child.process.processIdentifier, SIGSTOP)
        // While it is stopped its idle connections die and its timer falls due.
        let admin = try MariaDBConnection(
            options: ConnectionOptions(host: e.host, port: e.port, user: e.user, password: e.password))
        defer { admin.close() }
        for id in ids { try admin.query("KILL CONNECTION \(id)") }
        Thread.sleep(forTimeInterval: max(0, (armedAt + 1000 - ms()) / 1000))
        let resumedAt = ms()
        kill(child.process.processIdentifier, SIGCONT)

        try child.send(#"{"id":4,"op":"collect"}"#)
        let results = try #require(child.answer(to: 4)?["results"]?.array)
        #expect(results.count == 2)
        let firstStart = try #require(results.first?["atMs"]?.double)
        // The overdue timer fired on resume, not at 300 ms (the child's clock is the test's, from runMs).
        #expect(firstStart >= resumedAt - lag)
        #expect(firstStart < resumedAt + 500)
        // naive handed out both dead connections, one per operation.
        for result in results {
            #expect(result["ok"]?.bool == false)
            #expect(result["error"]?["code"]?.string == "CR_SERVER_LOST")
            #expect(result["error"]?["phase"]?.string == "query")
        }
    }
}
