import ArgumentParser
import Foundation
import ReproKit

extension Repro {
    /// `repro report`: re-render a saved JSON report.
    struct ReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract:
                "Re-render a saved JSON report (or a drivers matrix, drivers.json) as Markdown, JUnit XML or SVG charts (to stdout).",
            discussion: """
                With --merge, the drivers.json of every shard of one `repro matrix --drivers … --shard K/N` split \
                become the report an unsharded run writes (JSON unless --format says otherwise); shards of \
                another plan, another repro or server version, a shard given twice or missing are refused (exit 2).
                """
        )

        @Argument(
            help: ArgumentHelp("A JSON report written by repro (with --merge: every shard's).", valueName: "file.json"),
            completion: .file(extensions: ["json"]))
        var files: [String]

        @Flag(help: "Merge the drivers.json files of a sharded drivers matrix into one.")
        var merge = false

        @Option(
            help: ArgumentHelp(
                "svg: the timeline charts, every scenario's under the one before (default md; json with --merge).",
                valueName: "format"))
        var format: ReportFormat?

        func validate() throws {
            if files.isEmpty { throw ValidationError("give a JSON report repro wrote") }
            if !merge && files.count > 1 {
                throw ValidationError(
                    "give one report (or --merge with every shard's drivers.json): got \(files.count)")
            }
        }

        @Option(
            name: .shortAndLong, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "path"),
            completion: .file())
        var output: String?

        /// The shards' reports, merged; every problem is one line naming the file.
        func merged() throws -> DriversReport {
            var shards: [(name: String, report: DriversReport)] = []
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw ReproFailure(code: 2, message: "cannot read '\(file)': check the path")
                }
                do { shards.append((file, try DriversReport.decode(data))) } catch {
                    throw ReproFailure(
                        code: 2,
                        message:
                            "'\(file)' is not a drivers matrix (drivers.json of repro matrix --drivers --shard K/N): \(Self.reason(error))"
                    )
                }
            }
            do { return try DriversReport.merge(shards) } catch {
                throw ReproFailure(code: 2, message: error.message)
            }
        }

        func run() throws {
            let format = self.format ?? (merge ? .json : .md)
            let file = files[0]
            let data: Data
            if merge {
                data = try merged().jsonData()
            } else if let contents = FileManager.default.contents(atPath: file) {
                data = contents
            } else {
                throw ReproFailure(code: 2, message: "cannot read '\(file)': check the path")
            }
            if let drivers = try? DriversReport.decode(data) {
                // A drivers matrix (`repro matrix --drivers`): Markdown or its own JSON; it has no JUnit form.
                let rendered: Data
                switch format {
                case .md: rendered = Data(DriversRenderer.render(drivers).utf8)
                case .json: rendered = try drivers.jsonData()
                case .svg: rendered = Data(DriversGrid.render(drivers).utf8)
                default:
                    throw ReproFailure(
                        code: 2, message: "'\(file)' is a drivers matrix: render it with --format md, json or svg")
                }
                if let output {
                    do { try FileOutput.write(rendered, to: output) } catch { throw ReproFailure(error) }
                } else {
                    Console.out(rendered)
                }
                return
            }
            let report: Report
            do {
                report = try Report.decode(data)
            } catch {
                if let depth = JSONNesting.depth(of: data), depth > JSONNesting.decoderLimit {
                    throw ReproFailure(
                        code: 2,
                        message:
                            "'\(file)' is nested too deeply to read (\(depth) levels of [ and {; the limit is \(JSONNesting.decoderLimit)): it is not a repro JSON report, give one that repro wrote"
                    )
                }
                throw ReproFailure(
                    code: 2,
                    message:
                        "'\(file)' is not a repro JSON report (schema version \(Report.currentSchemaVersion)): \(Self.reason(error))"
                )
            }
            let rendered: Data
            do { rendered = try ReportWriter.render(report, as: format) } catch let error as RunError {
                throw ReproFailure(error)
            }
            if let output {
                do { try FileOutput.write(rendered, to: output) } catch { throw ReproFailure(error) }
            } else {
                Console.out(rendered)
            }
        }

        static func reason(_ error: any Error) -> String {
            switch error {
            case DecodingError.keyNotFound(let key, let ctx):
                "missing key '\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
            case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx),
                DecodingError.dataCorrupted(let ctx):
                "at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)"
            default: "\(error)"
            }
        }
    }
}
