import Foundation

/// One column of the drivers matrix: a fault, and how the application uses the pool after it.
public enum DriverColumn: String, CaseIterable, Sendable, Codable {
    case waitTimeout = "wait-timeout"
    case killThread = "kill-thread"
    case killThreadBusy = "kill-thread-busy"
    case networkCutReset = "network-cut-reset"
    case networkCutClose = "network-cut-close"
    case networkCutHalfOpen = "network-cut-half-open"
    case networkCutBlackhole = "network-cut-blackhole"
    /// The application kept one connection across the idle period (no pool round trip), then the KILL.
    case held = "held-kill-thread"
    case serverRestartGraceful = "server-restart-graceful"
    case serverRestartCrash = "server-restart-crash"
    /// A graceful restart nobody noticed while it happened: no operation while the server was down.
    case serverRestartQuiet = "server-restart-quiet"
    /// The application is suspended (SIGSTOP) while the wait_timeout closes its idle connections, then resumed
    /// with its own timer due.
    case freezeWaitTimeout = "freeze-wait-timeout"
    /// The application is suspended while the idle connections' server threads are KILLed.
    case freezeKillThread = "freeze-kill-thread"
    /// The application is suspended while a middlebox forgets its flows (the next packet gets RST).
    case freezeNetworkCutHalfOpen = "freeze-network-cut-half-open"
    /// The pool reaches the server through a real NAT (conntrack) that forgets flows idle as long as the matrix's
    /// wait_timeout and then drops their packets; the pool idles 2 s longer. TCP keepalive probes keep a flow alive.
    case natIdleTimeout = "nat-idle-timeout"
    /// The pool reaches the server through HAProxy (TCP mode), which closes flows with no payload for as long as the
    /// matrix's wait_timeout; the pool idles 2 s longer. TCP keepalive probes do not count as payload.
    case haproxyIdleTimeout = "haproxy-idle-timeout"

    /// Columns that stop and start the server: only on the embedded one, and each with the server to itself.
    public var restartsServer: Bool { restart != nil }

    /// The restart this column injects, if it is one.
    private var restart: ServerRestartFault? { fault(waitTimeout: 1, via: .proxy).as(ServerRestartFault.self) }

    /// The fault this column injects. half-open and blackhole go through the kernel (iptables) when `via` is
    /// `.kernel`, so TCP keepalive probes meet the cut as they would in the wild. reset and close always go
    /// through repro's proxy: only a peer (a proxy, a load balancer) sends a FIN or an RST at once; a packet
    /// filter can answer only the client's next packet, which is the half-open column.
    public func fault(waitTimeout seconds: Int, via: CutVia) -> Fault {
        switch self {
        case .waitTimeout: .waitTimeout(seconds: seconds, margin: 0.3, scope: .session)
        case .killThread, .held: .killThread(target: .idle, count: .all)
        case .killThreadBusy: .killThread(target: .busy, count: .some(2))
        case .networkCutReset: .networkCut(mode: .reset, via: .proxy)
        case .networkCutClose: .networkCut(mode: .close, via: .proxy)
        case .networkCutHalfOpen: .networkCut(mode: .halfOpen, via: via)
        case .networkCutBlackhole: .networkCut(mode: .blackhole, via: via)
        case .serverRestartGraceful: .serverRestart(mode: .graceful)
        case .serverRestartCrash: .serverRestart(mode: .crash)
        case .serverRestartQuiet: .serverRestart(mode: .graceful, tries: 0)
        case .freezeWaitTimeout: .freeze(seconds: Double(seconds + 1), during: .waitTimeout)
        case .freezeKillThread: .freeze(seconds: Double(seconds + 1), during: .killThread)
        case .freezeNetworkCutHalfOpen: .freeze(seconds: Double(seconds + 1), during: .networkCut(.halfOpen))
        case .natIdleTimeout:
            .middlebox(
                .nat, idleTimeout: DriversMatrix.Settings.middleboxTimeout(waitTimeout: seconds), onExpiry: .drop)
        case .haproxyIdleTimeout:
            .middlebox(.haproxy, idleTimeout: DriversMatrix.Settings.middleboxTimeout(waitTimeout: seconds))
        }
    }

    /// Columns whose fault is a middlebox's own idle timeout.
    public var isMiddlebox: Bool { self == .natIdleTimeout || self == .haproxyIdleTimeout }

    /// Columns that cut every idle flow at a chosen moment: what a middlebox does once a flow has idled past its
    /// timeout (a load balancer's RST, a proxy's FIN, a NAT that forgot it).
    public var isCut: Bool {
        self == .networkCutReset || self == .networkCutClose || self == .networkCutHalfOpen
            || self == .networkCutBlackhole
    }

    /// How long the warm pool idles in this column: past a middlebox's idle timeout by 2 s; in the cut columns past
    /// every threshold a configuration sets (`Settings.cutIdle`), as a real middlebox's minutes are; else the
    /// matrix's idle time (a KILL comes at any moment).
    public func idle(_ settings: DriversMatrix.Settings) -> Double {
        if isMiddlebox { return Double(settings.middleboxTimeout + 2) }
        return isCut ? settings.cutIdle : settings.idle
    }

    /// How the fault's moment relates to the thresholds configurations set (`Settings.threshold`): stated per
    /// column in `docs/drivers.md` and the JSON, so a reader knows which settings had their chance.
    public func timing(_ settings: DriversMatrix.Settings) -> String {
        let t = DriversMatrix.format(settings.threshold)
        switch self {
        case .waitTimeout:
            return
                "the pool idles past the wait_timeout (\(settings.waitTimeout) s), which is above every recommended lifetime and idle threshold (\(t) s): those act first"
        case .killThread, .killThreadBusy, .held:
            return
                "the KILL comes \(DriversMatrix.format(settings.idle)) s after the last use, before any idle threshold (\(t) s) acts, as an operator's or a watchdog's can at any moment: only validation or a retry can help"
        case .networkCutReset, .networkCutClose, .networkCutHalfOpen, .networkCutBlackhole:
            return
                "the cut comes after \(DriversMatrix.format(settings.cutIdle)) s idle, as a middlebox's idle timeout does: past every recommended idle threshold, lifetime and keepalive delay (\(t) s) and the sweep that applies it"
        case .serverRestartGraceful, .serverRestartCrash, .serverRestartQuiet:
            return
                "the restart comes \(DriversMatrix.format(settings.idle)) s after the last use, before any threshold (\(t) s) acts, as a deployment's or a failover's can"
        case .freezeWaitTimeout, .freezeKillThread, .freezeNetworkCutHalfOpen:
            return
                "the application is suspended \(settings.waitTimeout + 1) s, longer than every threshold (\(t) s); its own timers cannot run while it is suspended, which is the point"
        case .natIdleTimeout, .haproxyIdleTimeout:
            return
                "the middlebox's idle timeout (\(settings.middleboxTimeout) s) is above every threshold and keepalive interval measured; the pool idles 2 s longer"
        }
    }

    /// Columns that suspend the application: their operations run inside the pool's process as it resumes.
    public var freezes: Bool { fault(waitTimeout: 1, via: .kernel).base.suspendsPool }

    public var pattern: WorkloadPattern { self == .held ? .held : .pool }

    /// What the column does, in a few words, for the table's legend.
    public var title: String {
        switch self {
        case .waitTimeout: "the server's wait_timeout closes every idle connection"
        case .killThread: "KILL of every idle connection's server thread"
        case .killThreadBusy: "KILL of 2 server threads while they run a query"
        case .networkCutReset: "a proxy or load balancer resets every idle flow at once (RST), through repro's proxy"
        case .networkCutClose: "every idle flow is closed (FIN), through repro's proxy"
        case .networkCutHalfOpen: "a middlebox forgot the flows: the next packet the client sends gets RST"
        case .networkCutBlackhole: "a middlebox drops every packet of the flows, silently"
        case .held: "the application kept one connection across the idle period, then its thread was killed"
        case .serverRestartGraceful:
            "the server is shut down cleanly, down 1 s while the application keeps trying, then back on the same port"
        case .serverRestartCrash:
            "the server is killed (SIGKILL), down 1 s while the application keeps trying, then back"
        case .serverRestartQuiet:
            "the server is shut down cleanly and back 1 s later, with no traffic in between (a maintenance window at night)"
        case .freezeWaitTimeout:
            "the application is suspended (SIGSTOP) while the wait_timeout closes its idle connections, and resumed with its own timer due; it rolls back after a failed query"
        case .freezeKillThread:
            "the application is suspended while its idle connections' server threads are KILLed, and resumed with its own timer due; it rolls back after a failed query"
        case .freezeNetworkCutHalfOpen:
            "the application is suspended while a middlebox forgets its flows (the next packet gets RST), and resumed with its own timer due; it rolls back after a failed query"
        case .natIdleTimeout:
            "through a real NAT (conntrack, in network namespaces) that forgets a flow idle longer than any pool's own validation timeout and then drops its packets silently (Azure, GCP Cloud NAT, a node's conntrack); the pool idles 2 s longer; TCP keepalive probes keep a flow alive"
        case .haproxyIdleTimeout:
            "through HAProxy in TCP mode, which closes a flow with no payload for longer than any pool's own validation timeout (timeout client/server); the pool idles 2 s longer; TCP keepalive probes are not payload"
        }
    }

    /// The catalog entry that explains what this column's errors mean (in the restart columns: the errors once the
    /// server was back, from connections it closed when it went away).
    public var catalogEntry: String {
        switch self {
        case .waitTimeout, .networkCutClose, .serverRestartGraceful, .serverRestartCrash, .serverRestartQuiet:
            "server-closed-idle"
        case .killThread, .killThreadBusy, .held: "thread-killed"
        case .networkCutReset, .networkCutHalfOpen: "connection-reset"
        case .networkCutBlackhole: "blackhole"
        case .freezeWaitTimeout, .freezeKillThread, .freezeNetworkCutHalfOpen: "suspended-application"
        case .natIdleTimeout: "blackhole"
        case .haproxyIdleTimeout: "server-closed-idle"
        }
    }

    /// The catalog entry of the errors operations saw while the server was down (restart columns with traffic):
    /// a refused connect is `cannot-connect`; a client that kept its dead connection and never tried to connect
    /// again (a PHP worker's PDO, a pool handing out what it holds) saw that connection's own error, which is the
    /// column's entry.
    public func whileDownEntry(for error: DriversReport.ErrorFact) -> String? {
        guard (restart?.tries ?? 0) > 0 else { return nil }
        return error.kind == .refused ? "cannot-connect" : catalogEntry
    }

    /// Whether errors seen while the server was down can belong to the `cannot-connect` entry.
    public var hasWhileDown: Bool { (restart?.tries ?? 0) > 0 }

    /// The `repro` command that reproduces this cell.
    public func command(row: DriversMatrix.Row, settings: DriversMatrix.Settings) -> String {
        var parts = ["repro"]
        switch self {
        case .waitTimeout: parts += ["wait-timeout", "--seconds", "\(settings.waitTimeout)"]
        case .killThread: parts += ["kill-thread", "--target", "idle"]
        case .held: parts += ["kill-thread", "--target", "idle", "--pattern", "held"]
        case .killThreadBusy: parts += ["kill-thread", "--target", "busy", "--count", "2"]
        case .networkCutReset, .networkCutClose, .networkCutHalfOpen, .networkCutBlackhole:
            let mode = rawValue.replacingOccurrences(of: "network-cut-", with: "")
            parts += ["network-cut", "--mode", mode]
            if (self == .networkCutHalfOpen || self == .networkCutBlackhole) && settings.via == .kernel {
                parts += ["--via", "kernel"]
            }
        case .serverRestartGraceful: parts += ["server-restart", "--mode", "graceful"]
        case .serverRestartCrash: parts += ["server-restart", "--mode", "crash"]
        case .serverRestartQuiet: parts += ["server-restart", "--mode", "graceful", "--tries-while-down", "0"]
        case .freezeWaitTimeout, .freezeKillThread, .freezeNetworkCutHalfOpen:
            let during = rawValue.replacingOccurrences(of: "freeze-", with: "")
                .replacingOccurrences(of: "network-cut-", with: "network-cut:")
            parts += ["freeze", "--for", "\(settings.waitTimeout + 1)", "--during", during]
        case .natIdleTimeout:
            parts += ["network-cut", "--via", "nat", "--idle-timeout", "\(settings.middleboxTimeout)"]
            if let seconds = row.hostKeepaliveTime { parts += ["--keepalive-time", "\(seconds)"] }
        case .haproxyIdleTimeout:
            parts += ["network-cut", "--via", "haproxy", "--idle-timeout", "\(settings.middleboxTimeout)"]
        }
        if self != .waitTimeout && self != .killThreadBusy && !freezes && idle(settings) != Scenario.defaultIdleSeconds
        {
            parts += ["--idle", DriversMatrix.format(idle(settings))]
        }
        if let driver = row.driver {
            // A release other than the installed one goes by its version: repro finds it among the staged ones.
            parts += ["--driver", driver.name + (driver.version.map { "@" + $0 } ?? "")]
            for key in driver.options.keys.sorted() { parts += ["--driver-option", "\(key)=\(driver.options[key]!)"] }
            parts += ["--driver-deadline", DriversMatrix.format(driver.deadline)]
        } else if let preset = row.preset {
            parts += ["--policy", preset.rawValue]
            if self == .networkCutBlackhole || self == .natIdleTimeout {
                parts += ["--read-timeout", "\(preset.modeledReadTimeout ?? settings.presetReadTimeout)"]
            }
        }
        return parts.joined(separator: " ")
    }

    /// Parses a comma-separated list of column names; the error names the bad one and the allowed ones.
    public static func parseList(_ text: String) throws(RunError) -> [DriverColumn] {
        try parseScenarioList(text)
    }
}

/// Configurations of the real stacks: the defaults, what each library's own documentation recommends against
/// stale connections (scaled to the matrix's timing: thresholds below its wait_timeout), and for mysql2 each
/// setting and application pattern people are told to use, one at a time.
public enum DriverConfig: String, CaseIterable, Sendable, Codable {
    case `default`
    case recommended
    /// mysql2: TCP keepalive alone (`enableKeepAlive`, `keepAliveInitialDelay`).
    case keepAlive = "keepalive"
    /// mysql2: the idle sweep alone (`maxIdle` below `connectionLimit`, `idleTimeout`).
    case idleSweep = "idle-sweep"
    /// The application pings what it borrowed and borrows again when the ping fails.
    case pingBeforeUse = "ping-before-use"
    /// The application destroys the connection after a fatal query error and runs the operation again.
    case retryQuery = "retry-query"
    /// The application calls getConnection once more when it fails ("destroy and retry").
    case retryGetConnection = "retry-get-connection"
    /// Connections kept across requests or jobs: Django `CONN_MAX_AGE=60` (its default closes them after every
    /// request), PHP `PDO::ATTR_PERSISTENT`.
    case persistent

    /// The configurations every stack has.
    public static let standard: [DriverConfig] = [.default, .recommended]

    /// The columns a configuration is measured in: mysql2's single settings and application patterns in the
    /// freeze columns (where the original reports come from) and the classic idle faults beside them; nil: all.
    public func columns(adapter: String) -> [DriverColumn]? {
        guard !Self.standard.contains(self), self != .persistent else { return nil }
        // Other stacks' keepalive rows: where a keepalive setting can make a difference.
        guard adapter == "node-mysql2" else { return Self.keepaliveColumns }
        return [
            .waitTimeout, .killThread, .networkCutHalfOpen, .freezeWaitTimeout, .freezeKillThread,
            .freezeNetworkCutHalfOpen, .natIdleTimeout, .haproxyIdleTimeout,
        ]
    }

    /// The columns of a keepalive row of a stack other than mysql2, and of repro's keepalive preset.
    public static let keepaliveColumns: [DriverColumn] = [.networkCutHalfOpen, .natIdleTimeout, .haproxyIdleTimeout]

    /// The application host's `net.ipv4.tcp_keepalive_time` (s) a configuration needs in the NAT column: a stack
    /// that turns SO_KEEPALIVE on without an interval of its own (Connector/J `tcpKeepAlive`) probes only as
    /// often as the host says, and the documented fix is lowering it below the middlebox's idle timeout.
    public func hostKeepaliveTime(adapter: String, settings: DriversMatrix.Settings) -> Int? {
        self == .keepAlive && adapter == "hikari" ? max(1, Int(settings.threshold)) : nil
    }

    /// The application pattern of the original reports, in every node-mysql2 row: after a failed query the
    /// application sends one more command on that connection (a transaction's ROLLBACK) before releasing it.
    static let followUp = ["app.followUp": "ROLLBACK"]

    /// The options of `adapter` in this configuration, and where they come from; nil when the configuration does
    /// not apply to that stack.
    public func options(adapter: String, settings: DriversMatrix.Settings, version: String? = nil) -> (
        options: [String: String], note: String
    )? {
        let below = settings.threshold
        let ms = Int((below * 1000).rounded())
        let extra = adapter == "node-mysql2" ? Self.followUp : [:]
        let followed =
            extra.isEmpty
            ? ""
            : "; app.followUp=ROLLBACK: after a failed query the application rolls back on that connection, as in the original reports"
        switch (self, adapter) {
        case (.default, _):
            return (extra, "the library's defaults" + followed)
        case (.recommended, "node-mysql2"):
            return (
                extra.merging([
                    "maxIdle": "\(max(0, settings.poolSize - 1))", "idleTimeout": "\(ms)", "enableKeepAlive": "true",
                    "keepAliveInitialDelay": "\(ms)",
                ]) { a, _ in a },
                "mysql2's README: `maxIdle` below `connectionLimit` with an `idleTimeout` (the idle sweep runs only then) and `enableKeepAlive`; idle timeout and keepalive delay set below the wait_timeout"
                    + followed
            )
        case (.keepAlive, "node-mysql2"):
            return (
                extra.merging(["enableKeepAlive": "true", "keepAliveInitialDelay": "\(ms)"]) { a, _ in a },
                "TCP keepalive alone, the first probe below the wait_timeout (and the middleboxes' idle timeout); Node takes whole seconds, so a delay below 1000 ms leaves the OS's 2 hours"
                    + followed
            )
        case (.keepAlive, "go-sql"):
            return (
                ["app.dialKeepAlive": "\(ms)ms"],
                "Go's TCP keepalive period, set with a net.Dialer registered through mysql.RegisterDialContext, below the middlebox's idle timeout (Go's default period is 15 s whatever the OS says)"
            )
        case (.keepAlive, "hikari"):
            return (
                ["dataSource.tcpKeepAlive": "true"],
                "Connector/J `tcpKeepAlive` with the host's net.ipv4.tcp_keepalive_time and tcp_keepalive_intvl lowered below the middlebox's idle timeout (--keepalive-time \(max(1, Int(below)))): Connector/J has no probe times of its own"
            )
        case (.idleSweep, "node-mysql2"):
            return (
                extra.merging(["maxIdle": "\(max(0, settings.poolSize - 1))", "idleTimeout": "\(ms)"]) { a, _ in a },
                "the idle sweep alone: `maxIdle` below `connectionLimit`, `idleTimeout` below the wait_timeout (3.1.0 and later)"
                    + followed
            )
        case (.pingBeforeUse, "node-mysql2"):
            return (
                extra.merging(["app.pingBeforeUse": "true"]) { a, _ in a },
                "the application pings each connection it borrowed; a failed ping destroys it and borrows once more"
                    + followed
            )
        case (.retryQuery, "node-mysql2"):
            return (
                extra.merging(["app.retryQuery": "true"]) { a, _ in a },
                "the application destroys the connection after a fatal query error and runs the operation again on a fresh borrow"
                    + followed
            )
        case (.retryGetConnection, "node-mysql2"):
            return (
                extra.merging(["app.retryGetConnection": "true"]) { a, _ in a },
                "the fix people ship: \"destroy and retry once when getConnection fails\"" + followed
            )
        case (.recommended, "node-mysql"):
            return (
                [:],
                "mysqljs documents no option against stale connections: its pool pings every free connection on getConnection by default, so the recommended configuration is the default (run twice)"
            )
        case (.recommended, "go-sql"):
            return (
                ["SetConnMaxLifetime": "\(ms)ms", "SetMaxIdleConns": "\(settings.poolSize)"],
                "go-sql-driver's README: `SetConnMaxLifetime` shorter than the server's and middleboxes' timeouts, `SetMaxIdleConns` equal to `SetMaxOpenConns`"
            )
        case (.recommended, "hikari") where Self.hikariHasKeepalive(version):
            return (
                ["maxLifetime": "\(ms)", "keepaliveTime": "30000"],
                "HikariCP's README: `maxLifetime` several seconds below any database or infrastructure limit, and `keepaliveTime` (4.0.0 and later) below `maxLifetime`; both refuse less than 30000 ms, so this row runs longer columns (wait_timeout \(settings.waitTimeout) s, cuts after \(DriversMatrix.format(settings.cutIdle)) s idle, middleboxes at \(settings.middleboxTimeout) s) where both act before the fault"
            )
        case (.recommended, "hikari"):
            return (
                ["maxLifetime": "\(ms)"],
                "HikariCP's README: `maxLifetime` several seconds below any database or infrastructure limit; 2.7.9 raises anything below 30000 ms to 30 min and has no `keepaliveTime`, so this row runs longer columns (wait_timeout \(settings.waitTimeout) s, cuts after \(DriversMatrix.format(settings.cutIdle)) s idle) where `maxLifetime` acts before the fault"
            )
        case (.recommended, "sqlalchemy"):
            return (
                ["pool_pre_ping": "true", "pool_recycle": "\(max(1, Int(below)))"],
                "SQLAlchemy's \"Dealing with Disconnects\": `pool_pre_ping` (pessimistic) and `pool_recycle` below the server's timeout"
            )
        case (.persistent, "django"):
            return (
                ["CONN_MAX_AGE": "60"],
                "persistent connections as most deployments set them (`CONN_MAX_AGE=60`; Heroku's and dj-database-url's 500-600 s fail alike), without health checks"
            )
        case (.recommended, "django"):
            return (
                ["CONN_MAX_AGE": "\(max(1, Int(below)))", "CONN_HEALTH_CHECKS": "true"],
                "Django's \"Persistent connections\": `CONN_MAX_AGE` lower than the time after which the database terminates idle connections, and `CONN_HEALTH_CHECKS` (4.1 and later) to ping a reused connection before a request's first query"
            )
        case (.persistent, "php-pdo"):
            return (
                ["PDO::ATTR_PERSISTENT": "true"],
                "`PDO::ATTR_PERSISTENT`, as workers and PHP-FPM pools are often configured"
            )
        case (.recommended, "php-pdo"):
            return (
                ["app.reconnectOnLostConnection": "true"],
                "what Laravel's workers do (`DetectsLostConnections`): a query that fails with a lost-connection message is run once more on a new connection; PDO and mysqli document nothing of their own against stale connections"
            )
        case (.recommended, "activerecord"):
            return (
                ["idle_timeout": "\(max(1, Int(below)))", "reaping_frequency": "\(max(1, Int(below / 2)))"],
                "ActiveRecord 6.1's pool options: `idle_timeout` below the server's timeout with a `reaping_frequency` that runs the reaper often enough to flush idle connections first (checkout's `verify!` ping is on by default)"
            )
        case (.recommended, _):
            return ([:], "no recommendation known to repro: the defaults")
        default:
            return nil
        }
    }
}

extension DriverConfig {
    /// HikariCP 4.0.0 and later have `keepaliveTime`; nil: the installed release (Debian's 2.7.9).
    static func hikariHasKeepalive(_ version: String?) -> Bool {
        version.map { DriverReleases.major($0) >= 4 } ?? false
    }

    /// The shortest threshold (s) a stack accepts for this configuration's settings, when the matrix's is too short
    /// to mean anything: HikariCP refuses `maxLifetime` and `keepaliveTime` below 30000 ms, and `keepaliveTime` must
    /// be below `maxLifetime`. Such a row runs its columns at `Settings.scaled(toThreshold:)`.
    public func minimumThreshold(adapter: String, version: String?) -> Double? {
        guard self == .recommended, adapter == "hikari" else { return nil }
        return Self.hikariHasKeepalive(version) ? 40 : 30
    }

    /// What the recommended options mean for an older release of the library, when that differs.
    public func caveat(adapter: String, version: String) -> String? {
        guard self == .recommended, adapter == "node-mysql2" else { return nil }
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2, (parts[0], parts[1]) < (3, 1) else { return nil }
        return "mysql2 \(version) predates `maxIdle`/`idleTimeout` (3.1.0), so only `enableKeepAlive` acts"
    }

    /// Seconds the stack's own default timeouts may legitimately take to get past a blackhole with every pooled
    /// connection dead, so a cell is "hung" only when no timeout of the library's own fired: mysqljs pings a free
    /// connection with `acquireTimeout` (10 s) and tries the next one when the ping fails; HikariCP validates
    /// with `validationTimeout` (5 s) and tries the next one within `connectionTimeout` (30 s). The other stacks
    /// have no default timeout on an established connection.
    public static func ownTimeoutBound(adapter: String, poolSize: Int) -> (seconds: Double, why: String)? {
        switch adapter {
        case "node-mysql":
            return (10 * Double(poolSize), "mysqljs pings each dead connection with acquireTimeout 10 s")
        case "hikari":
            return (min(30, 5 * Double(poolSize)), "HikariCP validates each dead connection with validationTimeout 5 s")
        default: return nil
        }
    }
}

extension PolicyPreset {
    /// The read timeout the modeled pool's validation uses by default (seconds), so the preset meets a
    /// blackhole as that pool does; nil when the modeled pool has none (the matrix then uses a short one).
    public var modeledReadTimeout: Int? {
        switch self {
        case .pingOnBorrow: 10
        case .pingIfIdle: 5
        default: nil
        }
    }
}

/// Runs every fault column against real driver stacks (adapters) in their default and recommended
/// configurations, and against repro's presets that claim to model them, on one server.
public struct DriversMatrix: Sendable {
    /// The timing every cell shares.
    public struct Settings: Sendable, Equatable, Codable {
        /// The session wait_timeout of the wait-timeout column, seconds.
        public var waitTimeout: Int
        /// Seconds the warm pool sits unused before a kill or a cut.
        public var idle: Double
        /// Seconds an adapter's operation may take before it is recorded as hung (bounds blackhole cells).
        public var deadline: Double
        public var poolSize: Int
        /// How network cuts (except close) are made: the kernel's packet filter or repro's proxy.
        public var via: CutVia
        /// Read timeout of repro's own pool in the blackhole column, whole seconds.
        public var presetReadTimeout: Int

        public init(
            waitTimeout: Int = 3, idle: Double = 1, deadline: Double = 3, poolSize: Int = 4, via: CutVia = .kernel,
            presetReadTimeout: Int = 2
        ) {
            self.waitTimeout = waitTimeout
            self.idle = idle
            self.deadline = deadline
            self.poolSize = poolSize
            self.via = via
            self.presetReadTimeout = presetReadTimeout
        }

        /// The idle/lifetime threshold recommended configurations use: below the wait_timeout, as documented.
        public var threshold: Double { max(1, Double(waitTimeout) - 1) }

        /// Seconds the pool idles before a cut: past the threshold by 3 s, so every idle sweep (mysql2 checks each
        /// second), lifetime cleaner (database/sql's runs every lifetime) and keepalive delay set at the threshold
        /// has had its turn, as a middlebox's idle timeout is above them in the real world.
        public var cutIdle: Double { max(idle, threshold + 3) }

        /// These settings scaled up so `threshold` is at least `seconds`: for a stack that refuses thresholds as
        /// short as the matrix's (HikariCP: 30 s at least), its longer columns.
        public func scaled(toThreshold seconds: Double?) -> Settings {
            guard let seconds, seconds > threshold else { return self }
            var out = self
            out.waitTimeout = Int(seconds.rounded(.up)) + 1
            return out
        }

        /// The middlebox columns' idle timeout (s): above every threshold, keepalive interval and recovery time of
        /// the pools measured, as a cloud middlebox's minutes are — HikariCP validating a pool of 4 dead
        /// connections takes 20 s (validationTimeout 5 s each), Go's default dialer keepalive is 15 s, HikariCP's
        /// keepaliveTime is 30 s at least. Shorter, a pool busy validating dead connections lets its fresh ones
        /// idle into the timeout too (measured with 3 s and 8 s), which no real NAT's 240-350 s produces.
        public var middleboxTimeout: Int { Self.middleboxTimeout(waitTimeout: waitTimeout) }

        public static func middleboxTimeout(waitTimeout: Int) -> Int { max(32, waitTimeout + 1) }
    }

    /// One row: a real stack in one configuration, or a repro preset.
    public struct Row: Sendable, Equatable {
        public var id: String
        public var driver: DriverChoice?
        public var preset: PolicyPreset?
        public var config: String
        public var note: String
        /// The only columns this row runs (nil: every column of the matrix); its other cells stay empty.
        public var only: [DriverColumn]?
        /// The application host's `net.ipv4.tcp_keepalive_time` in the NAT column (`--keepalive-time`); nil: the
        /// kernel's default.
        public var hostKeepaliveTime: Int? = nil
        /// The threshold this row's configuration needs when the matrix's is shorter than the stack accepts: its
        /// cells run at the matrix's settings scaled to it (`DriversMatrix.settings(for:)`).
        public var threshold: Double? = nil

        /// True when this row runs `column`.
        public func runs(_ column: DriverColumn) -> Bool { only?.contains(column) ?? true }

        /// The row of `adapter` in `config`; nil when the configuration does not apply to that stack.
        public static func real(
            _ adapter: String, _ config: DriverConfig, settings: Settings, library: LibraryVersion? = nil
        ) -> Row? {
            let threshold = config.minimumThreshold(adapter: adapter, version: library?.primaryVersion)
                .flatMap { $0 > settings.threshold ? $0 : nil }
            let settings = settings.scaled(toThreshold: threshold)
            guard
                let chosen = config.options(
                    adapter: adapter, settings: settings, version: library?.primaryVersion)
            else { return nil }
            let options = chosen.options
            var note = chosen.note
            if let library, let caveat = config.caveat(adapter: adapter, version: library.primaryVersion) {
                note += "; \(caveat)"
            }
            var deadline = settings.deadline
            if let bound = DriverConfig.ownTimeoutBound(adapter: adapter, poolSize: settings.poolSize),
                bound.seconds + 5 > deadline
            {
                deadline = bound.seconds + 5
                note += "; deadline \(DriversMatrix.format(deadline)) s: \(bound.why)"
            }
            var driver = DriverChoice(name: adapter, options: options, deadline: deadline)
            driver.libraryPath = library?.libraryPath
            driver.version = library?.version
            return Row(
                id: "\(adapter)\(library.map { "@" + $0.version } ?? "") \(config.rawValue)", driver: driver,
                preset: nil, config: config.rawValue, note: note, only: config.columns(adapter: adapter),
                hostKeepaliveTime: config.hostKeepaliveTime(adapter: adapter, settings: settings),
                threshold: threshold)
        }

        public static func model(_ preset: PolicyPreset) -> Row {
            // repro's keepalive preset models no one stack; it is measured where keepalive can matter.
            Row(
                id: "repro \(preset.rawValue)", driver: nil, preset: preset, config: "preset",
                note: preset.summary, only: preset == .keepalive ? DriverConfig.keepaliveColumns : nil)
        }
    }

    public var rows: [Row]
    public var columns: [DriverColumn]
    public var settings: Settings

    public init(rows: [Row], columns: [DriverColumn] = DriverColumn.allCases, settings: Settings = Settings()) {
        self.rows = rows
        self.columns = columns
        self.settings = settings
    }

    /// A release of a library other than the one the run finds by default: where it is and its version (`3.1.0`,
    /// `6.0.0+3.5.9`; read from its own package metadata by the adapter's `check`).
    public struct LibraryVersion: Sendable, Equatable {
        public var adapter: String
        public var version: String
        public var libraryPath: String

        public init(adapter: String, version: String, libraryPath: String) {
            self.adapter = adapter
            self.version = version
            self.libraryPath = libraryPath
        }

        /// The first library's version (`6.0.0` of `6.0.0+3.5.9`): the one a recommendation depends on.
        public var primaryVersion: String { String(version.split(separator: "+").first ?? "") }
    }

    /// Rows for `adapters` in `configs` (and for each extra library version, after its adapter's own rows), then
    /// every preset that claims to model one of them (or `presets`).
    public static func rows(
        adapters: [String], configs: [DriverConfig], presets: [PolicyPreset]? = nil, settings: Settings,
        versions: [LibraryVersion] = []
    ) -> [Row] {
        var rows: [Row] = []
        for adapter in adapters {
            // Older releases: the library's defaults and its recommendation, to see which release fixed what.
            for library in versions where library.adapter == adapter {
                for config in configs where DriverConfig.standard.contains(config) {
                    if let row = Row.real(adapter, config, settings: settings, library: library) { rows.append(row) }
                }
            }
            for config in configs {
                if let row = Row.real(adapter, config, settings: settings) { rows.append(row) }
            }
        }
        let models =
            presets
            ?? PolicyPreset.allCases.filter {
                $0.modeledOn.map(adapters.contains) ?? ($0 == .keepalive && configs.contains(.keepAlive))
            }
        rows += models.map(Row.model)
        return rows
    }

    /// The timing of `row`'s cells: the matrix's, or scaled to the row's own threshold.
    public func settings(for row: Row) -> Settings { settings.scaled(toThreshold: row.threshold) }

    /// The scenario of one cell.
    public func scenario(_ row: Row, _ column: DriverColumn) -> Scenario {
        let settings = settings(for: row)
        var policy = row.preset?.policy ?? PoolPolicy(name: "driver")
        if column == .networkCutBlackhole || column == .natIdleTimeout {
            policy.readTimeout = row.preset?.modeledReadTimeout ?? settings.presetReadTimeout
        }
        var fault = column.fault(waitTimeout: settings.waitTimeout, via: settings.via)
        if column == .natIdleTimeout, let seconds = row.hostKeepaliveTime {
            fault = .middlebox(.nat, idleTimeout: settings.middleboxTimeout, onExpiry: .drop, keepaliveTime: seconds)
        }
        return Scenario(
            name: column.rawValue, fault: fault, policy: policy, poolSize: settings.poolSize,
            operations: column == .held ? 2 : nil, driver: row.driver, pattern: column.pattern,
            idleSeconds: column.idle(settings))
    }

    /// Runs every cell, row by row, up to `jobs` at a time; `onCell` sees each result as it lands, with its
    /// row and the cell's label (`row/column`, the name progress events carry). Rows keep their order.
    public func run(
        session: ReproSession, nodePath: String?, jobs: Int = 1,
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in },
        onCell: @escaping @Sendable (Row, String, ScenarioResult) -> Void = { _, _, _ in }
    ) throws(RunError) -> DriversReport {
        let cells = rows.flatMap { row in columns.filter(row.runs).map { (row, $0) } }
        let planned = cells.map { scenario($0.0, $0.1) }
        let labels = cells.map { "\($0.0.id)/\($0.1.rawValue)" }
        // Cells that need the server alone (restarts) run after all the others: one of them between two slow cells
        // (a blackhole waits out its deadlines) would hold every job slot idle until the slow one ended.
        let order =
            planned.indices.filter { !planned[$0].fault.needsServerAlone }
            + planned.indices.filter { planned[$0].fault.needsServerAlone }
        let ran = ParallelRuns.run(
            count: order.count, jobs: jobs, exclusive: { planned[order[$0]].fault.needsServerAlone },
            onResult: { onCell(cells[order[$0]].0, labels[order[$0]], $1) }
        ) { position throws(RunError) in
            let index = order[position]
            let label = labels[index]
            return try session.run(
                planned[index],
                with: session.runner(nodePath: nodePath) { progress($0.labeled(label)) })
        }
        if let failure = ran.failure { throw failure }
        var results = [ScenarioResult?](repeating: nil, count: planned.count)
        for (position, index) in order.enumerated() { results[index] = ran.results[position] }
        let outcome = (results: results, failure: ran.failure)
        var out: [DriversReport.Row] = []
        var next = 0
        for row in rows {
            var cells: [DriversReport.Cell] = []
            var client: Report.Client?
            for column in columns where row.runs(column) {
                defer { next += 1 }
                guard let result = outcome.results[next] else { continue }
                client = client ?? result.client
                cells.append(DriversReport.Cell(column: column, result: result))
            }
            out.append(
                DriversReport.Row(
                    id: row.id, stack: row.driver?.name ?? row.preset?.rawValue ?? row.id,
                    config: row.config, options: row.driver?.options ?? [:], deadline: row.driver?.deadline,
                    client: client ?? ReproSession.clientInfo, modeledOn: row.preset?.modeledOn, note: row.note,
                    policy: row.preset.map { $0.policy.summary }, cells: cells,
                    timing: row.threshold == nil ? nil : settings(for: row)))
        }
        return DriversReport(
            generatedAt: Report.timestamp(), repro: ReproVersion.version, server: session.serverInfo,
            settings: settings, columns: columns.map { DriversReport.Column($0, settings: settings) }, rows: out,
            commands: Dictionary(
                uniqueKeysWithValues: rows.flatMap { row in
                    columns.filter(row.runs).map {
                        ("\(row.id)|\($0.rawValue)", $0.command(row: row, settings: settings(for: row)))
                    }
                }))
    }

    public static func format(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e15 else { return String(seconds) }
        return seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
