import ArgumentParser
import ReproKit

extension Repro {
    /// `repro kill-thread`: KILL CONNECTION on the pool's own server threads.
    struct KillThread: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kill-thread",
            abstract: "KILL the server threads of the pool's own connections (idle or mid-query), then use the pool.",
            discussion: "Only thread ids this pool opened are killed; other sessions on the server are never touched.")

        @Option(
            help: ArgumentHelp(
                "idle: kill idle pooled connections; busy: kill them during SELECT SLEEP.", valueName: "target"))
        var target: String = "idle"

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp("How many pooled connections to kill: a number or all.", valueName: "n|all"))
        var count: String = "all"

        @OptionGroup var timing: IdleOptions
        @OptionGroup var server: ServerOptions
        @OptionGroup var pool: PolicyOptions
        @OptionGroup var driver: DriverOptions
        @OptionGroup var load: LoadOptions
        @OptionGroup var expect: ExpectOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard KillTarget(rawValue: target) != nil else {
                throw ValidationError("--target '\(target)' is unknown: use idle or busy")
            }
            _ = try killCount()
        }

        func killCount() throws -> KillCount {
            if count == "all" { return .all }
            guard let n = Int(count), n >= 1 else {
                throw ValidationError("--count '\(count)' is invalid: use a number from 1 to the pool size, or all")
            }
            return .some(n)
        }

        func run() throws {
            let policy = try pool.resolved(defaultReadTimeout: nil)
            let kind = KillTarget(rawValue: target)!
            var scenario = Scenario(
                name: kind == .busy ? "kill-thread-busy" : "kill-thread",
                fault: .killThread(target: kind, count: try killCount()),
                policy: policy, poolSize: pool.poolSize, operations: pool.operations,
                expectations: try expect.expectations(), idleSeconds: timing.idle)
            scenario.load = try load.spec()
            try driver.apply(to: &scenario, policy: pool)
            try ScenarioCommand.execute(
                [scenario], server: server, output: output, basename: ScenarioCommand.basename(scenario),
                nodePath: driver.runtime.nodePath)
        }
    }
}
