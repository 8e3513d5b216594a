/// How a pool validates, ages, keeps alive and retries: the thing users compare.
public struct PoolPolicy: Sendable, Equatable, Codable {
    /// What a borrow does before handing out an idle connection.
    public enum Validation: Sendable, Equatable, Codable, CustomStringConvertible {
        case none
        /// One round trip (COM_PING) on every borrow.
        case ping
        /// A non-blocking peek at the socket, no round trip (go-sql-driver's connCheck).
        case liveness
        /// Ping only when the connection sat idle longer than this many milliseconds (HikariCP's aliveBypassWindow).
        case pingIfIdle(milliseconds: Int)

        public init(parsing text: String) throws(PolicyError) {
            let t = text.lowercased()
            switch t {
            case "none": self = .none
            case "ping": self = .ping
            case "liveness": self = .liveness
            default:
                if t.hasPrefix("ping-if-idle:"), let ms = Int(t.dropFirst("ping-if-idle:".count)), ms >= 0 {
                    self = .pingIfIdle(milliseconds: ms)
                } else {
                    throw PolicyError(
                        "unknown validation '\(text)': use none, ping, liveness or ping-if-idle:<ms> (ms >= 0)")
                }
            }
        }

        public var description: String {
            switch self {
            case .none: "none"
            case .ping: "ping"
            case .liveness: "liveness"
            case .pingIfIdle(let ms): "ping-if-idle:\(ms)"
            }
        }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            do { self = try Validation(parsing: text) } catch {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: error.message))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(description)
        }
    }

    /// What the pool retries, and how often.
    public enum Retry: Sendable, Equatable, Codable, CustomStringConvertible {
        case none
        /// Retry up to N times when getting a connection fails (the common hand-written fix).
        case acquire(Int)
        /// Retry the whole operation up to N times after a connection-level error;
        /// with `fresh`, the last retry runs on a brand-new connection.
        case query(Int, fresh: Bool)
        /// Like `query`, but only when the error shows the query never left the client (the write failed:
        /// 2006 CR_SERVER_GONE_ERROR). Go's database/sql retries only `driver.ErrBadConn`, which go-sql-driver
        /// returns only before it wrote a byte; a failure after the write (2013) reaches the caller.
        case unsent(Int, fresh: Bool)

        public init(parsing text: String) throws(PolicyError) {
            let t = text.lowercased()
            let bad = PolicyError(
                "unknown retry '\(text)': use none, acquire:N, query:N, query:N+fresh, unsent:N or unsent:N+fresh (N from 1 to 10)"
            )
            if t == "none" {
                self = .none
                return
            }
            let parts = t.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw bad }
            var count = parts[1]
            var fresh = false
            if count.hasSuffix("+fresh") {
                fresh = true
                count.removeLast("+fresh".count)
            }
            guard let n = Int(count), (1...10).contains(n) else { throw bad }
            switch parts[0] {
            case "acquire" where !fresh: self = .acquire(n)
            case "query": self = .query(n, fresh: fresh)
            case "unsent": self = .unsent(n, fresh: fresh)
            default: throw bad
            }
        }

        public var description: String {
            switch self {
            case .none: "none"
            case .acquire(let n): "acquire:\(n)"
            case .query(let n, let fresh): "query:\(n)\(fresh ? "+fresh" : "")"
            case .unsent(let n, let fresh): "unsent:\(n)\(fresh ? "+fresh" : "")"
            }
        }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            do { self = try Retry(parsing: text) } catch {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: error.message))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(description)
        }
    }

    /// The preset this policy started from, or "custom".
    public var name: String
    public var validation: Validation
    /// Seconds a connection may sit idle before a borrow evicts it.
    public var maxIdleTime: Double?
    /// Seconds a connection may live before a borrow evicts it.
    public var maxLifetime: Double?
    /// Seconds between background pings of idle connections.
    public var keepaliveInterval: Double?
    public var retry: Retry
    /// On a connection-level error, every connection opened before it is replaced when next borrowed
    /// (SQLAlchemy's pool invalidation: one disconnect error recycles the whole pool).
    public var invalidateOnDisconnect: Bool
    /// Drop an idle connection as soon as its socket reports FIN, RST or unexpected bytes (a background
    /// `poll(2)` on the idle sockets), as the Node pools mysql2 and mysqljs do on a socket's 'end'/'error'.
    public var evictOnSocketEvent: Bool
    /// Connector/C timeouts, whole seconds.
    public var connectTimeout: Int
    public var readTimeout: Int
    public var writeTimeout: Int

    public init(
        name: String = "custom", validation: Validation = .none, maxIdleTime: Double? = nil,
        maxLifetime: Double? = nil, keepaliveInterval: Double? = nil, retry: Retry = .none,
        invalidateOnDisconnect: Bool = false, evictOnSocketEvent: Bool = false, connectTimeout: Int = 5,
        readTimeout: Int = 10, writeTimeout: Int = 10
    ) {
        self.name = name
        self.validation = validation
        self.maxIdleTime = maxIdleTime
        self.maxLifetime = maxLifetime
        self.keepaliveInterval = keepaliveInterval
        self.retry = retry
        self.invalidateOnDisconnect = invalidateOnDisconnect
        self.evictOnSocketEvent = evictOnSocketEvent
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.writeTimeout = writeTimeout
    }

    /// The one range of the time knobs (max-idle, max-lifetime, keepalive), for the CLI, scenario files and runner.
    public static let secondsRange = 0.001...86_400.0
    /// The one range of the Connector/C timeouts (connect, read, write), whole seconds.
    public static let timeoutRange = 1...3600

    /// Checks the values a user can get wrong; the message names the knob and the allowed range.
    public func validate() throws(PolicyError) {
        for (knob, value) in [
            ("max-idle", maxIdleTime), ("max-lifetime", maxLifetime), ("keepalive", keepaliveInterval),
        ] {
            if let v = value, !Self.secondsRange.contains(v) {
                throw PolicyError("--\(knob) \(v) is out of range: use seconds from \(Self.secondsRange.text)")
            }
        }
        for (knob, value) in [
            ("connect-timeout", connectTimeout), ("read-timeout", readTimeout), ("write-timeout", writeTimeout),
        ] {
            if !Self.timeoutRange.contains(value) {
                throw PolicyError(
                    "--\(knob) \(value) is out of range: use whole seconds from \(Self.timeoutRange.text)")
            }
        }
    }
}

/// A bad policy value, with a message that names the value and what is allowed.
public struct PolicyError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension PoolPolicy {
    enum CodingKeys: String, CodingKey {
        case name, validation, maxIdleTime, maxLifetime, keepaliveInterval, retry, invalidateOnDisconnect,
            evictOnSocketEvent,
            connectTimeout, readTimeout, writeTimeout
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name),
            validation: try c.decode(Validation.self, forKey: .validation),
            maxIdleTime: try c.decodeIfPresent(Double.self, forKey: .maxIdleTime),
            maxLifetime: try c.decodeIfPresent(Double.self, forKey: .maxLifetime),
            keepaliveInterval: try c.decodeIfPresent(Double.self, forKey: .keepaliveInterval),
            retry: try c.decode(Retry.self, forKey: .retry),
            invalidateOnDisconnect: try c.decodeIfPresent(Bool.self, forKey: .invalidateOnDisconnect) ?? false,
            // Reports written before this knob existed lack it: their pools had no socket watcher.
            evictOnSocketEvent: try c.decodeIfPresent(Bool.self, forKey: .evictOnSocketEvent) ?? false,
            connectTimeout: try c.decode(Int.self, forKey: .connectTimeout),
            readTimeout: try c.decode(Int.self, forKey: .readTimeout),
            writeTimeout: try c.decode(Int.self, forKey: .writeTimeout))
    }

    /// Every knob is written, `null` when unset, so a report shows the whole policy.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(validation, forKey: .validation)
        try c.encode(maxIdleTime, forKey: .maxIdleTime)
        try c.encode(maxLifetime, forKey: .maxLifetime)
        try c.encode(keepaliveInterval, forKey: .keepaliveInterval)
        try c.encode(retry, forKey: .retry)
        try c.encode(invalidateOnDisconnect, forKey: .invalidateOnDisconnect)
        try c.encode(evictOnSocketEvent, forKey: .evictOnSocketEvent)
        try c.encode(connectTimeout, forKey: .connectTimeout)
        try c.encode(readTimeout, forKey: .readTimeout)
        try c.encode(writeTimeout, forKey: .writeTimeout)
    }

    /// One line listing the knobs that differ from nothing-at-all.
    public var summary: String {
        var parts = ["validation=\(validation)", "retry=\(retry)"]
        if let v = maxIdleTime { parts.append("max-idle=\(v)s") }
        if let v = maxLifetime { parts.append("max-lifetime=\(v)s") }
        if let v = keepaliveInterval { parts.append("keepalive=\(v)s") }
        if invalidateOnDisconnect { parts.append("invalidate-on-disconnect") }
        if evictOnSocketEvent { parts.append("evict-on-socket-event") }
        parts.append("timeouts=\(connectTimeout)/\(readTimeout)/\(writeTimeout)s")
        return parts.joined(separator: ", ")
    }
}
