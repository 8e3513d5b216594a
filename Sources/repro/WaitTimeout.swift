import ArgumentParser
import ReproKit

extension Repro {
    /// `repro wait-timeout`: the server's wait_timeout closes the idle pool.
    struct WaitTimeout: ParsableCommand, ScenarioCommandLine {
        static let configuration = CommandConfiguration(
            commandName: "wait-timeout",
            abstract: "Idle the pool past the server's wait_timeout, then use it.")

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "wait_timeout to set, whole seconds (\(WaitTimeoutFault.secondsRange.text)).", valueName: "n"))
        var seconds: Int = 2

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Extra idle time after wait_timeout, seconds (\(WaitTimeoutFault.marginRange.text)).", valueName: "s"))
        var margin: Double = WaitTimeoutFault.defaultMargin

        @Option(
            help: ArgumentHelp(
                "session: set it on the pool's own connections; global: server-wide (restored afterwards).",
                valueName: "scope"))
        var scope: WaitTimeoutScope = .session

        @Flag(name: .customLong("allow-global"), help: "Allow --scope global on a server this tool did not start.")
        var allowGlobal = false

        @OptionGroup var server: ServerOptions
        @OptionGroup var pool: PolicyOptions
        @OptionGroup var driver: DriverOptions
        @OptionGroup var load: LoadOptions
        @OptionGroup var expect: ExpectOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard WaitTimeoutFault.secondsRange.contains(seconds) else {
                throw outOfRange("--seconds", seconds, use: "whole seconds from \(WaitTimeoutFault.secondsRange.text)")
            }
            guard WaitTimeoutFault.marginRange.contains(margin) else {
                throw outOfRange("--margin", margin, use: "seconds from \(WaitTimeoutFault.marginRange.text)")
            }
        }

        /// The scenario these flags describe (`repro bisect` runs it on several releases).
        func scenario() throws -> Scenario {
            let policy = try pool.resolved(defaultReadTimeout: nil)
            var scenario = Scenario(
                name: "wait-timeout",
                fault: .waitTimeout(seconds: seconds, margin: margin, scope: scope),
                policy: policy, poolSize: pool.poolSize, operations: pool.operations,
                expectations: try expect.expectations(), allowGlobal: allowGlobal)
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
