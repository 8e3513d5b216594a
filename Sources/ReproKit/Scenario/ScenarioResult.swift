/// What one scenario run observed: the report's `scenarios[]` entry.
public struct ScenarioResult: Sendable, Equatable, Codable {
    /// Counts of the operations run after the fault.
    public struct Operations: Sendable, Equatable, Codable {
        public var total: Int
        public var succeeded: Int
        public var failed: Int
    }

    public var name: String
    public var kind: String
    public var description: String?
    public var policy: PoolPolicy
    public var poolSize: Int
    public var parameters: [String: String]
    /// The first error seen anywhere (handled or not), or nil.
    public var firstError: ObservedError?
    /// Every error seen, in order.
    public var errors: [ObservedError]
    /// Every operation after the fault succeeded.
    public var recovered: Bool
    public var operations: Operations
    public var operationResults: [OperationRecord]
    /// When the fault took effect, ms from start.
    public var faultAtMs: Double?
    /// From the fault's effect to the first error seen, ms.
    public var detectionMs: Double?
    /// From the fault's effect to the first operation that succeeded, ms.
    public var recoveryMs: Double?
    /// What the client side of a cut flow received: rst, fin or none (network cuts only).
    public var tcpSignal: String?
    public var timeline: [PoolEvent]
    public var expectations: [ExpectationResult]
    public var passed: Bool
    public var durationMs: Double

    /// The first error that reached the caller (not absorbed by validation, retry or keepalive).
    public var firstUnhandledError: ObservedError? { errors.first { $0.handledBy == nil } }
}

extension ScenarioResult {
    enum CodingKeys: String, CodingKey {
        case name, kind, description, policy, poolSize, parameters, firstError, errors, recovered, operations,
            operationResults, faultAtMs, detectionMs, recoveryMs, tcpSignal, timeline, expectations, passed,
            durationMs
    }

    /// Optional fields are written as `null`, never left out, so readers see the whole contract.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(description, forKey: .description)
        try c.encode(policy, forKey: .policy)
        try c.encode(poolSize, forKey: .poolSize)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(firstError, forKey: .firstError)
        try c.encode(errors, forKey: .errors)
        try c.encode(recovered, forKey: .recovered)
        try c.encode(operations, forKey: .operations)
        try c.encode(operationResults, forKey: .operationResults)
        try c.encode(faultAtMs, forKey: .faultAtMs)
        try c.encode(detectionMs, forKey: .detectionMs)
        try c.encode(recoveryMs, forKey: .recoveryMs)
        try c.encode(tcpSignal, forKey: .tcpSignal)
        try c.encode(timeline, forKey: .timeline)
        try c.encode(expectations, forKey: .expectations)
        try c.encode(passed, forKey: .passed)
        try c.encode(durationMs, forKey: .durationMs)
    }
}
