import Foundation
import Testing

/// `repro all --jobs`: the same verdicts as one at a time, and scenarios side by side never touch each
/// other's connections.
@Suite(.serialized) struct JobsTests {
    /// Scenarios that each KILL their own pool's threads (idle and busy, repro's pool and real stacks whose
    /// threads repro must find itself), so a kill that crossed into a neighbour would show.
    static let files: [String: String] = [
        "a.yml": "name: kill-naive\nfault: {kind: kill-thread}\npolicy: naive\npool: {size: 3}\n",
        "b.yml":
            "name: kill-ping\nfault: {kind: kill-thread}\npolicy: ping-on-borrow\npool: {size: 3}\nexpect: {recovered: true}\n",
        "c.yml":
            "name: busy-naive\nfault: {kind: kill-thread, target: busy, count: 2}\npolicy: naive\npool: {size: 3}\n",
        "d.yml": "name: go-busy\nfault: {kind: kill-thread, target: busy, count: 2}\ndriver: go-sql\npool: {size: 3}\n",
        "e.yml": "name: go-idle\nfault: {kind: kill-thread}\ndriver: go-sql\npool: {size: 3}\n",
        "f.yml": "name: node-idle\nfault: {kind: kill-thread}\ndriver: node-mysql\npool: {size: 3}\n",
        "g.yml": "name: reset\nfault: {kind: network-cut, mode: reset}\npolicy: naive\npool: {size: 3}\n",
        "h.yml":
            "name: wait-session\nfault: {kind: wait-timeout, seconds: 1}\npolicy: ping-on-borrow\npool: {size: 3}\n",
    ]

    struct Verdict: Equatable, CustomStringConvertible {
        var name: String
        var passed: Bool
        var recovered: Bool
        var firstErrorCode: Int?
        var description: String { "\(name) passed=\(passed) recovered=\(recovered) first=\(firstErrorCode ?? 0)" }
    }

    static func run(jobs: Int, directory: String) throws -> (verdicts: [Verdict], kills: [String: [UInt64]]) {
        let reports = directory + "/reports-\(jobs)"
        let outcome = try ReproBinary.run(
            ["all", directory, "--jobs", "\(jobs)", "--report-dir", reports, "--quiet"], timeout: 240)
        #expect(outcome.status == 0, "jobs \(jobs): \(outcome.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: reports + "/repro-all.json"))
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let scenarios = try #require(report["scenarios"] as? [[String: Any]])
        var verdicts: [Verdict] = []
        var kills: [String: [UInt64]] = [:]
        for s in scenarios {
            let name = s["name"] as? String ?? "?"
            verdicts.append(
                Verdict(
                    name: name, passed: s["passed"] as? Bool ?? false, recovered: s["recovered"] as? Bool ?? false,
                    firstErrorCode: (s["firstError"] as? [String: Any])?["code"] as? Int))
            for event in s["timeline"] as? [[String: Any]] ?? [] {
                if let detail = event["detail"] as? String, detail.hasPrefix("fault: KILL CONNECTION"),
                    let id = event["threadId"] as? Int
                {
                    kills[name, default: []].append(UInt64(id))
                }
            }
        }
        return (verdicts, kills)
    }

    @Test func fourJobsGiveTheVerdictsOfOneAndKillOnlyTheirOwnThreads() throws {
        let dir = try scenarioDirectory(Self.files)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let one = try Self.run(jobs: 1, directory: dir)
        let four = try Self.run(jobs: 4, directory: dir)
        // File order (a.yml … h.yml) is kept whatever finished first.
        #expect(four.verdicts.map(\.name) == one.verdicts.map(\.name))
        #expect(four.verdicts == one.verdicts)
        // Every kill-thread scenario killed as many threads as it did alone (Go's database/sql keeps 2 idle
        // connections of 3), and no thread twice across scenarios: each found its own pool's threads among
        // its neighbours'.
        for name in ["kill-naive", "kill-ping", "busy-naive", "go-busy", "go-idle", "node-idle"] {
            #expect((four.kills[name]?.count ?? 0) >= 2, "\(name) killed \(four.kills[name] ?? [])")
            #expect(four.kills[name]?.count == one.kills[name]?.count, "\(name): \(four.kills) vs \(one.kills)")
        }
        let all = four.kills.values.flatMap { $0 }
        #expect(Set(all).count == all.count, "a thread was killed by two scenarios: \(four.kills)")
    }

    @Test func jobsOutOfRangeIsAUsageError() throws {
        for bad in ["0", "33"] {
            let outcome = try ReproBinary.run(["all", "--jobs", bad])
            #expect(outcome.status == 2)
            #expect(outcome.stderr.contains("--jobs \(bad) is out of range: use 1 to 32"), "\(outcome.stderr)")
        }
    }
}
