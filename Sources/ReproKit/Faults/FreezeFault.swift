import Foundation

/// What happens to the suspended application's connections while it is frozen.
public enum FreezeDuring: Sendable, Equatable, CustomStringConvertible {
    /// The session `wait_timeout` (set below the freeze) expires while the application is suspended.
    case waitTimeout
    /// An operator or a watchdog KILLs the idle connections' server threads.
    case killThread
    /// A middlebox forgets the flows (iptables on this run's own flows; root).
    case networkCut(CutMode)
    /// The server restarts (embedded server only).
    case serverRestart
    /// Nothing: the freeze alone, the control.
    case nothing

    /// The values `--during` / `fault.during` accept, for messages.
    public static let choices =
        "wait-timeout, kill-thread, network-cut:reset, network-cut:half-open, network-cut:blackhole, server-restart, nothing"

    public init?(text: String) {
        switch text {
        case "wait-timeout": self = .waitTimeout
        case "kill-thread": self = .killThread
        case "server-restart": self = .serverRestart
        case "nothing": self = .nothing
        default:
            guard text.hasPrefix("network-cut:"), let mode = CutMode(rawValue: String(text.dropFirst(12))),
                mode != .close
            else { return nil }
            self = .networkCut(mode)
        }
    }

    public var description: String {
        switch self {
        case .waitTimeout: "wait-timeout"
        case .killThread: "kill-thread"
        case .networkCut(let mode): "network-cut:\(mode.rawValue)"
        case .serverRestart: "server-restart"
        case .nothing: "nothing"
        }
    }
}

/// How the first work reaches the application when it resumes.
public enum FreezeArrival: String, Sendable, Codable, CaseIterable {
    /// Requests that queued while it was suspended (an HTTP request at the load balancer, a Lambda invocation)
    /// are read as it resumes.
    case queued
    /// The application's own timer (a cron job, a poll loop), due during the freeze, fires as it resumes.
    case timer
}

/// The application is suspended while its idle connections die — a laptop asleep overnight with the service
/// still "running", an AWS Lambda environment frozen between invocations, a paused VM or container — and resumed
/// with work due. The pool under test's whole process group is stopped (SIGSTOP) right after it was warmed and
/// released, the `during` fault hits its connections while nothing of the pool can run (no idle sweep, no
/// keepalive, no socket event handled), and the group is continued (SIGCONT) `seconds` later with the scenario's
/// operations due, one after another inside the pool's process. The timing is a night scaled down: the
/// connections die a third of the way into the freeze (the wait_timeout is the freeze less one second), the
/// application's timer falls due half-way, and nothing runs until the end.
///
/// repro's own pool runs in a child process for this fault (`repro serve-pool`), so it is frozen the same way.
public struct FreezeFault: FaultKind, Equatable {
    public static let kind = "freeze"
    public static let fileKeys = ["for", "during", "arrival", "follow-up"]
    /// The application pattern of the original reports: after a failed query, a transaction's ROLLBACK on that
    /// connection before it is released (`app.followUp` of every adapter that lists it).
    public static let defaultFollowUp = "ROLLBACK"
    /// `--for` / `fault.for`: seconds the application stays suspended.
    public static let forRange = 1.0...3600.0
    public static let defaultFor = 3.0
    /// A wait_timeout of at least 1 s must expire a second before the thaw.
    public static let minimumForWaitTimeout = 2.0

    public var seconds: Double
    public var during: FreezeDuring
    public var arrival: FreezeArrival
    /// SQL the application sends on a connection whose query failed, before releasing it; nil: none.
    public var followUp: String?

    public init(
        seconds: Double = FreezeFault.defaultFor, during: FreezeDuring = .waitTimeout, arrival: FreezeArrival = .timer,
        followUp: String? = FreezeFault.defaultFollowUp
    ) {
        self.seconds = seconds
        self.during = during
        self.arrival = arrival
        self.followUp = followUp
    }

    /// `--follow-up` / `fault.follow-up`: SQL, or `none`.
    public static func followUp(parsing text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty || trimmed == "none" ? nil : trimmed
    }

    /// A real stack's adapter sends the follow-up (`app.followUp`) when it lists that option.
    public var applicationOptions: [String: String] { followUp.map { ["app.followUp": $0] } ?? [:] }

    /// The session wait_timeout a `wait-timeout` freeze sets: whole seconds, a second or more before the thaw.
    public var waitTimeoutSeconds: Int { max(1, Int((seconds - 1).rounded(.down))) }

    /// When, into the freeze, a kill or a cut hits the connections.
    var faultOffset: Double { seconds / 3 }
    /// When, into the freeze, the application's own timer falls due.
    var timerOffset: Double { seconds / 2 }

    public static func read<Fields: FaultFields>(_ fields: inout Fields) -> Self? {
        let seconds = fields.double("for", range: forRange, fallback: defaultFor, hint: "")
        var during: FreezeDuring? = .waitTimeout
        if let text = fields.text("during") {
            during = FreezeDuring(text: text)
            if during == nil {
                fields.problem(at: "during", "fault.during '\(text)' is not one of \(FreezeDuring.choices)")
            }
        }
        let arrival = fields.choice("arrival", FreezeArrival.self, fallback: .timer, hint: "")
        let followUp = fields.text("follow-up").map(Self.followUp(parsing:)) ?? defaultFollowUp
        guard let seconds, let during, let arrival else { return nil }
        if during == .waitTimeout && seconds < minimumForWaitTimeout {
            fields.problem(
                at: "for",
                "fault.for \(DriversMatrix.format(seconds)) is too short for during wait-timeout: use \(DriversMatrix.format(minimumForWaitTimeout)) s or more (the wait_timeout must expire while the application is suspended)"
            )
            return nil
        }
        return Self(seconds: seconds, during: during, arrival: arrival, followUp: followUp)
    }

    public init?(parameters p: [String: String]) {
        guard let during = FreezeDuring(text: p["during"] ?? "wait-timeout"),
            let arrival = FreezeArrival(rawValue: p["arrival"] ?? "timer")
        else { return nil }
        self.init(
            seconds: p["for"].flatMap { Double($0) } ?? Self.defaultFor, during: during, arrival: arrival,
            followUp: p["followUp"].map(Self.followUp(parsing:)) ?? nil)
    }

    public var parameters: [String: String] {
        var p = ["for": "\(seconds)", "during": during.description, "arrival": arrival.rawValue]
        if during == .waitTimeout { p["waitTimeout"] = "\(waitTimeoutSeconds)" }
        p["followUp"] = followUp ?? "none"
        return p
    }

    /// The freeze starts as soon as the pool is warm and released.
    /// A freeze during a network cut cuts through the kernel: the proxy's own kernel would answer the stopped
    /// application's keepalive probes.
    public var cutsThroughKernel: Bool {
        if case .networkCut = during { return true }
        return false
    }
    public var usesIdle: Bool { false }
    public var label: String { "freeze \(DriversMatrix.format(seconds)) s during \(during), \(arrival.rawValue)" }
    public var suspendsPool: Bool { true }

    public var catalogEntryID: String { "suspended-application" }

    public var fileValues: [(key: String, value: String)] {
        [
            ("for", DriversMatrix.format(seconds)), ("during", during.description), ("arrival", arrival.rawValue),
            ("follow-up", followUp ?? "none"),
        ]
    }
    /// How long the application stays suspended is timing.
    public static var timingKeys: Set<String> { ["for"] }

    public var junitProperties: [(String, String)] {
        [("freeze.for", "\(seconds)"), ("freeze.during", during.description), ("freeze.arrival", arrival.rawValue)]
    }

    /// A restart during the freeze stops the whole server.
    public var needsServerAlone: Bool { during == .serverRestart }

    public func sentence(_ s: ScenarioResult) -> String {
        let what: String =
            switch during {
            case .waitTimeout:
                "the server's session wait_timeout (\(waitTimeoutSeconds) s) expired and it closed the idle connections"
            case .killThread:
                s.reached == 0
                    ? "nothing was KILLed: the pool held no idle connection"
                    : "\(s.reached.map { "the server threads of \($0) idle connection(s) were" } ?? "every idle connection's server thread was") KILLed"
            case .networkCut(let mode):
                s.reached == 0
                    ? "nothing was cut: the pool held no open connection"
                    : "the network path \(s.reached.map { "of \($0) idle connection(s)" } ?? "of every idle connection") was cut (\(mode.rawValue))"
            case .serverRestart: "the server was restarted"
            case .nothing: "nothing happened to the connections"
            }
        let work =
            arrival == .timer
            ? "its own timer, due while it was suspended, fired as it resumed"
            : "requests that queued while it was suspended were read as it resumed"
        return
            "The application was suspended (SIGSTOP of its process group) for \(DriversMatrix.format(seconds)) s right after its pool of \(s.poolSize) was warmed and released; meanwhile \(what). It was resumed (SIGCONT) with work due: \(work), and ran \(s.operations.total) operation(s) one after another."
    }

    public func unavoidableWait(_ scenario: Scenario) -> Double { seconds }

    public func preflight(_ scenario: Scenario, external: Bool, at: String) throws(RunError) {
        let name = "scenario '\(scenario.name)'"
        guard Self.forRange.contains(seconds) else {
            throw .usage("\(at)freeze for \(seconds) s is out of range: use seconds from \(Self.forRange.text)")
        }
        if during == .waitTimeout && seconds < Self.minimumForWaitTimeout {
            throw .usage(
                "\(at)\(name): a freeze of \(DriversMatrix.format(seconds)) s is too short for --during wait-timeout: use --for \(DriversMatrix.format(Self.minimumForWaitTimeout)) or more"
            )
        }
        if scenario.load != nil {
            throw .usage(
                "\(at)\(name): freeze suspends the whole application, so it does not run under load: drop --concurrency/--duration (workload concurrency)"
            )
        }
        if scenario.pattern == .held {
            throw .usage("\(at)\(name): freeze runs the pool pattern only: drop --pattern held")
        }
        switch during {
        case .serverRestart:
            try ServerRestartFault(mode: .graceful, down: seconds / 4, tries: 0).preflight(
                scenario, external: external, at: at)
        case .networkCut(let mode):
            try NetworkCutFault(mode: mode, via: .kernel).preflight(scenario, external: external, at: at)
        default: break
        }
    }

    /// The fault that hits the connections while the application is suspended, if any.
    var inner: (any FaultKind)? {
        switch during {
        case .waitTimeout: WaitTimeoutFault(seconds: waitTimeoutSeconds, margin: 0, scope: .session)
        case .killThread: KillThreadFault(target: .idle, count: .all)
        case .networkCut(let mode): NetworkCutFault(mode: mode, via: .kernel)
        case .serverRestart: ServerRestartFault(mode: .graceful, down: seconds / 4, tries: 0)
        case .nothing: nil
        }
    }

    public func start(_ context: FaultContext) throws(RunError) -> any InjectedFault {
        Injected(fault: self, inner: try inner?.start(context))
    }

    final class Injected: InjectedFault {
        let fault: FreezeFault
        let inner: (any InjectedFault)?
        private var armed: (any ArmedOperations)?
        private var resumedAt: Double?
        /// Seconds between the last request the application answered and the stop.
        static let settleBeforeStop = 0.1
        /// Seconds before the resume at which queued requests are written into the stopped process.
        static let queuedBeforeResume = 0.2

        init(fault: FreezeFault, inner: (any InjectedFault)?) {
            self.fault = fault
            self.inner = inner
        }

        /// The freeze starts as soon as the pool is warm: the freeze is the idle time.
        var idle: IdlePeriod? { nil }
        var initCommands: [String] { inner?.initCommands ?? [] }
        var port: Int? { inner?.port }
        func tcpSignal() -> String? { inner?.tcpSignal() }
        func reached() -> Int? { inner?.reached() }
        func finish() { inner?.finish() }
        func close() { inner?.close() }

        func inject(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> Double {
            let log = context.log
            guard let group = pool.processGroup else {
                throw .environment(
                    "freeze needs the pool under test in a process of its own, and this one runs inside repro")
            }
            let count = max(1, context.scenario.operationCount)
            if fault.arrival == .timer {
                // The application's own timer, set while it runs, falls due while it is suspended.
                armed = try pool.arm(
                    count: count, sql: "SELECT 1", delayMs: Int(fault.timerOffset * 1000), confirm: true)
                log.record(
                    .scenario,
                    detail:
                        "application timer set: \(count) operation(s) due in \(DriversMatrix.format(fault.timerOffset)) s"
                )
            }
            // The application goes back to waiting (its event loop, its threads) before the machine sleeps.
            Thread.sleep(forTimeInterval: Self.settleBeforeStop)
            let suspension = try SuspendedGroup(group)
            defer { suspension.resume() }
            context.step(
                "application suspended (process group \(group)) for \(DriversMatrix.format(fault.seconds)) s, \(fault.during) meanwhile"
            )
            let frozenAt = ContinuousClock.now
            try suspension.stop()
            let stoppedAt = log.ms()
            log.record(
                .scenario,
                detail:
                    "fault: application suspended (SIGSTOP of process group \(group)) for \(DriversMatrix.format(fault.seconds)) s"
            )
            var faultAt = stoppedAt
            switch fault.during {
            case .waitTimeout:
                faultAt = context.warmedAt + Double(fault.waitTimeoutSeconds) * 1000
                log.record(
                    .scenario,
                    detail:
                        "the session wait_timeout (\(fault.waitTimeoutSeconds) s since the pool was released) expires while the application is suspended"
                )
            case .nothing:
                break
            default:
                sleep(until: frozenAt + .milliseconds(Int(fault.faultOffset * 1000)))
                if let inner { faultAt = try inner.inject(pool, context) }
            }
            if fault.arrival == .queued {
                // Requests reach the suspended application and wait in its input, as at a load balancer: at one fixed
                // point whatever the fault, after it, just before the resume.
                sleep(until: frozenAt + .milliseconds(Int((fault.seconds - Self.queuedBeforeResume) * 1000)))
                armed = try pool.arm(count: count, sql: "SELECT 1", delayMs: nil, confirm: false)
                log.record(.scenario, detail: "\(count) operation(s) requested while the application is suspended")
            }
            sleep(until: frozenAt + .milliseconds(Int(fault.seconds * 1000)))
            suspension.resume()
            resumedAt = log.ms()
            log.record(
                .scenario,
                detail:
                    "application resumed (SIGCONT) after \(String(format: "%.1f", (log.ms() - stoppedAt) / 1000)) s, work due"
            )
            return faultAt
        }

        func operations(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> (
            startedAt: Double, records: [OperationRecord]
        )? {
            guard let armed else { return nil }
            return (resumedAt ?? context.log.ms(), try armed.collect(firstOperation: 1))
        }

        private func sleep(until instant: ContinuousClock.Instant) {
            let wait = instant - ContinuousClock.now
            if wait > .zero { Thread.sleep(forTimeInterval: EventLog.milliseconds(wait) / 1000) }
        }
    }
}

extension Fault {
    /// The application is suspended while its connections die, and resumed with work due.
    public static func freeze(
        seconds: Double = FreezeFault.defaultFor, during: FreezeDuring = .waitTimeout, arrival: FreezeArrival = .timer,
        followUp: String? = FreezeFault.defaultFollowUp
    ) -> Fault {
        Fault(FreezeFault(seconds: seconds, during: during, arrival: arrival, followUp: followUp))
    }
}
