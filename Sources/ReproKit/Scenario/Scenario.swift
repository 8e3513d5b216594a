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
