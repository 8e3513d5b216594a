import Synchronization

/// The run's shared, thread-safe record of events and errors, on one monotonic clock.
public final class EventLog: Sendable {
    private struct State {
        var events: [PoolEvent] = []
        var errors: [ObservedError] = []
    }

    /// Time zero of every `atMs`.
    public let start: ContinuousClock.Instant
    private let state = Mutex(State())

    public init(start: ContinuousClock.Instant = .now) { self.start = start }

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
        state.withLock { $0.events.append(event) }
    }

    @discardableResult
    public func record(
        error: DatabaseError, phase: ErrorPhase, connection: Int?, threadID: UInt64?, handledBy: ErrorHandler?,
        operation: Int?
    ) -> ObservedError {
        let observed = ObservedError(
            error: error, phase: phase, atMs: ms(), connection: connection, threadID: threadID,
            handledBy: handledBy, operation: operation)
        state.withLock { $0.errors.append(observed) }
        return observed
    }

    /// Records a failed step of one connection: the timeline event (`queryError`, `validateFailed`,
    /// `keepaliveFailed`) with the error as its detail, and the error itself.
    @discardableResult
    public func record(
        failure error: DatabaseError, event: PoolEvent.Kind, phase: ErrorPhase, connection: Int, threadID: UInt64,
        handledBy: ErrorHandler?, operation: Int?
    ) -> ObservedError {
        record(event, connection: connection, threadID: threadID, detail: error.description)
        return record(
            error: error, phase: phase, connection: connection, threadID: threadID, handledBy: handledBy,
            operation: operation)
    }

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
        state.withLock { $0.errors.append(observed) }
        return observed
    }

    public var events: [PoolEvent] { state.withLock { $0.events } }
    public var errors: [ObservedError] { state.withLock { $0.errors } }
}
