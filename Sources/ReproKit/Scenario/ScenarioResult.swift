/// What one scenario run observed: the report's `scenarios[]` entry.
public struct ScenarioResult: Sendable, Equatable, Codable {
    /// Counts of the operations run after the fault.
    public struct Operations: Sendable, Equatable, Codable {
        public var total: Int
        public var succeeded: Int
        public var failed: Int

        public init(total: Int, succeeded: Int, failed: Int) {
            self.total = total
            self.succeeded = succeeded
            self.failed = failed
        }
    }

    public var name: String
    /// The pool under test: repro's own or a real driver stack, with versions and options.
    public var client: Report.Client
    /// How the application used the pool: borrow per operation, or one held connection.
    public var pattern: WorkloadPattern
    /// How long the pool's connections sat unused before the first operation after the fault, ms.
    public var idleBeforeOperationsMs: Double?
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
    /// How many of the pool's connections the fault acted on (flows cut, threads killed); nil when the fault does
    /// not count them. 0: the pool had closed its idle connections itself, so there was nothing to act on.
    public var reached: Int? = nil
    public var timeline: [PoolEvent]
    public var expectations: [ExpectationResult]
    public var passed: Bool
    public var durationMs: Double
    /// Load mode (`--concurrency`, `--duration`): throughput over time, latency before/during/after, the exact
    /// account per worker; nil for a scenario run one operation at a time.
    public var load: LoadSummary? = nil
    /// When a fault that lasts was in progress (a restarted server down, from the stop to its first answer again);
    /// nil for a fault that is an instant, and in reports from before it was recorded.
    public var faultWindow: FaultWindow? = nil
    /// What each operation the application tried while the fault was in progress saw, in order; nil when the
    /// fault lets none run (every fault but a restart with traffic).
    public var duringFault: [FaultTry]? = nil

    /// A stretch of the run's clock during which the fault was in progress.
    public struct FaultWindow: Sendable, Equatable, Codable {
        public var fromMs: Double
        public var toMs: Double
        /// A few words for charts: `server down`.
        public var what: String

        public init(fromMs: Double, toMs: Double, what: String) {
            self.fromMs = fromMs
            self.toMs = toMs
            self.what = what
        }
    }

    /// One operation tried while the fault was in progress.
    public struct FaultTry: Sendable, Equatable, Codable, CustomStringConvertible {
        /// 1-based, in the order they were tried.
        public var index: Int
        public var succeeded: Bool
        /// The error's one-phrase label (`ECONNREFUSED (refused)`), when it failed.
        public var error: String?
        public var durationMs: Double

        public init(index: Int, succeeded: Bool, error: String?, durationMs: Double) {
            self.index = index
            self.succeeded = succeeded
            self.error = error
            self.durationMs = durationMs
        }

        /// `operation 1 failed with ECONNREFUSED (refused) after 2.1 ms`.
        public var description: String {
            "operation \(index) \(succeeded ? "succeeded" : "failed with \(error ?? "an error")") after \(String(format: "%.1f", durationMs)) ms"
        }
    }

    /// Every field, as the runner fills them (renderers and tests build results by hand with it).
    public init(
        name: String, client: Report.Client, pattern: WorkloadPattern, idleBeforeOperationsMs: Double?, kind: String,
        description: String?, policy: PoolPolicy, poolSize: Int, parameters: [String: String],
        firstError: ObservedError?, errors: [ObservedError], recovered: Bool, operations: Operations,
        operationResults: [OperationRecord], faultAtMs: Double?, detectionMs: Double?, recoveryMs: Double?,
        tcpSignal: String?, reached: Int? = nil, timeline: [PoolEvent], expectations: [ExpectationResult],
        passed: Bool, durationMs: Double, load: LoadSummary? = nil
    ) {
        self.name = name
        self.client = client
        self.pattern = pattern
        self.idleBeforeOperationsMs = idleBeforeOperationsMs
        self.kind = kind
        self.description = description
        self.policy = policy
        self.poolSize = poolSize
        self.parameters = parameters
        self.firstError = firstError
        self.errors = errors
        self.recovered = recovered
        self.operations = operations
        self.operationResults = operationResults
        self.faultAtMs = faultAtMs
        self.detectionMs = detectionMs
        self.recoveryMs = recoveryMs
        self.tcpSignal = tcpSignal
        self.reached = reached
        self.timeline = timeline
        self.expectations = expectations
        self.passed = passed
        self.durationMs = durationMs
        self.load = load
    }

    /// The pool under test in a word: the driver adapter (real stacks) or the policy preset (repro's pool).
    public var poolLabel: String {
        let base = client.adapter ?? policy.name
        return pattern == .held ? base + ", held" : base
    }

    /// The first error that reached the caller (not absorbed by validation, retry or keepalive).
    public var firstUnhandledError: ObservedError? { errors.first { $0.handledBy == nil } }
}

extension ScenarioResult {
    /// Detection and recovery times, from the fault's effect.
    public struct Timing: Sendable, Equatable {
        /// An error stamped up to this long before the fault still counts as its detection. The fault's time
        /// is taken on repro's clock just before or after the fact: a wait-timeout's is computed (the pool was
        /// full + wait_timeout) while the server started counting at the connection's last packet, up to about
        /// a millisecond earlier; a KILL's is stamped before the statement is sent.
        public static let faultClockTolerance = 1.0

        /// From the fault to the first error seen at or after it (handled or not), ms.
        public var detectionMs: Double?
        /// From the fault to the end of the first successful operation, ms; only for a pool that recovered
        /// (every operation succeeded): otherwise the first success is not a recovery.
        public var recoveryMs: Double?

        public init(faultAt: Double?, errors: [ObservedError], operations: [OperationRecord]) {
            guard let faultAt else { return }
            detectionMs = errors.first { $0.atMs >= faultAt - Self.faultClockTolerance }.map {
                max(0, $0.atMs - faultAt)
            }
            let recovered = !operations.isEmpty && operations.allSatisfy(\.succeeded)
            if recovered {
                recoveryMs = operations.first { $0.succeeded }.map { max(0, $0.atMs + $0.durationMs - faultAt) }
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, client, pattern, idleBeforeOperationsMs, kind, description, policy, poolSize, parameters, firstError,
            errors, recovered, operations,
            operationResults, faultAtMs, detectionMs, recoveryMs, tcpSignal, reached, timeline, expectations, passed,
            durationMs, load, faultWindow, duringFault
    }

    /// Schema 1 reports have no per-scenario client: `Report.decode` fills it from the report's.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        client =
            try c.decodeIfPresent(Report.Client.self, forKey: .client)
            ?? Report.Client(library: "unknown", version: "unknown")
        pattern = try c.decodeIfPresent(WorkloadPattern.self, forKey: .pattern) ?? .pool
        idleBeforeOperationsMs = try c.decodeIfPresent(Double.self, forKey: .idleBeforeOperationsMs)
        kind = try c.decode(String.self, forKey: .kind)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        // Schema 3 writes no policy for a real driver's run: the pool's own settings are `client.options`.
        policy = try c.decodeIfPresent(PoolPolicy.self, forKey: .policy) ?? PoolPolicy(name: "driver")
        poolSize = try c.decode(Int.self, forKey: .poolSize)
        parameters = try c.decode([String: String].self, forKey: .parameters)
        firstError = try c.decodeIfPresent(ObservedError.self, forKey: .firstError)
        errors = try c.decode([ObservedError].self, forKey: .errors)
        recovered = try c.decode(Bool.self, forKey: .recovered)
        operations = try c.decode(Operations.self, forKey: .operations)
        operationResults = try c.decode([OperationRecord].self, forKey: .operationResults)
        faultAtMs = try c.decodeIfPresent(Double.self, forKey: .faultAtMs)
        detectionMs = try c.decodeIfPresent(Double.self, forKey: .detectionMs)
        recoveryMs = try c.decodeIfPresent(Double.self, forKey: .recoveryMs)
        tcpSignal = try c.decodeIfPresent(String.self, forKey: .tcpSignal)
        reached = try c.decodeIfPresent(Int.self, forKey: .reached)
        timeline = try c.decode([PoolEvent].self, forKey: .timeline)
        expectations = try c.decode([ExpectationResult].self, forKey: .expectations)
        passed = try c.decode(Bool.self, forKey: .passed)
        durationMs = try c.decode(Double.self, forKey: .durationMs)
        load = try c.decodeIfPresent(LoadSummary.self, forKey: .load)
        faultWindow = try c.decodeIfPresent(FaultWindow.self, forKey: .faultWindow)
        duringFault = try c.decodeIfPresent([FaultTry].self, forKey: .duringFault)
    }

    /// Optional fields are written as `null`, never left out, so readers see the whole contract.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(client, forKey: .client)
        try c.encode(pattern, forKey: .pattern)
        try c.encode(idleBeforeOperationsMs, forKey: .idleBeforeOperationsMs)
        try c.encode(kind, forKey: .kind)
        try c.encode(description, forKey: .description)
        try c.encode(client.adapter == nil ? policy : nil, forKey: .policy)
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
        try c.encode(reached, forKey: .reached)
        try c.encode(timeline, forKey: .timeline)
        try c.encode(expectations, forKey: .expectations)
        try c.encode(passed, forKey: .passed)
        try c.encode(durationMs, forKey: .durationMs)
        try c.encode(load, forKey: .load)
        try c.encode(faultWindow, forKey: .faultWindow)
        try c.encode(duringFault, forKey: .duringFault)
    }
}
