/// One thing that happened in a run, stamped with milliseconds since the run started.
public struct PoolEvent: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case connect
        case connectFailed = "connect-failed"
        case borrow
        case validateOK = "validate-ok"
        case validateFailed = "validate-failed"
        /// Dropped on borrow for age (max-idle, max-lifetime).
        case evict
        /// Dropped while idle because its socket reported FIN, RST or unexpected bytes (evict-on-socket-event).
        case evictedSocketEvent = "evicted-socket-event"
        case queryOK = "query-ok"
        case queryError = "query-error"
        case retry
        case release
        case destroy
        case keepaliveOK = "keepalive-ok"
        case keepaliveFailed = "keepalive-failed"
        /// Something the scenario did: the fault, the idle wait, a phase boundary.
        case scenario
        /// Something a real driver or pool (an adapter) did on its own: an idle connection's error event, a log line.
        case driverEvent = "driver-event"
    }

    public var atMs: Double
    public var event: Kind
    /// The pool's own connection number (1, 2, ...), stable for the connection's life.
    public var connection: Int?
    /// The server's thread id of that connection.
    public var threadID: UInt64?
    public var detail: String?
    /// A real pool's event (`driver-event`) as the adapter sent it: its kind, its message verbatim, its other fields.
    public var driver: DriverEvent? = nil

    /// What a real driver or pool reported on its own, structured.
    public struct DriverEvent: Sendable, Equatable, Codable {
        /// The adapter's name for it: `connection-error`, `pool-log`, `health-check-failed`, ...
        public var kind: String
        /// The library's message, verbatim (capped like every text of the report).
        public var message: String?
        /// Every other field the adapter sent (code, fatal, level, logger, ...), as text.
        public var fields: [String: String]

        public init(kind: String, message: String?, fields: [String: String]) {
            self.kind = kind
            self.message = message
            self.fields = fields
        }
    }

    enum CodingKeys: String, CodingKey {
        case atMs, event, connection, threadID = "threadId", detail, driver
    }

    public init(atMs: Double, event: Kind, connection: Int? = nil, threadID: UInt64? = nil, detail: String? = nil) {
        self.atMs = atMs
        self.event = event
        self.connection = connection
        self.threadID = threadID
        self.detail = detail
    }
}

/// Where in a borrow-and-query an error surfaced.
public enum ErrorPhase: String, Sendable, Codable, CaseIterable {
    case acquire, validate, query, keepalive
    /// The application's next command on the connection whose query had failed (a ROLLBACK, a cleanup query).
    case followUp = "follow-up"
    /// A real driver that does not say whether borrowing or the query failed (Go's database/sql).
    case unknown
}

/// What absorbed an error so the caller never saw it.
public enum ErrorHandler: String, Sendable, Codable, CaseIterable {
    case validation, retry, keepalive
}

/// An error seen during a run, where and when it surfaced and whether something handled it.
public struct ObservedError: Error, Sendable, Equatable, Codable {
    public var error: DatabaseError
    public var phase: ErrorPhase
    public var atMs: Double
    public var connection: Int?
    public var threadID: UInt64?
    /// nil when the error reached the caller.
    public var handledBy: ErrorHandler?
    /// The operation (1-based) during which it surfaced; nil for background work; 0: an operation the
    /// application tried while the fault was in progress (`duringFault`).
    public var operation: Int?

    /// The error came from an operation tried while the fault was in progress (a restarted server still down):
    /// recorded, never counted for or against recovery. The one place the operation-0 convention is read.
    public var duringFault: Bool { operation == Self.duringFaultOperation }
    /// The operation number of an operation tried while the fault was in progress.
    public static let duringFaultOperation = 0
    /// A real driver's error exactly as the application saw it (adapters only).
    public var driver: DriverErrorDetail?

    /// What went wrong in words that compare across drivers.
    public var kind: ErrorKind {
        if let driver {
            return ErrorKind.classify(
                errno: driver.errno ?? error.code.rawValue, code: driver.code, message: driver.message,
                cause: driver.cause)
        }
        return ErrorKind.classify(errno: error.code.rawValue, code: nil, message: error.message)
    }

    /// The message the application saw: the driver's verbatim, or Connector/C's.
    public var message: String { driver?.message ?? error.message }

    /// How reports name the error in one phrase: the code for Connector/C, the class and code for a driver.
    public var label: String {
        guard let driver else { return error.code.description }
        // A MySQL error number says most (SQLAlchemy's own codes like e3q8 say little), then the library's code.
        let mysqlNumber = driver.errno.flatMap { (1000...4999).contains($0) ? String($0) : nil }
        return "\(mysqlNumber ?? driver.code ?? driver.errorClass) (\(kind.rawValue))"
    }

    public init(
        error: DatabaseError, phase: ErrorPhase, atMs: Double, connection: Int? = nil, threadID: UInt64? = nil,
        handledBy: ErrorHandler? = nil, operation: Int? = nil, driver: DriverErrorDetail? = nil
    ) {
        self.driver = driver
        self.error = error
        self.phase = phase
        self.atMs = atMs
        self.connection = connection
        self.threadID = threadID
        self.handledBy = handledBy
        self.operation = operation
    }

    enum CodingKeys: String, CodingKey {
        case code, name, sqlstate, message, phase, atMs, connection, threadId, handledBy, operation, kind, driver
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        driver = try c.decodeIfPresent(DriverErrorDetail.self, forKey: .driver)
        // Schema 3 writes no code of repro's own for a real driver's error: its own are under `driver`.
        error = DatabaseError(
            code: try c.decodeIfPresent(DatabaseError.Code.self, forKey: .code) ?? .driverError,
            sqlState: try c.decodeIfPresent(String.self, forKey: .sqlstate) ?? driver?.sqlState ?? "HY000",
            message: try c.decode(String.self, forKey: .message))
        phase = try c.decode(ErrorPhase.self, forKey: .phase)
        atMs = try c.decode(Double.self, forKey: .atMs)
        connection = try c.decodeIfPresent(Int.self, forKey: .connection)
        threadID = try c.decodeIfPresent(UInt64.self, forKey: .threadId)
        handledBy = try c.decodeIfPresent(ErrorHandler.self, forKey: .handledBy)
        operation = try c.decodeIfPresent(Int.self, forKey: .operation)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        // A real driver's error carries its own class, code, errno and SQLSTATE under `driver`; repro's stand-in
        // code (REPRO_DRIVER_ERROR) is not written. A hang (REPRO_HUNG) is repro's own observation and is.
        let ownCode = driver == nil || error.code != .driverError
        try c.encode(ownCode ? error.code : nil, forKey: .code)
        try c.encode(ownCode ? error.code.name : nil, forKey: .name)
        try c.encode(driver == nil ? error.sqlState : driver?.sqlState, forKey: .sqlstate)
        try c.encode(error.message, forKey: .message)
        try c.encode(phase, forKey: .phase)
        try c.encode(atMs, forKey: .atMs)
        try c.encode(connection, forKey: .connection)
        try c.encode(threadID, forKey: .threadId)
        try c.encode(handledBy, forKey: .handledBy)
        try c.encode(operation, forKey: .operation)
        try c.encode(kind, forKey: .kind)
        try c.encode(driver, forKey: .driver)
    }
}

/// The outcome of one borrow-query-release operation as the caller saw it.
public struct OperationRecord: Sendable, Equatable, Codable {
    public var index: Int
    public var succeeded: Bool
    public var atMs: Double
    public var durationMs: Double
    /// Tries the operation took, retries included.
    public var attempts: Int
    /// The connection that answered, or the last one tried.
    public var connection: Int?
    /// The error that reached the caller, when it failed.
    public var error: ObservedError?

    public init(
        index: Int, succeeded: Bool, atMs: Double, durationMs: Double, attempts: Int, connection: Int?,
        error: ObservedError?
    ) {
        self.index = index
        self.succeeded = succeeded
        self.atMs = atMs
        self.durationMs = durationMs
        self.attempts = attempts
        self.connection = connection
        self.error = error
    }
}
