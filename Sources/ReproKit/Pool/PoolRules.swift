/// When an idle connection was opened, last given back and last checked: all a decision needs to know about it.
public struct ConnectionTimes: Sendable, Equatable {
    public var created: ContinuousClock.Instant
    /// When it was last given back (or opened).
    public var lastUsed: ContinuousClock.Instant
    /// When it was last given back, opened or pinged by keepalive.
    public var lastChecked: ContinuousClock.Instant

    public init(
        created: ContinuousClock.Instant, lastUsed: ContinuousClock.Instant, lastChecked: ContinuousClock.Instant
    ) {
        self.created = created
        self.lastUsed = lastUsed
        self.lastChecked = lastChecked
    }

    /// A connection opened (or given back) at `instant`.
    public init(openedAt instant: ContinuousClock.Instant) {
        self.init(created: instant, lastUsed: instant, lastChecked: instant)
    }
}

/// The decisions a `PoolPolicy` makes, as pure functions of the connection's times and `now`: which idle
/// connection is evicted and why, which check a borrow runs before handing one out, the retry plan, and which
/// idle connection keepalive pings next. `Pool` asks these and does the I/O; tests ask them directly with any `now`.
public struct PoolRules: Sendable, Equatable {
    public let policy: PoolPolicy

    public init(_ policy: PoolPolicy) { self.policy = policy }

    // MARK: - Eviction

    /// Why a borrow throws an idle connection away instead of handing it out.
    public enum Eviction: Sendable, Equatable, CustomStringConvertible {
        /// Older than max-lifetime (seconds).
        case lifetime(Double)
        /// Opened before a disconnect error invalidated the pool.
        case invalidated
        /// Idle longer than max-idle (seconds).
        case idle(Double)

        /// The detail of the `evict` event.
        public var description: String {
            switch self {
            case .lifetime(let s): "max-lifetime \(s)s"
            case .invalidated: "pool invalidated"
            case .idle(let s): "max-idle \(s)s"
            }
        }
    }

    /// nil when the connection may stay; checked in the order lifetime, invalidation, idle time.
    public func eviction(
        of times: ConnectionTimes, invalidatedAt: ContinuousClock.Instant?, now: ContinuousClock.Instant
    ) -> Eviction? {
        if let life = policy.maxLifetime, now - times.created >= .seconds(life) { return .lifetime(life) }
        if let invalidatedAt, times.created < invalidatedAt { return .invalidated }
        if let idle = policy.maxIdleTime, now - times.lastUsed >= .seconds(idle) { return .idle(idle) }
        return nil
    }

    /// True when a connection-level `error` marks every connection opened until now for replacement
    /// (SQLAlchemy's pool invalidation).
    public func invalidatesPool(after error: DatabaseError) -> Bool {
        policy.invalidateOnDisconnect && error.isConnectionLevel
    }

    // MARK: - Validation and hand-out

    /// What a borrow runs on an idle connection before handing it out.
    public enum Check: Sendable, Equatable {
        /// COM_PING, one round trip.
        case ping
        /// A non-blocking peek at the socket (`liveness()`), no round trip.
        case peek
    }

    /// nil when the connection is handed out unchecked (no validation, or ping-if-idle inside its window).
    public func check(lastUsed: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Check? {
        switch policy.validation {
        case .none: nil
        case .liveness: .peek
        case .ping: .ping
        case .pingIfIdle(let ms): now - lastUsed >= .milliseconds(ms) ? .ping : nil
        }
    }

    /// What a borrow does with the idle connection it took.
    public enum HandOut: Sendable, Equatable {
        /// Throw it away (politely) and take the next.
        case evict(Eviction)
        /// Run the check; hand it out when it passes, destroy it when it fails.
        case check(Check)
        /// Hand it out as it is.
        case handOut
    }

    public func handOut(
        _ times: ConnectionTimes, invalidatedAt: ContinuousClock.Instant?, now: ContinuousClock.Instant
    ) -> HandOut {
        if let why = eviction(of: times, invalidatedAt: invalidatedAt, now: now) { return .evict(why) }
        if let check = check(lastUsed: times.lastUsed, now: now) { return .check(check) }
        return .handOut
    }

    /// True when a borrow takes from the idle set; false when it opens a new connection: asked for a fresh one,
    /// or more validations failed than the pool holds (so a borrow never loops on a pool of dead connections).
    public func takesIdle(fresh: Bool, validationFailures: Int, size: Int) -> Bool {
        !fresh && validationFailures <= size
    }

    // MARK: - Retry

    /// The retry plan of `policy.retry`.
    public var retry: RetryPlan { RetryPlan(policy.retry) }

    // MARK: - Keepalive

    /// How often keepalive runs, and how long a connection sits unchecked before it is pinged; nil: no keepalive.
    public var keepaliveInterval: Duration? {
        policy.keepaliveInterval.map { .milliseconds(Int($0 * 1000)) }
    }

    /// True when keepalive pings this idle connection in the round that runs at `now`.
    public func keepaliveDue(_ times: ConnectionTimes, now: ContinuousClock.Instant) -> Bool {
        guard let interval = keepaliveInterval else { return false }
        return now - times.lastChecked >= interval
    }

    /// The idle connection keepalive pings next (the first one due, in idle-set order), or nil.
    public func nextKeepalive<Idle: Collection<ConnectionTimes>>(
        in idle: Idle, now: ContinuousClock.Instant
    ) -> Idle.Index? {
        idle.firstIndex { keepaliveDue($0, now: now) }
    }
}

/// How many times an operation is tried again and on what.
public struct RetryPlan: Sendable, Equatable {
    /// Retries of a failed connect within one borrow (`acquire:N`).
    public var acquireRetries: Int
    /// Retries of the whole operation after a connection-level error (`query:N`, `unsent:N`).
    public var queryRetries: Int
    /// The last query retry runs on a brand-new connection (`+fresh`).
    public var freshLast: Bool
    /// Retry only when the query never left the client (2006 CR_SERVER_GONE_ERROR: the write failed).
    public var unsentOnly: Bool

    public init(_ retry: PoolPolicy.Retry) {
        switch retry {
        case .none: self.init(acquire: 0, query: 0, freshLast: false, unsentOnly: false)
        case .acquire(let n): self.init(acquire: n, query: 0, freshLast: false, unsentOnly: false)
        case .query(let n, let fresh): self.init(acquire: 0, query: n, freshLast: fresh, unsentOnly: false)
        case .unsent(let n, let fresh): self.init(acquire: 0, query: n, freshLast: fresh, unsentOnly: true)
        }
    }

    init(acquire: Int, query: Int, freshLast: Bool, unsentOnly: Bool) {
        self.acquireRetries = acquire
        self.queryRetries = query
        self.freshLast = freshLast
        self.unsentOnly = unsentOnly
    }

    /// True when try number `attempt` (0 is the first try) skips the idle set for a brand-new connection.
    public func isFresh(attempt: Int) -> Bool {
        freshLast && attempt > 0 && attempt == queryRetries
    }

    /// True when the operation is tried again after try `attempt` (0-based) failed with `error`.
    public func retriesQuery(after error: DatabaseError, attempt: Int) -> Bool {
        error.isConnectionLevel && attempt < queryRetries && (!unsentOnly || error.code == .serverGone)
    }

    /// The detail of the `retry` event before try `attempt` (1-based retries).
    public func queryRetryDetail(attempt: Int) -> String {
        "query retry \(attempt) of \(queryRetries) \(isFresh(attempt: attempt) ? "on a new connection" : "from the pool")"
    }
}
