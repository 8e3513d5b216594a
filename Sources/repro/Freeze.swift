import ArgumentParser
import ReproKit

extension FreezeArrival: ExpressibleByArgument {}

extension FreezeDuring: ExpressibleByArgument {
    public init?(argument: String) { self.init(text: argument) }
    public static var allValueStrings: [String] {
        [
            "wait-timeout", "kill-thread", "network-cut:reset", "network-cut:half-open", "network-cut:blackhole",
            "server-restart", "nothing",
        ]
    }
    public var defaultValueDescription: String { description }
}

extension Repro {
    /// `repro freeze`: the application is suspended while its idle connections die, then resumed with work due.
    struct Freeze: ParsableCommand, ScenarioCommandLine {
        static let configuration = CommandConfiguration(
            commandName: "freeze",
            abstract:
                "Suspend the application (SIGSTOP) while its idle connections die, then resume it with work due.",
            discussion: """
                A laptop asleep overnight with the service still running, an AWS Lambda environment frozen between \
                invocations, a paused VM or container: the pool under test's whole process group is stopped right \
                after the pool was warmed and released, --during hits its connections while nothing of the pool can \
                run (no idle sweep, no keepalive, no socket event handled), and the group is continued --for seconds \
                later with the operations due, run one after another inside the pool's process. repro's own pool \
                runs in a child process for this (repro serve-pool). With --during wait-timeout the session \
                wait_timeout is the freeze less one second; a kill or a cut happens a third of the way in; \
                --arrival timer: the application's own timer falls due half-way; queued: the requests are written \
                to the stopped process and read as it resumes. The process group is continued on every exit path; \
                a group left stopped by a run killed outright is continued and killed by the next run.
                """)

        @Option(
            name: .customLong("for"), parsing: .unconditional,
            help: ArgumentHelp(
                "Seconds the application stays suspended (\(FreezeFault.forRange.text), default \(DriversMatrix.format(FreezeFault.defaultFor)); at least \(DriversMatrix.format(FreezeFault.minimumForWaitTimeout)) with --during wait-timeout).",
                valueName: "seconds"))
        var seconds: Double = FreezeFault.defaultFor

        @Option(
            help: ArgumentHelp(
                "What happens to the connections meanwhile.", valueName: "fault"))
        var during: FreezeDuring = .waitTimeout

        @Option(
            help: ArgumentHelp(
                "How the first work reaches the resumed application: timer (its own timer falls due) or queued (requests waited while it was suspended).",
                valueName: "arrival"))
        var arrival: FreezeArrival = .timer

        @Option(
            name: .customLong("follow-up"),
            help: ArgumentHelp(
                "SQL the application sends on a connection whose query failed, before releasing it, as in the original reports (default ROLLBACK; none: release at once). Real stacks only: the adapter's app.followUp.",
                valueName: "sql|none"))
        var followUp: String = FreezeFault.defaultFollowUp

        @OptionGroup var server: ServerOptions
        @OptionGroup var pool: PolicyOptions
        @OptionGroup var driver: DriverOptions
        @OptionGroup var expect: ExpectOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard FreezeFault.forRange.contains(seconds) else {
                throw outOfRange(
                    "--for", DriversMatrix.format(seconds), use: "seconds from \(FreezeFault.forRange.text)")
            }
            if during == .waitTimeout && seconds < FreezeFault.minimumForWaitTimeout {
                throw ValidationError(
                    "--for \(DriversMatrix.format(seconds)) is too short for --during wait-timeout: use \(DriversMatrix.format(FreezeFault.minimumForWaitTimeout)) or more (the wait_timeout must expire while the application is suspended)"
                )
            }
        }

        /// The scenario these flags describe (`repro bisect` runs it on several releases).
        func scenario() throws -> Scenario {
            let policy = try pool.resolved(defaultReadTimeout: nil)
            var scenario = Scenario(
                name: "freeze-\(during.description.replacingOccurrences(of: ":", with: "-"))",
                fault: .freeze(
                    seconds: seconds, during: during, arrival: arrival,
                    followUp: FreezeFault.followUp(parsing: followUp)),
                policy: policy, poolSize: pool.poolSize, operations: pool.operations,
                expectations: try expect.expectations())
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
