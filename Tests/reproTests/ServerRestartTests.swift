import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// `repro server-restart`: the embedded server stopped (cleanly or as a crash) and started again.
@Suite(.ownThreads, .serialized, .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
struct ServerRestartTests {
    static func run(_ mode: String, _ policy: String, _ extra: [String] = []) async throws -> (
        ScenarioResult, ReproBinary.Outcome
    ) {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(
            ["server-restart", "--mode", mode, "--policy", policy, "--json", "--quiet", "--report-dir", dir] + extra,
            timeout: 120)
        let report = try Report.decode(Data(out.stdout.utf8))
        return (try #require(report.scenarios.first, "\(out.stderr)"), out)
    }

    @Test(arguments: ["graceful", "crash"])
    func naiveHandsOutTheDeadConnectionsBeforeAndAfterTheRestart(mode: String) async throws {
        let (s, out) = try await Self.run(mode, "naive")
        #expect(out.status == 0, "\(out.stderr)")
        #expect(s.kind == "server-restart")
        #expect(s.parameters["mode"] == mode)
        let details = s.timeline.compactMap(\.detail)
        #expect(details.contains { $0.hasPrefix("fault: server stopped (\(mode))") }, "\(details)")
        #expect(details.contains { $0.hasPrefix("server back after") })
        // While down: the two operations got dead pooled connections (the server closed them when it went away).
        let whileDown = details.filter { $0.hasPrefix("while down:") }
        #expect(whileDown.count == 2)
        #expect(whileDown.allSatisfy { $0.contains("failed with 2013") || $0.contains("failed with 2006") })
        // The same, typed: the window the server was down and each try's outcome (what renderers read).
        let window = try #require(s.faultWindow, "a restart records its downtime")
        #expect(window.what == "server down" && window.fromMs == s.faultAtMs && window.toMs > window.fromMs)
        let tries = try #require(s.duringFault)
        #expect(tries.map(\.index) == [1, 2] && tries.allSatisfy { !$0.succeeded })
        #expect(tries.map { "while down: \($0)" } == whileDown, "the timeline's lines are the typed tries")
        #expect(s.errors.filter(\.duringFault).count >= 2)
        // After it is back: the two connections nobody touched while it was down are still dead.
        #expect(s.recovered == false)
        #expect(s.operations.failed == 2)
        let afterBack = s.operationResults.compactMap(\.error)
        #expect(afterBack.allSatisfy { [2006, 2013].contains($0.error.code.rawValue) && $0.phase == .query })
    }

    @Test(arguments: ["graceful", "crash"])
    func pingOnBorrowSeesConnectionsRefusedWhileDownAndRecoversAfter(mode: String) async throws {
        let (s, out) = try await Self.run(mode, "ping-on-borrow")
        #expect(out.status == 0, "\(out.stderr)")
        // Validation throws the dead connections away; the new connections it opens are refused while down.
        let reachedCaller = s.errors.filter { $0.handledBy == nil }
        #expect(!reachedCaller.isEmpty)
        #expect(reachedCaller.allSatisfy { [2002, 2003].contains($0.error.code.rawValue) && $0.phase == .acquire })
        #expect(reachedCaller.allSatisfy { $0.operation == 0 }, "only operations while the server was down failed")
        #expect(s.errors.contains { $0.handledBy == .validation })
        #expect(s.recovered == true)
        #expect(s.recoveryMs != nil)
    }

    @Test("a quiet restart: nobody tried while it was down, so every pooled connection is dead once it is back")
    func quietRestartLeavesEveryConnectionDead() async throws {
        let (s, out) = try await Self.run("graceful", "naive", ["--tries-while-down", "0"])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(s.parameters["triesWhileDown"] == "0")
        let details = s.timeline.compactMap(\.detail)
        #expect(!details.contains { $0.hasPrefix(ServerRestartFault.whileDownPrefix) }, "\(details)")
        #expect(s.duringFault == nil && s.faultWindow != nil, "no tries, but the server was down")
        #expect(details.contains { $0.hasPrefix("server back after") })
        #expect(s.errors.allSatisfy { $0.operation != 0 })
        // The pool of 4 still holds 4 connections the server closed when it shut down: 4 of 5 operations fail.
        #expect(s.operations.failed == 4)
        #expect(s.operationResults.compactMap(\.error).allSatisfy { [2006, 2013].contains($0.error.code.rawValue) })
        let (validated, _) = try await Self.run("graceful", "ping-on-borrow", ["--tries-while-down", "0"])
        #expect(validated.recovered && validated.errors.allSatisfy { $0.handledBy != nil })
    }

    @Test func aServerRepoStartedIsTheOnlyOneItRestarts() async throws {
        let out = try await ReproBinary.run(["server-restart", "--dsn", "mysql://root@127.0.0.1:9/"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("repro restarts only the server it started"), "\(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count == 1)
        let file = ReproBinary.temporaryDirectory() + "/r.yml"
        try "name: r\nfault: {kind: server-restart, mode: crash, down: 0.5}\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let all = try await ReproBinary.run(["all", file], environment: ["REPRO_DSN": "mysql://root@127.0.0.1:9/"])
        #expect(all.status == 2)
        #expect(all.stderr.contains("r.yml:2: scenario 'r': server-restart"), "\(all.stderr)")
    }

    @Test func badValuesAreRefusedWithTheirLimits() async throws {
        let down = try await ReproBinary.run(["server-restart", "--down", "601"])
        #expect(down.status == 2)
        #expect(down.stderr.contains("--down 601.0 is out of range: use seconds from 0 to 600"), "\(down.stderr)")
        let tries = try await ReproBinary.run(["server-restart", "--tries-while-down", "11"])
        #expect(tries.status == 2)
        #expect(tries.stderr.contains("--tries-while-down 11 is out of range: use 0 to 10"), "\(tries.stderr)")
        let file = ReproBinary.temporaryDirectory() + "/r.yml"
        try "name: r\nfault: {kind: server-restart, tries-while-down: 11}\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try await ReproBinary.run(["all", file])
        #expect(fromFile.status == 2)
        #expect(fromFile.stderr.contains("r.yml:2") && fromFile.stderr.contains("0 to 10"), "\(fromFile.stderr)")
        let mode = try await ReproBinary.run(["server-restart", "--mode", "explode"])
        #expect(mode.status == 2)
        #expect(mode.stderr.contains("graceful") && mode.stderr.contains("crash"), "\(mode.stderr)")
    }
}
