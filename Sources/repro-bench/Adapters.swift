import Foundation
import ReproKit

/// What running a real driver stack through its adapter costs, against the same operation in-process.
struct AdapterCost: Codable {
    var adapter: String
    var client: String
    /// Spawn to pool created (runtime start, `hello`, `open`), median of the runs, ms.
    var startMs: Double
    /// One operation as repro waits for it (request, adapter, driver, answer), p50, µs.
    var operationP50Micros: Double
    /// The same operation as the adapter timed it inside its runtime, p50, µs.
    var insideP50Micros: Double
    /// The protocol's share: per operation, repro's wait minus the adapter's own time, p50, µs.
    var protocolP50Micros: Double
}

/// Every available adapter: start time over `starts` runs, then `operations` operations on a warm pool of 4.
func benchAdapters(endpoint: ServerEndpoint, starts: Int, operations: Int) -> (
    inProcessP50Micros: Double, [AdapterCost]
) {
    let nodePath = ProcessInfo.processInfo.environment["NODE_PATH"]
    let target = AdapterTarget(
        host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password,
        database: endpoint.database)
    // The in-process reference: repro's own pool, no validation, the same SELECT 1.
    let eventLog = EventLog()
    let options = ScenarioRunner(endpoint: endpoint).connectionOptions(policy: PolicyPreset.naive.policy)
    let swift = SwiftPoolUnderTest(policy: PolicyPreset.naive.policy, size: 4, options: options, log: eventLog) {
        RunError.environment($0.message)
    }
    var inProcess: [Double] = []
    if (try? swift.warm()) != nil {
        for i in 1...operations {
            let t0 = ContinuousClock.now
            _ = swift.execute("SELECT 1", operation: i, held: false)
            inProcess.append(EventLog.milliseconds(ContinuousClock.now - t0) * 1000)
        }
    }
    swift.close()

    var costs: [AdapterCost] = []
    guard let dir = AdapterCatalog.directory() else { return (Stats(inProcess).p50, costs) }
    for adapter in AdapterCatalog.definitions(in: dir) {
        guard AdapterCatalog.check(adapter, nodePath: nodePath).available else {
            log("bench: adapter \(adapter.name) is not available here, skipped")
            continue
        }
        var startTimes: [Double] = []
        var client = ""
        var waits: [Double] = []
        var inside: [Double] = []
        var overhead: [Double] = []
        for run in 0..<starts {
            let runLog = EventLog()
            let t0 = ContinuousClock.now
            guard
                let pool = try? AdapterPool(
                    adapter: adapter, choice: DriverChoice(name: adapter.name), nodePath: nodePath, target: target,
                    size: 4, initSQL: [], log: runLog)
            else { break }
            startTimes.append(EventLog.milliseconds(ContinuousClock.now - t0))
            client = pool.client.summary
            if run == starts - 1, (try? pool.warm()) != nil {
                for i in 1...operations {
                    let t1 = ContinuousClock.now
                    guard let record = try? pool.execute("SELECT 1", operation: i, held: false) else { break }
                    let wait = EventLog.milliseconds(ContinuousClock.now - t1) * 1000
                    waits.append(wait)
                    inside.append(record.durationMs * 1000)
                    overhead.append(wait - record.durationMs * 1000)
                }
            }
            pool.close()
        }
        guard !startTimes.isEmpty else { continue }
        costs.append(
            AdapterCost(
                adapter: adapter.name, client: client, startMs: Stats(startTimes).p50,
                operationP50Micros: Stats(waits).p50, insideP50Micros: Stats(inside).p50,
                protocolP50Micros: Stats(overhead).p50))
    }
    return (Stats(inProcess).p50, costs)
}

func renderAdapters(inProcessP50Micros: Double, _ costs: [AdapterCost]) -> String {
    var out = "\n## 6. Real driver stacks through adapters\n\n"
    out +=
        "Start: spawn to pool created (runtime start, `hello`, `open`), median. Per operation (`SELECT 1`, borrow and release, warm pool of 4): "
    out +=
        "what repro waits, what the adapter timed inside its runtime, and the difference (the JSON-lines protocol and the pipe hops). "
    out += "repro's own pool in-process, same operation: \(fmt(inProcessP50Micros)) µs p50.\n\n"
    out += "| adapter | client | start (ms) | operation p50 (µs) | inside the runtime p50 (µs) | protocol p50 (µs) |\n"
    out += "| --- | --- | --- | --- | --- | --- |\n"
    for c in costs {
        out +=
            "| \(c.adapter) | \(c.client) | \(fmt(c.startMs)) | \(fmt(c.operationP50Micros)) | \(fmt(c.insideP50Micros)) | \(fmt(c.protocolP50Micros)) |\n"
    }
    return out
}
