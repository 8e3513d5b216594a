import Foundation
import Synchronization

/// The server goes away and comes back (a deploy, a failover, an OOM kill): the embedded `mariadbd` is stopped
/// after the pool idled — cleanly (SIGTERM, waited for) or as a crash (SIGKILL) — kept down `down` seconds while
/// the application keeps trying, then started again on the same port and data directory. Only on the server
/// repro started: repro never restarts a server it did not start.
public struct ServerRestartFault: FaultKind, Equatable {
    public static let kind = "server-restart"
    public static let fileKeys = ["mode", "down", "tries-while-down", "idle"]
    /// `--down` / `fault.down`: seconds the server stays down.
    public static let downRange = 0.0...600.0
    public static let defaultDown = 1.0
    /// `--tries-while-down` / `fault.tries-while-down`: operations the application tries while the server is down,
    /// the first right after the stop and the others spread over the downtime. What it sees then is recorded; with
    /// fewer tries than connections some stale ones are left for after the restart. 0 is a quiet restart (a
    /// maintenance window at night): nobody used the pool until the server was back.
    public static let triesRange = 0...10
    public static let defaultTries = 2
    /// How the timeline marks the operations tried while the server was down (the drivers matrix reads them).
    public static let whileDownPrefix = "while down: "

    public var mode: ManagedServer.HaltMode
    public var down: Double
    public var tries: Int

    public init(
        mode: ManagedServer.HaltMode = .graceful, down: Double = ServerRestartFault.defaultDown,
        tries: Int = ServerRestartFault.defaultTries
    ) {
        self.mode = mode
        self.down = down
        self.tries = tries
    }

    public static func read<Fields: FaultFields>(_ fields: inout Fields) -> Self? {
        let mode = fields.choice("mode", ManagedServer.HaltMode.self, fallback: .graceful, hint: "")
        let down = fields.double("down", range: downRange, fallback: defaultDown, hint: "")
        let tries = fields.int("tries-while-down", range: triesRange, fallback: defaultTries, hint: "")
        guard let mode, let down, let tries else { return nil }
        return Self(mode: mode, down: down, tries: tries)
    }

    public init?(parameters p: [String: String]) {
        guard let mode = ManagedServer.HaltMode(rawValue: p["mode"] ?? "graceful") else { return nil }
        self.init(
            mode: mode, down: p["down"].flatMap { Double($0) } ?? Self.defaultDown,
            tries: p["triesWhileDown"].flatMap { Int($0) } ?? Self.defaultTries)
    }

    public var parameters: [String: String] {
        ["mode": mode.rawValue, "down": "\(down)", "triesWhileDown": "\(tries)"]
    }
    public var label: String {
        "server-restart \(mode.rawValue), down \(DriversMatrix.format(down)) s"
            + (tries == 0 ? ", quiet" : ", \(tries) tries while down")
    }
    /// While it is down, new connections are refused; afterwards old ones are stale.
    public var catalogEntryID: String { "cannot-connect" }
    public var fileValues: [(key: String, value: String)] {
        [("mode", mode.rawValue), ("down", DriversMatrix.format(down)), ("tries-while-down", "\(tries)")]
    }
    /// How long the server stays down is timing.
    public static var timingKeys: Set<String> { ["down"] }
    /// Every other pool on the server would lose its connections too.
    public var needsServerAlone: Bool { true }

    public func sentence(_ s: ScenarioResult) -> String {
        let how =
            mode == .graceful
            ? "shut down cleanly (SIGTERM, waited for)" : "killed with SIGKILL, as in a crash or an OOM kill"
        let during = s.duringFault ?? []
        let failed = during.filter { !$0.succeeded }.count
        let traffic =
            during.isEmpty
            ? "nobody used the pool while it was down (a quiet restart)"
            : "while it was down the application tried \(during.count) operation(s), \(failed) of which failed"
        return
            "After \(s.parameters["idle"] ?? "1.0") s idle the server was \(how), kept down \(DriversMatrix.format(down)) s and started again on the same port; \(traffic)."
    }

    public func unavoidableWait(_ scenario: Scenario) -> Double { scenario.idle + down }

    public func preflight(_ scenario: Scenario, external: Bool, at: String) throws(RunError) {
        if external {
            throw .usage(
                "\(at)scenario '\(scenario.name)': server-restart stops and starts the server, and repro restarts only the server it started: drop --dsn/REPRO_DSN to use the embedded one"
            )
        }
    }

    public func start(_ context: FaultContext) throws(RunError) -> any InjectedFault {
        guard let server = context.runner.server else {
            throw .usage(
                "server-restart needs the embedded server: repro restarts only the server it started (drop --dsn/REPRO_DSN)"
            )
        }
        return Injected(fault: self, server: server, idleSeconds: context.scenario.idle)
    }

    final class Injected: InjectedFault {
        let fault: ServerRestartFault
        let server: ManagedServer
        let idleSeconds: Double

        init(fault: ServerRestartFault, server: ManagedServer, idleSeconds: Double) {
            self.fault = fault
            self.server = server
            self.idleSeconds = idleSeconds
        }

        var idle: IdlePeriod? { IdlePeriod(seconds: idleSeconds, reason: "pool idle before the restart") }

        /// From the stop to the server's first answer again, and what the application's tries saw meanwhile.
        private let recorded = Mutex<(window: ScenarioResult.FaultWindow?, tries: [ScenarioResult.FaultTry])>(
            (nil, []))
        func window() -> ScenarioResult.FaultWindow? { recorded.withLock { $0.window } }
        func triesDuringFault() -> [ScenarioResult.FaultTry]? {
            recorded.withLock { $0.tries.isEmpty ? nil : $0.tries }
        }

        func inject(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> Double {
            let log = context.log
            context.step("stopping mariadbd (\(fault.mode.rawValue))")
            let faultAt = log.ms()
            let stoppedAt = ContinuousClock.now
            let how = server.halt(fault.mode)
            log.record(.scenario, detail: "fault: server stopped (\(fault.mode.rawValue)): mariadbd \(how)")
            // The server comes back on its own schedule, as a real restart does, whatever the application's calls
            // are doing: a pool that holds its caller until the server answers (HikariCP waits up to its
            // connectionTimeout) is measured holding it, not deadlocked against the restart.
            let downUntil = stoppedAt + .milliseconds(Int(fault.down * 1000))
            let restart = ScheduledRestart(server: server, at: downUntil, log: log, faultAt: faultAt)
            context.step(
                "server down for \(DriversMatrix.format(fault.down)) s, the application keeps trying; it comes back on schedule"
            )
            // The application keeps trying while the server is down: what does it see?
            let interval = fault.down / Double(max(1, fault.tries))
            var tries = 0
            while tries < fault.tries {
                let probeAt = stoppedAt + .milliseconds(Int(interval * Double(tries) * 1000))
                guard probeAt < downUntil, ContinuousClock.now < downUntil else { break }
                let wait = probeAt - ContinuousClock.now
                if wait > .zero { Thread.sleep(forTimeInterval: EventLog.milliseconds(wait) / 1000) }
                tries += 1
                // The operations while the server is down are recorded, never counted as recovery.
                let op = try pool.execute(
                    "SELECT 1", operation: ObservedError.duringFaultOperation, held: context.scenario.pattern == .held)
                let attempt = ScenarioResult.FaultTry(
                    index: tries, succeeded: op.succeeded, error: op.error?.label, durationMs: op.durationMs)
                recorded.withLock { $0.tries.append(attempt) }
                log.record(
                    .scenario, connection: op.connection, detail: ServerRestartFault.whileDownPrefix + "\(attempt)")
            }
            let backAt = try restart.wait()
            recorded.withLock { $0.window = .init(fromMs: faultAt, toMs: backAt, what: "server down") }
            return faultAt
        }
    }

    /// Starts the stopped server again at `at` on a thread of its own, and records when it answered.
    final class ScheduledRestart: Sendable {
        private let done = DispatchSemaphore(value: 0)
        private let failure = Mutex<RunError?>(nil)
        /// When the server answered again (ms on the run's clock).
        private let backAt = Mutex<Double>(0)

        init(server: ManagedServer, at: ContinuousClock.Instant, log: EventLog, faultAt: Double) {
            Thread.detachNewThread { [self] in
                let wait = at - ContinuousClock.now
                if wait > .zero { Thread.sleep(forTimeInterval: EventLog.milliseconds(wait) / 1000) }
                let restartAt = log.ms()
                do throws(ServerError) {
                    try server.resume()
                    let backAt = log.ms()
                    self.backAt.withLock { $0 = backAt }
                    log.record(
                        .scenario,
                        detail:
                            "server back after \(Int(log.ms() - faultAt)) ms down (restart took \(Int(log.ms() - restartAt)) ms; same port, same data directory)"
                    )
                } catch {
                    failure.withLock {
                        $0 = .environment(
                            "the embedded server did not come back after the planned restart: \(error.message)")
                    }
                }
                done.signal()
            }
        }

        /// Returns once the server answers again, with when it did (ms on the run's clock); throws when it did
        /// not come back.
        @discardableResult
        func wait() throws(RunError) -> Double {
            done.wait()
            if let error = failure.withLock({ $0 }) { throw error }
            return backAt.withLock { $0 }
        }
    }
}

extension Fault {
    /// The embedded server is stopped and started again.
    public static func serverRestart(
        mode: ManagedServer.HaltMode = .graceful, down: Double = ServerRestartFault.defaultDown,
        tries: Int = ServerRestartFault.defaultTries
    ) -> Fault {
        Fault(ServerRestartFault(mode: mode, down: down, tries: tries))
    }
}
