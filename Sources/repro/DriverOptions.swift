import ArgumentParser
import Foundation
import ReproKit

/// Where the adapters' runtimes find their libraries.
struct RuntimeOptions: ParsableArguments {
    @Option(
        name: .customLong("node-path"),
        help: ArgumentHelp(
            "node_modules directory holding mysql2 (node-mysql2) or mysql (node-mysql), or set NODE_PATH; its code runs as your own library.",
            valueName: "dir"),
        completion: .directory)
    var nodePath: String?
}

/// The pool under test: a real driver stack through its adapter, and how the application uses it.
struct DriverOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Run a real driver stack instead of repro's own pool: node-mysql2, node-mysql, go-sql, hikari, sqlalchemy, django, php-pdo, activerecord; NAME@VERSION runs a staged release (hikari@6.0.0, sqlalchemy@1.4.54+1.0.2: the pool's, then its driver's). repro drivers lists them.",
            valueName: "name[@version]"),
        completion: .custom(DriverOptions.completeDriver))
    var driver: String?

    /// `--driver <TAB>`.
    @Sendable static func completeDriver(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        AdapterCatalog.completions()
    }

    @Option(
        name: .customLong("library"),
        help: ArgumentHelp(
            "Where --driver loads its library from instead of the installed one: a node_modules folder, a GOPATH tree or go-sql-driver's module folder, JARs (HikariCP and Connector/J, colon-separated), Python folders (colon-separated). The report names the versions found there.",
            valueName: "path"),
        completion: .directory)
    var library: String?

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
            "Seconds an operation of a real driver may take before it is recorded as hung (default 10); the adapter's start (hello) gets at least 10.",
            valueName: "seconds"))
    var deadline: Double?

    @Option(
        help: ArgumentHelp(
            "pool: borrow, query, release per operation; held: the application keeps one connection across the idle period.",
            valueName: "pattern"))
    var pattern: WorkloadPattern = .pool

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if driver == nil && (!driverOptions.isEmpty || deadline != nil || library != nil) {
            throw ValidationError("--driver-option, --driver-deadline and --library need --driver NAME")
        }
        if let driver {
            do { _ = try DriverChoice.parseName(driver) } catch { throw ValidationError(error.message) }
        }
        if let deadline, !DriverChoice.deadlineRange.contains(deadline) {
            throw outOfRange("--driver-deadline", deadline, use: "seconds from \(DriverChoice.deadlineRange.text)")
        }
    }

    /// The driver choice, or nil for repro's own pool; a key given twice keeps its last value.
    func choice() -> DriverChoice? {
        guard let driver, let parsed = try? DriverChoice.parseName(driver) else { return nil }
        let options = Dictionary(driverOptions.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        var choice = DriverChoice(
            name: parsed.name, options: options, deadline: deadline ?? DriverChoice.defaultDeadline)
        choice.version = parsed.version
        choice.libraryPath = library.map(Self.absolute)
        return choice
    }

    /// `path` (colon-separated) with each part made absolute from the current directory.
    static func absolute(_ path: String) -> String {
        path.split(separator: ":").map { DriverReleases.absolute(String($0)) }.joined(separator: ":")
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
