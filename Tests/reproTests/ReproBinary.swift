import Foundation

/// Runs the built `repro` executable and captures what it printed and its exit code.
struct ReproBinary {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var path: String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // swift test runs the .xctest bundle from the build directory, next to the executable.
        for candidate in [here, here.deletingLastPathComponent()] {
            let p = candidate.appendingPathComponent("repro").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return ".build/debug/repro"
    }

    /// Ours without REPRO_DSN and GITHUB_STEP_SUMMARY (a developer's own must not leak in), plus `extra`.
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "REPRO_DSN")
        env.removeValue(forKey: "GITHUB_STEP_SUMMARY")
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Runs with a bounded wait; a hang kills the process and shows as status -1.
    /// `executable` defaults to the built repro; `directory` is the working directory (default: inherited).
    /// The wait happens on a thread of its own: a test suspended here leaves Swift Testing's few cooperative
    /// threads (one per core) to the other tests, which is what lets the suite's real waits overlap.
    static func run(
        _ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 120,
        executable: String? = nil, directory: String? = nil
    ) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Result {
                        try runWaiting(
                            arguments, environment: environment, timeout: timeout, executable: executable,
                            directory: directory)
                    })
            }
        }
    }

    /// `run` on the calling thread, for the places that cannot suspend (a `defer`).
    static func runWaiting(
        _ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 120,
        executable: String? = nil, directory: String? = nil
    ) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? path)
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.arguments = arguments
        process.environment = Self.environment(environment)
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Drain both pipes while waiting so a large report cannot block the child. On threads of their own: the
        // global queue's few threads, shared by every test running at once, could start a reader seconds late.
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        Thread.detachNewThread {
            outData = out.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        Thread.detachNewThread {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            _ = group.wait(timeout: .now() + 5)
            return Outcome(status: -1, stdout: String(decoding: outData, as: UTF8.self), stderr: "timed out")
        }
        process.waitUntilExit()
        _ = group.wait(timeout: .now() + 5)
        return Outcome(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// A fresh directory under this test process's own root, which is removed when the process exits (not every
    /// test removes its own).
    static func temporaryDirectory() -> String {
        let dir = temporaryRoot + "/\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    private static let temporaryRoot: String = {
        atexit { try? FileManager.default.removeItem(atPath: ReproBinary.rootPath(pid: getpid())) }
        return rootPath(pid: getpid())
    }()

    private static func rootPath(pid: pid_t) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("repro-e2e-\(pid)").path
    }
}
