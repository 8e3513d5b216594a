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

/// The workers of one load run. Each keeps its own counts and the times of its operations; nothing is shared
/// but the pool under test, so the account is exact: every operation started is counted as succeeded or failed.
final class LoadWorkers: Sendable {
    struct Record: Sendable {
        var atMs: Float
        var durationMs: Float
        var succeeded: Bool
    }

    struct WorkerState: Sendable {
        var started = 0
        var succeeded = 0
        var failed = 0
        var records: [Record] = []
        var failures: [OperationRecord] = []
        var broken: RunError?
    }

    final class Slot: Sendable {
        let state = Mutex(WorkerState())
    }

    private let slots: [Slot]
    private let paused = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchGroup()
    private let nextIndex = Atomic<Int>(0)

    init(count: Int) {
        slots = (0..<count).map { _ in Slot() }
    }

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
            slots[worker].state.withLock { s in
                if record.succeeded {
                    s.succeeded += 1
                } else {
                    s.failed += 1
                    if s.failures.count < LoadSummary.keptFailures { s.failures.append(record) }
                }
                s.records.append(
                    Record(atMs: Float(record.atMs), durationMs: Float(record.durationMs), succeeded: record.succeeded))
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

    var snapshot: [WorkerState] { slots.map { $0.state.withLock { $0 } } }
}

extension LoadSummary {
    /// Builds the summary from the workers' records, the run's errors and timeline; throws an internal error
    /// (exit 3) when the account does not add up.
    static func make(
        _ spec: LoadSpec, workers: [LoadWorkers.WorkerState], faultAt: Double?, errors: [ObservedError],
        timeline: [PoolEvent], trafficMs: (from: Double, to: Double)
    ) throws(RunError) -> LoadSummary {
        var rows: [Worker] = []
        for (i, w) in workers.enumerated() {
            guard w.succeeded + w.failed == w.started, w.records.count == w.started else {
                throw .environment(
                    "internal error: load worker \(i + 1) started \(w.started) operations but counted \(w.succeeded) succeeded and \(w.failed) failed (\(w.records.count) recorded); please report it"
                )
            }
            rows.append(Worker(worker: i + 1, started: w.started, succeeded: w.succeeded, failed: w.failed))
        }
        let all = workers.flatMap(\.records)
        let bucketMs = TimelineChart.bucketMs(linearMs: max(1, trafficMs.to - trafficMs.from))
        var buckets: [Int: Bucket] = [:]
        func bucket(_ atMs: Double) -> Int { Int(atMs / bucketMs) }
        for r in all {
            let end = Double(r.atMs + r.durationMs)
            let b = bucket(end)
            var row = buckets[b] ?? Bucket(atMs: Double(b) * bucketMs, succeeded: 0, failed: 0, absorbed: 0)
            if r.succeeded { row.succeeded += 1 } else { row.failed += 1 }
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
            let failures = all.filter { !$0.succeeded && Double($0.atMs + $0.durationMs) >= faultAt }
            firstCaller = failures.map { Double($0.atMs + $0.durationMs) - faultAt }.min()
            // Full recovery: after each worker's last failure every operation of every worker succeeded.
            let lastOK = workers.allSatisfy { $0.records.last?.succeeded ?? true }
            if lastOK {
                let lastFailure = workers.compactMap { $0.records.last { !$0.succeeded } }
                    .map { Double($0.atMs + $0.durationMs) }.max()
                recovery = lastFailure.map { max(0, $0 - faultAt) } ?? 0
            }
        }
        let faultMs = faultAt ?? trafficMs.to
        let recoveredAt = faultMs + max(recovery ?? (trafficMs.to - faultMs), 1000)
        func latency(_ from: Double, _ to: Double) -> Latency {
            let window = all.filter {
                let end = Double($0.atMs + $0.durationMs)
                return end >= from && end < to
            }.map { Double($0.durationMs) }.sorted()
            func pct(_ p: Double) -> Double? {
                window.isEmpty ? nil : window[min(window.count - 1, Int((Double(window.count) * p).rounded(.down)))]
            }
            let seconds = (to - from) / 1000
            return Latency(
                count: window.count, p50: pct(0.5), p99: pct(0.99),
                perSecond: seconds > 0 ? Double(window.count) / seconds : nil)
        }
        let opened = timeline.filter { $0.event == .connect }.count
        let destroyed = timeline.filter { [.destroy, .evict, .evictedSocketEvent].contains($0.event) }.count
        return LoadSummary(
            concurrency: spec.concurrency, query: spec.query, durationMs: trafficMs.to - trafficMs.from,
            started: rows.reduce(0) { $0 + $1.started }, succeeded: rows.reduce(0) { $0 + $1.succeeded },
            failed: rows.reduce(0) { $0 + $1.failed }, workers: rows, bucketMs: bucketMs,
            buckets: buckets.keys.sorted().map { buckets[$0]! }, firstCallerErrorMs: firstCaller,
            fullRecoveryMs: recovery, before: latency(trafficMs.from, faultMs),
            during: latency(faultMs, min(recoveredAt, trafficMs.to + 1)),
            after: latency(min(recoveredAt, trafficMs.to + 1), trafficMs.to + 1), connectionsOpened: opened,
            connectionsDestroyed: destroyed)
    }
}
