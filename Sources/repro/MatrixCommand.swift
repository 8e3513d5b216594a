import ArgumentParser
import Foundation
import ReproKit

extension Repro {
    /// `repro matrix`: every scenario × every policy preset, measured.
    struct MatrixCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "matrix",
            abstract:
                "Run every scenario against every policy preset (or, with --drivers, against real driver stacks) and measure the outcome.",
            discussion: """
                Without --drivers: repro's own pool with every preset; writes matrix.json and matrix.md into \
                --report-dir (docs/ for `make matrix`). With --drivers: each real stack in its default and \
                recommended configuration, and repro's presets that claim to model them, against every fault \
                column; writes drivers.json and drivers.md (docs/ for `make drivers-matrix`). Cuts then go \
                through the kernel (iptables, root) unless --via proxy.
                """)

        @Option(
            help: ArgumentHelp(
                "Scenarios, comma-separated (default all: \(MatrixScenario.allCases.map(\.rawValue).joined(separator: ",")); with --drivers also \(DriverColumn.held.rawValue)).",
                valueName: "list"))
        var scenarios: String?

        @Option(
            help: ArgumentHelp(
                "Real driver stacks, comma-separated, or all (every adapter `repro drivers` lists as available).",
                valueName: "list"))
        var drivers: String?

        @Option(
            help: ArgumentHelp(
                "With --drivers: configurations to run, comma-separated: default, recommended (default both).",
                valueName: "list"))
        var configs: String = "default,recommended"

        @Option(
            help: ArgumentHelp("With --drivers: how cuts are made: kernel (default, root) or proxy.", valueName: "via"))
        var via: String = "kernel"

        @Option(
            name: .customLong("driver-deadline"), parsing: .unconditional,
            help: ArgumentHelp(
                "With --drivers: seconds an operation may take before it counts as hung (default 3).",
                valueName: "seconds"))
        var deadline: Double = 3

        @OptionGroup var runtime: RuntimeOptions

        @Option(
            help: ArgumentHelp(
                "Policy presets, comma-separated (default all: \(PolicyPreset.allCases.map(\.rawValue).joined(separator: ","))).",
                valueName: "list"))
        var policies: String?

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "wait_timeout of the wait-timeout column, 1 to 60 (default 1; 3 with --drivers).", valueName: "n"))
        var seconds: Int?

        @Option(
            name: .customLong("cost-borrows"), parsing: .unconditional,
            help: ArgumentHelp("Borrows per policy for the cost table.", valueName: "n"))
        var costBorrows: Int = 2000

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Cells run side by side on the one server, each with its own pool, proxy and firewall chain (1 to 32).",
                valueName: "n"))
        var jobs: Int = 4

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
            if !ParallelRuns.jobsRange.contains(jobs) {
                throw ValidationError(
                    "--jobs \(jobs) is out of range: use \(ParallelRuns.jobsRange.lowerBound) to \(ParallelRuns.jobsRange.upperBound)"
                )
            }
            if let seconds, !(1...60).contains(seconds) {
                throw ValidationError("--seconds \(seconds) is out of range: use whole seconds from 1 to 60")
            }
            if drivers != nil {
                _ = try driversMatrix(adapters: [])
                return
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
                return Matrix(scenarios: columns, policies: rows, seconds: seconds ?? 1, costBorrows: costBorrows)
            } catch let error as PolicyError {
                throw ValidationError(error.message)
            }
        }

        /// The drivers matrix for `adapters` (empty: only the flags are checked).
        func driversMatrix(adapters: [String]) throws -> DriversMatrix {
            guard let cutVia = CutVia(rawValue: via) else {
                throw ValidationError("--via '\(via)' is unknown: use kernel or proxy")
            }
            guard DriverChoice.deadlineRange.contains(deadline) else {
                throw ValidationError("--driver-deadline \(deadline) is out of range: use seconds from 0.5 to 600")
            }
            var chosen: [DriverConfig] = []
            for part in configs.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                guard let c = DriverConfig(rawValue: part) else {
                    throw ValidationError("--configs '\(part)' is unknown: use default, recommended or both")
                }
                if !chosen.contains(c) { chosen.append(c) }
            }
            if chosen.isEmpty { throw ValidationError("--configs is empty: use default, recommended or both") }
            let settings = DriversMatrix.Settings(waitTimeout: seconds ?? 3, deadline: deadline, via: cutVia)
            do {
                let columns = try scenarios.map { try DriverColumn.parseList($0) } ?? DriverColumn.allCases
                let presets = try policies.map { text in
                    try text.split(separator: ",").map {
                        try PolicyPreset.named($0.trimmingCharacters(in: .whitespaces))
                    }
                }
                return DriversMatrix(
                    rows: DriversMatrix.rows(adapters: adapters, configs: chosen, presets: presets, settings: settings),
                    columns: columns, settings: settings)
            } catch let error as PolicyError {
                throw ValidationError(error.message)
            }
        }

        func runDrivers() throws {
            let selected: (names: [String], skipped: [String])
            do { selected = try AdapterCatalog.select(drivers ?? "all", nodePath: runtime.nodePath) } catch {
                throw ReproFailure(error)
            }
            for line in selected.skipped { Console.err("repro: skipping \(line)\n") }
            let matrix = try driversMatrix(adapters: selected.names)
            if matrix.settings.via == .kernel {
                // TCP keepalive meets a kernel cut only: say so, rather than measuring it wrongly through the proxy.
                do { try KernelCut.checkAvailable() } catch {
                    throw ReproFailure(
                        code: 3, message: "the drivers matrix cuts flows with iptables: \(error.message)")
                }
            }
            let report = try withSession { session, printer throws(RunError) in
                try matrix.run(session: session, nodePath: runtime.nodePath, jobs: jobs, progress: printer.handle) {
                    row, label, result in
                    printer.done(
                        label,
                        line:
                            "\(row.id) × \(result.name): \(result.survived ? "✓" : "✗ " + (result.firstUnhandledError?.message ?? "\(result.operations.failed) failed"))"
                    )
                }
            }
            try write(json: report.jsonData(), markdown: DriversRenderer.render(report), named: "drivers")
        }

        /// Ctrl-C handling, the report directory checked up front, the server session and the progress printer
        /// around one matrix run; no report is written after Ctrl-C.
        func withSession<T>(_ body: (ReproSession, ProgressPrinter) throws(RunError) -> T) throws -> T {
            CleanupRegistry.shared.installSignalHandlers()
            do { try ReportWriter.prepare(directory: reportDir) } catch { throw ReproFailure(error) }
            let printer = ProgressPrinter(quiet: quiet)
            let session: ReproSession
            do { session = try ReproSession.open(dsn: server.resolvedDSN) } catch { throw ReproFailure(error) }
            defer { session.close() }
            let result: T
            do { result = try body(session, printer) } catch { throw ReproFailure(error) }
            CleanupRegistry.shared.parkIfInterrupted()
            return result
        }

        /// Writes `<name>.json` and `<name>.md` into the report directory as one set, says where, and prints
        /// the JSON with `--json`.
        func write(json data: Data, markdown: String, named name: String) throws {
            do {
                try FileOutput.writeAll([
                    (data, reportDir + "/\(name).json"), (Data(markdown.utf8), reportDir + "/\(name).md"),
                ])
            } catch {
                throw ReproFailure(error)
            }
            let printer = ProgressPrinter(quiet: quiet)
            printer.line("report: \(reportDir)/\(name).md")
            printer.line("report: \(reportDir)/\(name).json")
            if json {
                Console.out(data)
                Console.out(Data("\n".utf8))
            }
        }

        func run() throws {
            if drivers != nil { return try runDrivers() }
            let matrix = try matrix()
            let report = try withSession { session, printer throws(RunError) in
                try matrix.run(session: session, jobs: jobs, progress: printer.handle) {
                    printer.finished($1, label: $0)
                }
            }
            try write(
                json: report.jsonData(),
                markdown: String(decoding: try ReportWriter.render(report, as: .md), as: UTF8.self), named: "matrix")
        }
    }
}
