import Foundation

/// Which connections `kill-thread` kills: idle ones, or ones busy in a query.
public enum KillTarget: String, Sendable, Codable, CaseIterable {
    case idle, busy
}

/// How many of the pool's connections to kill.
public enum KillCount: Sendable, Equatable, CustomStringConvertible {
    case all
    case some(Int)

    public var description: String {
        switch self {
        case .all: "all"
        case .some(let n): "\(n)"
        }
    }
}

/// `KILL CONNECTION` on the pool's own server threads: idle ones after the pool idled (an operator, a
/// watchdog), or busy ones in the middle of `SELECT SLEEP` (a query killer).
public struct KillThreadFault: FaultKind, Equatable {
    public static let kind = "kill-thread"
    public static let fileKeys = ["target", "count", "idle"]
    /// `--count` / `fault.count`: how many connections, at most.
    public static let countRange = 1...1000
    /// The query busy connections run when they are killed.
    static let busySQL = "SELECT SLEEP(5)"

    public var target: KillTarget
    public var count: KillCount

    public init(target: KillTarget = .idle, count: KillCount = .all) {
        self.target = target
        self.count = count
    }

    public static func read<Fields: FaultFields>(_ fields: inout Fields) -> Self? {
        let target = fields.choice("target", KillTarget.self, fallback: .idle, hint: "")
        var count: KillCount? = .all
        if let text = fields.text("count"), text == "all" {
            count = .all
        } else if let n = fields.int("count", range: countRange, fallback: -1, hint: "") {
            count = n == -1 ? .all : .some(n)
        } else {
            count = nil
        }
        guard let target, let count else { return nil }
        return Self(target: target, count: count)
    }

    public init?(parameters p: [String: String]) {
        guard let target = KillTarget(rawValue: p["target"] ?? "idle") else { return nil }
        let count: KillCount = p["count"].flatMap { Int($0) }.map { .some($0) } ?? .all
        self.init(target: target, count: count)
    }

    public var parameters: [String: String] { ["target": target.rawValue, "count": count.description] }
    /// Busy kills happen at once, while the queries run.
    public var usesIdle: Bool { target == .idle }
    public var label: String { "kill-thread \(target.rawValue)" }
    public var catalogEntryID: String { "thread-killed" }

    public var fileValues: [(key: String, value: String)] {
        [("target", target.rawValue), ("count", count.description)]
    }
    /// How many are killed does not change which column measures the kill.
    public static var timingKeys: Set<String> { ["count"] }

    public func sentence(_ s: ScenarioResult) -> String {
        if s.reached == 0 {
            return target == .busy
                ? "Nothing was killed: none of the pool's busy queries showed up on the server."
                : "Nothing was killed: the pool held no idle connection when the KILL came (it had closed them itself, or every one was in a query)."
        }
        let n = s.reached.map(String.init) ?? "\(count)"
        return target == .busy
            ? "KILL CONNECTION hit \(n) pooled connection(s) while a query ran on them."
            : "KILL CONNECTION ended the server threads of \(n) idle pooled connection(s)."
    }

    public func unavoidableWait(_ scenario: Scenario) -> Double {
        target == .idle ? scenario.idle + Settle.afterKill : 0
    }

    public func fileProblems(_ scenario: Scenario) -> [(key: String, message: String)] {
        guard case .some(let k) = count, k > scenario.poolSize else { return [] }
        return [
            (
                "count",
                "fault.count \(k) is larger than pool.size \(scenario.poolSize): use 1 to \(scenario.poolSize), or all"
            )
        ]
    }

    public func preflight(_ scenario: Scenario, external: Bool, at: String) throws(RunError) {
        if case .some(let k) = count, k > scenario.poolSize {
            throw .usage(
                "\(at)scenario '\(scenario.name)': kill count \(k) is larger than the pool size \(scenario.poolSize): use 1 to \(scenario.poolSize), or all"
            )
        }
    }

    public func start(_ context: FaultContext) throws(RunError) -> any InjectedFault {
        Injected(fault: self, idleSeconds: context.scenario.idle)
    }

    final class Injected: InjectedFault {
        /// Under load, how long the kill looks for a moment when one of the pool's connections is idle.
        static let idleSearch: Duration = .seconds(2)
        let fault: KillThreadFault
        let idleSeconds: Double

        init(fault: KillThreadFault, idleSeconds: Double) {
            self.fault = fault
            self.idleSeconds = idleSeconds
        }

        var idle: IdlePeriod? {
            fault.target == .idle ? IdlePeriod(seconds: idleSeconds, reason: "pool idle before the kill") : nil
        }

        var settle: Double { fault.target == .idle ? Settle.afterKill : 0 }

        /// Threads killed; nil until the fault ran.
        var killed: Int?

        func reached() -> Int? { killed }

        func inject(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> Double {
            let admin = try context.runner.adminConnection()
            defer { admin.close() }
            switch fault.target {
            case .idle:
                var all = try context.runner.serverThreads(pool, context, admin: admin).map(\.id)
                var open = all.count
                if context.scenario.load != nil {
                    // Under load "idle" means what the server sees as idle right now (between two queries): a
                    // thread in the middle of a query is the busy target's business. A saturated pool is idle only
                    // for moments: look again, for a bounded time, before saying there was none.
                    let deadline = ContinuousClock.now + Self.idleSearch
                    var idle: [UInt64] = []
                    repeat {
                        let threads = try context.runner.serverThreads(pool, context, admin: admin).map(\.id)
                        open = threads.count
                        let sleeping = Set(
                            ScenarioRunner.threadIDs(
                                (try? admin.query(
                                    "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Sleep'")) ?? []))
                        idle = threads.filter { sleeping.contains($0) }
                        if !idle.isEmpty { break }
                        Thread.sleep(forTimeInterval: 0.005)
                    } while ContinuousClock.now < deadline
                    all = idle
                }
                let n =
                    switch fault.count {
                    case .all: all.count
                    case .some(let k): min(k, all.count)
                    }
                if n == 0 && open > 0 {
                    // Under load every connection was in a query each time the server was asked: nothing idle to
                    // kill at that moment. That is what happened, not a failure of the run.
                    context.log.record(
                        .scenario,
                        detail:
                            "fault: nothing to kill: none of the pool's \(open) open connection(s) was idle (between two queries) at any moment the server was asked during \(DriversMatrix.format(EventLog.milliseconds(Self.idleSearch) / 1000)) s (fewer workers than connections, or a shorter --query, leave it idle moments)"
                    )
                    killed = 0
                    return context.log.ms()
                }
                guard n >= 1 else {
                    killed = 0
                    // A pool that holds no connection while idle (it closed them itself, as Django does at the end of
                    // each request by default) leaves the operator nothing to kill: that is the pool's result, not a
                    // failure of the run.
                    context.log.record(
                        .scenario,
                        detail:
                            "fault: nothing to kill: the pool had no open connection after \(idleSeconds) s idle (it closed its idle connections itself)"
                    )
                    return context.log.ms()
                }
                let faultAt = context.log.ms()
                try context.runner.kill(Array(all.prefix(n)), admin: admin, context: context)
                killed = n
                return faultAt
            case .busy:
                let n =
                    switch fault.count {
                    case .all: context.scenario.poolSize
                    case .some(let k): k
                    }
                return try killBusy(pool, count: n, admin: admin, context: context)
            }
        }

        /// Starts `SELECT SLEEP` on `count` pooled connections, kills their threads mid-query, returns the
        /// fault time.
        private func killBusy(_ pool: any PoolUnderTest, count: Int, admin: MariaDBConnection, context: FaultContext)
            throws(RunError) -> Double
        {
            let busy = try pool.startBusy(count: count, sql: KillThreadFault.busySQL)
            // Wait (bounded) until the server shows every sleep running, so the kill really hits a busy thread.
            var ids: [UInt64] = []
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                let rows = try? admin.query(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE 'SELECT SLEEP(5)%'"
                )
                // Only this pool's threads: with --jobs another scenario may be sleeping on the server too.
                let own = Set(try context.runner.serverThreads(pool, context, admin: admin).map(\.id))
                ids = ScenarioRunner.threadIDs(rows ?? []).filter { own.contains($0) }
                if ids.count >= count { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            guard !ids.isEmpty else {
                try busy.wait()
                throw .environment("the pool's busy queries never showed up on the server; nothing to kill")
            }
            let faultAt = context.log.ms()
            try context.runner.kill(ids, admin: admin, context: context)
            killed = ids.count
            try busy.wait()
            return faultAt
        }
    }
}

extension Fault {
    /// `KILL CONNECTION` on the pool's own server threads.
    public static func killThread(target: KillTarget = .idle, count: KillCount = .all) -> Fault {
        Fault(KillThreadFault(target: target, count: count))
    }
}
