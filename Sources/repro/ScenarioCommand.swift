import Foundation
import ReproKit

/// What every scenario subcommand does once its arguments are parsed: run, write reports, pick the exit code.
enum ScenarioCommand {
    static func execute(
        _ scenarios: [Scenario], server: ServerOptions, output: OutputOptions, basename: String
    ) throws {
        let printer = ProgressPrinter(quiet: output.quiet)
        let session: ReproSession
        do {
            session = try ReproSession.open(dsn: server.resolvedDSN)
        } catch {
            throw ReproFailure(error)
        }
        defer { session.close() }
        let report: Report
        do {
            report = try session.run(scenarios, progress: printer.handle) { result in
                let first = result.firstError.map { "\($0.error.code.rawValue) \($0.error.code.name) at \($0.phase.rawValue)" } ?? "no error"
                let verdict = result.expectations.isEmpty ? "" : (result.passed ? " — expectations held" : " — EXPECTATION FAILED")
                printer.line(
                    "[\(result.name)] first error: \(first); recovered: \(result.recovered ? "yes" : "no") (\(result.operations.succeeded)/\(result.operations.total) ok)\(verdict)")
            }
        } catch {
            throw ReproFailure(error)
        }
        let formats = try output.formats()
        let written: [String]
        do {
            written = try ReportWriter.write(report, to: output.reportDir, basename: basename, formats: formats)
        } catch {
            throw ReproFailure(error)
        }
        for path in written { printer.line("report: \(path)") }
        if output.json {
            let data = try report.jsonData()
            FileHandle.standardOutput.write(data)
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
        if !report.passed {
            throw ReproFailure(code: 1, message: "an expectation failed (see the report)")
        }
    }
}
