import Foundation
import ReproKit
import ReproTestSupport
import Synchronization
import Testing

/// A server that dies under a scenario is an environment failure, never the policy's result.
@Suite("A server that dies mid-scenario", .ownThreads, .serialized, .enabled(if: serverAvailable))
struct ServerDeathTests {
    @Test(
        "the embedded mariadbd killed with SIGKILL while the pool idles: exit 3, and the message says it died",
        arguments: [["wait-timeout", "--seconds", "3"], ["kill-thread", "--idle", "3"]])
    func embeddedKilled(command: [String]) throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try LiveRun(command + ["--report-dir", dir])
        defer { run.stop() }
        try run.waitForStderr(containing: "] idle ")
        let server = try #require(run.child(named: "mariadbd"), "the embedded mariadbd is a child of repro")
        #expect(kill(server, SIGKILL) == 0)
        let outcome = run.finish()
        #expect(outcome.status == 3, "stderr: \(outcome.stderr)")
        #expect(
            outcome.stderr.contains(
                "repro: the embedded server died during scenario '\(command[0])': mariadbd (pid \(server)) was killed by signal 9 (SIGKILL)"
            ), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("is the server running"))
        #expect(!outcome.stderr.contains("report:"), "no report of a run whose server died")
    }

    @Test("a user's server stopped during `repro all`: exit 3, the scenario is not marked passed, the server is named")
    func externalStopped() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // What the naive pool shows when the server is gone (no recovery) is exactly what this expects: without
        // the check the scenario would be marked ✓.
        try "name: dies\nfault: {kind: wait-timeout, seconds: 3}\nexpect: {recovered: false}\n".write(
            toFile: dir + "/dies.yml", atomically: true, encoding: .utf8)
        let server = try await ManagedServer.startInBackground()
        defer { server.stop() }
        let dsn = "mysql://root@127.0.0.1:\(server.endpoint.port)/"
        let run = try LiveRun(["all", dir + "/dies.yml", "--report-dir", dir], environment: ["REPRO_DSN": dsn])
        defer { run.stop() }
        try run.waitForStderr(containing: "] idle ")
        await server.stopInBackground()
        let outcome = run.finish()
        #expect(outcome.status == 3, "stderr: \(outcome.stderr)")
        #expect(
            outcome.stderr.contains(
                "repro: the server at 127.0.0.1:\(server.endpoint.port) stopped answering during scenario 'dies'"),
            "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("✓"), "\(outcome.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/repro-all.json"))
    }
}

/// The built repro, started in the background with its stderr collected as it arrives.
final class LiveRun: Sendable {
    private let process: Process
    private let stderr = Mutex(Data())
    private let stdout = Mutex(Data())
    private let readers = DispatchGroup()

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ReproBinary.path)
        process.arguments = arguments
        process.environment = ReproBinary.environment(environment)
        let err = Pipe()
        let out = Pipe()
        process.standardError = err
        process.standardOutput = out
        self.process = process
        try process.run()
        read(err) { [self] chunk in stderr.withLock { $0.append(chunk) } }
        read(out) { [self] chunk in stdout.withLock { $0.append(chunk) } }
    }

    private func read(_ pipe: Pipe, into append: @escaping @Sendable (Data) -> Void) {
        readers.enter()
        Thread.detachNewThread { [readers] in
            let handle = pipe.fileHandleForReading
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                append(chunk)
            }
            readers.leave()
        }
    }

    var pid: pid_t { process.processIdentifier }
    var stderrText: String { stderr.withLock { String(decoding: $0, as: UTF8.self) } }

    var stdoutText: String { stdout.withLock { String(decoding: $0, as: UTF8.self) } }

    /// Waits (bounded) until stdout shows `text`; throws when the run ended or the bound passed first.
    func waitForStdout(containing text: String, timeout: TimeInterval = 90) throws {
        try waitFor(text, in: { self.stdoutText }, name: "stdout", timeout: timeout)
    }

    /// Waits (bounded) until stderr shows `text`; throws when the run ended or the bound passed first.
    func waitForStderr(containing text: String, timeout: TimeInterval = 90) throws {
        try waitFor(text, in: { self.stderrText }, name: "stderr", timeout: timeout)
    }

    private func waitFor(_ text: String, in stream: () -> String, name: String, timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stream().contains(text) { return }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        struct NotSeen: Error, CustomStringConvertible { let description: String }
        throw NotSeen(description: "\(name) never showed '\(text)': \(stream())")
    }

    /// The pid of a direct child of repro with this command name, from /proc.
    func child(named name: String) -> pid_t? {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for task in tasks {
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ pid_t($0) }) {
                let comm = (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8)) ?? ""
                if comm.trimmingCharacters(in: .whitespacesAndNewlines) == name { return child }
            }
        }
        return nil
    }

    /// Waits (bounded) for the exit; a hang shows as status -1.
    func finish(timeout: TimeInterval = 120) -> ReproBinary.Outcome {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            stop()
            return ReproBinary.Outcome(status: -1, stdout: "", stderr: "timed out: \(stderrText)")
        }
        process.waitUntilExit()
        _ = readers.wait(timeout: .now() + 5)
        return ReproBinary.Outcome(
            status: process.terminationStatus, stdout: stdout.withLock { String(decoding: $0, as: UTF8.self) },
            stderr: stderrText)
    }

    /// Stops the run if it still runs (SIGTERM: repro cleans up), bounded.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }
}
