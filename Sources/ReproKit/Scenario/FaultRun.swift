import Foundation

/// The mutable state of one scenario run, turned into a `ScenarioResult` at the end.
struct FaultRun {
    let scenario: Scenario
    let log: EventLog
    var client = ReproSession.clientInfo
    /// Why the pool did not close as promised (an adapter that left `close` unanswered): the run fails with it.
    var closeFailure: String?
    /// Server threads that existed before the pool opened: not the pool's.
    var baselineThreads: Set<UInt64> = []
    var warmedAt: Double?
    var operationsStartedAt: Double?
    var faultAt: Double?
    var tcpSignal: String?
    var reached: Int?
    var faultWindow: ScenarioResult.FaultWindow?
    var duringFault: [ScenarioResult.FaultTry]?
    var operations: [OperationRecord] = []
    /// Load mode: what the workers measured (then `operations` holds only failed operations).
    var load: LoadSummary?

    init(scenario: Scenario, log: EventLog) {
        self.scenario = scenario
        self.log = log
    }

    func result() -> ScenarioResult {
        var result = plainResult()
        result.faultWindow = faultWindow
        result.duringFault = duringFault
        return result
    }

    private func plainResult() -> ScenarioResult {
        let errors = log.errors
        let first = errors.first
        var recovered = !operations.isEmpty && operations.allSatisfy(\.succeeded)
        var counts = ScenarioResult.Operations(
            total: operations.count, succeeded: operations.filter(\.succeeded).count,
            failed: operations.filter { !$0.succeeded }.count)
        var timing = ScenarioResult.Timing(faultAt: faultAt, errors: errors, operations: operations)
        if let load {
            // Under load "recovered" means: from some moment on, every worker's operations succeeded.
            recovered = load.fullRecoveryMs != nil
            counts = .init(total: load.started, succeeded: load.succeeded, failed: load.failed)
            timing.recoveryMs = load.fullRecoveryMs
        }
        let expectations = scenario.expectations.evaluate(
            firstError: first, recovered: recovered, reachedCaller: errors.filter { $0.handledBy == nil })
        var parameters = scenario.fault.parameters
        parameters["operations"] = "\(load?.started ?? scenario.operationCount)"
        if scenario.fault.base.usesIdle { parameters["idle"] = "\(scenario.idle)" }
        var idleBefore: Double?
        if let warmedAt, let operationsStartedAt { idleBefore = operationsStartedAt - warmedAt }
        return ScenarioResult(
            name: scenario.name, client: client, pattern: scenario.pattern, idleBeforeOperationsMs: idleBefore,
            kind: scenario.fault.kind, description: scenario.description, policy: scenario.policy,
            poolSize: scenario.poolSize, parameters: parameters, firstError: first, errors: errors,
            recovered: recovered,
            operations: counts, operationResults: operations, faultAtMs: faultAt, detectionMs: timing.detectionMs,
            recoveryMs: timing.recoveryMs,
            tcpSignal: tcpSignal, reached: reached, timeline: log.events, expectations: expectations,
            passed: expectations.allSatisfy(\.passed), durationMs: log.ms(), load: load)
    }
}
