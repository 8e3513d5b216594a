import ArgumentParser
import ReproKit

extension Repro {
    /// `repro network-cut`: the network between pool and server is cut while the pool sits idle.
    struct NetworkCut: ParsableCommand, ScenarioCommandLine {
        static let configuration = CommandConfiguration(
            commandName: "network-cut",
            abstract: "Cut the pool's idle TCP flows (reset, close, blackhole, half-open), then use the pool.",
            discussion: """
                reset: RST to the client now. close: FIN to the client now. blackhole: nothing flows either way; \
                the client waits for its read timeout. half-open: the server side is dropped silently; the client's \
                next packet is answered with RST (a NAT or load balancer after its idle timeout).
                --via proxy (default) puts an in-process TCP proxy between pool and server and works without root, \
                also for external servers. --via kernel does the cut with iptables rules on this run's own loopback \
                flows (root only; every rule is removed afterwards, also on Ctrl-C).
                --via nat and --via haproxy cut nothing: the pool reaches the server through a middlebox that \
                forgets a flow idle for --idle-timeout seconds by itself. nat is a real Linux NAT (conntrack) in \
                network namespaces this run creates (root; the pool runs inside them), so TCP keepalive probes keep \
                a flow alive as through a cloud NAT gateway; --on-expiry says whether it then drops the flow's packets \
                (Azure, GCP) or answers RST (AWS). haproxy is a real HAProxy in TCP mode (timeout client/server), which \
                sees only payload: keepalive probes do not keep a flow alive through it. Everything the run creates is \
                removed afterwards, also on Ctrl-C, and swept by the next run after a SIGKILL.
                """)

        @Option(
            help: ArgumentHelp(
                "How the flows are cut (reset, close, blackhole, half-open; not with --via nat or haproxy).",
                valueName: "mode"))
        var mode: CutMode?

        @Option(
            help: ArgumentHelp(
                "Where: the in-process proxy, the kernel (root), a NAT (root) or HAProxy between pool and server.",
                valueName: "how"))
        var via: CutVia = .proxy

        @Option(
            name: .customLong("idle-timeout"),
            help: ArgumentHelp(
                "--via nat/haproxy: seconds a flow may idle before the middlebox forgets or closes it (default: 2).",
                valueName: "seconds"))
        var idleTimeout: Int?

        @Option(
            name: .customLong("on-expiry"),
            help: ArgumentHelp(
                "--via nat: what the NAT does with packets of a flow it forgot: drop (default) or reset.",
                valueName: "what"))
        var onExpiry: NATExpiry?

        @Option(
            name: .customLong("keepalive-time"),
            help: ArgumentHelp(
                "--via nat: net.ipv4.tcp_keepalive_time and tcp_keepalive_intvl (s) in the pool's namespace: when a socket with SO_KEEPALIVE and no times of its own probes (default: the kernel's, 7200 and 75).",
                valueName: "seconds"))
        var keepaliveTime: Int?

        @OptionGroup var timing: IdleOptions
        @OptionGroup var server: ServerOptions
        @OptionGroup var pool: PolicyOptions
        @OptionGroup var driver: DriverOptions
        @OptionGroup var load: LoadOptions
        @OptionGroup var expect: ExpectOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if via.isMiddlebox {
                if mode != nil {
                    throw ValidationError(
                        "--mode does not apply to --via \(via.rawValue): its idle timeout is the fault; drop --mode and set --idle-timeout"
                    )
                }
                if let idleTimeout, !NetworkCutFault.idleTimeoutRange.contains(idleTimeout) {
                    throw ValidationError(
                        "--idle-timeout \(idleTimeout) is out of range: use seconds from \(NetworkCutFault.idleTimeoutRange.lowerBound) to \(NetworkCutFault.idleTimeoutRange.upperBound)"
                    )
                }
                if via == .haproxy, onExpiry != nil || keepaliveTime != nil {
                    throw ValidationError("--on-expiry and --keepalive-time apply to --via nat only")
                }
                if let keepaliveTime, !NetworkCutFault.keepaliveTimeRange.contains(keepaliveTime) {
                    throw ValidationError(
                        "--keepalive-time \(keepaliveTime) is out of range: use seconds from \(NetworkCutFault.keepaliveTimeRange.lowerBound) to \(NetworkCutFault.keepaliveTimeRange.upperBound)"
                    )
                }
                return
            }
            guard let mode else {
                throw ValidationError(
                    "--mode is required with --via \(via.rawValue): use reset, close, blackhole or half-open")
            }
            if idleTimeout != nil || onExpiry != nil || keepaliveTime != nil {
                throw ValidationError(
                    "--idle-timeout, --on-expiry and --keepalive-time apply to --via nat or haproxy, not to a cut at a chosen moment"
                )
            }
            if via == .kernel {
                do { _ = try KernelCutMode(mode) } catch { throw ValidationError(error.message) }
            }
        }

        /// The fault these flags describe.
        var fault: Fault {
            if via.isMiddlebox {
                return .middlebox(
                    via, idleTimeout: idleTimeout ?? NetworkCutFault.defaultIdleTimeout, onExpiry: onExpiry ?? .drop,
                    keepaliveTime: keepaliveTime)
            }
            return .networkCut(mode: mode ?? .reset, via: via)
        }

        /// The scenario's name: the mode, or the middlebox.
        var name: String {
            via.isMiddlebox ? "network-cut-via-\(via.rawValue)" : "network-cut-\((mode ?? .reset).rawValue)"
        }

        /// The scenario these flags describe (`repro bisect` runs it on several releases).
        func scenario() throws -> Scenario {
            // Blackhole runs are bounded by the read timeout: 5 s unless --read-timeout says otherwise.
            let policy = try pool.resolved(defaultReadTimeout: NetworkCutFault.defaultReadTimeout)
            var scenario = Scenario(
                name: name, fault: fault,
                policy: policy, poolSize: pool.poolSize, operations: pool.operations,
                expectations: try expect.expectations(), idleSeconds: timing.idle)
            scenario.load = try load.spec()
            try driver.apply(to: &scenario, policy: pool)
            return scenario
        }

        func run() throws {
            let scenario = try scenario()
            try ScenarioCommand.execute(
                [scenario], server: server, output: output, basename: ScenarioCommand.basename(scenario),
                nodePath: driver.runtime.nodePath)
        }
    }
}
