import Foundation
import ReproKit
import ReproTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `repro freeze` end to end: the original mysql2 messages reach the application in order, and no process of the
/// pool under test is left stopped, whatever happens to repro.
@Suite(.ownThreads, .serialized)
struct FreezeTests {
    /// The mysql2 releases staged beside the checkout (see the Makefile's REPRO_NODE_VERSIONS).
    static let versions =
        ProcessInfo.processInfo.environment["REPRO_NODE_VERSIONS"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/node/versions").path

    static func errors(_ json: String) throws -> [(message: String, phase: String, operation: Int?)] {
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let scenario = try #require((report["scenarios"] as? [[String: Any]])?.first)
        return (scenario["errors"] as? [[String: Any]] ?? []).filter { $0["handledBy"] is NSNull }.map {
            ($0["message"] as? String ?? "", $0["phase"] as? String ?? "", $0["operation"] as? Int)
        }
    }

    @Test func mysql2FrozenDuringAKillShowsTheOriginalPairInOrder() async throws {
        let run = try await ReproBinary.run([
            "freeze", "--during", "kill-thread", "--driver", "node-mysql2", "--node-path",
            Self.versions + "/mysql2-2.2.5/node_modules", "--json",
            "--report-dir", ReproBinary.temporaryDirectory(),
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let errors = try Self.errors(run.stdout)
        let ended = try #require(errors.firstIndex { $0.message == "This socket has been ended by the other party" })
        #expect(errors[ended].phase == "query")
        let closed = try #require(
            errors.firstIndex { $0.message == "Can't add new command when connection is in closed state" })
        #expect(closed == ended + 1, "the follow-up's error comes right after the query's: \(errors)")
        #expect(errors[closed].phase == "follow-up")
        #expect(errors[closed].operation == errors[ended].operation)
        #expect(run.stdout.contains("\"version\" : \"2.2.5\""), "the report names the release that was loaded")
    }

    @Test func newestMysql2FrozenDuringAWaitTimeoutWritesToResetSockets() async throws {
        let run = try await ReproBinary.run([
            "freeze", "--during", "wait-timeout", "--driver", "node-mysql2", "--json",
            "--report-dir", ReproBinary.temporaryDirectory(),
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let errors = try Self.errors(run.stdout)
        #expect(errors.contains { $0.message == "write ECONNRESET" }, "\(errors)")
    }

    @Test func badFreezeInputIsOneLineAndExitTwo() async throws {
        for (arguments, needle) in [
            (["freeze", "--for", "1"], "too short for --during wait-timeout"),
            (["freeze", "--for", "0"], "--for 0 is out of range"),
            (["freeze", "--during", "network-cut:close"], "network-cut:close"),
            (["freeze", "--pattern", "held", "--policy", "naive"], "pool pattern only"),
        ] {
            let run = try await ReproBinary.run(arguments)
            #expect(run.status == 2, "\(arguments): \(run.stderr)")
            #expect(run.stderr.contains(needle), "\(arguments): \(run.stderr)")
            #expect(!run.stderr.contains("Fatal error"))
        }
    }

    /// Every process whose process group is `group`.
    static func members(of group: pid_t) -> [(pid: pid_t, state: String)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> (pid_t, String)? in
            guard let pid = pid_t(name),
                let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, pid_t(fields[2]) == group else { return nil }
            return (pid, String(fields[0]))
        }
    }

    /// Starts a long freeze and returns once the pool's group is stopped, with its id.
    static func startFrozen(_ scratch: String, environment: [String: String] = [:]) throws -> (
        repro: SpawnedRepro, group: pid_t
    ) {
        let repro = try SpawnedRepro.start(
            ["freeze", "--for", "60", "--during", "nothing", "--driver", "node-mysql2", "--report-dir", scratch],
            scratch: scratch, environment: environment)
        for _ in 0..<300 {
            let text = (try? String(contentsOfFile: scratch + "/stderr.txt", encoding: .utf8)) ?? ""
            if let range = text.range(of: "suspended (process group ") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let group = pid_t(digits), members(of: group).contains(where: { $0.state == "T" }) {
                    return (repro, group)
                }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(repro.pid, SIGKILL)
        _ = repro.wait(timeout: .seconds(5))
        Issue.record("the pool's process group never showed as stopped")
        throw CancellationError()
    }

    @Test func ctrlCDuringAFreezeLeavesNoStoppedProcess() throws {
        let scratch = try makeSignalScratch()
        defer { removeSignalScratch(scratch) }
        let (repro, group) = try Self.startFrozen(scratch)
        kill(repro.pid, SIGINT)
        #expect(repro.wait(timeout: .seconds(15)) == .exited(128 + SIGINT))
        for _ in 0..<100 where !Self.members(of: group).isEmpty { Thread.sleep(forTimeInterval: 0.05) }
        #expect(Self.members(of: group).isEmpty, "left behind: \(Self.members(of: group))")
    }

    /// The kernel continues a stopped group once it is orphaned; under a subreaper of the same session (systemd,
    /// tini, a CI runner) it is not orphaned and stays stopped: only the next run can end it.
    @Test func aFreezeKilledOutrightUnderASubreaperIsContinuedAndKilledByTheNextRun() async throws {
        let scratch = try makeSignalScratch()
        defer { removeSignalScratch(scratch) }
        #expect(SuspendedGroup.adoptOrphans(true))
        defer { _ = SuspendedGroup.adoptOrphans(false) }
        // Records of its own: every run sweeps the records directory when it opens its session, so with the shared
        // one another test's run could end the group before this test looks at it.
        let records = ["REPRO_SUSPENDED_DIR": scratch + "/suspended"]
        let (repro, group) = try Self.startFrozen(scratch, environment: records)
        kill(repro.pid, SIGKILL)
        _ = repro.wait(timeout: .seconds(5))
        try? await Task.sleep(for: .milliseconds(500))
        #expect(Self.members(of: group).contains { $0.state == "T" }, "\(Self.members(of: group))")
        let sweep = try await ReproBinary.run(
            ["kill-thread", "--policy", "naive", "--idle", "0", "--report-dir", ReproBinary.temporaryDirectory()],
            environment: records)
        #expect(sweep.status == 0, "\(sweep.stderr)")
        #expect(
            sweep.stderr.contains("continued and killed process group \(group)"),
            "this run's sweep ended it: \(sweep.stderr)")
        // The adopted processes are this test's children now: reap them.
        var status: Int32 = 0
        for _ in 0..<100 {
            while waitpid(-group, &status, WNOHANG) > 0 {}
            if Self.members(of: group).isEmpty { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        #expect(Self.members(of: group).isEmpty, "left behind: \(Self.members(of: group))")
    }
}
