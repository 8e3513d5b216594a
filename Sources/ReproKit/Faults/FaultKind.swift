import Foundation

/// One kind of fault: everything repro knows about it, in one type (one file per kind under `Faults/`).
///
/// A kind owns its scenario-file keys with their limits and defaults (the CLI uses the same constants), its
/// report parameters, the words reports print about it, its unavoidable wait, whether it needs the server to
/// itself, its checks before a run, and how it is injected (`start`, returning an `InjectedFault`). The
/// runner (`ScenarioRunner`) only orchestrates: open the pool under test, warm it, idle, inject, settle, run
/// the operations, record. Adding a kind: its file, one line in `Fault.kinds`, its CLI subcommand (and
/// the subcommand list), the report schema's `kind` enum (docs/ARCHITECTURE.md has the checklist).
public protocol FaultKind: Sendable {
    /// The kind as scenario files, reports and JUnit name it (`wait-timeout`).
    static var kind: String { get }
    /// Keys a scenario file may give under `fault:` besides `kind`.
    static var fileKeys: [String] { get }
    /// Reads the fault from its scenario-file keys; problems are reported through `fields` with file:line.
    static func read<Fields: FaultFields>(_ fields: inout Fields) -> Self?
    /// Rebuilds the fault from a report's parameters (renderers work on saved reports); nil if they do not fit.
    init?(parameters: [String: String])

    /// The fault's parameters as text, for reports (`idle` and `operations` are added by the result).
    var parameters: [String: String] { get }
    /// The scenario's idle time before the injection applies to this fault (reported as `idle`).
    var usesIdle: Bool { get }
    /// A few words for tables: `kill-thread idle`, `network-cut reset via proxy`.
    var label: String { get }
    /// The sentence "What happened" starts with, for one result of this fault.
    func sentence(_ result: ScenarioResult) -> String
    /// The error catalog entry that explains this fault's outcome (`ErrorCatalog`).
    var catalogEntryID: String { get }
    /// The fault as its scenario-file keys, every one (defaults included), in `fileKeys` order: what reads back
    /// to the same fault (`ScenarioFile.fault`), and the flags of its subcommand (`Fault.arguments`).
    var fileValues: [(key: String, value: String)] { get }
    /// Keys of `fileValues` that are timing or extent (how long, how many): a matrix column measures the fault
    /// whatever their values (`MatrixColumn.measuring`).
    static var timingKeys: Set<String> { get }
    /// Extra JUnit properties (besides `fault.*`).
    var junitProperties: [(String, String)] { get }

    /// True when the fault changes the whole server: with `--jobs`, it runs with nothing else in flight.
    var needsServerAlone: Bool { get }
    /// True when the fault suspends the pool's process (a freeze): repro's own pool then runs in a child
    /// process (`repro serve-pool`) like a real stack's adapter.
    var suspendsPool: Bool { get }
    /// Application-side options (`app.*`) the fault's story needs from a real stack's adapter, applied when the
    /// adapter lists them and the scenario does not set them itself (a freeze's ROLLBACK after a failed query).
    var applicationOptions: [String: String] { get }
    /// Seconds a scenario with this fault waits whatever the implementation (its floor in `make bench`).
    func unavoidableWait(_ scenario: Scenario) -> Double
    /// The read timeout (s) its scenarios get when they set none; nil: the policy's.
    var defaultReadTimeout: Int? { get }
    /// Conflicts with the rest of the scenario, for a scenario file: (key under `fault:`, message).
    func fileProblems(_ scenario: Scenario) -> [(key: String, message: String)]
    /// Refuses what cannot run before any server is started; `at` is the scenario's `file: ` prefix.
    func preflight(_ scenario: Scenario, external: Bool, at: String) throws(RunError)
    /// Prepares the fault before the pool opens (init commands, a proxy to connect through, a global
    /// setting) and returns the object that injects it and undoes it.
    func start(_ context: FaultContext) throws(RunError) -> any InjectedFault
}

extension FaultKind {
    public static var timingKeys: Set<String> { [] }
    public var usesIdle: Bool { true }
    public var needsServerAlone: Bool { false }
    public var suspendsPool: Bool { false }
    public var applicationOptions: [String: String] { [:] }
    public var junitProperties: [(String, String)] { [] }
    public var defaultReadTimeout: Int? { nil }
    public func fileProblems(_ scenario: Scenario) -> [(key: String, message: String)] { [] }
    public func preflight(_ scenario: Scenario, external: Bool, at: String) throws(RunError) {}
}

/// One fault in one run, from before the pool opens to after the operations.
public protocol InjectedFault: AnyObject {
    /// SQL every connection of the pool runs first (a session `wait_timeout`).
    var initCommands: [String] { get }
    /// Where the pool connects instead of the server (a fault proxy's port on 127.0.0.1).
    var port: Int? { get }
    /// The host the pool connects to instead of the server's (a NAT's address); nil: the server's, or 127.0.0.1
    /// with `port`.
    var host: String? { get }
    /// The command prefix a pool process is started with (`ip netns exec <namespace>`): the pool must then run in
    /// a child process, repro's own pool included (`repro serve-pool`); nil: no prefix.
    var launcher: [String]? { get }
    /// How long the warm pool idles before `inject`, why (progress shows it), and a line for the timeline
    /// when it starts; nil: no idle.
    var idle: IdlePeriod? { get }
    /// In load mode, whether the workers pause for `idle` before `inject` (a wait-timeout needs quiet
    /// connections to bite); other faults hit the pool while it works.
    var pausesLoad: Bool { get }
    /// Injects the fault into the warm (idled) pool; returns when it took effect (ms on the run's clock).
    func inject(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> Double
    /// Seconds to wait after `inject` before the pool is used (named constants in `Settle`).
    var settle: Double { get }
    /// The scenario's operations when the fault ran them itself (work the application started on its own as it
    /// resumed from a freeze), with when they started (ms); nil: the runner runs them one at a time.
    func operations(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> (
        startedAt: Double, records: [OperationRecord]
    )?
    /// What the client side of a cut flow received (after the operations), or nil.
    func tcpSignal() -> String?
    /// How many of the pool's connections the fault acted on (flows cut, threads killed); nil when it does not
    /// count them. 0 is a result: the pool had closed its idle connections itself.
    func reached() -> Int?
    /// When the fault was in progress, if it lasts (after `inject`); nil: an instant.
    func window() -> ScenarioResult.FaultWindow?
    /// The operations the application tried while the fault was in progress (after `inject`); nil: none ran.
    func triesDuringFault() -> [ScenarioResult.FaultTry]?
    /// Undoes what `inject` did while the pool is still open (firewall rules, threads left behind).
    func finish()
    /// Undoes what `start` did, after the pool closed (a global setting, the proxy).
    func close()
}

extension InjectedFault {
    public var initCommands: [String] { [] }
    public var port: Int? { nil }
    public var host: String? { nil }
    public var launcher: [String]? { nil }
    public var settle: Double { 0 }
    public var pausesLoad: Bool { false }
    public func operations(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> (
        startedAt: Double, records: [OperationRecord]
    )? { nil }
    public func tcpSignal() -> String? { nil }
    public func reached() -> Int? { nil }
    public func window() -> ScenarioResult.FaultWindow? { nil }
    public func triesDuringFault() -> [ScenarioResult.FaultTry]? { nil }
    public func finish() {}
    public func close() {}
}

/// The warm pool's idle time before a fault is injected.
public struct IdlePeriod: Sendable {
    public var seconds: Double
    /// Why, for the progress display ("pool idle before the kill").
    public var reason: String
    /// Recorded in the timeline when the idle time starts, if given.
    public var note: String?

    public init(seconds: Double, reason: String, note: String? = nil) {
        self.seconds = seconds
        self.reason = reason
        self.note = note
    }
}

/// What a fault gets from the runner: the scenario, the run's log, the server, and the runner's services
/// (admin connections, the pool's server threads, KILL).
public struct FaultContext: Sendable {
    public let runner: ScenarioRunner
    public let scenario: Scenario
    public let log: EventLog
    /// Server threads that existed before the pool opened (not the pool's).
    public var baselineThreads: Set<UInt64> = []
    /// When the pool went quiet: it was full (ms on the run's clock), or, in load mode, the workers paused.
    public var warmedAt: Double = 0

    public var endpoint: ServerEndpoint { runner.endpoint }

    /// Shows a step in the progress display.
    public func step(_ text: String) { runner.progress(.step(scenario: scenario.name, text)) }
}

/// How a fault kind reads its keys from a scenario file: values are checked against the kind's limits, and a
/// problem is reported with the file and line of the key (all problems of a file are reported together).
public protocol FaultFields {
    /// A whole number in `range`; `fallback` when the key is absent (nil: the key is required, and a
    /// missing key is a problem that says `hint`).
    mutating func int(_ key: String, range: ClosedRange<Int>, fallback: Int?, hint: String) -> Int?
    /// A number of seconds in `range`, as `int`.
    mutating func double(_ key: String, range: ClosedRange<Double>, fallback: Double?, hint: String) -> Double?
    /// One of `T`'s values, as `int`.
    mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type, fallback: T?, hint: String)
        -> T? where T.RawValue == String
    /// The key's scalar text, if it is a scalar.
    func text(_ key: String) -> String?
    /// Reports a problem at the key (or at the fault mapping when the key is absent).
    mutating func problem(at key: String, _ message: String)
}

/// The one failure a scenario injects: a value of one `FaultKind`.
public struct Fault: Sendable, Equatable, CustomStringConvertible {
    /// Every kind repro knows, in the order help texts list them.
    public static let kinds: [any FaultKind.Type] = [
        WaitTimeoutFault.self, KillThreadFault.self, NetworkCutFault.self, ServerRestartFault.self, FreezeFault.self,
    ]

    public let base: any FaultKind

    public init(_ base: any FaultKind) { self.base = base }

    /// The kind named `kind` with these report parameters, or nil (an unknown kind, parameters that do not fit).
    public init?(kind: String, parameters: [String: String]) {
        guard let type = Self.kinds.first(where: { $0.kind == kind }), let base = type.init(parameters: parameters)
        else { return nil }
        self.base = base
    }

    /// The kind's type, by name.
    public static func kind(named name: String) -> (any FaultKind.Type)? { kinds.first { $0.kind == name } }

    /// The fault's kind as scenario files and reports name it.
    public var kind: String { type(of: base).kind }
    /// The fault's parameters as text, for reports.
    public var parameters: [String: String] { base.parameters }
    public var needsServerAlone: Bool { base.needsServerAlone }
    public var label: String { base.label }

    /// The fault as `kind`, when it is one.
    public func `as`<T: FaultKind>(_ type: T.Type) -> T? { base as? T }

    public static func == (a: Fault, b: Fault) -> Bool { a.kind == b.kind && a.parameters == b.parameters }

    /// The fault as a scenario file's `fault:` keys, every one, `kind` first.
    public var fileValues: [(key: String, value: String)] { [("kind", kind)] + base.fileValues }

    /// The words of the subcommand that injects this fault: `kill-thread --target idle --count all`.
    public var arguments: [String] { [kind] + base.fileValues.flatMap { ["--" + $0.key, $0.value] } }

    /// The fault in words: `kill-thread target=idle count=all`.
    public var summary: String {
        ([kind] + parameters.keys.sorted().map { "\($0)=\(parameters[$0]!)" }).joined(separator: " ")
    }

    public var description: String { summary }
}

extension ScenarioResult {
    /// The fault of a saved result, rebuilt from its kind and parameters (nil for a kind this build does not know).
    public var fault: Fault? { Fault(kind: kind, parameters: parameters) }
}
