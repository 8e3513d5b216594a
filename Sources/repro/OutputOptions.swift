import ArgumentParser
import Foundation
import ReproKit

/// Where reports go and how much is printed: every command that writes reports, `repro matrix` included.
struct ReportOutputOptions: ParsableArguments {
    @Option(
        name: .customLong("report-dir"), help: ArgumentHelp("Directory for report files.", valueName: "dir"),
        completion: .directory)
    var reportDir: String = "reports"

    @Flag(help: "Print the JSON report to stdout and nothing else there.")
    var json = false

    @Flag(help: "No progress output.")
    var quiet = false

    /// With `--json`: the report on stdout, one newline after it.
    func printJSON(_ encode: () throws -> Data) throws(RunError) {
        guard json else { return }
        let data: Data
        do { data = try encode() } catch { throw .environment("cannot encode the JSON report: \(error)") }
        Console.out(data)
        Console.out(Data("\n".utf8))
    }
}

/// The output of the scenario commands and `repro all`: the shared options above, and which report files.
struct OutputOptions: ParsableArguments {
    @OptionGroup var common: ReportOutputOptions

    @Option(
        help: ArgumentHelp(
            "Report files to write: any of md, json, junit, comma-separated (default: md,json; for all: json,md,junit).",
            valueName: "list"),
        transform: Parse.formats)
    var format: ReportFormatList?

    var reportDir: String { common.reportDir }
    var json: Bool { common.json }
    var quiet: Bool { common.quiet }

    func formats(default fallback: [ReportFormat]) -> [ReportFormat] { format?.formats ?? fallback }

    func printJSON(_ encode: () throws -> Data) throws(RunError) { try common.printJSON(encode) }
}

/// What a scenario run must observe; an unmet expectation exits 1.
struct ExpectOptions: ParsableArguments {
    @Flag(name: .customLong("expect-recovered"), help: "Expect every operation after the fault to succeed.")
    var expectRecovered = false

    @Flag(name: .customLong("expect-not-recovered"), help: "Expect at least one operation after the fault to fail.")
    var expectNotRecovered = false

    @Option(
        name: .customLong("expect-error"), parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Expect the first error to have this code or name (repeatable).", valueName: "code"),
        transform: Parse.errorCode)
    var expectError: [DatabaseError.Code] = []

    @Option(
        name: .customLong("expect-phase"),
        help: ArgumentHelp("Expect the first error in this phase.", valueName: "phase"))
    var expectPhase: ErrorPhase?

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
        if !expectError.isEmpty { e.firstError = expectError }
        e.phase = expectPhase
        return e
    }
}
