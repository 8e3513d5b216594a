import Foundation
import Synchronization

/// Runs scenarios against one server: builds the pool, injects the fault, runs the operations, records.
///
/// Blocking: call from a dedicated thread.
public struct ScenarioRunner: Sendable {
    public let endpoint: ServerEndpoint
    public let progress: @Sendable (RunProgress) -> Void
    /// NODE_PATH for the node adapters (`--node-path`).
    public let nodePath: String?
    /// The embedded server when repro started it (a server-restart fault stops and starts it); nil for --dsn.
    public let server: ManagedServer?

    public init(
        endpoint: ServerEndpoint, nodePath: String? = nil, server: ManagedServer? = nil,
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in }
    ) {
        self.endpoint = endpoint
        self.server = server
        self.nodePath = nodePath
        self.progress = progress
    }

    /// Connection options for this server with a policy's timeouts.
    public func connectionOptions(policy: PoolPolicy, initCommands: [String] = []) -> ConnectionOptions {
        var options = ConnectionOptions(
            host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password,
            database: endpoint.database, connectTimeout: policy.connectTimeout, readTimeout: policy.readTimeout,
            writeTimeout: policy.writeTimeout, initCommands: initCommands)
        // The embedded server's socket is never used: its faults act on TCP. A user's `?socket=` is honoured.
        if !endpoint.managed { options.unixSocket = endpoint.unixSocket }
        return options
    }

    /// Opens one connection outside any pool (admin work, server version); failures become environment errors.
    public func adminConnection(readTimeout: Int = 10) throws(RunError) -> MariaDBConnection {
        var options = connectionOptions(policy: PoolPolicy())
        options.readTimeout = readTimeout
        do {
            return try MariaDBConnection(options: options)
        } catch {
            throw environmentError(error)
        }
    }

    /// Turns a connect failure into the one-line message a user can act on, without the password.
    public func environmentError(_ error: DatabaseError) -> RunError {
        switch error.code {
        case .accessDenied:
            return .environment(
                "access denied for user '\(endpoint.user)' at \(endpoint.address): check the user and password in --dsn/REPRO_DSN"
            )
        case .databaseAccessDenied:
            return .environment(
                "user '\(endpoint.user)' may not use database '\(endpoint.database ?? "")' at \(endpoint.address): grant access or pick another database in the DSN"
            )
        case .badDatabase:
            return .environment(
                "database '\(endpoint.database ?? "")' does not exist at \(endpoint.address): create it or drop it from the DSN"
            )
        default:
            // Connector/C never puts the password in its messages; rewriting substrings of them would leak
            // which characters the password contains.
            // The embedded server is ours: ReproSession says so when it died; it never needs starting by hand.
            return .environment(
                "cannot connect to \(endpoint.managed ? "the embedded server at " : "")\(endpoint.address): \(error.message) (\(error.code.name)); \(endpoint.managed ? "the server repro started stopped answering, run again" : "is the server running and reachable?")"
            )
        }
    }

    /// Runs one scenario from a fresh pool to its result: prepare the fault, open and warm the pool under
    /// test, idle, inject, settle, run the operations, undo the fault, record. Everything about a particular
    /// fault lives in its `FaultKind` (Faults/).
    public func run(_ scenario: Scenario) throws(RunError) -> ScenarioResult {
        try scenario.preflight(external: !endpoint.managed)
        // Under load, thousands of operations a second: keep the first routine events, count the rest.
        var run = FaultRun(scenario: scenario, log: EventLog(routineLimit: scenario.load == nil ? nil : 2000))
        try inject(scenario, &run)
        if let failure = run.closeFailure { throw .environment(failure) }
        // After everything was undone: the restore of a global setting belongs in the timeline.
        return run.result()
    }

    private func inject(_ scenario: Scenario, _ run: inout FaultRun) throws(RunError) {
        let log = run.log
        var context = FaultContext(runner: self, scenario: scenario, log: log)
        let fault = try scenario.fault.base.start(context)
        defer { fault.close() }
        let pool = try makePool(
            &run, initCommands: fault.initCommands, port: fault.port, host: fault.host, launcher: fault.launcher,
            inChild: scenario.fault.base.suspendsPool || fault.launcher != nil)
        // After the pool closed: its threads still in a statement (a long --query under load) are stopped too.
        var ownThreads: [UInt64] = []
        defer {
            killRunningLeftovers(ownThreads, log: log)
            run.closeFailure = pool.closeFailure
        }
        defer { pool.close() }
        defer {
            if scenario.load != nil {
                // Those open now, and every connection the pool said it opened (one a read timeout gave up on
                // may still run its statement on the server).
                let opened = log.events.filter { $0.event == .connect }.compactMap(\.threadID)
                ownThreads = Array(Set(ownThreadsAtEnd(pool, context) + opened)).sorted()
            }
        }
        // Before the pool closes: firewall rules off, threads a cut left behind killed.
        defer { fault.finish() }
        context.baselineThreads = run.baselineThreads
        context.warmedAt = try warm(pool, &run)
        if let load = scenario.load {
            try runLoad(load, fault: fault, pool: pool, context: &context, run: &run)
            return
        }
        if let period = fault.idle {
            if let note = period.note { log.record(.scenario, detail: note) }
            idle(seconds: period.seconds, scenario: scenario.name, reason: period.reason)
        }
        run.faultAt = try fault.inject(pool, context)
        if fault.settle > 0 { Thread.sleep(forTimeInterval: fault.settle) }
        if let ran = try fault.operations(pool, context) {
            run.operationsStartedAt = ran.startedAt
            run.operations = ran.records
        } else {
            try runOperations(pool, &run)
        }
        run.tcpSignal = fault.tcpSignal()
        run.reached = fault.reached()
        run.faultWindow = fault.window()
        run.duringFault = fault.triesDuringFault()
    }

    // MARK: - Shared steps

    /// Opens the pool under test: repro's own, or the real driver stack the scenario names.
    private func makePool(
        _ run: inout FaultRun, initCommands: [String], port: Int? = nil, host: String? = nil,
        launcher: [String]? = nil, inChild: Bool = false
    ) throws(RunError) -> any PoolUnderTest {
        run.baselineThreads = try processListIDs()
        var options = connectionOptions(policy: run.scenario.policy, initCommands: initCommands)
        if let port {
            options.host = host ?? "127.0.0.1"
            options.port = port
            options.unixSocket = nil
        } else if let host {
            options.host = host
            options.unixSocket = nil
        }
        if !endpoint.managed, endpoint.unixSocket != nil, options.unixSocket != nil,
            run.scenario.driver != nil || inChild
        {
            // A child process dials TCP: with the socket in the DSN it could reach (and send the password to)
            // another server than the one repro checks over the socket.
            throw .usage(
                "\(run.scenario.driver.map { "--driver \($0.name)" } ?? "this scenario") runs the pool in a child process that connects over TCP, not a Unix socket: drop ?socket= from the DSN and give the server's host:port"
            )
        }
        let pool: any PoolUnderTest
        if var driver = run.scenario.driver {
            driver.defaultOptions = run.scenario.fault.base.applicationOptions
            let adapter = try AdapterCatalog.find(driver.name)
            progress(.step(scenario: run.scenario.name, "starting the \(driver.name) adapter"))
            let target = AdapterTarget(
                host: options.host, port: options.port, user: endpoint.user, password: endpoint.password,
                database: endpoint.database)
            pool = try AdapterPool(
                adapter: adapter, choice: driver, nodePath: nodePath, target: target,
                size: run.scenario.poolSize,
                initSQL: initCommands, log: run.log, launcher: launcher ?? [])
        } else if inChild {
            // repro's own pool in a child process of its own (`repro serve-pool`), so a freeze can stop it, or so it
            // runs in the network namespace behind a NAT.
            progress(.step(scenario: run.scenario.name, "starting repro's pool in a child process"))
            let target = AdapterTarget(
                host: options.host, port: options.port, user: endpoint.user, password: endpoint.password,
                database: endpoint.database)
            pool = try AdapterPool(
                servingPolicy: run.scenario.policy, target: target, size: run.scenario.poolSize,
                initSQL: initCommands, log: run.log, launcher: launcher ?? [])
        } else {
            let runner = self
            pool = SwiftPoolUnderTest(
                policy: run.scenario.policy, size: run.scenario.poolSize, options: options, log: run.log
            ) { error in runner.environmentError(error) }
        }
        run.client = pool.client
        return pool
    }

    /// Fills the pool (and takes the held connection); returns when it was full (ms).
    private func warm(_ pool: any PoolUnderTest, _ run: inout FaultRun) throws(RunError) -> Double {
        progress(.step(scenario: run.scenario.name, "warming \(pool.size) connection(s)"))
        let reported = try pool.warm()
        if run.scenario.pattern == .held { try pool.hold() }
        let at = run.log.ms()
        run.warmedAt = at
        run.log.record(
            .scenario,
            detail:
                "pool warm: \(pool.size) connection(s), server threads \(reported.map(String.init).joined(separator: ", "))"
        )
        return at
    }

    /// Sleeps `seconds`, reporting progress about every 250 ms; bounded by construction.
    func idle(seconds: Double, scenario: String, reason: String) {
        let start = ContinuousClock.now
        let total = Duration.milliseconds(Int(seconds * 1000))
        while true {
            let elapsed = ContinuousClock.now - start
            progress(
                .waiting(
                    scenario: scenario, elapsed: EventLog.milliseconds(elapsed) / 1000, total: seconds, reason: reason))
            if elapsed >= total { break }
            let left = total - elapsed
            Thread.sleep(forTimeInterval: min(0.25, EventLog.milliseconds(left) / 1000))
        }
    }

    private func runOperations(_ pool: any PoolUnderTest, _ run: inout FaultRun) throws(RunError) {
        progress(.step(scenario: run.scenario.name, "running \(run.scenario.operationCount) operation(s)"))
        let total = max(1, run.scenario.operationCount)
        run.operationsStartedAt = run.log.ms()
        for i in 1...total {
            progress(.operation(scenario: run.scenario.name, index: i, total: total))
            run.operations.append(try pool.execute("SELECT 1", operation: i, held: run.scenario.pattern == .held))
        }
    }
}
