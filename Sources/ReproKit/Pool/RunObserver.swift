/// What a pool under test records into: the run's clock, its events and its errors. `EventLog` is the one
/// implementation; repro's pool, `SwiftPoolUnderTest` and `AdapterPool` (a real stack in another process,
/// whose events arrive over its pipe) only know this protocol, so anything that keeps a timeline can watch a
/// pool.
public protocol RunObserver: AnyObject, Sendable {
    /// Milliseconds since the run started, on the run's one clock.
    func ms(_ instant: ContinuousClock.Instant) -> Double
    /// One event of the timeline.
    func record(_ kind: PoolEvent.Kind, connection: Int?, threadID: UInt64?, detail: String?)
    /// An error, where it surfaced and what absorbed it.
    @discardableResult
    func record(
        error: DatabaseError, phase: ErrorPhase, connection: Int?, threadID: UInt64?, handledBy: ErrorHandler?,
        operation: Int?
    ) -> ObservedError
    /// A failed step of one connection: the event and the error.
    @discardableResult
    func record(
        failure error: DatabaseError, event: PoolEvent.Kind, phase: ErrorPhase, connection: Int, threadID: UInt64,
        handledBy: ErrorHandler?, operation: Int?
    ) -> ObservedError
    /// A real driver's error, verbatim.
    @discardableResult
    func record(
        driverError detail: DriverErrorDetail, phase: ErrorPhase, connection: Int?, threadID: UInt64?,
        handledBy: ErrorHandler?, operation: Int?
    ) -> ObservedError
}

extension RunObserver {
    /// A real pool's own event; an observer that keeps no structure records its one line.
    public func record(
        driverEvent: PoolEvent.DriverEvent, connection: Int?, threadID: UInt64?, detail: String
    ) {
        if let log = self as? EventLog {
            log.record(driverEvent: driverEvent, connection: connection, threadID: threadID, detail: detail)
        } else {
            record(.driverEvent, connection: connection, threadID: threadID, detail: detail)
        }
    }

    /// A real driver's error, on no connection repro knows of.
    @discardableResult
    public func record(
        driverError detail: DriverErrorDetail, phase: ErrorPhase, handledBy: ErrorHandler?, operation: Int?
    )
        -> ObservedError
    {
        record(
            driverError: detail, phase: phase, connection: nil, threadID: nil, handledBy: handledBy,
            operation: operation)
    }

    /// Milliseconds since the run started, now.
    public func ms() -> Double { ms(.now) }

    public func record(_ kind: PoolEvent.Kind, connection: Int? = nil, threadID: UInt64? = nil, detail: String? = nil) {
        record(kind, connection: connection, threadID: threadID, detail: detail)
    }

    /// A failed step of one connection: the event (the error as its detail) and the error.
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

}

extension EventLog: RunObserver {}
