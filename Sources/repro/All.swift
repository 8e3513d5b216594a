import ArgumentParser
import Foundation
import ReproKit

extension Repro {
    /// `repro all`: every scenario file, one server, one combined report; exit 1 when an expectation fails.
    struct All: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "all",
            abstract: "Run scenario files (default: Scenarios/) on one server and write one combined report.",
            discussion: """
                Every file is checked before anything runs: unknown keys, wrong types, unknown presets and \
                impossible values exit 2 with file:line for each problem. Reports default to json, md and junit \
                (repro-all.*). With GITHUB_STEP_SUMMARY set, the summary table is appended there.
                """)

        @Argument(
            help: ArgumentHelp("Scenario files or directories.", valueName: "path"),
            completion: .file(extensions: ["yml", "yaml"]))
        var paths: [String] = []

        @Option(
            help: ArgumentHelp(
                "Run only scenarios whose name matches (a glob like 'wait-*', or a substring).", valueName: "pattern"))
        var filter: String?

        @Flag(
            name: .customLong("fail-fast"),
            help: "Start no scenario after one whose expectations fail (running ones finish and clean up).")
        var failFast = false

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Scenarios run side by side on the one server, each with its own pool, proxy and firewall chain (\(ParallelRuns.jobsRange.text); a scenario with scope: global runs alone).",
                valueName: "n"))
        var jobs: Int = 4

        @Option(
            name: .customLong("pool-size"), parsing: .unconditional,
            help: ArgumentHelp("Override every scenario's pool size (\(Scenario.poolSizeRange.text)).", valueName: "n"))
        var poolSize: Int?

        func validate() throws {
            if let poolSize, !Scenario.poolSizeRange.contains(poolSize) {
                throw outOfRange("--pool-size", poolSize, use: Scenario.poolSizeRange.text)
            }
            if !ParallelRuns.jobsRange.contains(jobs) {
                throw outOfRange("--jobs", jobs, use: ParallelRuns.jobsRange.text)
            }
        }

        @Flag(
            name: .customLong("allow-global"),
            help: "Allow scenarios with scope: global on a server this tool did not start (--dsn/REPRO_DSN).")
        var allowGlobal = false

        @OptionGroup var server: ServerOptions
        @OptionGroup var runtime: RuntimeOptions
        @OptionGroup var output: OutputOptions

        /// `./Scenarios` when there is one, else the example scenarios installed with (or built beside) repro.
        static func defaultDirectory() -> String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: "Scenarios", isDirectory: &isDir), isDir.boolValue {
                return "Scenarios"
            }
            guard let installed = ReproPaths.find("Scenarios", directory: true) else { return "Scenarios" }
            Console.line(
                "no ./Scenarios here: running the example scenarios in \(installed) (repro init DIR writes your own)")
            return installed
        }

        func run() throws {
            let scenarios: [Scenario]
            do {
                scenarios = try ScenarioFile.load(paths: paths.isEmpty ? [Self.defaultDirectory()] : paths)
            } catch {
                throw ReproFailure(code: 2, message: error.problems.map(\.description).joined(separator: "\nrepro: "))
            }
            var selected = scenarios.filter { ScenarioFilter.matches($0.name, pattern: filter) }
            for i in selected.indices {
                if let poolSize { selected[i].poolSize = poolSize }
                if allowGlobal { selected[i].allowGlobal = true }
            }
            if selected.isEmpty {
                throw ReproFailure(
                    code: 2,
                    message:
                        "--filter '\(filter ?? "")' matches none of the \(scenarios.count) scenario(s): names are \(scenarios.map(\.name).joined(separator: ", "))"
                )
            }
            try ScenarioCommand.execute(
                selected, server: server, output: output, basename: "repro-all", defaultFormats: [.json, .md, .junit],
                jobs: jobs, failFast: failFast, nodePath: runtime.nodePath)
        }
    }
}
