import ArgumentParser
import Foundation
import ReproKit

extension Repro {
    /// `repro matrix`: every scenario × every policy preset, measured.
    struct MatrixCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "matrix",
            abstract: "Run every scenario against every policy preset and measure what each policy costs.",
            discussion: "Writes matrix.json and matrix.md into --report-dir (docs/ for `make matrix`).")

        @Option(
            help: ArgumentHelp(
                "Scenarios, comma-separated (default all: \(MatrixScenario.allCases.map(\.rawValue).joined(separator: ","))).",
                valueName: "list"))
        var scenarios: String?

        @Option(
            help: ArgumentHelp(
                "Policy presets, comma-separated (default all: \(PolicyPreset.allCases.map(\.rawValue).joined(separator: ","))).",
                valueName: "list"))
        var policies: String?

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp("wait_timeout of the wait-timeout column (1 to 60).", valueName: "n"))
        var seconds: Int = 1

        @Option(
            name: .customLong("cost-borrows"), parsing: .unconditional,
            help: ArgumentHelp("Borrows per policy for the cost table.", valueName: "n"))
        var costBorrows: Int = 2000

        @OptionGroup var server: ServerOptions

        @Option(
            name: .customLong("report-dir"),
            help: ArgumentHelp("Directory for matrix.json and matrix.md.", valueName: "dir"))
        var reportDir: String = "reports"

        @Flag(help: "Print the JSON report to stdout and nothing else there.")
        var json = false

        @Flag(help: "No progress output.")
        var quiet = false

        func validate() throws {
            guard (1...60).contains(seconds) else {
                throw ValidationError("--seconds \(seconds) is out of range: use whole seconds from 1 to 60")
            }
            guard (10...1_000_000).contains(costBorrows) else {
                throw ValidationError("--cost-borrows \(costBorrows) is out of range: use 10 to 1000000")
            }
            _ = try matrix()
        }

        func matrix() throws -> Matrix {
            do {
                let columns = try scenarios.map { try MatrixScenario.parseList($0) } ?? MatrixScenario.allCases
                let listed =
                    try policies.map { text in
                        try text.split(separator: ",").map {
                            try PolicyPreset.named($0.trimmingCharacters(in: .whitespaces))
                        }
                    } ?? PolicyPreset.allCases
                var seen = Set<String>()
                let rows = listed.filter { seen.insert($0.rawValue).inserted }
                if rows.isEmpty { throw PolicyError("--policies is empty: name at least one preset") }
                return Matrix(scenarios: columns, policies: rows, seconds: seconds, costBorrows: costBorrows)
            } catch let error as PolicyError {
                throw ValidationError(error.message)
            }
        }

        func run() throws {
            let matrix = try matrix()
            CleanupRegistry.shared.installSignalHandlers()
            do { try ReportWriter.prepare(directory: reportDir) } catch { throw ReproFailure(error) }
            let printer = ProgressPrinter(quiet: quiet)
            let session: ReproSession
            do { session = try ReproSession.open(dsn: server.resolvedDSN) } catch { throw ReproFailure(error) }
            defer { session.close() }
            let report: Report
            do {
                report = try matrix.run(session: session, progress: printer.handle) { printer.finished($0) }
            } catch {
                throw ReproFailure(error)
            }
            let markdown = String(decoding: try ReportWriter.render(report, as: .md), as: UTF8.self)
            CleanupRegistry.shared.parkIfInterrupted()
            let data = try report.jsonData()
            do {
                try FileOutput.write(data, to: reportDir + "/matrix.json")
                try FileOutput.write(Data(markdown.utf8), to: reportDir + "/matrix.md")
            } catch {
                throw ReproFailure(error)
            }
            printer.line("report: \(reportDir)/matrix.md")
            printer.line("report: \(reportDir)/matrix.json")
            if json {
                Console.out(data)
                Console.out(Data("\n".utf8))
            }
        }
    }
}
