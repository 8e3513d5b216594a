import Foundation
import Synchronization

/// Load mode: C workers borrow, query and release in a loop for a while, and the fault hits once in the middle.
/// Real pools fail under traffic, not in a quiet loop of five operations.
public struct LoadSpec: Sendable, Equatable {
    public static let concurrencyRange = 1...256
    public static let durationRange = 0.5...3600.0
    public static let defaultQuery = "SELECT 1"

    /// Workers running at once.
    public var concurrency: Int
    /// Seconds of traffic (a wait-timeout's pause comes on top: the workers stop while the timeout bites).
    public var duration: Double
    /// Seconds after the traffic starts when the fault hits; nil: a third of the duration.
    public var faultAt: Double?
    /// What each operation runs.
    public var query: String

    public init(concurrency: Int, duration: Double, faultAt: Double? = nil, query: String = LoadSpec.defaultQuery) {
        self.concurrency = concurrency
        self.duration = duration
        self.faultAt = faultAt
        self.query = query
    }

    /// When the fault hits, seconds after the traffic started.
    public var faultAfter: Double { faultAt ?? duration / 3 }

    /// Bad values, named as the caller spells them (`prefix` "--" on the command line, "" in a file).
    public func validate(prefix: String = "", at: String = "") throws(RunError) {
        guard Self.concurrencyRange.contains(concurrency) else {
            throw .usage("\(at)\(prefix)concurrency \(concurrency) is out of range: use \(Self.concurrencyRange.text)")
        }
        guard Self.durationRange.contains(duration) else {
            throw .usage(
                "\(at)\(prefix)duration \(duration) is out of range: use seconds from \(Self.durationRange.text)")
        }
        if let faultAt, !(0...duration).contains(faultAt) {
            throw .usage(
                "\(at)\(prefix)fault-at \(faultAt) is out of range: use seconds from 0 to the duration (\(duration))")
        }
        if query.trimmingCharacters(in: .whitespaces).isEmpty {
            throw .usage("\(at)\(prefix)query is empty: give the SQL each operation runs")
        }
    }

    /// Bad values and impossible combinations, before anything runs.
    func check(_ scenario: Scenario, at: String) throws(RunError) {
        try validate(at: at)
        if scenario.pattern == .held {
            throw .usage("\(at)load mode borrows per operation: leave out pattern held (--pattern held)")
        }
        if case .busy = scenario.fault.as(KillThreadFault.self)?.target {
            throw .usage(
                "\(at)kill-thread --target busy runs its own queries; under load the workers' queries are the busy ones: use --target idle"
            )
        }
    }
}

/// What a load run measured: the report's `load` block.
public struct LoadSummary: Sendable, Equatable, Codable {
    public struct Worker: Sendable, Equatable, Codable {
        public var worker: Int
        public var started: Int
        public var succeeded: Int
        public var failed: Int
    }

    /// One time bucket: operations that ended in it, and errors the pool absorbed in it.
    public struct Bucket: Sendable, Equatable, Codable {
        public var atMs: Double
        public var succeeded: Int
        public var failed: Int
        public var absorbed: Int
    }

    /// Latency of borrow + query + release in one window, ms.
    public struct Latency: Sendable, Equatable, Codable {
        public var count: Int
        public var p50: Double?
        public var p99: Double?
        /// Operations that ended in the window, per second.
        public var perSecond: Double?

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(count, forKey: .count)
            try c.encode(p50, forKey: .p50)
            try c.encode(p99, forKey: .p99)
            try c.encode(perSecond, forKey: .perSecond)
        }
    }

    public var concurrency: Int
    public var query: String
    public var durationMs: Double
    public var started: Int
    public var succeeded: Int
    public var failed: Int
    public var workers: [Worker]
    public var bucketMs: Double
    public var buckets: [Bucket]
    /// From the fault to the first error that reached a caller, ms; nil when none did.
    public var firstCallerErrorMs: Double?
    /// From the fault to the moment after which every worker's operations succeeded, ms (0 when no error
    /// reached a caller); nil when some worker's last operation failed.
    public var fullRecoveryMs: Double?
    /// Before the fault, from the fault to full recovery (at least a second), after.
    public var before: Latency
    public var during: Latency
    public var after: Latency
    public var connectionsOpened: Int
    public var connectionsDestroyed: Int
    /// Failed operations kept in `operationResults` (all of them up to this many).
    public static let keptFailures = 1000

    enum CodingKeys: String, CodingKey {
        case concurrency, query, durationMs, started, succeeded, failed, workers, bucketMs, buckets,
            firstCallerErrorMs, fullRecoveryMs, before, during, after, connectionsOpened, connectionsDestroyed
    }

    /// Every key written, unset ones as null (the report's contract).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(concurrency, forKey: .concurrency)
        try c.encode(query, forKey: .query)
        try c.encode(durationMs, forKey: .durationMs)
        try c.encode(started, forKey: .started)
        try c.encode(succeeded, forKey: .succeeded)
        try c.encode(failed, forKey: .failed)
        try c.encode(workers, forKey: .workers)
        try c.encode(bucketMs, forKey: .bucketMs)
        try c.encode(buckets, forKey: .buckets)
        try c.encode(firstCallerErrorMs, forKey: .firstCallerErrorMs)
        try c.encode(fullRecoveryMs, forKey: .fullRecoveryMs)
        try c.encode(before, forKey: .before)
        try c.encode(during, forKey: .during)
        try c.encode(after, forKey: .after)
        try c.encode(connectionsOpened, forKey: .connectionsOpened)
        try c.encode(connectionsDestroyed, forKey: .connectionsDestroyed)
    }
}

/// What the operations of a load run did, in memory that does not grow with the run's length: per time slot
/// (by when an operation ended), how many succeeded and failed and a histogram of their latencies. Slots start
/// at 1 ms; when an operation ends beyond the last slot, neighbouring slots merge (the width doubles), so a run
/// of any length fits in `capacity` slots, each kept to within one slot's width of when it ended.
struct LoadTally: Sendable, Equatable {
    static let capacity = 2048
    /// Latency histogram: `binsPerOctave` bins per doubling from `minLatencyMs` (0.001 ms to about 18 minutes).
    static let binsPerOctave = 8.0
    static let minLatencyMs = 0.001
    static let binCount = 240

    private(set) var slotMs = 1.0
    private(set) var succeeded = [UInt32](repeating: 0, count: capacity)
    private(set) var failed = [UInt32](repeating: 0, count: capacity)
    /// Per slot, empty until an operation ends in it.
    private(set) var latency = [[UInt32]](repeating: [], count: capacity)

    var total: Int { zip(succeeded, failed).reduce(0) { $0 + Int($1.0) + Int($1.1) } }

    mutating func add(endMs: Double, durationMs: Double, succeeded ok: Bool) {
        // Bounded: each merge doubles the width; 2048 slots of 2^40 ms outlast any run.
        while endMs >= slotMs * Double(Self.capacity), slotMs < 0x1p40 { coarsen() }
        let i = min(Self.capacity - 1, max(0, Int(endMs / slotMs)))
        if ok { succeeded[i] += 1 } else { failed[i] += 1 }
        if latency[i].isEmpty { latency[i] = [UInt32](repeating: 0, count: Self.binCount) }
        latency[i][Self.bin(durationMs)] += 1
    }

    /// Halves the number of slots in use: slot k takes what slots 2k and 2k+1 held.
    private mutating func coarsen() {
        for k in 0..<Self.capacity {
            let a = 2 * k
            let b = a + 1
            guard a < Self.capacity else {
                succeeded[k] = 0
                failed[k] = 0
                latency[k] = []
                continue
            }
            succeeded[k] = succeeded[a] + (b < Self.capacity ? succeeded[b] : 0)
            failed[k] = failed[a] + (b < Self.capacity ? failed[b] : 0)
            var merged = latency[a]
            if b < Self.capacity, !latency[b].isEmpty {
                if merged.isEmpty {
                    merged = latency[b]
                } else {
                    for j in merged.indices { merged[j] += latency[b][j] }
                }
            }
            latency[k] = merged
        }
        slotMs *= 2
    }

    static func bin(_ ms: Double) -> Int {
        guard ms > minLatencyMs else { return 0 }
        return min(binCount - 1, Int(log2(ms / minLatencyMs) * binsPerOctave))
    }

    /// The latency a bin stands for: the geometric middle of its range.
    static func binValue(_ bin: Int) -> Double {
        minLatencyMs * pow(2, (Double(bin) + 0.5) / binsPerOctave)
    }

    /// The start of each slot that holds an operation, with its counts.
    var slots: [(atMs: Double, succeeded: Int, failed: Int, latency: [UInt32])] {
        (0..<Self.capacity).compactMap { k in
            guard succeeded[k] + failed[k] > 0 else { return nil }
            return (Double(k) * slotMs, Int(succeeded[k]), Int(failed[k]), latency[k])
        }
    }
}

/// The workers of one load run. Each keeps its own counts and what recovery needs (its last outcome, its last
/// failure, its first failures after the fault began); the shared `LoadTally` keeps the rest. Nothing is
/// shared but the pool under test and the tally, so the account is exact: every operation started is counted
/// as succeeded or failed. Memory does not grow with the duration.
final class LoadWorkers: Sendable {
    struct WorkerState: Sendable {
        var started = 0
        var succeeded = 0
        var failed = 0
        /// Operations recorded (succeeded or failed): the account check.
        var recorded = 0
        var lastSucceeded: Bool?
        var lastFailureEndMs: Double?
        /// When failed operations ended, from the moment the fault began to be injected (a worker's operations
        /// are sequential, so these increase); the first `LoadSummary.keptFailures`.
        var failureEndsSinceFault: [Double] = []
        var failures: [OperationRecord] = []
        var broken: RunError?

        /// Counts one operation that ended at `endMs`; `faultFrom`: when injecting the fault began, if it has.
        mutating func record(endMs: Double, succeeded ok: Bool, faultFrom: Double?) {
            recorded += 1
            lastSucceeded = ok
            guard !ok else { return }
            lastFailureEndMs = endMs
            if let faultFrom, endMs >= faultFrom, failureEndsSinceFault.count < LoadSummary.keptFailures {
                failureEndsSinceFault.append(endMs)
            }
        }
    }

    final class Slot: Sendable {
        let state = Mutex(WorkerState())
    }

    private let slots: [Slot]
    private let tally = Mutex(LoadTally())
    private let paused = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// When injecting the fault began (ms bit pattern; infinity until then).
    private let faultFrom = Atomic<UInt64>(Double.infinity.bitPattern)
    private let finished = DispatchGroup()
    private let nextIndex = Atomic<Int>(0)

    init(count: Int) {
        slots = (0..<count).map { _ in Slot() }
    }

    /// Marks the moment injecting the fault begins: failures from then on are kept for "first error after the
    /// fault" (the fault's own time stamp is taken inside the injection, so it is never earlier).
    func faultBegins(atMs: Double) { faultFrom.store(atMs.bitPattern, ordering: .relaxed) }

    /// Starts every worker on its own thread (the pool's calls block).
    func start(pool: any PoolUnderTest, query: String, log: EventLog) {
        for worker in slots.indices {
            finished.enter()
            let thread = Thread { [self] in
                defer { finished.leave() }
                run(worker: worker, pool: pool, query: query, log: log)
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
    }

    private func run(worker: Int, pool: any PoolUnderTest, query: String, log: EventLog) {
        // Bounded: every turn either runs one operation (each bounded by the pool's own timeouts or the adapter's
        // deadline) or sleeps 5 ms while paused, and `stop()` ends the loop.
        while !stopped.load(ordering: .relaxed) {
            if paused.load(ordering: .relaxed) {
                usleep(5_000)
                continue
            }
            let index = nextIndex.add(1, ordering: .relaxed).newValue
            slots[worker].state.withLock { $0.started += 1 }
            let record: OperationRecord
            do {
                record = try pool.execute(query, operation: index, held: false)
            } catch {
                // The pool itself broke (an adapter that exited): the run fails, with this account.
                slots[worker].state.withLock { $0.broken = error }
                return
            }
            let end = record.atMs + record.durationMs
            let from = Double(bitPattern: faultFrom.load(ordering: .relaxed))
            tally.withLock { $0.add(endMs: end, durationMs: record.durationMs, succeeded: record.succeeded) }
            slots[worker].state.withLock { s in
                if record.succeeded {
                    s.succeeded += 1
                } else {
                    s.failed += 1
                    if s.failures.count < LoadSummary.keptFailures { s.failures.append(record) }
                }
                s.record(endMs: end, succeeded: record.succeeded, faultFrom: from.isFinite ? from : nil)
            }
        }
    }

    func pause() { paused.store(true, ordering: .relaxed) }
    func resume() { paused.store(false, ordering: .relaxed) }

    /// Stops the workers and waits for each to finish its operation (bounded by `limit`).
    func stop(limit: Duration) -> Bool {
        stopped.store(true, ordering: .relaxed)
        return finished.wait(timeout: .now() + .nanoseconds(Int(EventLog.milliseconds(limit) * 1e6))) == .success
    }

    var snapshot: (workers: [WorkerState], tally: LoadTally) {
        (slots.map { $0.state.withLock { $0 } }, tally.withLock { $0 })
    }
}

extension LoadSummary {
    /// Builds the summary from the workers' accounts, the tally, the run's errors and timeline; throws an internal
    /// error (exit 3) when the account does not add up.
    static func make(
        _ spec: LoadSpec, workers: [LoadWorkers.WorkerState], tally: LoadTally, faultAt: Double?,
        errors: [ObservedError], timeline: [PoolEvent], trafficMs: (from: Double, to: Double)
    ) throws(RunError) -> LoadSummary {
        var rows: [Worker] = []
        for (i, w) in workers.enumerated() {
            guard w.succeeded + w.failed == w.started, w.recorded == w.started else {
                throw .environment(
                    "internal error: load worker \(i + 1) started \(w.started) operations but counted \(w.succeeded) succeeded and \(w.failed) failed (\(w.recorded) recorded); please report it"
                )
            }
            rows.append(Worker(worker: i + 1, started: w.started, succeeded: w.succeeded, failed: w.failed))
        }
        let started = rows.reduce(0) { $0 + $1.started }
        guard tally.total == started else {
            throw .environment(
                "internal error: the load tally holds \(tally.total) operations but the workers started \(started); please report it"
            )
        }
        let slots = tally.slots
        let bucketMs = TimelineChart.bucketMs(linearMs: max(1, trafficMs.to - trafficMs.from))
        var buckets: [Int: Bucket] = [:]
        func bucket(_ atMs: Double) -> Int { Int(atMs / bucketMs) }
        for slot in slots {
            let b = bucket(slot.atMs)
            var row = buckets[b] ?? Bucket(atMs: Double(b) * bucketMs, succeeded: 0, failed: 0, absorbed: 0)
            row.succeeded += slot.succeeded
            row.failed += slot.failed
            buckets[b] = row
        }
        for e in errors where e.handledBy != nil {
            let b = bucket(e.atMs)
            var row = buckets[b] ?? Bucket(atMs: Double(b) * bucketMs, succeeded: 0, failed: 0, absorbed: 0)
            row.absorbed += 1
            buckets[b] = row
        }
        var firstCaller: Double?
        var recovery: Double?
        if let faultAt {
            // Each worker's failures are in time order: its first one at or after the fault.
            firstCaller = workers.compactMap { $0.failureEndsSinceFault.first { $0 >= faultAt } }.min()
                .map { $0 - faultAt }
            // Full recovery: after each worker's last failure every operation of every worker succeeded.
            if workers.allSatisfy({ $0.lastSucceeded ?? true }) {
                let lastFailure = workers.compactMap(\.lastFailureEndMs).max()
                recovery = lastFailure.map { max(0, $0 - faultAt) } ?? 0
            }
        }
        let faultMs = faultAt ?? trafficMs.to
        let recoveredAt = faultMs + max(recovery ?? (trafficMs.to - faultMs), 1000)
        // The windows partition the traffic by when operations ended (to within a slot's width).
        func latency(_ from: Double, _ to: Double, seconds: Double) -> Latency {
            var histogram = [Int](repeating: 0, count: LoadTally.binCount)
            for slot in slots where slot.atMs >= from && slot.atMs < to {
                for (j, n) in slot.latency.enumerated() { histogram[j] += Int(n) }
            }
            let count = histogram.reduce(0, +)
            func pct(_ p: Double) -> Double? {
                guard count > 0 else { return nil }
                let rank = min(count - 1, Int((Double(count) * p).rounded(.down)))
                var seen = 0
                for (j, n) in histogram.enumerated() {
                    seen += n
                    if seen > rank { return LoadTally.binValue(j) }
                }
                return nil
            }
            return Latency(
                count: count, p50: pct(0.5), p99: pct(0.99), perSecond: seconds > 0 ? Double(count) / seconds : nil)
        }
        let duringEnd = min(recoveredAt, trafficMs.to + 1)
        let opened = timeline.filter { $0.event == .connect }.count
        let destroyed = timeline.filter { [.destroy, .evict, .evictedSocketEvent].contains($0.event) }.count
        return LoadSummary(
            concurrency: spec.concurrency, query: spec.query, durationMs: trafficMs.to - trafficMs.from,
            started: started, succeeded: rows.reduce(0) { $0 + $1.succeeded },
            failed: rows.reduce(0) { $0 + $1.failed }, workers: rows, bucketMs: bucketMs,
            buckets: buckets.keys.sorted().map { buckets[$0]! }, firstCallerErrorMs: firstCaller,
            fullRecoveryMs: recovery,
            before: latency(-.infinity, faultMs, seconds: (faultMs - trafficMs.from) / 1000),
            during: latency(faultMs, duringEnd, seconds: (duringEnd - faultMs) / 1000),
            after: latency(duringEnd, .infinity, seconds: (trafficMs.to + 1 - duringEnd) / 1000),
            connectionsOpened: opened, connectionsDestroyed: destroyed)
    }
}
