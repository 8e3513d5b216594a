import ArgumentParser
import Foundation
import ReproKit

/// A scenario subcommand whose flags describe one scenario (`repro bisect` runs it on several releases).
protocol ScenarioCommandLine {
    func scenario() throws -> Scenario
}

extension Repro {
    /// `repro bisect`: one scenario on each release of one stack, oldest first, and where the outcome changes.
    struct Bisect: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bisect",
            abstract: "Run one scenario on each release of one stack and name the release where the outcome changes.",
            discussion: """
                The scenario is a scenario subcommand with its own flags (kill-thread --target busy, freeze --during \
                wait-timeout …) or a scenario file with one scenario, written after bisect's own options. Each \
                release is one the stack can load (repro drivers lists them: the installed one and those staged in \
                REPRO_DRIVER_VERSIONS); the report names the versions each run loaded, read from the libraries' own \
                metadata. Prints per release the outcome and the first error, then the boundary ("fails up to \
                2.3.3, survives from 3.0.0"). Writes bisect-<driver>-<scenario>.json and .md (and the runs' full \
                report as …-runs). Exit 0 when it ran, whatever it found; 1 when --expect-fixed-in is not the \
                release it found; 2 bad usage; 3 the environment failed.
                """)

        @Option(help: ArgumentHelp("The stack: node-mysql2, go-sql, hikari, sqlalchemy, …", valueName: "name"))
        var driver: String

        @Option(
            help: ArgumentHelp(
                "Releases, comma-separated (2.2.5,2.3.3,3.0.0,3.23.4; hikari: 6.0.0 or 6.0.0+3.5.9), or all: every one found.",
                valueName: "list"))
        var versions: String

        @Option(
            name: .customLong("expect-fixed-in"),
            help: ArgumentHelp(
                "Exit 1 unless every release before this one fails and it and every later one survive (for CI).",
                valueName: "version"))
        var expectFixedIn: String?

        @OptionGroup var server: ServerOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var runtime: RuntimeOptions

        @Argument(
            parsing: .captureForPassthrough,
            help: ArgumentHelp(
                "The scenario: a scenario subcommand and its flags (kill-thread --target busy), or a scenario file.",
                valueName: "scenario"))
        var scenario: [String] = []

        func validate() throws {
            if scenario.isEmpty {
                throw ValidationError(
                    "give the scenario after bisect's options: a subcommand such as kill-thread, or a scenario file")
            }
            if driver.contains("@") {
                throw ValidationError("--driver names the stack only: give its releases with --versions")
            }
        }

        /// The scenario these arguments describe, with the stack set (and no release yet).
        func baseScenario() throws -> (scenario: Scenario, command: String?) {
            let first = scenario[0]
            if first.hasSuffix(".yml") || first.hasSuffix(".yaml") {
                guard scenario.count == 1 else {
                    throw ReproFailure(
                        code: 2, message: "bisect takes one scenario file and nothing after it: put options before it")
                }
                let loaded: [Scenario]
                do { loaded = try ScenarioFile.load(paths: [first]) } catch {
                    throw ReproFailure(code: 2, message: error.description)
                }
                guard loaded.count == 1, var one = loaded.first else {
                    throw ReproFailure(
                        code: 2,
                        message: "\(first) holds \(loaded.count) scenarios: bisect runs one; give a file with one")
                }
                var choice = one.driver ?? DriverChoice(name: driver)
                if choice.name != driver {
                    throw ReproFailure(
                        code: 2, message: "\(first) runs \(choice.name), not --driver \(driver): give the same stack")
                }
                choice.libraryPath = nil
                choice.version = nil
                one.driver = choice
                return (one, nil)
            }
            if scenario.contains(where: { $0 == "--driver" || $0.hasPrefix("--driver=") || $0 == "--library" }) {
                throw ReproFailure(
                    code: 2,
                    message:
                        "give the stack to bisect (--driver before the scenario) and its releases with --versions, not --driver or --library to the scenario"
                )
            }
            let kinds: [any ParsableCommand.Type] = [
                WaitTimeout.self, KillThread.self, NetworkCut.self, ServerRestart.self, Freeze.self,
            ]
            let commands = kinds.map { $0.configuration.commandName ?? "" }
            guard commands.contains(first) else {
                throw ReproFailure(
                    code: 2,
                    message:
                        "bisect runs a scenario subcommand (\(commands.joined(separator: ", "))) or a scenario file (.yml), not '\(first)'"
                )
            }
            let parsed: ParsableCommand
            do {
                parsed = try Repro.parseAsRoot(scenario + ["--driver", driver])
            } catch {
                let text = Repro.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
                throw ReproFailure(code: 2, message: "bisect's scenario '\(scenario.joined(separator: " "))': \(text)")
            }
            guard let command = parsed as? ScenarioCommandLine else {
                throw ReproFailure(
                    code: 2, message: "bisect runs a scenario subcommand or a scenario file, not '\(first)'")
            }
            return (try command.scenario(), (["repro"] + scenario + ["--driver", driver]).joined(separator: " "))
        }

        /// The releases to run, oldest first.
        func releases() throws -> [String] {
            let adapter: AdapterDefinition
            do { adapter = try AdapterCatalog.find(driver) } catch { throw ReproFailure(error) }
            var list: [String]
            if versions.trimmingCharacters(in: .whitespaces) == "all" {
                list = DriverReleaseList.releases(of: adapter, nodePath: runtime.nodePath).filter {
                    $0.release.isDefault ? $0.check.available : $0.usable
                }.map(\.release.version).filter { !$0.isEmpty }
            } else {
                list = versions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                    !$0.isEmpty
                }
            }
            var unique: [String] = []
            for v in list where !unique.contains(v) { unique.append(v) }
            if unique.count < 2 {
                throw ReproFailure(
                    code: 2,
                    message:
                        "--versions names \(unique.count) release(s) of \(driver): bisect needs two or more (repro drivers lists them)"
                )
            }
            return unique.sorted { DriverReleases.compareVersions($0, $1) == .orderedAscending }
        }

        func run() throws {
            let releases = try releases()
            let base = try baseScenario()
            let scenarios = releases.map { version -> Scenario in
                var one = base.scenario
                one.driver?.version = version
                one.driver?.libraryPath = nil
                one.name = "\(base.scenario.name) \(driver)@\(version)"
                if server.allowWrites { one.allowWrites = true }
                return one
            }
            let name = "bisect-\(driver)-\(base.scenario.name)"
            let printer = ProgressPrinter(quiet: output.quiet)
            let batch = ScenarioBatch(
                scenarios, dsn: server.resolvedDSN, reportDirectory: output.reportDir, basename: name + "-runs",
                formats: output.formats(default: [.md, .json]), nodePath: runtime.nodePath)
            let outcome: ScenarioBatch.Outcome
            do {
                outcome = try batch.run(progress: printer.handle, onResult: { printer.finished($0) })
            } catch {
                throw ReproFailure(error)
            }
            let rows = zip(releases, outcome.report.scenarios).map { BisectReport.Row(version: $0, result: $1) }
            let report = BisectReport(
                server: outcome.report.server, driver: driver, scenario: base.scenario.name, command: base.command,
                rows: rows, expectFixedIn: expectFixedIn)
            for row in rows {
                Console.line(
                    "\(driver)@\(row.version): \(row.survived ? "✓ survived" : "✗ " + (row.firstError?.message ?? "\(row.operations.failed) failed"))  [\(row.loaded)]"
                )
            }
            Console.line("\(driver) \(base.scenario.name): \(report.boundary)")
            let plan = RunPlan(dsn: server.resolvedDSN, reportDirectory: output.reportDir)
            do {
                let paths = try plan.write([
                    (name + ".json", try report.jsonData()), (name + ".md", Data(BisectRenderer.render(report).utf8)),
                ])
                for path in outcome.written + paths.reversed() { printer.line("report: \(path)") }
                try output.printJSON { try report.jsonData() }
            } catch let error as RunError {
                throw ReproFailure(error)
            }
            if !report.passed {
                throw ReproFailure(
                    code: 1,
                    message:
                        "expected \(driver) fixed in \(expectFixedIn ?? ""), found: \(report.boundary)")
            }
        }
    }
}
