import Synchronization

/// The errors recorded during one operation of a `PoolServer` request (a `run`, one query of a `busy`, one
/// operation of an armed batch), in the order the pool recorded them.
final class OperationErrors: Sendable {
    private let errors = Mutex<[ObservedError]>([])

    /// The operation whose errors the pool records on the current thread; nil outside an operation (the keepalive
    /// thread, the socket watcher). Bound with `withValue` around the pool call: every error of a borrow, its
    /// validation, its retries and its query is recorded on the thread that called the pool.
    @TaskLocal static var current: OperationErrors?

    func append(_ error: ObservedError) { errors.withLock { $0.append(error) } }

    var all: [ObservedError] { errors.withLock { $0 } }

    /// What the pool absorbed (validation, retry): the run answer's `handled` entries.
    var handled: [ObservedError] { all.filter { $0.handledBy != nil } }

    /// Runs `body` with its errors recorded here.
    func collecting<T>(_ body: () -> T) -> T {
        OperationErrors.$current.withValue(self, operation: body)
    }
}

/// The `RunObserver` of a pool served by `PoolServer`: the run's clock kept in this process, every pool event sent
/// as an adapter event line, errors kept per operation for the answer (or sent as `pool-error` events when no
/// operation is under way).
final class PoolServerObserver: RunObserver {
    /// Time zero of every `atMs`: the run's start, as `open` gave it.
    let start: ContinuousClock.Instant
    private let emit: @Sendable (JSONValue) -> Void

    init(start: ContinuousClock.Instant, emit: @escaping @Sendable (JSONValue) -> Void) {
        self.start = start
        self.emit = emit
    }

    func ms(_ instant: ContinuousClock.Instant) -> Double { EventLog.milliseconds(instant - start) }

    /// `{"event":"pool","kind":"validate-failed","message":"<detail>","connection":1,"threadId":12,"atMs":…}`;
    /// the message is the detail EventLog keeps (an error's description for a failed step), or the kind when the
    /// event has none.
    func record(_ kind: PoolEvent.Kind, connection: Int?, threadID: UInt64?, detail: String?) {
        var line: [String: JSONValue] = [
            "event": .string("pool"), "kind": .string(kind.rawValue), "message": .string(detail ?? kind.rawValue),
            "atMs": .number(Self.rounded(ms())),
        ]
        if let connection { line["connection"] = .number(Double(connection)) }
        if let threadID { line["threadId"] = .number(Double(threadID)) }
        emit(.object(line))
    }

    @discardableResult
    func record(
        error: DatabaseError, phase: ErrorPhase, connection: Int?, threadID: UInt64?, handledBy: ErrorHandler?,
        operation: Int?
    ) -> ObservedError {
        keep(
            ObservedError(
                error: error, phase: phase, atMs: ms(), connection: connection, threadID: threadID,
                handledBy: handledBy, operation: operation))
    }

    /// As `EventLog` does: the step's event with the error as its detail, then the error.

    /// repro's pool has no driver of its own between it and Connector/C; kept as `EventLog` keeps it.
    @discardableResult
    func record(
        driverError detail: DriverErrorDetail, phase: ErrorPhase, connection: Int?, threadID: UInt64?,
        handledBy: ErrorHandler?, operation: Int?
    ) -> ObservedError {
        let mysqlNumber = detail.errno.flatMap { (1000...4999).contains($0) ? $0 : nil }
        let error = DatabaseError(
            code: mysqlNumber.map { DatabaseError.Code(rawValue: $0) } ?? .driverError,
            sqlState: detail.sqlState ?? "HY000", message: detail.message)
        return keep(
            ObservedError(
                error: error, phase: phase, atMs: ms(), connection: connection, threadID: threadID,
                handledBy: handledBy, operation: operation, driver: detail))
    }

    /// Into the current operation's record, or out at once as a `pool-error` event.
    private func keep(_ observed: ObservedError) -> ObservedError {
        if let operation = OperationErrors.current {
            operation.append(observed)
        } else {
            var line: [String: JSONValue] = [
                "event": .string("pool-error"), "message": .string(observed.error.description),
                "error": Self.errorObject(observed), "atMs": .number(Self.rounded(observed.atMs)),
            ]
            if let by = observed.handledBy { line["by"] = .string(by.rawValue) }
            if let connection = observed.connection { line["connection"] = .number(Double(connection)) }
            if let threadID = observed.threadID { line["threadId"] = .number(Double(threadID)) }
            emit(.object(line))
        }
        return observed
    }

    // MARK: - The protocol's shapes

    /// The protocol's error object for a Connector/C error, verbatim: the symbolic code, the number, SQLSTATE, the
    /// library's message; plus where and when it surfaced (`atMs` on the run's clock, the pool's connection number
    /// and the server thread, null when unknown).
    static func errorObject(_ observed: ObservedError) -> JSONValue {
        let phase: JSONValue =
            switch observed.phase {
            case .acquire, .validate, .query, .keepalive, .followUp: .string(observed.phase.rawValue)
            case .unknown: .null
            }
        return .object([
            "class": .string("DatabaseError"), "code": .string(observed.error.code.name),
            "errno": .number(Double(observed.error.code.rawValue)), "sqlState": .string(observed.error.sqlState),
            "message": .string(observed.error.message), "fatal": .null, "phase": phase,
            "atMs": .number(rounded(observed.atMs)),
            "connection": observed.connection.map { .number(Double($0)) } ?? .null,
            "threadId": observed.threadID.map { .number(Double($0)) } ?? .null,
        ])
    }

    /// `{"by":"validation","error":{…}}`: one error the pool absorbed during an operation.
    static func handledEntry(_ observed: ObservedError) -> JSONValue {
        .object([
            "by": .string(observed.handledBy?.rawValue ?? "unknown"), "error": errorObject(observed),
        ])
    }

    /// Milliseconds to the microsecond: enough for a timeline, and short lines.
    static func rounded(_ ms: Double) -> Double { (ms * 1000).rounded() / 1000 }
}
