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
                """)

        @Option(help: ArgumentHelp("How the flows are cut.", valueName: "mode"))
        var mode: CutMode

        @Option(
            help: ArgumentHelp("Where the cut is made: the in-process proxy or the kernel (root).", valueName: "how"))
        var via: CutVia = .proxy

        @OptionGroup var timing: IdleOptions
        @OptionGroup var server: ServerOptions
        @OptionGroup var pool: PolicyOptions
        @OptionGroup var driver: DriverOptions
        @OptionGroup var load: LoadOptions
        @OptionGroup var expect: ExpectOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if via == .kernel {
                do { _ = try KernelCutMode(mode) } catch { throw ValidationError(error.message) }
            }
        }

        /// The scenario these flags describe (`repro bisect` runs it on several releases).
        func scenario() throws -> Scenario {
            // Blackhole runs are bounded by the read timeout: 5 s unless --read-timeout says otherwise.
            let policy = try pool.resolved(defaultReadTimeout: NetworkCutFault.defaultReadTimeout)
            var scenario = Scenario(
                name: "network-cut-\(mode.rawValue)", fault: .networkCut(mode: mode, via: via),
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
