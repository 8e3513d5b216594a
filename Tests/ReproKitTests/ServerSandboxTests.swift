import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("Server sandboxes", .ownThreads)
struct ServerSandboxTests {
    @Test("teardown during a bootstrap uses the bootstrap's short grace: a child deaf to SIGTERM is killed at once")
    func bootstrapTeardownIsPrompt() throws {
        let sandbox = ServerSandbox(program: "bootstrap-test")
        let directory = try sandbox.create { () throws(ServerError) in
            try ManagedServer.makeDirectory(prefix: "repro-sandbox-test-")
        }
        // Ignored signals stay ignored across exec: the shell and its sleep both outlive SIGTERM.
        let child = try sandbox.launch(teardownGrace: .milliseconds(200)) { () throws(ServerError) in
            try ChildProcess.spawn(
                "/bin/sh", ["-c", "trap '' TERM; touch \"$0\"; sleep 60", directory + "/deaf"],
                outputPath: directory + "/out")
        }
        // Bounded wait until the shell ignores SIGTERM.
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: directory + "/deaf") { usleep(10_000) }
        try #require(FileManager.default.fileExists(atPath: directory + "/deaf"))
        let start = ContinuousClock.now
        sandbox.teardown()
        let took = ContinuousClock.now - start
        // The default teardown grace is 10 s; the bootstrap's is 200 ms (a bound on waiting, not a benchmark).
        #expect(took < .seconds(5), "teardown took \(took)")
        #expect(child.poll() == .signaled(SIGKILL))
        #expect(!FileManager.default.fileExists(atPath: directory))
    }
}
