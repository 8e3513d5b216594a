/// Named policies modeled on common real-world pool configurations.
public enum PolicyPreset: String, CaseIterable, Sendable {
    case naive
    case seedFix = "seed-fix"
    case pingOnBorrow = "ping-on-borrow"
    case livenessCheck = "liveness-check"
    case pingIfIdle = "ping-if-idle"
    case lifetime
    case keepalive
    case goSQL = "go-sql"
    case sqlalchemy
    case evictOnEvent = "evict-on-event"

    /// What the preset models, in one line.
    public var summary: String {
        switch self {
        case .naive: "no validation, no retry: the pool hands out whatever sits idle"
        case .seedFix:
            "retry once when getting a connection fails (destroy it, get another): the common hand-written fix"
        case .pingOnBorrow: "COM_PING every connection before handing it out (what mysqljs does on getConnection)"
        case .livenessCheck: "non-blocking socket peek on borrow, no round trip (go-sql-driver's connCheck alone)"
        case .pingIfIdle:
            "ping only connections idle longer than 500 ms (HikariCP's aliveBypassWindow, its default validation)"
        case .lifetime:
            "evict connections older than 0.5 s, below any wait_timeout (maxLifetime, SetConnMaxLifetime, pool_recycle)"
        case .keepalive: "ping idle connections in the background every 0.5 s (like HikariCP 4's keepaliveTime)"
        case .goSQL:
            "liveness check; retry a query twice, the last time on a new connection, only when it never left the client (database/sql + go-sql-driver)"
        case .sqlalchemy:
            "no validation; one disconnect error invalidates the pool, so every older connection is replaced on borrow (SQLAlchemy QueuePool)"
        case .evictOnEvent:
            "drop an idle connection as soon as its socket reports FIN/RST, no validation, no retry (what mysql2's pool does on a socket's 'end'/'error')"
        }
    }

    /// The policy value this preset names.
    public var policy: PoolPolicy {
        var p = PoolPolicy(name: rawValue)
        switch self {
        case .naive: break
        case .seedFix: p.retry = .acquire(1)
        case .pingOnBorrow: p.validation = .ping
        case .livenessCheck: p.validation = .liveness
        case .pingIfIdle: p.validation = .pingIfIdle(milliseconds: 500)
        case .lifetime: p.maxLifetime = 0.5
        case .keepalive: p.keepaliveInterval = 0.5
        case .goSQL:
            p.validation = .liveness
            p.retry = .unsent(2, fresh: true)
        case .sqlalchemy: p.invalidateOnDisconnect = true
        case .evictOnEvent: p.evictOnSocketEvent = true
        }
        return p
    }

    /// The real stack (adapter name) and configuration this preset claims to behave like, in its default
    /// configuration; `repro matrix --drivers` runs both and `docs/drivers.md` sets them side by side.
    /// nil: the preset models a mechanism, not a whole pool.
    public var modeledOn: String? {
        switch self {
        case .pingOnBorrow: "node-mysql"
        case .pingIfIdle: "hikari"
        case .goSQL: "go-sql"
        case .sqlalchemy: "sqlalchemy"
        case .evictOnEvent: "node-mysql2"
        case .naive, .seedFix, .livenessCheck, .lifetime, .keepalive: nil
        }
    }

    /// Columns of the drivers matrix where the preset knowingly does not model its stack, with why: Go's dialer
    /// turns TCP keepalive on (a probe every 15 s), which keeps a flow alive through a NAT, and repro's pool sets
    /// no TCP keepalive on Connector/C's socket.
    public var unmodeledColumns: [MatrixColumn: String] {
        self == .goSQL
            ? [
                .natIdleTimeout:
                    "Go's dialer keepalive (15 s) keeps the flows alive; repro's pool sets no TCP keepalive"
            ]
            : [:]
    }

    /// Looks a preset up by name; the error lists the allowed names.
    public static func named(_ name: String) throws(PolicyError) -> PolicyPreset {
        guard let preset = PolicyPreset(rawValue: name.lowercased()) else {
            throw PolicyError(
                "unknown policy preset '\(name)': use one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return preset
    }
}
