import ArgumentParser
import ReproKit

extension Repro {
    /// `repro kill-thread`: KILL CONNECTION on the pool's own server threads.
    struct KillThread: ParsableCommand, ScenarioCommandLine {
        static let configuration = CommandConfiguration(
            commandName: "kill-thread",
            abstract: "KILL the server threads of the pool's own connections (idle or mid-query), then use the pool.",
            discussion: "Only thread ids this pool opened are killed; other sessions on the server are never touched.")

        @Option(
            help: ArgumentHelp(
                "idle: kill idle pooled connections; busy: kill them during SELECT SLEEP.", valueName: "target"))
        var target: KillTarget = .idle

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp("How many pooled connections to kill: a number or all.", valueName: "n|all"),
            transform: Parse.killCount)
        var count: KillCount = .all

        @OptionGroup var timing: IdleOptions
        @OptionGroup var server: ServerOptions
        @OptionGroup var pool: PolicyOptions
        @OptionGroup var driver: DriverOptions
        @OptionGroup var load: LoadOptions
        @OptionGroup var expect: ExpectOptions
        @OptionGroup var output: OutputOptions

        /// The scenario these flags describe (`repro bisect` runs it on several releases).
        func scenario() throws -> Scenario {
            let policy = try pool.resolved(defaultReadTimeout: nil)
            var scenario = Scenario(
                name: target == .busy ? "kill-thread-busy" : "kill-thread",
                fault: .killThread(target: target, count: count),
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
