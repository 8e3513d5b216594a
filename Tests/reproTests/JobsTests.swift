import Foundation
import ReproTestSupport
import Testing

/// `repro all --jobs`: the same verdicts as one at a time, and scenarios side by side never touch each
/// other's connections.
@Suite(.ownThreads, .serialized) struct JobsTests {
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

    static func run(jobs: Int, directory: String) async throws -> (verdicts: [Verdict], kills: [String: [UInt64]]) {
        let reports = directory + "/reports-\(jobs)"
        let outcome = try await ReproBinary.run(
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

    @Test func fourJobsGiveTheVerdictsOfOneAndKillOnlyTheirOwnThreads() async throws {
        let dir = try scenarioDirectory(Self.files)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let one = try await Self.run(jobs: 1, directory: dir)
        let four = try await Self.run(jobs: 4, directory: dir)
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

    @Test func jobsOutOfRangeIsAUsageError() async throws {
        for bad in ["0", "33"] {
            let outcome = try await ReproBinary.run(["all", "--jobs", bad])
            #expect(outcome.status == 2)
            #expect(outcome.stderr.contains("--jobs \(bad) is out of range: use 1 to 32"), "\(outcome.stderr)")
        }
    }

    /// Children of `pid` (direct), from /proc.
    static func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let child = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid ? child : nil
        }
    }

    @Test func ctrlCStopsEveryRunningScenarioAndCleansUpEveryOne() throws {
        // Four scenarios at once: one blackholed by its kernel chain (reads wait 30 s), the others idling 30 s
        // (a proxy, a real stack's process, the server).
        let dir = try scenarioDirectory([
            "a.yml":
                "name: kernel\nfault: {kind: network-cut, mode: blackhole, via: kernel, idle: 1}\npolicy: {preset: naive, read-timeout: 30}\n",
            "b.yml": "name: proxy\nfault: {kind: network-cut, mode: reset, idle: 30}\npolicy: naive\n",
            "c.yml": "name: go\nfault: {kind: kill-thread, idle: 30}\ndriver: go-sql\n",
            "d.yml": "name: wait\nfault: {kind: wait-timeout, seconds: 30}\npolicy: naive\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ReproBinary.path)
        process.arguments = ["all", dir, "--jobs", "4", "--report-dir", dir + "/reports"]
        process.environment = ReproBinary.environment()
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        // Wait (bounded) until all four are idle: a chain of this run exists and the go adapter runs.
        var chains: [String] = []
        var children: [pid_t] = []
        for _ in 0..<300 {
            chains = KernelCutListing.chains(ofPid: pid)
            children = Self.children(of: pid)
            if !chains.isEmpty && children.count >= 2 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let reportsBefore = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/reports")) ?? []
        #expect(!chains.isEmpty, "the kernel scenario never installed its chain")
        #expect(children.count >= 2, "expected mariadbd and the go adapter as children, got \(children)")
        kill(pid, SIGINT)
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!process.isRunning, "repro did not exit within 60 s of SIGINT")
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("interrupted"), "\(stderr)")
        #expect(KernelCutListing.chains(ofPid: pid).isEmpty, "chains left behind")
        for child in children {
            #expect(kill(child, 0) == -1 && errno == ESRCH, "child \(child) of the run is still alive")
        }
        let reportsAfter = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/reports")) ?? []
        #expect(reportsAfter.filter { !$0.hasPrefix(".") } == reportsBefore.filter { !$0.hasPrefix(".") })
        #expect(!reportsAfter.contains("repro-all.json"), "an interrupted run wrote a report")
    }
}

/// The iptables chains a repro process owns (`REPRO-<pid>-<n>`).
enum KernelCutListing {
    static func chains(ofPid pid: pid_t) -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/iptables")
        process.arguments = ["-w", "5", "-S"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return [] }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n")
            .filter { $0.hasPrefix("-N REPRO-\(pid)-") }.map { String($0.dropFirst(3)) }
    }
}
