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

    public init(
        endpoint: ServerEndpoint, nodePath: String? = nil,
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in }
    ) {
        self.endpoint = endpoint
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

    /// Runs one scenario from a fresh pool to its result.
    public func run(_ scenario: Scenario) throws(RunError) -> ScenarioResult {
        try scenario.preflight(external: !endpoint.managed)
        let log = EventLog()
        var run = FaultRun(scenario: scenario, log: log)
        switch scenario.fault {
        case .waitTimeout(let seconds, let margin, let scope):
            try runWaitTimeout(&run, seconds: seconds, margin: margin, scope: scope)
        case .killThread(let target, let count):
            try runKillThread(&run, target: target, count: count)
        case .networkCut(let mode, let via):
            try runNetworkCut(&run, mode: mode, via: via)
        }
        return run.result()
    }

    // MARK: - Faults

    private func runWaitTimeout(_ run: inout FaultRun, seconds: Int, margin: Double, scope: WaitTimeoutScope)
        throws(RunError)
    {
        guard (1...31_536_000).contains(seconds) else {
            throw .usage("wait_timeout \(seconds) is out of range: use whole seconds from 1 to 31536000")
        }
        guard margin >= 0, margin <= 3600 else {
            throw .usage("margin \(margin) is out of range: use seconds from 0 to 3600")
        }
        let name = run.scenario.name
        var initCommands: [String] = []
        var restore: (() -> Void)?
        switch scope {
        case .session:
            initCommands = ["SET SESSION wait_timeout=\(seconds)"]
        case .global:
            // Scenario.preflight refused this on a server repro did not start, unless --allow-global.
            let log = run.log
            let global = try GlobalWaitTimeout.set(seconds, runner: self, log: log) { line in
                progress(.step(scenario: name, line))
            }
            restore = { global.restore(log: log) }
        }
        defer { restore?() }
        let pool = try makePool(&run, initCommands: initCommands)
        defer { pool.close() }
        let warmedAt = try warm(pool, &run)
        run.faultAt = warmedAt + Double(seconds) * 1000
        run.log.record(
            .scenario, detail: "idle: waiting \(seconds)s wait_timeout + \(margin)s margin (\(scope.rawValue) scope)")
        idle(seconds: Double(seconds) + margin, scenario: name, reason: "wait_timeout \(seconds)s + margin")
        run.log.record(.scenario, detail: "idle over: running \(run.scenario.operationCount) operations")
        try runOperations(pool, &run)
    }

    private func runKillThread(_ run: inout FaultRun, target: KillTarget, count: KillCount) throws(RunError) {
        let pool = try makePool(&run, initCommands: [])
        defer { pool.close() }
        _ = try warm(pool, &run)
        let admin = try adminConnection()
        defer { admin.close() }
        switch target {
        case .idle:
            idle(seconds: run.scenario.idle, scenario: run.scenario.name, reason: "pool idle before the kill")
            let all = try serverThreads(pool, run, admin: admin).map(\.id)
            let n =
                switch count {
                case .all: all.count
                case .some(let k): min(k, all.count)
                }
            guard n >= 1 else { throw .environment("the pool has no connection open on the server to kill") }
            run.faultAt = run.log.ms()
            try kill(Array(all.prefix(n)), admin: admin, log: run.log, scenario: run.scenario.name)
            Thread.sleep(forTimeInterval: Settle.afterKill)
        case .busy:
            let n =
                switch count {
                case .all: run.scenario.poolSize
                case .some(let k): k
                }
            run.faultAt = try killBusy(pool, count: n, admin: admin, run: run)
        }
        try runOperations(pool, &run)
    }

    private func kill(_ threadIDs: [UInt64], admin: MariaDBConnection, log: EventLog, scenario: String)
        throws(RunError)
    {
        progress(.step(scenario: scenario, "KILL CONNECTION on \(threadIDs.count) pool thread(s)"))
        for id in threadIDs {
            do {
                try admin.query("KILL CONNECTION \(id)")
                log.record(.scenario, threadID: id, detail: "fault: KILL CONNECTION \(id)")
            } catch {
                throw .environment(
                    "KILL CONNECTION \(id) failed at \(endpoint.address): \(error.message); the user needs to own the thread or have CONNECTION ADMIN"
                )
            }
        }
    }

    /// Starts `SELECT SLEEP` on `count` pooled connections, kills their threads mid-query, returns the fault time.
    private func killBusy(_ pool: any PoolUnderTest, count: Int, admin: MariaDBConnection, run: FaultRun)
        throws(RunError) -> Double
    {
        let busy = try pool.startBusy(count: count, sql: "SELECT SLEEP(5)")
        // Wait (bounded) until the server shows every sleep running, so the kill really hits a busy thread.
        var ids: [UInt64] = []
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let rows = try? admin.query(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE 'SELECT SLEEP(5)%'"
            )
            // Only this pool's threads: with --jobs another scenario may be sleeping on the server too.
            let own = Set(try serverThreads(pool, run, admin: admin).map(\.id))
            ids = Self.threadIDs(rows ?? []).filter { own.contains($0) }
            if ids.count >= count { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        guard !ids.isEmpty else {
            try busy.wait()
            throw .environment("the pool's busy queries never showed up on the server; nothing to kill")
        }
        let faultAt = run.log.ms()
        try kill(ids, admin: admin, log: run.log, scenario: run.scenario.name)
        try busy.wait()
        return faultAt
    }

    private func runNetworkCut(_ run: inout FaultRun, mode: CutMode, via: CutVia) throws(RunError) {
        if !endpoint.managed && endpoint.unixSocket != nil {
            throw .usage("network-cut cuts TCP flows: drop ?socket= from the DSN and give the server's host:port")
        }
        switch via {
        case .proxy: try runProxyCut(&run, mode: mode)
        case .kernel: try runKernelCut(&run, mode: mode)
        }
    }

    /// The pool reaches the server through FaultProxy; after the pool is warm and idle, every open flow is cut.
    private func runProxyCut(_ run: inout FaultRun, mode: CutMode) throws(RunError) {
        let log = run.log
        // What each client socket finally received: half-open sends nothing at cut time, RST on the next packet.
        let closeSignals = Mutex<[Int: ClientSignal]>([:])
        let proxy = FaultProxy(upstreamHost: endpoint.host, upstreamPort: endpoint.port) { event in
            guard event.kind != .open else { return }
            if event.kind == .close, let signal = event.signal {
                closeSignals.withLock { $0[event.flowID] = signal }
            }
            log.record(
                .scenario,
                detail:
                    "proxy flow \(event.flowID) \(event.kind.rawValue)\(event.signal.map { ": client got \($0.rawValue)" } ?? "") (\(event.bytesUp) B up, \(event.bytesDown) B down)"
            )
        }
        let port: Int
        do {
            port = try proxy.start()
        } catch {
            throw .environment("cannot start the fault proxy on 127.0.0.1: \(FaultProxy.reason(error))")
        }
        defer { proxy.stop() }
        let pool = try makePool(&run, initCommands: [], port: port)
        defer { pool.close() }
        _ = try warm(pool, &run)
        // A middlebox forgets a flow after it has been idle a while; so does this cut.
        idle(seconds: run.scenario.idle, scenario: run.scenario.name, reason: "pool idle before the cut")
        progress(
            .step(
                scenario: run.scenario.name, "cutting \(proxy.openFlowCount) open flow(s): \(mode.rawValue) via proxy"))
        run.faultAt = log.ms()
        let cuts = proxy.cutAll(mode)
        let atCut = cuts.first?.signal ?? ClientSignal.none
        log.record(
            .scenario,
            detail:
                "fault: \(mode.rawValue) cut of \(cuts.count) flow(s) via proxy; client side received \(atCut.rawValue) at the cut"
        )
        // Let the RST/FIN reach the client sockets before the pool is used.
        Thread.sleep(forTimeInterval: Settle.afterProxyCut)
        try runOperations(pool, &run)
        if mode == .halfOpen {
            let later = closeSignals.withLock { signals in cuts.compactMap { signals[$0.flowID] } }
            run.tcpSignal = (later.contains(.rst) ? ClientSignal.rst : atCut).rawValue
        } else {
            run.tcpSignal = atCut.rawValue
        }
    }

    /// The same cut with iptables rules on this run's own flows (root only); every rule is removed afterwards.
    private func runKernelCut(_ run: inout FaultRun, mode: CutMode) throws(RunError) {
        let kernelMode: KernelCutMode
        switch mode {
        case .reset: kernelMode = .reset
        case .blackhole: kernelMode = .blackhole
        case .halfOpen: kernelMode = .halfOpen
        case .close:
            throw .usage("--mode close needs --via proxy: a packet filter cannot make the peer send FIN")
        }
        do { try KernelCut.checkAvailable() } catch { throw .environment(error.message) }
        // Chains of earlier runs that were SIGKILLed (their pid is gone) would still cut flows: remove them.
        for chain in KernelCut.removeStale() {
            run.log.record(.scenario, detail: "removed stale firewall chain \(chain) left by a killed run")
        }
        guard ["127.0.0.1", "localhost"].contains(endpoint.host) else {
            throw .usage("--via kernel cuts loopback flows only (server at \(endpoint.hostPort)): use --via proxy")
        }
        let log = run.log
        let pool = try makePool(&run, initCommands: [])
        defer { pool.close() }
        _ = try warm(pool, &run)
        idle(seconds: run.scenario.idle, scenario: run.scenario.name, reason: "pool idle before the cut")
        let threads: [ServerThread]
        do {
            let admin = try adminConnection()
            defer { admin.close() }
            threads = try serverThreads(pool, run, admin: admin)
        }
        let poolThreads = threads.map(\.id)
        // The rules fool only the client side: the server never hears of the cut, so its ends of these flows
        // would sleep until wait_timeout. Kill them (only this pool's threads) once the rules are gone.
        defer { killLeftovers(poolThreads, log: log) }
        let ports = threads.compactMap(\.clientPort)
        guard !ports.isEmpty else {
            // A pool that closed its idle connections itself (a max idle time below the idle period) has no
            // flow a middlebox could forget: that is the pool's result, not a failure of the run.
            run.faultAt = log.ms()
            log.record(
                .scenario,
                detail:
                    "fault: nothing to cut: the pool had no open connection after \(run.scenario.idle) s idle (it closed its idle connections itself)"
            )
            try runOperations(pool, &run)
            return
        }
        let cut: KernelCut
        do {
            cut = try KernelCut(serverPort: endpoint.port, clientPorts: ports)
        } catch {
            throw .environment(error.message)
        }
        defer {
            cut.remove()
            log.record(.scenario, detail: "kernel rules removed")
        }
        progress(.step(scenario: run.scenario.name, "cutting \(ports.count) flow(s): \(mode.rawValue) via kernel"))
        run.faultAt = log.ms()
        do {
            try cut.apply(kernelMode)
        } catch {
            throw .environment(error.message)
        }
        run.tcpSignal = kernelMode == .blackhole ? ClientSignal.none.rawValue : ClientSignal.rst.rawValue
        log.record(
            .scenario,
            detail:
                "fault: \(mode.rawValue) via kernel on client ports \(ports.map(String.init).joined(separator: ",")): \(cut.ruleSummary.joined(separator: "; "))"
        )
        Thread.sleep(forTimeInterval: Settle.afterKernelCut)
        try runOperations(pool, &run)
    }

    /// KILLs those of `threadIDs` that the server still has (a kernel cut leaves them behind).
    private func killLeftovers(_ threadIDs: [UInt64], log: EventLog) {
        guard !threadIDs.isEmpty, let admin = try? adminConnection() else { return }
        defer { admin.close() }
        let list = threadIDs.map(String.init).joined(separator: ",")
        let alive = (try? admin.query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN (\(list))")) ?? []
        for row in alive {
            if let id = row.first ?? nil { _ = try? admin.query("KILL CONNECTION \(id)") }
        }
        if !alive.isEmpty {
            log.record(.scenario, detail: "killed \(alive.count) server thread(s) the kernel cut left behind")
        }
    }

    // MARK: - Shared steps

    /// Opens the pool under test: repro's own, or the real driver stack the scenario names.
    private func makePool(_ run: inout FaultRun, initCommands: [String], port: Int? = nil) throws(RunError)
        -> any PoolUnderTest
    {
        run.baselineThreads = try processListIDs()
        var options = connectionOptions(policy: run.scenario.policy, initCommands: initCommands)
        if let port {
            options.host = "127.0.0.1"
            options.port = port
            options.unixSocket = nil
        }
        let pool: any PoolUnderTest
        if let driver = run.scenario.driver {
            let adapter = try AdapterCatalog.find(driver.name)
            progress(.step(scenario: run.scenario.name, "starting the \(driver.name) adapter"))
            let target = AdapterTarget(
                host: options.host, port: options.port, user: endpoint.user, password: endpoint.password,
                database: endpoint.database)
            pool = try AdapterPool(
                adapter: adapter, choice: driver, nodePath: nodePath, target: target, size: run.scenario.poolSize,
                initSQL: initCommands, log: run.log)
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

    /// Server thread ids on the server now, to tell the pool's threads from others later.
    private func processListIDs() throws(RunError) -> Set<UInt64> {
        let admin = try adminConnection()
        defer { admin.close() }
        let rows = (try? admin.query("SELECT ID FROM information_schema.PROCESSLIST")) ?? []
        return Set(Self.threadIDs(rows))
    }

    /// The thread ids in the first column of processlist rows.
    private static func threadIDs(_ rows: [[String?]]) -> [UInt64] {
        rows.compactMap { $0.first ?? nil }.compactMap { UInt64($0) }
    }

    /// The pool's server threads and client ports: from the pool when it knows them, else from the server's
    /// processlist — threads of this user that were not there before the pool opened (its `HOST` column
    /// carries the client port).
    private func serverThreads(_ pool: any PoolUnderTest, _ run: FaultRun, admin: MariaDBConnection)
        throws(RunError) -> [ServerThread]
    {
        if let known = pool.knownServerThreads() { return known }
        // With --jobs other scenarios' threads appear too: the pool's own sockets tell them apart.
        let ports = pool.clientPorts(serverPort: endpoint.port)
        let rows: [[String?]]
        do {
            rows = try admin.query(
                "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER = SUBSTRING_INDEX(USER(), '@', 1) AND COMMAND <> 'Daemon' ORDER BY ID"
            )
        } catch {
            throw .environment("cannot read the processlist at \(endpoint.address): \(error.message)")
        }
        return rows.compactMap { row -> ServerThread? in
            guard let idText = row.first ?? nil, let id = UInt64(idText), !run.baselineThreads.contains(id) else {
                return nil
            }
            let host = row.count > 1 ? row[1] : nil
            let port = host.flatMap { $0.split(separator: ":").last }.flatMap { Int($0) }
            if let ports, !ports.contains(port ?? -1) { return nil }
            return ServerThread(id: id, clientPort: port)
        }
    }

    /// Sleeps `seconds`, reporting progress about every 250 ms; bounded by construction.
    private func idle(seconds: Double, scenario: String, reason: String) {
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

/// The mutable state of one scenario run, turned into a `ScenarioResult` at the end.
struct FaultRun {
    let scenario: Scenario
    let log: EventLog
    var client = ReproSession.clientInfo
    /// Server threads that existed before the pool opened: not the pool's.
    var baselineThreads: Set<UInt64> = []
    var warmedAt: Double?
    var operationsStartedAt: Double?
    var faultAt: Double?
    var tcpSignal: String?
    var operations: [OperationRecord] = []

    init(scenario: Scenario, log: EventLog) {
        self.scenario = scenario
        self.log = log
    }

    func result() -> ScenarioResult {
        let errors = log.errors
        let first = errors.first
        let recovered = !operations.isEmpty && operations.allSatisfy(\.succeeded)
        let succeeded = operations.filter(\.succeeded).count
        var detection: Double?
        var recovery: Double?
        if let faultAt {
            detection = errors.first { $0.atMs >= faultAt - 1 }.map { max(0, $0.atMs - faultAt) }
            // Only a pool that recovered has a recovery time; otherwise the first success is not a recovery.
            if recovered {
                recovery = operations.first { $0.succeeded }.map { max(0, $0.atMs + $0.durationMs - faultAt) }
            }
        }
        let expectations = scenario.expectations.evaluate(firstError: first, recovered: recovered)
        var parameters = scenario.fault.parameters
        parameters["operations"] = "\(scenario.operationCount)"
        if case .waitTimeout = scenario.fault {
        } else if case .killThread(.busy, _) = scenario.fault {
        } else {
            parameters["idle"] = "\(scenario.idle)"
        }
        var idleBefore: Double?
        if let warmedAt, let operationsStartedAt { idleBefore = operationsStartedAt - warmedAt }
        return ScenarioResult(
            name: scenario.name, client: client, pattern: scenario.pattern, idleBeforeOperationsMs: idleBefore,
            kind: scenario.fault.kind, description: scenario.description, policy: scenario.policy,
            poolSize: scenario.poolSize, parameters: parameters, firstError: first, errors: errors,
            recovered: recovered,
            operations: .init(total: operations.count, succeeded: succeeded, failed: operations.count - succeeded),
            operationResults: operations, faultAtMs: faultAt, detectionMs: detection, recoveryMs: recovery,
            tcpSignal: tcpSignal, timeline: log.events, expectations: expectations,
            passed: expectations.allSatisfy(\.passed), durationMs: log.ms())
    }
}
