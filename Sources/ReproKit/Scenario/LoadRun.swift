import Foundation

extension ScenarioRunner {
    /// Load mode: the workers run from the start; at `faultAt` the fault hits once (a wait-timeout pauses them
    /// for its idle period first); the traffic goes on for the rest of the duration; then the account is checked.
    func runLoad(
        _ load: LoadSpec, fault: any InjectedFault, pool: any PoolUnderTest, context: inout FaultContext,
        run: inout FaultRun
    ) throws(RunError) {
        let log = run.log
        let name = run.scenario.name
        progress(.step(scenario: name, "load: \(load.concurrency) worker(s) running \(load.query)"))
        log.record(
            .scenario,
            detail:
                "load: \(load.concurrency) worker(s) for \(load.duration) s, fault at \(load.faultAfter) s, query \(load.query)"
        )
        let workers = LoadWorkers(count: load.concurrency)
        let from = log.ms()
        run.operationsStartedAt = from
        workers.start(pool: pool, query: load.query, log: log)
        // Whatever happens next, the workers stop before the pool closes.
        var stopped = false
        defer { if !stopped { _ = workers.stop(limit: .seconds(60)) } }
        idle(seconds: load.faultAfter, scenario: name, reason: "traffic before the fault")
        if fault.pausesLoad, let period = fault.idle {
            workers.pause()
            context.warmedAt = log.ms()
            log.record(.scenario, detail: "load: workers paused \(period.seconds) s (\(period.reason))")
            if let note = period.note { log.record(.scenario, detail: note) }
            idle(seconds: period.seconds, scenario: name, reason: period.reason)
            workers.faultBegins(atMs: log.ms())
            run.faultAt = try fault.inject(pool, context)
            workers.resume()
            log.record(.scenario, detail: "load: workers resumed")
        } else {
            workers.faultBegins(atMs: log.ms())
            run.faultAt = try fault.inject(pool, context)
        }
        idle(seconds: max(0, load.duration - load.faultAfter), scenario: name, reason: "traffic after the fault")
        stopped = true
        guard workers.stop(limit: .seconds(60)) else {
            throw .environment(
                "load workers did not finish their last operation within 60 s of the end; the pool hangs")
        }
        let to = log.ms()
        run.tcpSignal = fault.tcpSignal()
        run.reached = fault.reached()
        run.faultWindow = fault.window()
        run.duringFault = fault.triesDuringFault()
        let (states, tally) = workers.snapshot
        if let broken = states.compactMap(\.broken).first { throw broken }
        run.load = try LoadSummary.make(
            load, workers: states, tally: tally, faultAt: run.faultAt, errors: log.errors, timeline: log.events,
            trafficMs: (from, to))
        run.operations = Array(states.flatMap(\.failures).sorted { $0.atMs < $1.atMs }.prefix(LoadSummary.keptFailures))
        if log.droppedErrors > 0 {
            log.record(
                .scenario,
                detail:
                    "load: \(log.droppedErrors) more errors not kept (the report keeps the first \(log.errors.count); the counts above include every operation)"
            )
        }
    }
}
