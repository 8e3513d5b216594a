import ArgumentParser
import Foundation
import ReproKit

/// Where the adapters' runtimes find their libraries.
struct RuntimeOptions: ParsableArguments {
    @Option(
        name: .customLong("node-path"),
        help: ArgumentHelp(
            "node_modules directory holding mysql2 for the node-mysql2 adapter (or set NODE_PATH).",
            valueName: "dir"),
        completion: .directory)
    var nodePath: String?
}

/// The pool under test: a real driver stack through its adapter, and how the application uses it.
struct DriverOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Run a real driver stack instead of repro's own pool: node-mysql2, node-mysql, go-sql, hikari, sqlalchemy (repro drivers lists them).",
            valueName: "name"))
    var driver: String?

    @Option(
        name: .customLong("driver-option"), parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "The real pool's own setting, in its own words (repeatable): maxIdle=3, SetConnMaxLifetime=500ms, pool_pre_ping=true.",
            valueName: "key=value"),
        transform: Parse.driverOption)
    var driverOptions: [DriverOption] = []

    @Option(
        name: .customLong("driver-deadline"), parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds an operation of a real driver may take before it is recorded as hung (default 10).",
            valueName: "seconds"))
    var deadline: Double?

    @Option(
        help: ArgumentHelp(
            "pool: borrow, query, release per operation; held: the application keeps one connection across the idle period.",
            valueName: "pattern"))
    var pattern: WorkloadPattern = .pool

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if driver == nil && (!driverOptions.isEmpty || deadline != nil) {
            throw ValidationError("--driver-option and --driver-deadline need --driver NAME")
        }
        if let deadline, !DriverChoice.deadlineRange.contains(deadline) {
            throw outOfRange("--driver-deadline", deadline, use: "seconds from \(DriverChoice.deadlineRange.text)")
        }
    }

    /// The driver choice, or nil for repro's own pool; a key given twice keeps its last value.
    func choice() -> DriverChoice? {
        guard let driver else { return nil }
        let options = Dictionary(driverOptions.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        return DriverChoice(name: driver, options: options, deadline: deadline ?? DriverChoice.defaultDeadline)
    }

    /// Puts the driver and pattern on `scenario`; policy knobs with a real driver are a usage error.
    func apply(to scenario: inout Scenario, policy: PolicyOptions) throws {
        scenario.pattern = pattern
        guard let choice = choice() else { return }
        if let knob = policy.givenKnobs.first {
            throw ReproFailure(
                code: 2,
                message:
                    "\(knob) configures repro's own pool, not \(choice.name): give the real pool's setting with --driver-option key=value (repro drivers lists the keys)"
            )
        }
        scenario.driver = choice
    }
}

/// How long the warm pool sits unused before the fault (`kill-thread --target idle`, `network-cut`).
struct IdleOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds the warm pool sits unused before the fault (default 1; a middlebox or an operator acts on connections idle a while).",
            valueName: "seconds"))
    var idle: Double?

    func validate() throws {
        if let idle, !Scenario.idleRange.contains(idle) {
            throw outOfRange("--idle", idle, use: "seconds from \(Scenario.idleRange.text)")
        }
    }
}
