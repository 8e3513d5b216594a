import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// The server lock global-scope runs take turns with: the wait for it is bounded.
@Suite("Global wait_timeout lock", .exclusive(.globalWaitTimeout), .ownThreads)
struct GlobalWaitTimeoutLockTests {
    @Test(
        "a run that waits too long for another run's global scenario gives up with one line and changes nothing",
        .requiresServer)
    func lockWaitIsBounded() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        // As a user's server would be: the original value is recorded on disk too.
        var endpoint = server.endpoint
        endpoint.managed = false
        let runner = ScenarioRunner(endpoint: endpoint)
        let holder = try runner.adminConnection()
        defer { holder.close() }
        #expect(try holder.query("SELECT GET_LOCK('\(GlobalWaitTimeout.lockName)', 0)").first?.first == "1")
        let before = try #require(try holder.query("SELECT @@GLOBAL.wait_timeout").first?.first ?? nil)

        var notices: [String] = []
        let started = ContinuousClock.now
        let error = #expect(throws: RunError.self) {
            try GlobalWaitTimeout.set(1, runner: runner, log: EventLog(), lockWait: .seconds(1)) { notices.append($0) }
        }
        #expect(ContinuousClock.now - started < .seconds(10), "bounded")
        #expect(error?.exitCode == 3)
        #expect(
            error?.message.contains(
                "held the server lock 'repro.global_wait_timeout' for more than 1 s: let it finish") == true,
            "\(error?.message ?? "")")
        #expect(notices.count == 1, "\(notices)")
        #expect(notices.first?.hasPrefix("waiting for another repro run's global wait_timeout scenario on ") == true)
        #expect(try holder.query("SELECT @@GLOBAL.wait_timeout").first?.first == before)

        // Once the other run lets go, the same call goes through, and its restore is read back.
        try holder.query("SELECT RELEASE_LOCK('\(GlobalWaitTimeout.lockName)')")
        let log = EventLog()
        let global = try GlobalWaitTimeout.set(1, runner: runner, log: log, lockWait: .seconds(1))
        #expect(global.original == Int(before))
        #expect(try holder.query("SELECT @@GLOBAL.wait_timeout").first?.first == "1")
        #expect(global.restore(log: log))
        #expect(try holder.query("SELECT @@GLOBAL.wait_timeout").first?.first == before)
        #expect(
            log.events.contains { $0.detail == "SET GLOBAL wait_timeout=\(before) (restored; read back \(before))" })
        #expect(try holder.query("SELECT IS_USED_LOCK('\(GlobalWaitTimeout.lockName)')").first?.first == .some(nil))
    }
}
