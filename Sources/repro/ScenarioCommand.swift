import Foundation
import ReproKit

/// What every scenario subcommand does once its arguments are parsed: the run → report flow is ReproKit's
/// (`ScenarioBatch`); here are only the printing and the exit code.
enum ScenarioCommand {
    /// Report file name of a single scenario: its name and the pool under test (policy or driver).
    static func basename(_ scenario: Scenario) -> String { ScenarioBatch.basename(scenario) }

    static func execute(
        _ scenarios: [Scenario], server: ServerOptions, output: OutputOptions, basename: String,
        defaultFormats: [ReportFormat] = [.md, .json], jobs: Int = 1, failFast: Bool = false, nodePath: String? = nil
    ) throws {
        let printer = ProgressPrinter(quiet: output.quiet)
        var scenarios = scenarios
        if server.allowWrites {
            for i in scenarios.indices { scenarios[i].allowWrites = true }
        }
        let batch = ScenarioBatch(
            scenarios, dsn: server.resolvedDSN, reportDirectory: output.reportDir, basename: basename,
            formats: output.formats(default: defaultFormats), jobs: jobs, failFast: failFast, nodePath: nodePath)
        let outcome: ScenarioBatch.Outcome
        do {
            outcome = try batch.run(progress: printer.handle, onResult: { printer.finished($0) }) {
                report throws(RunError) in
                if output.json { try output.printJSON(report.jsonData) }
            }
        } catch {
            throw ReproFailure(error)
        }
        for path in outcome.written { printer.line("report: \(path)") }
        if !outcome.report.passed {
            throw ReproFailure(code: 1, message: "an expectation failed (see the report)")
        }
    }
}
