import Foundation
import ReproKit
import Testing

/// `repro serve-pool` as a parent process sees it: protocol lines on stdout only, exit 0 at EOF, and a prompt end on
/// SIGTERM although `main` blocks the termination signals.
@Suite("repro serve-pool")
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
}
