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
        /// Every other event and error is bounded too (in load mode a server that is down refuses thousands of
        /// connections a second; any time a real driver may report events without end): this many of each are
        /// kept, the rest counted. The scenario's own notes are always kept.
        var otherLimit = EventLog.defaultOtherLimit
        var otherKept = 0
        var droppedErrors = 0
        var dropped: [PoolEvent.Kind: Int] = [:]
        var lastDroppedMs = 0.0
        var events: [PoolEvent] = []
        var errors: [ObservedError] = []
        var runs: [RunKey: Run] = [:]
        /// True once a summary entry moved in time, so `events` sorts on read.
        var reordered = false

        mutating func append(_ event: PoolEvent) {
            let key = RunKey(
                event: event.event, connection: event.connection, threadID: event.threadID, detail: event.detail)
            let summarized = EventLog.summarized.contains(event.event)
            if let routineLimit, EventLog.routine.contains(event.event) {
                guard routineKept < routineLimit else {
                    drop(event)
                    return
                }
                routineKept += 1
            } else if event.event != .scenario && !EventLog.routine.contains(event.event)
                && !(summarized && runs[key] != nil)
            {
                // One more entry in the timeline (a repeat of a summarized run only updates its summary).
                guard otherKept < otherLimit else {
                    drop(event)
                    return
                }
                otherKept += 1
            }
            guard summarized else {
                runs.removeAll(keepingCapacity: true)
                events.append(event)
                return
            }
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

        mutating func drop(_ event: PoolEvent) {
            dropped[event.event, default: 0] += 1
            lastDroppedMs = max(lastDroppedMs, event.atMs)
        }
    }

    /// Time zero of every `atMs`.
    public let start: ContinuousClock.Instant
    private let state = Mutex(State())

    /// `routineLimit`: keep only that many routine events (load mode: thousands of operations a second would
    /// otherwise fill memory and the report); errors, connects, destroys and the scenario's notes are all kept.
    /// Events other than routine ones and errors kept when no `routineLimit` is given.
    public static let defaultOtherLimit = 4000

    public init(start: ContinuousClock.Instant = .now, routineLimit: Int? = nil) {
        self.start = start
        state.withLock {
            $0.routineLimit = routineLimit
            $0.otherLimit = routineLimit.map { $0 * 2 } ?? Self.defaultOtherLimit
        }
    }

    /// Errors not kept (the first ones are); 0 when there were fewer than the limit.
    public var droppedErrors: Int { state.withLock { $0.droppedErrors } }

    private func keep(_ error: ObservedError) {
        state.withLock { s in
            if s.errors.count >= s.otherLimit {
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

    /// Longest text an event detail or a driver's message keeps (UTF-8 bytes); the rest is counted. A driver's
    /// error can embed a whole statement (SQLAlchemy's `[SQL: …]`): megabytes, repeated in every report.
    public static let textLimit = 4096

    /// `text` cut at `textLimit` bytes (on a character boundary) with "… N bytes more"; unchanged when shorter.
    public static func capped(_ text: String, limit: Int = textLimit) -> String {
        let utf8 = text.utf8
        guard utf8.count > limit else { return text }
        var end = utf8.index(utf8.startIndex, offsetBy: limit)
        while end > utf8.startIndex && end.samePosition(in: text.unicodeScalars) == nil {
            end = utf8.index(before: end)
        }
        let kept = String(text[..<end])
        return kept + "… \(utf8.count - kept.utf8.count) bytes more"
    }

    public func record(_ kind: PoolEvent.Kind, connection: Int? = nil, threadID: UInt64? = nil, detail: String? = nil) {
        let event = PoolEvent(
            atMs: ms(), event: kind, connection: connection, threadID: threadID, detail: detail.map { Self.capped($0) })
        state.withLock { $0.append(event) }
    }

    /// A real pool's own event: the one-line `detail` and the structure it came from.
    public func record(
        driverEvent: PoolEvent.DriverEvent, connection: Int?, threadID: UInt64?, detail: String
    ) {
        var structured = driverEvent
        structured.message = structured.message.map { Self.capped($0) }
        structured.fields = structured.fields.mapValues { Self.capped($0, limit: 1024) }
        var event = PoolEvent(
            atMs: ms(), event: .driverEvent, connection: connection, threadID: threadID, detail: Self.capped(detail))
        event.driver = structured
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
        driverError detail: DriverErrorDetail, phase: ErrorPhase, connection: Int?, threadID: UInt64?,
        handledBy: ErrorHandler?, operation: Int?
    )
        -> ObservedError
    {
        var detail = detail
        detail.message = Self.capped(detail.message)
        detail.cause = detail.cause.map { Self.capped($0) }
        detail.errorClass = Self.capped(detail.errorClass, limit: 256)
        detail.code = detail.code.map { Self.capped($0, limit: 256) }
        let mysqlNumber = detail.errno.flatMap { (1000...4999).contains($0) ? $0 : nil }
        let error = DatabaseError(
            code: mysqlNumber.map { DatabaseError.Code(rawValue: $0) } ?? .driverError,
            sqlState: detail.sqlState ?? "HY000",
            message: detail.message)
        let observed = ObservedError(
            error: error, phase: phase, atMs: ms(), connection: connection, threadID: threadID, handledBy: handledBy,
            operation: operation, driver: detail)
        keep(observed)
        return observed
    }

    /// Every event in time order, runs of periodic ones summarized.
    public var events: [PoolEvent] {
        let (recorded, reordered, dropped, lastDropped, limit, otherLimit) = state.withLock {
            ($0.events, $0.reordered, $0.dropped, $0.lastDroppedMs, $0.routineLimit, $0.otherLimit)
        }
        var events = recorded
        if reordered {
            // Stable: equal times keep the order they were recorded in.
            events = events.enumerated().sorted { ($0.element.atMs, $0.offset) < ($1.element.atMs, $1.offset) }
                .map(\.element)
        }
        if !dropped.isEmpty {
            let counts = dropped.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
            let detail =
                if let limit {
                    "load: \(counts.joined(separator: ", ")) events not kept (the first \(limit) routine events and the first \(otherLimit) others are)"
                } else {
                    "\(counts.joined(separator: ", ")) events not kept (the first \(otherLimit) events other than operations' own are)"
                }
            events.append(PoolEvent(atMs: max(lastDropped, events.last?.atMs ?? 0), event: .scenario, detail: detail))
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
