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
                "Scenarios, comma-separated (default all: \(MatrixColumn.policyColumns.map(\.id).joined(separator: ",")); with --drivers also \(MatrixColumn.allCases.filter { !MatrixColumn.policyColumns.contains($0) }.map(\.id).joined(separator: ","))).",
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
                valueName: "list"),
            transform: Parse.driverConfigs)
        var configs: DriverConfigList = DriverConfigList(DriverConfig.allCases)

        @Option(help: ArgumentHelp("With --drivers: how cuts are made (kernel needs root).", valueName: "via"))
        var via: MatrixCutVia = .kernel

        @Option(
            name: .customLong("driver-deadline"), parsing: .unconditional,
            help: ArgumentHelp(
                "With --drivers: seconds an operation may take before it counts as hung (default 3).",
                valueName: "seconds"))
        var deadline: Double = 3

        @OptionGroup var runtime: RuntimeOptions

        @Option(
            name: .customLong("node-versions"),
            help: ArgumentHelp(
                "With --drivers: more node-mysql2 rows, one set per node_modules directory holding another mysql2 release (comma-separated); its version is read from its package.json.",
                valueName: "dirs"))
        var nodeVersions: String?

        @Option(
            name: .customLong("driver-versions"),
            help: ArgumentHelp(
                "With --drivers: more rows, one set per staged release (REPRO_DRIVER_VERSIONS): all, listed (those each stack's adapters/NAME/matrix.json lists), or NAME@VERSION,… (repro drivers lists them). Each release's version is read from its own metadata.",
                valueName: "list"))
        var driverVersions: String?

        @Option(
            help: ArgumentHelp(
                "Policy presets, comma-separated (default all: \(PolicyPreset.allCases.map(\.rawValue).joined(separator: ","))).",
                valueName: "list"))
        var policies: String?

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "wait_timeout of the wait-timeout column, \(Matrix.secondsRange.text) (default 1; 3 with --drivers).",
                valueName: "n"))
        var seconds: Int?

        @Option(
            name: .customLong("cost-borrows"), parsing: .unconditional,
            help: ArgumentHelp("Borrows per policy for the cost table.", valueName: "n"))
        var costBorrows: Int = 2000

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Cells run side by side on the one server, each with its own pool, proxy and firewall chain (\(ParallelRuns.jobsRange.text)).",
                valueName: "n"))
        var jobs: Int = 4

        @Option(
            help: ArgumentHelp(
                "With --drivers: run only shard K of N (every cell is in exactly one shard); merge the shards' drivers.json with repro report --merge.",
                valueName: "K/N"))
        var shard: String?

        @OptionGroup var server: ServerOptions

        /// --report-dir (matrix.json and matrix.md, or drivers.json and drivers.md), --json, --quiet.
        @OptionGroup var output: ReportOutputOptions

        func validate() throws {
            if !ParallelRuns.jobsRange.contains(jobs) {
                throw outOfRange("--jobs", jobs, use: ParallelRuns.jobsRange.text)
            }
            if let seconds, !Matrix.secondsRange.contains(seconds) {
                throw outOfRange("--seconds", seconds, use: "whole seconds from \(Matrix.secondsRange.text)")
            }
            if drivers != nil {
                guard DriverChoice.deadlineRange.contains(deadline) else {
                    throw outOfRange(
                        "--driver-deadline", deadline, use: "seconds from \(DriverChoice.deadlineRange.text)")
                }
            } else if !Matrix.costBorrowsRange.contains(costBorrows) {
                throw outOfRange("--cost-borrows", costBorrows, use: Matrix.costBorrowsRange.text)
            }
            if let shard {
                guard drivers != nil else {
                    throw ValidationError(
                        "--shard splits the drivers matrix: add --drivers (the policy matrix runs on one machine in minutes)"
                    )
                }
                do { _ = try MatrixShard.parse(shard) } catch { throw ValidationError(error.message) }
            }
        }

        /// `--policies`, each preset once in the given order; nil: not given.
        func presets() throws(RunError) -> [PolicyPreset]? {
            guard let policies else { return nil }
            var presets: [PolicyPreset] = []
            for name in policies.split(separator: ",") {
                let preset: PolicyPreset
                do { preset = try PolicyPreset.named(name.trimmingCharacters(in: .whitespaces)) } catch {
                    throw .usage(error.message)
                }
                if !presets.contains(preset) { presets.append(preset) }
            }
            return presets
        }

        /// repro's own matrix; `--scenarios` and `--policies` are read here, once, before anything runs.
        func matrix() throws(RunError) -> Matrix {
            let columns = try scenarios.map { text throws(RunError) in
                try MatrixColumn.parseList(text, from: MatrixColumn.policyColumns)
            }
            let rows = try presets() ?? PolicyPreset.allCases
            if rows.isEmpty { throw .usage("--policies is empty: name at least one preset") }
            return Matrix(
                scenarios: columns ?? MatrixColumn.policyColumns, policies: rows, seconds: seconds ?? 1,
                costBorrows: costBorrows)
        }

        /// The drivers matrix's flags: its columns, the presets beside the stacks, its settings.
        func driversPlan() throws(RunError) -> (
            columns: [MatrixColumn], presets: [PolicyPreset]?, settings: DriversMatrix.Settings
        ) {
            let columns = try scenarios.map { text throws(RunError) in try MatrixColumn.parseList(text) }
            let settings = DriversMatrix.Settings(waitTimeout: seconds ?? 3, deadline: deadline, via: via.cutVia)
            return (columns ?? MatrixColumn.allCases, try presets(), settings)
        }

        func runDrivers() throws {
            let plan: (columns: [MatrixColumn], presets: [PolicyPreset]?, settings: DriversMatrix.Settings)
            let selected: (names: [String], skipped: [String])
            do {
                plan = try driversPlan()
                selected = try AdapterCatalog.select(drivers ?? "all", nodePath: runtime.nodePath)
            } catch {
                throw ReproFailure(error)
            }
            for line in selected.skipped { Console.err("repro: skipping \(line)\n") }
            let versions = try libraryVersions(adapters: selected.names)
            let matrix = DriversMatrix(
                rows: DriversMatrix.rows(
                    adapters: selected.names, configs: configs.configs, presets: plan.presets, settings: plan.settings,
                    versions: versions),
                columns: try withoutKernelFreezeUnderProxy(
                    try withoutRestartsOnExternalServer(plan.columns, \.restartsServer)),
                settings: plan.settings)
            if matrix.settings.via == .kernel {
                // TCP keepalive meets a kernel cut only: say so, rather than measuring it wrongly through the proxy.
                do { try KernelCut.checkAvailable() } catch {
                    throw ReproFailure(
                        code: 3, message: "the drivers matrix cuts flows with iptables: \(error.message)")
                }
            }
            var shard: MatrixShard?
            if let text = self.shard {
                do { shard = try MatrixShard.parse(text) } catch { throw ReproFailure(error) }
            }
            let report = try withSession { session, printer throws(RunError) in
                try matrix.run(
                    session: session, nodePath: runtime.nodePath, jobs: jobs, shard: shard, progress: printer.handle
                ) { cell, result in
                    printer.done(
                        cell.id,
                        line:
                            "\(cell.row.id) × \(result.name): \(result.survived ? "✓" : "✗ " + (result.firstUnhandledError?.message ?? "\(result.operations.failed) failed"))"
                    )
                }
            }
            try write(json: report.jsonData(), markdown: DriversRenderer.render(report), named: "drivers")
        }

        /// `--node-versions` (node_modules directories) and `--driver-versions` (staged releases): each release's
        /// version as its adapter's `check` reads it from the library's own metadata.
        func libraryVersions(adapters: [String]) throws -> [DriversMatrix.LibraryVersion] {
            var out: [DriversMatrix.LibraryVersion] = []
            if let nodeVersions {
                guard adapters.contains("node-mysql2") else {
                    throw ReproFailure(
                        code: 2, message: "--node-versions adds node-mysql2 rows: include node-mysql2 in --drivers")
                }
                let adapter: AdapterDefinition
                do { adapter = try AdapterCatalog.find("node-mysql2") } catch { throw ReproFailure(error) }
                for part in nodeVersions.split(separator: ",") {
                    let dir = String(part).trimmingCharacters(in: .whitespaces)
                    let full = DriverReleases.absolute(dir)
                    guard let version = AdapterCatalog.libraryVersion(adapter, library: "mysql2", libraryPath: full)
                    else {
                        throw ReproFailure(
                            code: 2,
                            message:
                                "--node-versions: no mysql2 in \(dir): give node_modules directories that each hold a mysql2 release"
                        )
                    }
                    out.append(.init(adapter: "node-mysql2", version: version, libraryPath: full))
                }
            }
            if let driverVersions {
                do {
                    for release in try DriverReleaseList.select(driverVersions, adapters: adapters) {
                        guard let path = release.libraryPath else { continue }
                        if !out.contains(where: { $0.adapter == release.adapter && $0.version == release.version }) {
                            out.append(.init(adapter: release.adapter, version: release.version, libraryPath: path))
                        }
                    }
                } catch {
                    throw ReproFailure(error)
                }
            }
            return out
        }

        /// On a server repro did not start, the server-restart columns cannot run: left out with a line, or
        /// refused when `--scenarios` named them.
        func withoutRestartsOnExternalServer<Column>(_ columns: [Column], _ restarts: (Column) -> Bool) throws
            -> [Column]
        {
            guard let dsn = server.resolvedDSN, !dsn.isEmpty, columns.contains(where: restarts) else { return columns }
            // repro restarts only the server it started: on yours those columns cannot run.
            if scenarios != nil {
                throw ReproFailure(
                    code: 2,
                    message:
                        "--scenarios server-restart-* stops and starts the server, and repro restarts only the server it started: drop --dsn/REPRO_DSN or those columns"
                )
            }
            Console.err("repro: leaving out the server-restart columns: repro restarts only the server it started\n")
            return columns.filter { !restarts($0) }
        }

        /// The freeze during a half-open cut always cuts through the kernel (the proxy's own kernel would answer the
        /// stopped application's keepalive probes): with `--via proxy` the column is left out, with a line.
        func withoutKernelFreezeUnderProxy(_ columns: [MatrixColumn]) throws -> [MatrixColumn] {
            let kernel = columns.filter(\.cutsThroughKernel)
            guard via == .proxy, !kernel.isEmpty else { return columns }
            let names = kernel.map(\.id).joined(separator: ", ")
            if scenarios != nil {
                throw ReproFailure(
                    code: 2,
                    message:
                        "--scenarios \(names) cuts through the kernel (iptables, root): drop --via proxy or that column"
                )
            }
            Console.err("repro: leaving out \(names): it cuts through the kernel, and --via proxy was given\n")
            return columns.filter { !$0.cutsThroughKernel }
        }

        /// The server session and the progress printer around one matrix run (`RunPlan`: the report directory
        /// checked up front, no report after Ctrl-C).
        func withSession<T>(_ body: (ReproSession, ProgressPrinter) throws(RunError) -> T) throws -> T {
            let printer = ProgressPrinter(quiet: output.quiet)
            do {
                return try RunPlan(dsn: server.resolvedDSN, reportDirectory: output.reportDir).withSession {
                    session throws(RunError) in try body(session, printer)
                }
            } catch {
                throw ReproFailure(error)
            }
        }

        /// Writes `<name>.json` and `<name>.md` into the report directory as one set, says where, and prints
        /// the JSON with `--json`.
        func write(json data: Data, markdown: String, named name: String) throws {
            let plan = RunPlan(dsn: server.resolvedDSN, reportDirectory: output.reportDir)
            let printer = ProgressPrinter(quiet: output.quiet)
            do {
                let paths = try plan.write([(name + ".json", data), (name + ".md", Data(markdown.utf8))])
                for path in paths.reversed() { printer.line("report: \(path)") }
                try output.printJSON { data }
            } catch {
                throw ReproFailure(error)
            }
        }

        func run() throws {
            if drivers != nil { return try runDrivers() }
            var matrix: Matrix
            do {
                matrix = try self.matrix()
                // matrix.md quotes the compiled-in drivers matrix: a copy that does not decode fails before the run.
                _ = try MeasuredDrivers.report
            } catch {
                throw ReproFailure(error)
            }
            matrix.scenarios = try withoutRestartsOnExternalServer(matrix.scenarios, \.restartsServer)
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

/// How the drivers matrix makes its cuts: the middleboxes are columns of their own, never a way of cutting.
enum MatrixCutVia: String, CaseIterable, ExpressibleByArgument {
    case proxy, kernel

    var cutVia: CutVia { self == .proxy ? .proxy : .kernel }
}
