import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// Load mode on the embedded server: 8 workers, every fault kind, the account checked.
@Suite(.ownThreads, .serialized, .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
struct LoadTests {
    static func run(_ arguments: [String], policy: String) async throws -> ScenarioResult {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(
            arguments + [
                "--policy", policy, "--concurrency", "8", "--duration", "2", "--json", "--quiet",
                "--report-dir", dir,
            ], timeout: 120)
        #expect(out.status == 0, "\(arguments) \(policy): \(out.stderr)")
        let report = try Report.decode(Data(out.stdout.utf8))
        return try #require(report.scenarios.first)
    }

    static let faults: [[String]] = [
        ["wait-timeout", "--seconds", "1"], ["kill-thread"], ["network-cut", "--mode", "reset"],
        ["server-restart", "--mode", "crash"],
    ]

    @Test(arguments: faults)
    func everyOperationIsCountedAndRecoveryIsReported(fault: [String]) async throws {
        let s = try await Self.run(fault, policy: "naive")
        let load = try #require(s.load)
        #expect(load.concurrency == 8)
        #expect(load.workers.count == 8)
        for w in load.workers { #expect(w.succeeded + w.failed == w.started, "worker \(w.worker)") }
        #expect(load.started == load.workers.reduce(0) { $0 + $1.started })
        #expect(load.succeeded + load.failed == load.started)
        #expect(s.operations.total == load.started)
        #expect(load.started > 100, "8 workers for 2 s run many operations")
        #expect(load.buckets.reduce(0) { $0 + $1.succeeded + $1.failed } == load.started)
        #expect(load.fullRecoveryMs != nil, "naive recovers under load: every failed connection is replaced")
        #expect(s.recovered)
        #expect(load.before.count > 0 && load.after.count > 0)
        // Only failed operations are kept, each of them (below the cap).
        #expect(s.operationResults.count == min(load.failed, LoadSummary.keptFailures))
        #expect(s.operationResults.allSatisfy { !$0.succeeded })
        // Bounded: the first 2000 routine events and 4000 others are kept, the rest counted in one note.
        #expect(s.timeline.count < 6_100, "events are bounded under load: \(s.timeline.count)")
    }

    @Test func afterAWaitTimeoutGoSQLHidesEveryErrorWhileNaiveHandsThemToCallers() async throws {
        let go = try #require(try await Self.run(["wait-timeout", "--seconds", "1"], policy: "go-sql").load)
        #expect(go.failed == 0)
        #expect(go.firstCallerErrorMs == nil)
        #expect(go.fullRecoveryMs == 0)
        let naive = try #require(try await Self.run(["wait-timeout", "--seconds", "1"], policy: "naive").load)
        #expect(naive.failed > 0)
        #expect(naive.firstCallerErrorMs != nil)
    }

    @Test func impossibleLoadsAreRefusedBeforeAnythingRuns() async throws {
        let half = try await ReproBinary.run(["kill-thread", "--concurrency", "4"])
        #expect(half.status == 2 && half.stderr.contains("needs both --concurrency and --duration"), "\(half.stderr)")
        let late = try await ReproBinary.run([
            "kill-thread", "--concurrency", "4", "--duration", "2", "--fault-at", "3",
        ])
        #expect(late.status == 2 && late.stderr.contains("--fault-at 3.0 is out of range"), "\(late.stderr)")
        let busy = try await ReproBinary.run([
            "kill-thread", "--target", "busy", "--concurrency", "4", "--duration", "2",
        ])
        #expect(busy.status == 2 && busy.stderr.contains("use --target idle"), "\(busy.stderr)")
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "name: l\nfault: {kind: kill-thread}\nworkload: {concurrency: 4}\n".write(
            toFile: dir + "/l.yml", atomically: true, encoding: .utf8)
        let file = try await ReproBinary.run(["all", dir])
        #expect(file.status == 2 && file.stderr.contains("l.yml:3"), "\(file.stderr)")
        #expect(file.stderr.contains("workload.concurrency and workload.duration"), "\(file.stderr)")
    }
}
