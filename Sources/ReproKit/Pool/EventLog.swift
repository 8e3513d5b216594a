import Synchronization

/// The run's shared, thread-safe record of events and errors, on one monotonic clock.
///
/// Periodic events (`summarized`: keepalive pings, up to 1000 a second per connection for a day) are kept
/// bounded: of a run of identical ones (same kind, connection, thread and detail) the first is kept as it is and
/// the rest become one summary entry of the same kind at the last one's time, "keepalive ping ok ×N (first at …,
/// last at …)". Any other event ends every run, so the timeline still shows what happened between the fault and
/// the operations.
public final class EventLog: Sendable {
    /// The kinds a background loop records over and over.
    public static let summarized: Set<PoolEvent.Kind> = [.keepaliveOK]

    private struct RunKey: Hashable {
        var event: PoolEvent.Kind
        var connection: Int?
        var threadID: UInt64?
        var detail: String?
    }

    private struct Run {
        var count: Int
        var firstMs: Double
        var lastMs: Double
        /// Where the summary entry is in `events`, once there is a second event.
        var summaryIndex: Int?
    }

    /// The kinds every successful operation records (borrow, check, query, give back): in load mode only the
    /// first `routineLimit` of them are kept, the rest counted.
    public static let routine: Set<PoolEvent.Kind> = [.borrow, .validateOK, .queryOK, .release]

    private struct State {
        var routineLimit: Int?
        var routineKept = 0
        /// In load mode also every other event and error is bounded (a server that is down refuses thousands
        /// of connections a second): this many of each are kept, the rest counted.
        var otherLimit: Int?
        var droppedErrors = 0
        var dropped: [PoolEvent.Kind: Int] = [:]
        var lastDroppedMs = 0.0
        var events: [PoolEvent] = []
        var errors: [ObservedError] = []
        var runs: [RunKey: Run] = [:]
        /// True once a summary entry moved in time, so `events` sorts on read.
        var reordered = false

        mutating func append(_ event: PoolEvent) {
            if let routineLimit, EventLog.routine.contains(event.event) {
                guard routineKept < routineLimit else {
                    dropped[event.event, default: 0] += 1
                    lastDroppedMs = max(lastDroppedMs, event.atMs)
                    return
                }
                routineKept += 1
            } else if let otherLimit, event.event != .scenario, events.count >= otherLimit + (routineLimit ?? 0) {
                dropped[event.event, default: 0] += 1
                lastDroppedMs = max(lastDroppedMs, event.atMs)
                return
            }
            guard EventLog.summarized.contains(event.event) else {
                runs.removeAll(keepingCapacity: true)
                events.append(event)
                return
            }
            let key = RunKey(
                event: event.event, connection: event.connection, threadID: event.threadID, detail: event.detail)
            guard var run = runs[key] else {
                runs[key] = Run(count: 1, firstMs: event.atMs, lastMs: event.atMs)
                events.append(event)
                return
            }
            run.count += 1
            run.lastMs = max(run.lastMs, event.atMs)
            var summary = event
            summary.atMs = run.lastMs
            summary.detail = EventLog.summaryDetail(
                event.event, detail: event.detail, run.count, run.firstMs, run.lastMs)
            if let index = run.summaryIndex {
                events[index] = summary
                reordered = true
            } else {
                run.summaryIndex = events.count
                events.append(summary)
            }
            runs[key] = run
        }
    }

    /// Time zero of every `atMs`.
    public let start: ContinuousClock.Instant
    private let state = Mutex(State())

    /// `routineLimit`: keep only that many routine events (load mode: thousands of operations a second would
    /// otherwise fill memory and the report); errors, connects, destroys and the scenario's notes are all kept.
    public init(start: ContinuousClock.Instant = .now, routineLimit: Int? = nil) {
        self.start = start
        state.withLock {
            $0.routineLimit = routineLimit
            $0.otherLimit = routineLimit.map { $0 * 2 }
        }
    }

    /// Errors not kept (load mode keeps the first ones); 0 otherwise.
    public var droppedErrors: Int { state.withLock { $0.droppedErrors } }

    private func keep(_ error: ObservedError) {
        state.withLock { s in
            if let limit = s.otherLimit, s.errors.count >= limit {
                s.droppedErrors += 1
            } else {
                s.errors.append(error)
            }
        }
    }

    /// Milliseconds from `start` to `instant` (now by default).
    public func ms(_ instant: ContinuousClock.Instant = .now) -> Double {
        Self.milliseconds(instant - start)
    }

    /// A duration in milliseconds.
    public static func milliseconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
    }

    public func record(_ kind: PoolEvent.Kind, connection: Int? = nil, threadID: UInt64? = nil, detail: String? = nil) {
        let event = PoolEvent(atMs: ms(), event: kind, connection: connection, threadID: threadID, detail: detail)
        state.withLock { $0.append(event) }
    }

    @discardableResult
    public func record(
        error: DatabaseError, phase: ErrorPhase, connection: Int?, threadID: UInt64?, handledBy: ErrorHandler?,
        operation: Int?
    ) -> ObservedError {
        let observed = ObservedError(
            error: error, phase: phase, atMs: ms(), connection: connection, threadID: threadID,
            handledBy: handledBy, operation: operation)
        keep(observed)
        return observed
    }

    /// Records a failed step of one connection: the timeline event (`queryError`, `validateFailed`,
    /// `keepaliveFailed`) with the error as its detail, and the error itself.

    /// Records a real driver's error; its number becomes the code when it is a MySQL one.
    @discardableResult
    public func record(
        driverError detail: DriverErrorDetail, phase: ErrorPhase, handledBy: ErrorHandler?, operation: Int?
    )
        -> ObservedError
    {
        let mysqlNumber = detail.errno.flatMap { (1000...4999).contains($0) ? $0 : nil }
        let error = DatabaseError(
            code: mysqlNumber.map { DatabaseError.Code(rawValue: $0) } ?? .driverError,
            sqlState: detail.sqlState ?? "HY000",
            message: detail.message)
        let observed = ObservedError(
            error: error, phase: phase, atMs: ms(), connection: nil, threadID: nil, handledBy: handledBy,
            operation: operation, driver: detail)
        keep(observed)
        return observed
    }

    /// Every event in time order, runs of periodic ones summarized.
    public var events: [PoolEvent] {
        let (recorded, reordered, dropped, lastDropped, limit) = state.withLock {
            ($0.events, $0.reordered, $0.dropped, $0.lastDroppedMs, $0.routineLimit)
        }
        var events = recorded
        if reordered {
            // Stable: equal times keep the order they were recorded in.
            events = events.enumerated().sorted { ($0.element.atMs, $0.offset) < ($1.element.atMs, $1.offset) }
                .map(\.element)
        }
        if !dropped.isEmpty {
            let counts = dropped.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
            events.append(
                PoolEvent(
                    atMs: max(lastDropped, events.last?.atMs ?? 0), event: .scenario,
                    detail:
                        "load: \(counts.joined(separator: ", ")) events not kept (the first \(limit ?? 0) routine events and the first \((limit ?? 0) * 2) others are)"
                ))
        }
        return events
    }

    /// The detail of a summary entry: what repeated, how often, from when to when.
    static func summaryDetail(
        _ kind: PoolEvent.Kind, detail: String?, _ count: Int, _ firstMs: Double, _ lastMs: Double
    )
        -> String
    {
        let what = kind == .keepaliveOK ? "keepalive ping ok" : kind.rawValue
        return
            "\(what)\(detail.map { " (\($0))" } ?? "") ×\(count) (first at \(Int(firstMs.rounded())) ms, last at \(Int(lastMs.rounded())) ms)"
    }
    public var errors: [ObservedError] { state.withLock { $0.errors } }
}
