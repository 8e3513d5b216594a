import Foundation

/// Where `wait_timeout` is set: on the pool's own sessions, or server-wide.
public enum WaitTimeoutScope: String, Sendable, Codable, CaseIterable {
    case session, global
}

/// The server's `wait_timeout` closes the idle pool: set it (on the pool's sessions, or globally), let the
/// pool idle past it, use the pool.
public struct WaitTimeoutFault: FaultKind, Equatable {
    public static let kind = "wait-timeout"
    public static let fileKeys = ["seconds", "margin", "scope"]
    /// `--seconds` / `fault.seconds`: whole seconds.
    public static let secondsRange = 1...86_400
    /// `--margin` / `fault.margin`: idle time past wait_timeout, seconds.
    public static let marginRange = 0.0...60.0
    /// The same margin on the command line, in files and in the matrices: the server closes a connection
    /// within its poll timeout; 0.3 s covers scheduling on a loaded 2-CPU machine.
    public static let defaultMargin = 0.3

    public var seconds: Int
    public var margin: Double
    public var scope: WaitTimeoutScope

    public init(seconds: Int, margin: Double = WaitTimeoutFault.defaultMargin, scope: WaitTimeoutScope = .session) {
        self.seconds = seconds
        self.margin = margin
        self.scope = scope
    }

    public static func read<Fields: FaultFields>(_ fields: inout Fields) -> Self? {
        let seconds = fields.int(
            "seconds", range: secondsRange, fallback: nil, hint: "the wait_timeout to set, in whole seconds")
        let margin = fields.double("margin", range: marginRange, fallback: defaultMargin, hint: "")
        let scope = fields.choice("scope", WaitTimeoutScope.self, fallback: .session, hint: "")
        guard let seconds, let margin, let scope else { return nil }
        return Self(seconds: seconds, margin: margin, scope: scope)
    }

    public init?(parameters p: [String: String]) {
        guard let seconds = p["seconds"].flatMap({ Int($0) }) else { return nil }
        self.init(
            seconds: seconds, margin: p["margin"].flatMap { Double($0) } ?? Self.defaultMargin,
            scope: p["scope"].flatMap { WaitTimeoutScope(rawValue: $0) } ?? .session)
    }

    public var parameters: [String: String] {
        ["seconds": "\(seconds)", "margin": "\(margin)", "scope": scope.rawValue]
    }

    /// The idle time is the wait_timeout and its margin, not the scenario's `idle`.
    public var usesIdle: Bool { false }
    public var label: String { "wait-timeout \(seconds)s" }
    public var catalogEntryID: String { "server-closed-idle" }
    public var fileValues: [(key: String, value: String)] {
        [("seconds", "\(seconds)"), ("margin", DriversMatrix.format(margin)), ("scope", scope.rawValue)]
    }
    /// The idle past the wait_timeout is timing: any margin measures the same column.
    public static var timingKeys: Set<String> { ["margin"] }
    public var junitProperties: [(String, String)] { [("wait_timeout", "\(seconds)")] }
    /// A global wait_timeout reaches every other pool on the server.
    public var needsServerAlone: Bool { scope == .global }

    public func sentence(_ s: ScenarioResult) -> String {
        let closed = s.errors.isEmpty ? "" : ", long enough for the server to close the idle connections"
        return
            "The server's wait_timeout was \(seconds) s (\(scope.rawValue) scope) and the pool of \(s.poolSize) sat idle \(seconds) s + \(margin) s margin\(closed)."
    }

    public func unavoidableWait(_ scenario: Scenario) -> Double { Double(seconds) + margin }

    public func preflight(_ scenario: Scenario, external: Bool, at: String) throws(RunError) {
        guard Self.secondsRange.contains(seconds) else {
            throw .usage(
                "\(at)wait_timeout \(seconds) is out of range: use whole seconds from \(Self.secondsRange.text)")
        }
        guard Self.marginRange.contains(margin) else {
            throw .usage("\(at)margin \(margin) is out of range: use seconds from \(Self.marginRange.text)")
        }
        if scope == .global && external && !scenario.allowGlobal {
            throw .usage(
                "\(at)scenario '\(scenario.name)': scope global changes a server this tool did not start: add --allow-global, or use scope session"
            )
        }
    }

    public func start(_ context: FaultContext) throws(RunError) -> any InjectedFault {
        let injected = Injected(fault: self, log: context.log)
        if scope == .global {
            // Scenario.preflight refused this on a server repro did not start, unless --allow-global.
            injected.global = try GlobalWaitTimeout.set(seconds, runner: context.runner, log: context.log) { line in
                context.step(line)
            }
        }
        return injected
    }

    final class Injected: InjectedFault {
        let fault: WaitTimeoutFault
        let log: EventLog
        var global: GlobalWaitTimeout?

        init(fault: WaitTimeoutFault, log: EventLog) {
            self.fault = fault
            self.log = log
        }

        /// Under load the workers stop while the timeout bites, then resume.
        var pausesLoad: Bool { true }

        var initCommands: [String] {
            fault.scope == .session ? ["SET SESSION wait_timeout=\(fault.seconds)"] : []
        }

        var idle: IdlePeriod? {
            IdlePeriod(
                seconds: Double(fault.seconds) + fault.margin, reason: "wait_timeout \(fault.seconds)s + margin",
                note:
                    "idle: waiting \(fault.seconds)s wait_timeout + \(fault.margin)s margin (\(fault.scope.rawValue) scope)"
            )
        }

        /// Nothing to do at the end of the idle time: the server closed the connections at wait_timeout.
        func inject(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> Double {
            context.log.record(.scenario, detail: "idle over: running \(context.scenario.operationCount) operations")
            return context.warmedAt + Double(fault.seconds) * 1000
        }

        func close() {
            // A restore that fails is loud on its own (GlobalWaitTimeout: the line, the SQL to run, exit 3).
            if let global { _ = global.restore(log: log) }
        }
    }
}

extension Fault {
    /// The server's `wait_timeout` closes the idle pool.
    public static func waitTimeout(
        seconds: Int, margin: Double = WaitTimeoutFault.defaultMargin, scope: WaitTimeoutScope = .session
    ) -> Fault {
        Fault(WaitTimeoutFault(seconds: seconds, margin: margin, scope: scope))
    }
}
