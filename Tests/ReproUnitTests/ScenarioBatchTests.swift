import Foundation
import ReproKit
import ReproTestSupport
import Testing

@Suite("ScenarioBatch: the run -> report flow the scenario commands share")
struct ScenarioBatchTests {
    @Test("every impossible scenario is refused, one line each, before the report directory or a server is touched")
    func refusesBeforeAnything() {
        let kill = Scenario(
            name: "k", fault: .killThread(target: .idle, count: .some(9)), policy: PolicyPreset.naive.policy,
            poolSize: 2)
        let close = Scenario(
            name: "c", fault: .networkCut(mode: .close, via: .kernel), policy: PolicyPreset.naive.policy)
        let directory = "/tmp/repro-batch-\(UUID().uuidString)"
        let batch = ScenarioBatch(
            [kill, close], dsn: nil, reportDirectory: directory, basename: "b", formats: [.json])
        #expect {
            _ = try batch.run()
        } throws: { error in
            guard let error = error as? RunError else { return false }
            let lines = error.message.split(separator: "\n")
            return error.kind == .usage && lines.count == 2 && lines[0].contains("kill count 9")
                && lines[1].contains("--via proxy")
        }
        #expect(!FileManager.default.fileExists(atPath: directory), "the report directory was not created")
    }

    @Test(
        "the first connection check uses the lowest connect timeout of the batch; an empty DSN is the embedded server")
    func plan() {
        var quick = PolicyPreset.naive.policy
        quick.connectTimeout = 1
        let scenarios = [
            Scenario(name: "a", fault: .waitTimeout(seconds: 1), policy: PolicyPreset.naive.policy),
            Scenario(name: "b", fault: .waitTimeout(seconds: 1), policy: quick),
        ]
        let batch = ScenarioBatch(scenarios, dsn: "", reportDirectory: "r", basename: "b", formats: [.md])
        #expect(batch.plan.connectTimeout == 1)
        #expect(!batch.plan.external)
        #expect(RunPlan(dsn: "mysql://u@127.0.0.1:1/d", reportDirectory: "r").external)
    }

    @Test("a single scenario's report files are named for the scenario and the pool under test")
    func basename() {
        var held = Scenario(name: "kill-thread", fault: .killThread(), policy: PolicyPreset.pingOnBorrow.policy)
        #expect(ScenarioBatch.basename(held) == "kill-thread-ping-on-borrow")
        held.pattern = .held
        held.driver = DriverChoice(name: "go-sql", options: [:], deadline: 3)
        #expect(ScenarioBatch.basename(held) == "kill-thread-go-sql-held")
    }
}
