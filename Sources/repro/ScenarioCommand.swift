import Foundation
import ReproKit

/// What every scenario subcommand does once its arguments are parsed: run, write reports, pick the exit code.
enum ScenarioCommand {
    /// Report file name of a single scenario: its name and the pool under test (policy or driver).
    static func basename(_ scenario: Scenario) -> String {
        "\(scenario.name)-\(scenario.driver?.name ?? scenario.policy.name)\(scenario.pattern == .held ? "-held" : "")"
    }

    static func execute(
        _ scenarios: [Scenario], server: ServerOptions, output: OutputOptions, basename: String,
        defaultFormats: String = "md,json", jobs: Int = 1, failFast: Bool = false, nodePath: String? = nil
    ) throws {
        // Ctrl-C from here on stops the embedded server and puts back what the run changed.
        CleanupRegistry.shared.installSignalHandlers()
        let printer = ProgressPrinter(quiet: output.quiet)
        let formats = try output.formats(default: defaultFormats)
        // Fail before the run, not after it: impossible scenarios, and reports that cannot be written.
        let external = server.resolvedDSN.map { !$0.isEmpty } ?? false
        let refused = scenarios.compactMap { scenario -> String? in
            do throws(RunError) {
                try scenario.preflight(external: external)
                return nil
            } catch {
                return error.message
            }
        }
        if !refused.isEmpty { throw ReproFailure(code: 2, message: refused.joined(separator: "\nrepro: ")) }
        // A batch checks its real stacks up front; a single scenario's adapter says the same when it starts.
        if scenarios.count > 1 {
            do { try AdapterCatalog.preflight(scenarios, nodePath: nodePath) } catch { throw ReproFailure(error) }
        }
        do { try ReportWriter.prepare(directory: output.reportDir) } catch { throw ReproFailure(error) }
        let session: ReproSession
        do {
            // The first connection check honours --connect-timeout (a silent port would otherwise take 5 s).
            let connectTimeout = scenarios.map(\.policy.connectTimeout).min() ?? 5
            session = try ReproSession.open(dsn: server.resolvedDSN, connectTimeout: connectTimeout)
        } catch {
            throw ReproFailure(error)
        }
        defer { session.close() }
        let report: Report
        do {
            report = try session.run(
                scenarios, jobs: jobs, failFast: failFast, nodePath: nodePath, progress: printer.handle
            ) { printer.finished($0) }
        } catch {
            throw ReproFailure(error)
        }
        // A run cut short by Ctrl-C leaves no report: the handler exits with 128 + signal.
        CleanupRegistry.shared.parkIfInterrupted()
        if output.json {
            let data = try report.jsonData()
            Console.out(data)
            Console.out(Data("\n".utf8))
        }
        let written: [String]
        do {
            written = try ReportWriter.write(report, to: output.reportDir, basename: basename, formats: formats)
        } catch {
            throw ReproFailure(error)
        }
        for path in written { printer.line("report: \(path)") }
        GitHubSummary.append(report)
        if !report.passed {
            throw ReproFailure(code: 1, message: "an expectation failed (see the report)")
        }
    }
}
