import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

// In the serialized KernelCutTests suite: these also compare the whole rule set before and after.
extension KernelCutTests {
    @Test(
        "network-cut --via kernel on a real server: the error surfaces and the rule set is unchanged afterwards",
        .enabled(if: ServerRequirement.shouldRun, ServerRequirement.skipReason),
        arguments: [KernelCutMode.reset, .blackhole, .halfOpen])
    func scenarioViaKernel(mode: KernelCutMode) throws {
        let before = try FirewallSnapshot.capture()
        var policy = PolicyPreset.naive.policy
        policy.readTimeout = 1
        let cutMode = CutMode(rawValue: mode.rawValue)!
        let scenario = Scenario(
            name: "kernel-\(mode.rawValue)", fault: .networkCut(mode: cutMode, via: .kernel), policy: policy,
            poolSize: 2)
        let (report, _) = try runOnEmbeddedServer([scenario])
        let s = try #require(report.scenarios.first)
        #expect(s.firstError?.phase == .query)
        #expect(s.firstError?.error.isConnectionLevel == true)
        #expect(!s.recovered)
        #expect(s.tcpSignal == (mode == .blackhole ? "none" : "rst"))
        #expect(try FirewallSnapshot.capture() == before)
    }

    @Test(
        "ping-on-borrow recovers from a kernel reset",
        .enabled(if: ServerRequirement.shouldRun, ServerRequirement.skipReason))
    func pingOnBorrowViaKernel() throws {
        let before = try FirewallSnapshot.capture()
        let scenario = Scenario(
            name: "kernel-reset-ping", fault: .networkCut(mode: .reset, via: .kernel),
            policy: PolicyPreset.pingOnBorrow.policy, poolSize: 2)
        let (report, _) = try runOnEmbeddedServer([scenario])
        #expect(report.scenarios.first?.recovered == true)
        #expect(try FirewallSnapshot.capture() == before)
    }
}

extension KernelCutTests {
    @Test(
        "a kernel cut leaves no server thread of the pool behind (the server never saw the cut)",
        .enabled(if: ServerRequirement.shouldRun, ServerRequirement.skipReason))
    func noLeftoverThreads() throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        let runner = ScenarioRunner(endpoint: session.endpoint)
        let admin = try runner.adminConnection()
        defer { admin.close() }
        let scenario = Scenario(
            name: "kernel-blackhole", fault: .networkCut(mode: .blackhole, via: .kernel),
            policy: PoolPolicy(name: "naive", readTimeout: 1), poolSize: 2)
        let result = try runner.run(scenario)
        let poolThreads = Set(result.timeline.filter { $0.event == .connect }.compactMap(\.threadID))
        #expect(!poolThreads.isEmpty)
        // A closed or killed thread leaves the processlist asynchronously: give the server a bounded moment.
        var leftovers: [UInt64] = []
        for _ in 0..<40 {
            let alive = try admin.query("SELECT ID FROM information_schema.PROCESSLIST").compactMap { $0.first ?? nil }
            leftovers = alive.compactMap(UInt64.init).filter { poolThreads.contains($0) }
            if leftovers.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(leftovers.isEmpty, "threads still on the server: \(leftovers)")
    }
}
