import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("Scenario files")
struct ScenarioFileTests {
    @Test("a full file parses into the scenario it describes")
    func parsesFullFile() throws {
        let yaml = """
            name: cut-reset
            description: reset
            fault:
              kind: network-cut
              mode: reset
            policy:
              preset: ping-on-borrow
              retry: query:1
            pool:
              size: 3
            workload:
              operations: 7
            expect:
              firstError: [2006, CR_SERVER_LOST]
              phase: validate
              recovered: true
            """
        let s = try ScenarioFile.parse(yaml, file: "x.yml")
        #expect(s.name == "cut-reset")
        #expect(s.fault == .networkCut(mode: .reset, via: .proxy))
        #expect(s.policy.validation == .ping)
        #expect(s.policy.retry == .query(1, fresh: false))
        #expect(s.policy.readTimeout == 5, "network-cut defaults to a 5 s read timeout")
        #expect(s.poolSize == 3)
        #expect(s.operationCount == 7)
        #expect(
            s.expectations == Expectations(firstError: [.serverGone, .serverLost], phase: .validate, recovered: true))
    }

    @Test(
        "every problem is reported with its line",
        arguments: [
            ("name: a\nfault:\n  kind: wait-timeout\n  seconds: 1\ncolour: red\n", 5, "unknown key 'colour'"),
            (
                "name: a\nfault:\n  kind: wait-timeout\n  secnds: 1\n", 4,
                "unknown key 'secnds' in fault (did you mean 'seconds'?)"
            ),
            ("name: a\nfault:\n  kind: wait-timeout\n  seconds: two\n", 4, "fault.seconds must be a whole number"),
            ("name: a\nfault:\n  kind: wait-timeout\n  seconds: 0\n", 4, "fault.seconds 0 is out of range"),
            ("name: a\nfault:\n  kind: wait-timeout\n  seconds: 1\npolicy: yolo\n", 5, "unknown policy preset 'yolo'"),
            (
                "name: a\nfault:\n  kind: wait-timeout\n  seconds: 1\npolicy:\n  preset: naive\n  retry: often\n", 7,
                "unknown retry 'often'"
            ),
            ("name: a\nfault:\n  kind: kill-thread\npolicy:\n  preset: nave\n", 5, "unknown policy preset 'nave'"),
            (
                "name: a\nfault:\n  kind: kill-thread\npolicy:\n  evict-on-socket-event: sometimes\n", 5,
                "policy.evict-on-socket-event must be true or false"
            ),
            ("name: a\nfault:\n  kind: earthquake\n", 3, "fault.kind 'earthquake' is unknown"),
            ("name: a\nfault:\n  kind: network-cut\n  mode: snip\n", 4, "fault.mode 'snip' is unknown"),
            ("name: a\nfault:\n  kind: network-cut\n  mode: close\n  via: kernel\n", 4, "needs via: proxy"),
            ("name: a\nfault:\n  kind: kill-thread\n  seconds: 3\n", 4, "does not apply to fault kind kill-thread"),
            ("name: a\nfault:\n  kind: kill-thread\npool:\n  size: -2\n", 5, "pool.size -2 is out of range"),
            (
                "name: a\nfault:\n  kind: kill-thread\nexpect:\n  recovered: maybe\n", 5,
                "expect.recovered must be true or false"
            ),
            (
                "name: a\nfault:\n  kind: kill-thread\nexpect:\n  firstError: [2006, GONE]\n", 5,
                "'GONE' is not an error code"
            ),
            ("name: a\nfault:\n  kind: kill-thread\nexpect:\n  phase: later\n", 5, "expect.phase 'later' is unknown"),
            ("fault:\n  kind: kill-thread\n", 1, "missing key 'name'"),
            ("name: a\nfault: [1, 2\n", 3, "not valid YAML"),
            ("name: a b\nfault:\n  kind: kill-thread\n", 1, "name 'a b' must be letters"),
        ])
    func problems(yaml: String, line: Int, message: String) {
        do {
            _ = try ScenarioFile.parse(yaml, file: "bad.yml")
            Issue.record("expected a problem: \(message)")
        } catch {
            let hit = error.problems.first { $0.message.contains(message) }
            #expect(hit != nil, "got \(error.problems)")
            #expect(hit?.line == line, "got \(error.problems)")
            #expect(hit?.description.hasPrefix("bad.yml:\(line): ") == true)
        }
    }

    @Test("policy evict-on-socket-event turns the socket watcher on or off over a preset")
    func evictOnSocketEvent() throws {
        let on = try ScenarioFile.parse(
            "name: a\nfault:\n  kind: kill-thread\npolicy:\n  preset: naive\n  evict-on-socket-event: true\n",
            file: "x.yml")
        #expect(on.policy.evictOnSocketEvent)
        #expect(on.policy.name == "naive+custom")
        let off = try ScenarioFile.parse(
            "name: a\nfault:\n  kind: kill-thread\npolicy:\n  preset: evict-on-event\n  evict-on-socket-event: false\n",
            file: "x.yml")
        #expect(!off.policy.evictOnSocketEvent)
        let preset = try ScenarioFile.parse(
            "name: a\nfault:\n  kind: kill-thread\npolicy: evict-on-event\n", file: "x.yml")
        #expect(preset.policy == PolicyPreset.evictOnEvent.policy)
    }

    @Test("YAML merge keys: the file's own keys win over merged ones")
    func mergeKeys() throws {
        let yaml = """
            name: merged
            fault: &cut
              kind: network-cut
              mode: reset
            policy:
              <<: &base {preset: ping-on-borrow, read-timeout: 2}
              read-timeout: 3
            expect:
              recovered: true
            """
        let s = try ScenarioFile.parse(yaml, file: "m.yml")
        #expect(s.policy.validation == .ping)
        #expect(s.policy.readTimeout == 3)
        #expect(s.fault == .networkCut(mode: .reset, via: .proxy))
    }

    @Test("several problems in one file are all reported")
    func severalProblems() {
        let yaml = "name: a\nfault:\n  kind: wait-timeout\n  seconds: 0\npool:\n  size: 0\nextra: 1\n"
        do {
            _ = try ScenarioFile.parse(yaml, file: "bad.yml")
            Issue.record("expected problems")
        } catch {
            #expect(error.problems.map(\.line).sorted() == [4, 6, 7])
        }
    }

    @Test("loading a directory finds every file and rejects duplicate names")
    func directory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("repro-scn-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let body = "name: same\nfault:\n  kind: kill-thread\n"
        try body.write(toFile: dir + "/a.yml", atomically: true, encoding: .utf8)
        try body.write(toFile: dir + "/b.yaml", atomically: true, encoding: .utf8)
        try "ignored".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        do {
            _ = try ScenarioFile.load(paths: [dir])
            Issue.record("expected a duplicate-name problem")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems[0].message.contains("duplicate scenario name 'same'"))
        }
    }

    @Test("the shipped Scenarios/ directory parses")
    func shippedScenarios() throws {
        let scenarios = try ScenarioFile.load(paths: [packageRoot.appendingPathComponent("Scenarios").path])
        #expect(scenarios.count >= 13)
        let kinds = Set(scenarios.map(\.fault.kind))
        #expect(kinds == Set(Fault.kinds.map { $0.kind }), "every fault kind has a shipped scenario")
        for mode in CutMode.allCases {
            #expect(scenarios.contains { $0.fault == .networkCut(mode: mode, via: .proxy) }, "\(mode)")
        }
        #expect(scenarios.allSatisfy { !$0.expectations.isEmpty })
    }

    @Test("--filter takes globs and substrings")
    func filter() {
        #expect(ScenarioFilter.matches("wait-timeout-naive", pattern: "wait-*"))
        #expect(!ScenarioFilter.matches("kill-thread-naive", pattern: "wait-*"))
        #expect(ScenarioFilter.matches("kill-thread-naive", pattern: "naive"))
        #expect(ScenarioFilter.matches("anything", pattern: nil))
    }
}
