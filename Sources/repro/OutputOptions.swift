import ArgumentParser
import ReproKit

/// Where reports go and how much is printed.
struct OutputOptions: ParsableArguments {
    @Option(name: .customLong("report-dir"), help: ArgumentHelp("Directory for report files.", valueName: "dir"))
    var reportDir: String = "reports"

    @Option(
        help: ArgumentHelp(
            "Report files to write: any of md, json, junit, comma-separated (default: md,json; for all: json,md,junit).",
            valueName: "list"))
    var format: String?

    @Flag(help: "Print the JSON report to stdout and nothing else there.")
    var json = false

    @Flag(help: "No progress output.")
    var quiet = false

    func validate() throws {
        _ = try formats()
    }

    func formats(default fallback: String = "md,json") throws -> [ReportFormat] {
        do {
            return try ReportFormat.parseList(format ?? fallback)
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// What a scenario run must observe; an unmet expectation exits 1.
struct ExpectOptions: ParsableArguments {
    @Flag(name: .customLong("expect-recovered"), help: "Expect every operation after the fault to succeed.")
    var expectRecovered = false

    @Flag(name: .customLong("expect-not-recovered"), help: "Expect at least one operation after the fault to fail.")
    var expectNotRecovered = false

    @Option(
        name: .customLong("expect-error"), parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Expect the first error to have this code or name (repeatable).", valueName: "code"))
    var expectError: [String] = []

    @Option(
        name: .customLong("expect-phase"),
        help: ArgumentHelp(
            "Expect the first error in this phase: acquire, validate, query, keepalive.", valueName: "phase"))
    var expectPhase: String?

    func validate() throws {
        _ = try expectations()
    }

    func expectations() throws -> Expectations {
        if expectRecovered && expectNotRecovered {
            throw ValidationError("--expect-recovered and --expect-not-recovered contradict each other: use one")
        }
        var e = Expectations()
        if expectRecovered { e.recovered = true }
        if expectNotRecovered { e.recovered = false }
        if !expectError.isEmpty {
            e.firstError = try expectError.map { text in
                guard let code = DatabaseError.Code(parsing: text) else {
                    throw ValidationError(
                        "--expect-error '\(text)' is not an error code: use a number like 2013 or a name like CR_SERVER_LOST"
                    )
                }
                return code
            }
        }
        if let expectPhase {
            guard let phase = ErrorPhase(rawValue: expectPhase) else {
                throw ValidationError(
                    "--expect-phase '\(expectPhase)' is unknown: use acquire, validate, query or keepalive")
            }
            e.phase = phase
        }
        return e
    }
}
