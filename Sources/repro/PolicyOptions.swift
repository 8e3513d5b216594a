import ArgumentParser
import ReproKit

/// The pool: a preset plus any knob overridden on the command line.
struct PolicyOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "repro's own pool, preset: \(PolicyPreset.allCases.map(\.rawValue).joined(separator: ", ")) (default naive).",
            valueName: "preset"
        ),
        completion: .list(PolicyPreset.allCases.map(\.rawValue)),
        transform: Parse.preset)
    var policy: PolicyPreset?

    @Option(
        help: ArgumentHelp("Validation on borrow: none, ping, liveness, ping-if-idle:<ms>.", valueName: "mode"),
        transform: Parse.validation)
    var validation: PoolPolicy.Validation?

    @Option(
        name: .customLong("max-idle"), parsing: .unconditional,
        help: ArgumentHelp("Evict connections idle longer than this before borrow.", valueName: "seconds"))
    var maxIdle: Double?

    @Option(
        name: .customLong("max-lifetime"), parsing: .unconditional,
        help: ArgumentHelp("Evict connections older than this before borrow.", valueName: "seconds"))
    var maxLifetime: Double?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Ping idle connections in the background at this interval.", valueName: "seconds"))
    var keepalive: Double?

    @Option(
        help: ArgumentHelp(
            "Retry: none, acquire:N, query:N, query:N+fresh, unsent:N, unsent:N+fresh (unsent: only when the query never left the client).",
            valueName: "rule"),
        transform: Parse.retry)
    var retry: PoolPolicy.Retry?

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Drop an idle connection as soon as its socket reports FIN/RST (a background poll on idle sockets, like mysql2)."
        ))
    var evictOnSocketEvent: Bool?

    @Flag(
        name: .customLong("invalidate-on-disconnect"),
        help:
            "After a connection-level error, replace every connection opened before it when next borrowed (SQLAlchemy)."
    )
    var invalidateOnDisconnect = false

    @Option(
        name: .customLong("connect-timeout"), parsing: .unconditional,
        help: ArgumentHelp("Connector/C connect timeout.", valueName: "seconds"))
    var connectTimeout: Int?

    @Option(
        name: .customLong("read-timeout"), parsing: .unconditional,
        help: ArgumentHelp("Connector/C read timeout.", valueName: "seconds"))
    var readTimeout: Int?

    @Option(
        name: .customLong("write-timeout"), parsing: .unconditional,
        help: ArgumentHelp("Connector/C write timeout.", valueName: "seconds"))
    var writeTimeout: Int?

    @Option(
        name: .customLong("pool-size"), parsing: .unconditional,
        help: ArgumentHelp("Connections in the pool.", valueName: "n"))
    var poolSize: Int = 4

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Operations after the fault (default: pool size + 1).", valueName: "n"))
    var operations: Int?

    func validate() throws {
        _ = try resolved(defaultReadTimeout: nil)
        guard Scenario.poolSizeRange.contains(poolSize) else {
            throw outOfRange("--pool-size", poolSize, use: Scenario.poolSizeRange.text)
        }
        if let operations, !Scenario.operationsRange.contains(operations) {
            throw outOfRange("--operations", operations, use: Scenario.operationsRange.text)
        }
    }

    /// The repro-pool flags given on the command line, by name (none of them apply to a real driver).
    var givenKnobs: [String] {
        let given: [(String, Bool)] = [
            ("--policy", policy != nil), ("--validation", validation != nil), ("--max-idle", maxIdle != nil),
            ("--max-lifetime", maxLifetime != nil), ("--keepalive", keepalive != nil), ("--retry", retry != nil),
            ("--invalidate-on-disconnect", invalidateOnDisconnect),
            ("--evict-on-socket-event", evictOnSocketEvent != nil),
            ("--connect-timeout", connectTimeout != nil), ("--read-timeout", readTimeout != nil),
            ("--write-timeout", writeTimeout != nil),
        ]
        return given.filter(\.1).map(\.0)
    }

    /// The preset with every override applied; `defaultReadTimeout` is the scenario's own default.
    func resolved(defaultReadTimeout: Int?) throws -> PoolPolicy {
        let overrides = PolicyOverrides(
            validation: validation, retry: retry, maxIdleTime: maxIdle, maxLifetime: maxLifetime,
            keepaliveInterval: keepalive, invalidateOnDisconnect: invalidateOnDisconnect ? true : nil,
            evictOnSocketEvent: evictOnSocketEvent,
            connectTimeout: connectTimeout, readTimeout: readTimeout,
            writeTimeout: writeTimeout)
        do {
            return try overrides.apply(to: policy ?? .naive, defaultReadTimeout: defaultReadTimeout)
        } catch {
            throw ValidationError(error.message)
        }
    }
}
