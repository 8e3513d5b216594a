#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Notices a server that died under a scenario. No fault of repro's stops the server (wait-timeout, KILL and cuts
/// act on connections), so a server that is gone afterwards died on its own — a kill -9, a crash, the OOM killer,
/// someone stopping it — and the scenario's result says nothing about the pool: an environment failure (exit 3).
///
/// Cheap, so it runs after every scenario: one `waitpid(WNOHANG)` for the embedded server, one fresh connection
/// for a user's server. Blocking: call from the runner's thread.
struct ServerWatch: Sendable {
    let endpoint: ServerEndpoint
    let managed: ManagedServer?
    /// Seconds a fresh connection to a user's server may take (the scenario's `--connect-timeout`).
    var connectTimeout = 5

    /// nil while the server is alive; else the one line that says which server died, during which scenario, and
    /// what is known about how.
    func death(during scenario: String) -> RunError? {
        if let managed {
            guard let exit = managed.unexpectedExit() else { return nil }
            let how =
                switch exit {
                case .exited(let status) where status < 0: "ended (someone else reaped it)"
                case .exited(let status): "exited with status \(status)"
                case .signaled(let signo): "was killed by signal \(signo) (\(Self.signalName(signo)))"
                }
            let log = managed.errorLogTail().map { "; its error log ends: \($0)" } ?? "; it wrote no error log"
            return .environment(
                "the embedded server died during scenario '\(scenario)': mariadbd (pid \(managed.pid)) \(how)\(log); no result is reported for this scenario — find what stopped it (a kill, the OOM killer, a full disk) and run again"
            )
        }
        var options = ScenarioRunner(endpoint: endpoint).connectionOptions(policy: PoolPolicy())
        options.connectTimeout = connectTimeout
        do {
            let probe = try MariaDBConnection(options: options)
            probe.close()
            return nil
        } catch {
            // Only a server that is not there: a refused login (a locked account) is another problem, named elsewhere.
            guard Self.goneCodes.contains(error.code) else { return nil }
            return .environment(
                "the server at \(endpoint.address) stopped answering during scenario '\(scenario)': a new connection failed with \(error.message) (\(error.code.name)); no result is reported for this scenario — check that the server is up and run again"
            )
        }
    }

    /// Connect failures that mean nothing answers at the address (or it is shutting down).
    static let goneCodes: Set<DatabaseError.Code> = [
        .connectionError, .connHostError, .serverGone, .serverLost, .serverLostExtended, .serverShutdown,
    ]

    static func signalName(_ signo: Int32) -> String {
        let names: [Int32: String] = [
            SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS",
            SIGINT: "SIGINT", SIGHUP: "SIGHUP", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
        ]
        return names[signo] ?? "signal \(signo)"
    }
}
