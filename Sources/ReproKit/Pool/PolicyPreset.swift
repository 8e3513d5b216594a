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
    case evictOnEvent = "evict-on-event"

    /// What the preset models, in one line.
    public var summary: String {
        switch self {
        case .naive: "no validation, no retry: the pool hands out whatever sits idle"
        case .seedFix:
            "retry once when getting a connection fails (destroy it, get another): the common hand-written fix"
        case .pingOnBorrow: "COM_PING every connection before handing it out (mysqljs/HikariCP-style validation)"
        case .livenessCheck: "non-blocking socket peek on borrow, no round trip (go-sql-driver's connCheck)"
        case .pingIfIdle: "ping only connections idle longer than 500 ms (HikariCP's aliveBypassWindow)"
        case .lifetime: "evict connections older than 0.5 s, below any wait_timeout (HikariCP maxLifetime)"
        case .keepalive: "ping idle connections in the background every 0.5 s (HikariCP keepaliveTime)"
        case .goSQL: "liveness check, then retry the query twice, the last time on a new connection (database/sql)"
        case .evictOnEvent:
            "drop an idle connection as soon as its socket reports FIN/RST, no validation, no retry (what the Node pools mysql2 and mysqljs do on socket 'end'/'error')"
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
            p.retry = .query(2, fresh: true)
        case .evictOnEvent: p.evictOnSocketEvent = true
        }
        return p
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
