/// One failure injected into one pool with one policy, and what should happen.
public struct Scenario: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var fault: Fault
    public var policy: PoolPolicy
    public var poolSize: Int
    /// Operations run after the fault; defaults to pool size + 1 so every pooled connection is touched.
    public var operations: Int?
    public var expectations: Expectations
    /// Allow `SET GLOBAL` on a server this tool did not start.
    public var allowGlobal: Bool
    /// Allow SQL of the user's that may write (`--query`, `app.followUp`) on a server this tool did not start.
    public var allowWrites = false
    /// A real driver stack as the pool under test; nil for repro's own pool (configured by `policy`).
    public var driver: DriverChoice?
    /// How the application uses the pool after the fault.
    public var pattern: WorkloadPattern
    /// Seconds the warm pool sits unused before an idle kill or a network cut (a middlebox's idle timeout
    /// or an operator's KILL happens to connections that have been idle a while); nil: the default.
    public var idleSeconds: Double?
    /// Where the scenario came from (`file:line` of its fault) when read from a file, for pre-run messages.
    public var source: String?
    /// Load mode: workers in a loop for a while, the fault once in the middle; nil: one operation at a time.
    public var load: LoadSpec?

    public static let defaultIdleSeconds = 1.0
    public static let idleRange = 0.0...3600.0
    /// `--pool-size` / `pool.size`.
    public static let poolSizeRange = 1...1000
    /// `--operations` / `workload.operations`.
    public static let operationsRange = 1...100_000

    public init(
        name: String, description: String? = nil, fault: Fault, policy: PoolPolicy, poolSize: Int = 4,
        operations: Int? = nil, expectations: Expectations = Expectations(), allowGlobal: Bool = false,
        driver: DriverChoice? = nil, pattern: WorkloadPattern = .pool, idleSeconds: Double? = nil
    ) {
        self.driver = driver
        self.pattern = pattern
        self.idleSeconds = idleSeconds
        self.name = name
        self.description = description
        self.fault = fault
        self.policy = policy
        self.poolSize = poolSize
        self.operations = operations
        self.expectations = expectations
        self.allowGlobal = allowGlobal
    }

    public var operationCount: Int { operations ?? poolSize + 1 }

    /// The idle time before an idle kill or a cut.
    public var idle: Double { idleSeconds ?? Self.defaultIdleSeconds }

    /// Everything that can be checked before a server is started or touched: a usage error names the
    /// scenario (and its file:line) and the fix. `external`: the run uses a server repro did not start.
    public func preflight(external: Bool) throws(RunError) {
        let at = source.map { "\($0): " } ?? ""
        if poolSize < 1 { throw .usage("\(at)pool size \(poolSize) is out of range: use 1 or more") }
        do { try policy.validate() } catch { throw .usage(at + error.message) }
        guard Self.idleRange.contains(idle) else {
            throw .usage("\(at)idle \(idle) is out of range: use seconds from \(Self.idleRange.text)")
        }
        if let driver, !DriverChoice.deadlineRange.contains(driver.deadline) {
            throw .usage(
                "\(at)driver deadline \(driver.deadline) is out of range: use seconds from \(DriverChoice.deadlineRange.text)"
            )
        }
        try fault.base.preflight(self, external: external, at: at)
        try load?.check(self, at: at)
        if external && !allowWrites { try checkReadOnly(at: at) }
    }

    /// On a server repro did not start, the SQL a scenario brings must only read (repro touches only its own
    /// connections and session settings there) unless `--allow-writes`.
    func checkReadOnly(at: String) throws(RunError) {
        var statements: [(name: String, sql: String)] = []
        if let load { statements.append(("query", load.query)) }
        if let followUp = driver?.options["app.followUp"] { statements.append(("app.followUp", followUp)) }
        for (name, sql) in statements {
            guard let why = ReadOnlySQL.refusal(sql) else { continue }
            let shown = sql.count > 60 ? String(sql.prefix(60)) + "…" : sql
            throw .usage(
                "\(at)\(name) '\(shown)' \(why), on a server this tool did not start: use a read-only statement (SELECT, SHOW, DO), or add --allow-writes if this server is yours to change"
            )
        }
    }
}

/// Pauses the runner takes after a fault so its effect has reached the client before the pool is used.
public enum Settle {
    /// The server closes a killed thread's socket asynchronously.
    public static let afterKill = 0.2
    /// The RST/FIN of a proxy cut reaches the client sockets.
    public static let afterProxyCut = 0.05
    /// Kernel rules act at once; the pause is kept small.
    public static let afterKernelCut = 0.0
}

extension Scenario {
    /// Seconds this scenario must spend waiting whatever the implementation: the idle time it asks for, the
    /// settle gaps it defines, and read timeouts a blackhole forces on dead connections. The floor of `repro all`.
    public var unavoidableWaitSeconds: Double { fault.base.unavoidableWait(self) }
}
