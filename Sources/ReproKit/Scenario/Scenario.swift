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

    public init(
        name: String, description: String? = nil, fault: Fault, policy: PoolPolicy, poolSize: Int = 4,
        operations: Int? = nil, expectations: Expectations = Expectations(), allowGlobal: Bool = false
    ) {
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
}

extension Scenario {
    /// Seconds this scenario must spend waiting whatever the implementation: the idle time it asks for, the
    /// settle gaps it defines, and read timeouts a blackhole forces on dead connections. The floor of `repro all`.
    public var unavoidableWaitSeconds: Double {
        switch fault {
        case .waitTimeout(let seconds, let margin, _):
            return Double(seconds) + margin
        case .killThread(let target, _):
            return target == .idle ? 0.2 : 0
        case .networkCut(let mode, let via):
            let settle = via == .proxy ? 0.25 : 0.2
            guard mode == .blackhole else { return settle }
            // Every pooled connection that is tried waits one read timeout (validation pings included);
            // a fresh-connection retry does not.
            let dead = min(poolSize, operationCount)
            return settle + Double(dead * policy.readTimeout)
        }
    }
}
