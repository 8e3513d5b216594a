import ArgumentParser
import Foundation
import ReproKit

extension Repro {
    /// `repro explain`: what an error means, who shows it, how to reproduce it, which policies recovered.
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Explain an error code, name or message: what it means, which drivers show it, how to reproduce it.",
            discussion:
                "Matching ignores case and punctuation and accepts partial text. No match exits 1 with the closest entries."
        )

        @Argument(
            parsing: .allUnrecognized,
            help: ArgumentHelp("An error code (2013, -1), name (CR_SERVER_LOST) or message text.", valueName: "query"))
        var query: [String]

        @Option(
            help: ArgumentHelp(
                "Matrix results to quote (written by `make matrix`; default: the docs/matrix.json installed with or built beside repro).",
                valueName: "file"),
            completion: .file(extensions: ["json"]))
        var matrix: String?

        @Option(
            help: ArgumentHelp(
                "Answer for this stack: where the drivers matrix saw the error from it and what survived it there.",
                valueName: "adapter"),
            completion: .list(AdapterCatalog.preferredOrder))
        var driver: String?

        @Flag(help: "The whole catalog: every entry that matches, every stack's line, every command.")
        var verbose = false

        func validate() throws {
            if query.joined().trimmingCharacters(in: .whitespaces).isEmpty {
                throw ValidationError(
                    "nothing to explain: give an error code, name or message, e.g. repro explain 2013")
            }
            if let driver, !AdapterCatalog.preferredOrder.contains(driver) {
                throw ValidationError(
                    "unknown --driver '\(driver)': use one of \(AdapterCatalog.preferredOrder.joined(separator: ", "))")
            }
        }

        func run() throws {
            let text = query.joined(separator: " ")
            let measured: DriversReport
            do { measured = try MeasuredDrivers.report } catch { throw ReproFailure(error) }
            let hits = ErrorSearch.search(text, measured: measured)
            guard !hits.isEmpty else {
                let close = ErrorSearch.closest(text).map { "\"\($0.title)\"" }.joined(separator: "; ")
                let shown = text.count <= 60 ? text : String(text.prefix(57)) + "..."
                throw ReproFailure(code: 1, message: "no catalog entry matches '\(shown)'; closest: \(close)")
            }
            guard verbose else {
                let answer = ShortAnswer.render(
                    query: text, adapter: driver, hits: hits, measured: measured)
                Console.out(Data(answer.utf8))
                return
            }
            let results = MatrixResults(
                path: matrix ?? ReproPaths.find("docs/matrix.json") ?? "docs/matrix.json")
            var out = Self.sightings(of: text, in: measured)
            for (i, hit) in hits.enumerated() {
                let e = hit.entry
                if i > 0 { out += "\n" + String(repeating: "-", count: 72) + "\n\n" }
                out += "\(e.title)\n\n"
                out += "Codes: \(e.codes.map { DatabaseError.Code($0).description }.joined(separator: ", "))\n\n"
                out += "What it means: \(e.meaning)\n\n"
                let lines = MeasuredDrivers.lines(forEntry: e.id, in: measured)
                if !lines.isEmpty {
                    out += "What real driver stacks do (\(MeasuredDrivers.source(measured))):\n"
                    for d in lines { out += "  - \(d.driver): \(d.message)\n" }
                    out += "\n"
                }
                if !e.drivers.isEmpty {
                    out += "Not measured here (from documentation, not from a run):\n"
                    for d in e.drivers { out += "  - \(d.driver): \(d.message)\n" }
                }
                out += "\nReproduce it:\n"
                for c in e.commands { out += "  \(c)\n" }
                out += "\n" + results.summary(for: e.scenarios) + "\n"
            }
            Console.out(Data(out.utf8))
        }
    }
}

extension Repro.Explain {
    /// Where the pasted message was seen verbatim in the drivers matrix, and which stacks recovered there.
    static func sightings(of text: String, in measured: DriversReport) -> String {
        // Where it reached the application first: that is where the answer is; absorbed sightings after.
        let found = MeasuredDrivers.sightings(of: text, in: measured)
        let seen = found.filter(\.reachedCaller) + found.filter { !$0.reachedCaller }
        guard !seen.isEmpty else { return "" }
        var out = "Seen verbatim in the drivers matrix (docs/drivers.json):\n"
        var columns: [MatrixColumn] = []
        var listed: Set<String> = []
        for s in seen where listed.insert("\(s.row.id) \(s.column.rawValue)").inserted {
            let how = s.reachedCaller ? "reached the application" : "absorbed or reported by the pool"
            out += "  - \(MeasuredDrivers.label(s.row)) in `\(s.column.rawValue)`: \(how)\n"
            if !columns.contains(s.column) { columns.append(s.column) }
        }
        out += "Which real stacks and configurations recovered there:\n"
        for column in columns {
            let rows = measured.rows.filter { !$0.isModel }
            let ok = rows.filter { $0.cell(column)?.survived == true }.map(\.id)
            let failed = rows.filter { $0.cell(column)?.survived == false }.map(\.id)
            out +=
                "  - `\(column.rawValue)` (\(column.title)): recovered: \(ok.isEmpty ? "none" : ok.joined(separator: ", ")); did not: \(failed.isEmpty ? "none" : failed.joined(separator: ", "))\n"
        }
        return out + "\n" + String(repeating: "-", count: 72) + "\n\n"
    }
}

/// Which policies recovered per scenario, read from a saved matrix report.
struct MatrixResults {
    let report: Report?
    let path: String

    init(path: String) {
        self.path = path
        report = FileManager.default.contents(atPath: path).flatMap { try? Report.decode($0) }
    }

    func summary(for scenarios: [String]) -> String {
        guard !scenarios.isEmpty else { return "Policies: not a pooled-connection failure; see the meaning above." }
        guard let report else {
            return "Which policies recover: no matrix results at \(path) (run `make matrix`)."
        }
        var lines = ["Which policies recovered (\(path), MariaDB \(report.server.version)):"]
        for name in scenarios {
            guard let outcome = report.policyOutcome(scenario: name) else { continue }
            let ok = outcome.recovered.isEmpty ? "none" : outcome.recovered.joined(separator: ", ")
            let failed = outcome.failed.isEmpty ? "none" : outcome.failed.joined(separator: ", ")
            lines.append("  \(name): recovered with \(ok); failed with \(failed)")
        }
        return lines.joined(separator: "\n")
    }
}
