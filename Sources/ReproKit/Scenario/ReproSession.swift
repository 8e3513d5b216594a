import Foundation

/// One server for a batch of scenarios: the embedded one this tool starts, or the user's (`--dsn`).
public final class ReproSession: Sendable {
    public let endpoint: ServerEndpoint
    public let serverVersion: String
    private let managed: ManagedServer?

    /// Parses the DSN or starts the embedded server, then checks that a connection works (within
    /// `connectTimeout` seconds: the scenarios' `--connect-timeout`).
    public static func open(dsn: String?, connectTimeout: Int = 5) throws(RunError) -> ReproSession {
        // Firewall chains of kernel-cut runs that were SIGKILLed would go on cutting flows: every run sweeps
        // them, not only kernel-cut runs (cheap: nothing happens without root and iptables). Quietly, like the
        // sandboxes below: the one line on stderr belongs to this run's own problem.
        KernelCut.removeStale()
        // Pool processes a killed run left suspended by a freeze would stay stopped forever: continue and kill them.
        for line in SuspendedGroup.removeStale() { Console.err("repro: \(line)\n") }
        // NAT namespaces, links and host rules of network-cut --via nat runs that were killed.
        IdleTimeoutNAT.removeStale()
        // Sandboxes of earlier runs that were killed outright (SIGKILL, OOM) would run forever: servers, and the
        // HAProxy of a --via haproxy run, also in front of a user's server.
        ManagedServer.removeStale()
        if let dsn, !dsn.isEmpty {
            let endpoint: ServerEndpoint
            do {
                endpoint = try ServerEndpoint(dsn: dsn)
            } catch {
                throw .usage(error.message)
            }
            let probe = try firstConnection(to: endpoint, connectTimeout: connectTimeout)
            defer { probe.close() }
            // A global wait_timeout left by a run that was killed before its restore goes back first.
            if let line = GlobalWaitTimeout.restoreLeftover(on: probe, endpoint: endpoint) {
                Console.err("repro: \(line)\n")
            }
            return ReproSession(endpoint: endpoint, serverVersion: probe.serverVersion, managed: nil)
        }
        let server: ManagedServer
        // REPRO_MARIADB_PATH: where to look for mariadbd instead of PATH and the usual sbin directories.
        let searchPath = ProcessInfo.processInfo.environment["REPRO_MARIADB_PATH"].flatMap {
            $0.isEmpty ? nil : $0.split(separator: ":").map(String.init)
        }
        do {
            server = try ManagedServer.start(searchPath: searchPath)
        } catch {
            if error.code == .binaryNotFound, let searchPath {
                throw .environment(
                    "\(error.message.split(separator: ";").first ?? "") in REPRO_MARIADB_PATH (\(searchPath.joined(separator: ":"))): point it at the directories holding mariadbd and mariadb-install-db, or unset it (make setup installs mariadb-server)"
                )
            }
            throw .environment(error.message)
        }
        return ReproSession(endpoint: server.endpoint, serverVersion: server.version, managed: server)
    }

    /// The first connection to a user's server; a silent port (nothing answers the handshake) gives up after
    /// `connectTimeout` seconds and says so.
    private static func firstConnection(to endpoint: ServerEndpoint, connectTimeout: Int) throws(RunError)
        -> MariaDBConnection
    {
        let runner = ScenarioRunner(endpoint: endpoint)
        var options = runner.connectionOptions(policy: PoolPolicy())
        options.connectTimeout = connectTimeout
        options.readTimeout = 10
        let started = ContinuousClock.now
        do {
            return try MariaDBConnection(options: options)
        } catch {
            let tookTheTimeout = ContinuousClock.now - started >= .seconds(connectTimeout) - .milliseconds(200)
            guard tookTheTimeout, ServerWatch.goneCodes.contains(error.code) else {
                throw runner.environmentError(error)
            }
            throw .environment(
                "cannot connect to \(endpoint.address): no answer within the connect timeout of \(connectTimeout) s (\(error.message), \(error.code.name)); check that a MariaDB/MySQL server listens there, or raise --connect-timeout"
            )
        }
    }

    private init(endpoint: ServerEndpoint, serverVersion: String, managed: ManagedServer?) {
        self.endpoint = endpoint
        self.serverVersion = serverVersion
        self.managed = managed
    }

    /// The report's server block: version, managed or not, address — never credentials.
    public var serverInfo: Report.Server {
        Report.Server(version: serverVersion, managed: managed != nil, address: endpoint.address)
    }

    public static var clientInfo: Report.Client {
        Report.Client(
            library: "MariaDB Connector/C", version: MariaDBConnection.clientVersion, pool: "repro pool",
            poolVersion: ReproVersion.version)
    }

    /// Runs the scenarios, each on a fresh pool, up to `jobs` at a time (`ParallelRuns`: file order kept,
    /// a scenario that changes the whole server runs alone), and builds the report in file order.
    public func run(
        _ scenarios: [Scenario], jobs: Int = 1, failFast: Bool = false, nodePath: String? = nil,
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in },
        onResult: @escaping @Sendable (ScenarioResult) -> Void = { _ in }
    ) throws(RunError) -> Report {
        let outcome = ParallelRuns.run(
            count: scenarios.count, jobs: jobs, exclusive: { scenarios[$0].fault.needsServerAlone },
            stopAfter: { failFast && !$0.passed }, onResult: { onResult($1) }
        ) { index throws(RunError) in
            try self.run(
                scenarios[index], with: self.runner(nodePath: nodePath, progress: progress))
        }
        if let failure = outcome.failure { throw failure }
        return Report(server: serverInfo, client: Self.clientInfo, scenarios: outcome.results.compactMap { $0 })
    }

    /// Runs one scenario, then makes sure the server outlived it (`ServerWatch`): a server that died under a
    /// scenario is an environment failure naming the server and the scenario, never the policy's result.
    public func run(_ scenario: Scenario, with runner: ScenarioRunner) throws(RunError) -> ScenarioResult {
        let watch = ServerWatch(
            endpoint: endpoint, managed: managed, connectTimeout: scenario.policy.connectTimeout)
        let result: ScenarioResult
        do {
            result = try runner.run(scenario)
        } catch {
            // A dead server shows up as whatever step failed first ("cannot connect", "KILL failed"): say why.
            if error.kind == .environment, let death = watch.death(during: scenario.name) { throw death }
            throw error
        }
        if let death = watch.death(during: scenario.name) { throw death }
        return result
    }

    /// A runner on this session's server (with the embedded server, for a fault that restarts it).
    public func runner(nodePath: String? = nil, progress: @escaping @Sendable (RunProgress) -> Void = { _ in })
        -> ScenarioRunner
    {
        ScenarioRunner(endpoint: endpoint, nodePath: nodePath, server: managed, progress: progress)
    }

    /// Stops the embedded server (if any) and removes its directory; idempotent.
    public func close() {
        managed?.stop()
    }
}
