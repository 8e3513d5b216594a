import ArgumentParser
import ReproKit

extension ManagedServer.HaltMode: ExpressibleByArgument {}

extension Repro {
    /// `repro server-restart`: the embedded server goes away and comes back while the pool idles.
    struct ServerRestart: ParsableCommand, ScenarioCommandLine {
        static let configuration = CommandConfiguration(
            commandName: "server-restart",
            abstract:
                "Stop the embedded server (cleanly or as a crash), keep it down, start it again, then use the pool.",
            discussion: """
                A deploy, a failover or an OOM kill, on purpose: after the pool idled, mariadbd is stopped \
                (graceful: SIGTERM, waited for; crash: SIGKILL), kept down --down seconds while the application \
                tries --tries-while-down operations (recorded; the first right after the stop, the others spread \
                over the downtime; 0 = a quiet restart), then started again on schedule on the same port and data \
                directory, whatever those operations are doing. The operations after it is back say whether the pool recovered. Only on the embedded \
                server: repro never restarts a server it did not start, so --dsn/REPRO_DSN is refused (exit 2).
                """)

        @Option(help: ArgumentHelp("How the server stops.", valueName: "mode"))
        var mode: ManagedServer.HaltMode = .graceful

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Seconds the server stays down (\(ServerRestartFault.downRange.text), default 1).", valueName: "seconds"
            ))
        var down: Double = ServerRestartFault.defaultDown

        @Option(
            name: .customLong("tries-while-down"),
            help: ArgumentHelp(
                "Operations the application tries while the server is down (\(ServerRestartFault.triesRange.text), default \(ServerRestartFault.defaultTries); 0 = a quiet restart: nobody used the pool until it was back).",
                valueName: "n"))
        var tries: Int = ServerRestartFault.defaultTries

        @OptionGroup var timing: IdleOptions
        @OptionGroup var server: ServerOptions
        @OptionGroup var pool: PolicyOptions
        @OptionGroup var driver: DriverOptions
        @OptionGroup var load: LoadOptions
        @OptionGroup var expect: ExpectOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard ServerRestartFault.downRange.contains(down) else {
                throw outOfRange("--down", down, use: "seconds from \(ServerRestartFault.downRange.text)")
            }
            guard ServerRestartFault.triesRange.contains(tries) else {
                throw outOfRange("--tries-while-down", tries, use: ServerRestartFault.triesRange.text)
            }
        }

        /// The scenario these flags describe (`repro bisect` runs it on several releases).
        func scenario() throws -> Scenario {
            let policy = try pool.resolved(defaultReadTimeout: nil)
            var scenario = Scenario(
                name: "server-restart-\(mode.rawValue)", fault: .serverRestart(mode: mode, down: down, tries: tries),
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
