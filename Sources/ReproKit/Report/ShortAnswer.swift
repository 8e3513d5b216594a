import Foundation

/// `repro explain`'s answer on one screen: what the error means, where the drivers matrix saw it (for one stack
/// with `--driver`), what survived it there, and the exact command of a cell that produced it. The whole catalog
/// is `--verbose`.
public enum ShortAnswer {
    /// A matrix cell that produced the message, and the command that reproduces it.
    public struct Source: Sendable, Equatable {
        public var row: String
        public var column: MatrixColumn
        public var command: String
    }

    /// The cell whose command best reproduces `query` for `adapter` (or any stack): a cell where the message
    /// reached the application, on the installed release's default configuration when there is one.
    public static func source(of query: String, adapter: String?, in measured: DriversReport) -> Source? {
        let seen = MeasuredDrivers.sightings(of: query, in: measured).filter {
            !$0.row.isModel && (adapter == nil || $0.row.adapter == adapter)
        }
        func rank(_ s: (row: DriversReport.Row, column: MatrixColumn, reachedCaller: Bool, entry: String)) -> Int {
            (s.reachedCaller ? 0 : 8) + (isFirst(query, s.row, s.column) ? 0 : 4)
                + (s.row.config == DriverConfig.default.rawValue ? 0 : 2) + (s.row.id.contains("@") ? 1 : 0)
        }
        guard let best = seen.enumerated().min(by: { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) })
        else { return nil }
        let s = best.element
        guard let command = measured.commands["\(s.row.id)|\(s.column.rawValue)"] else { return nil }
        return Source(row: s.row.id, column: s.column, command: command)
    }

    /// Whether `query` is the first error the application saw in that cell (not a follow-up's, not absorbed).
    static func isFirst(_ query: String, _ row: DriversReport.Row, _ column: MatrixColumn) -> Bool {
        guard let cell = row.cell(column) else { return false }
        let q = MeasuredDrivers.normalized(query)
        return [cell.firstError, cell.whileDownError].contains { e in
            guard let e else { return false }
            let m = MeasuredDrivers.normalized(e.message)
            return m == q || m.contains(q) || (q.count >= 12 && q.contains(m) && m.count >= 8)
        }
    }

    /// `2.2.5, 3.23.4 (default, recommended)`: the releases and configurations of some rows, each once.
    static func releasesAndConfigs(_ rows: [DriversReport.Row]) -> String {
        let releases = rows.map(\.release).uniqued()
            .sorted { DriverReleases.compareVersions($0, $1) == .orderedAscending }
        let configs = rows.map(\.config).uniqued()
        return "\(releases.joined(separator: ", ")) (\(configs.joined(separator: ", ")))"
    }

    /// The answer. `hits` are the catalog entries the query matched, best first (non-empty).
    public static func render(
        query: String, adapter: String?, hits: [ErrorSearch.Hit], measured: DriversReport?
    ) -> String {
        let seen = (measured.map { MeasuredDrivers.sightings(of: query, in: $0) } ?? []).filter {
            !$0.row.isModel && (adapter == nil || $0.row.adapter == adapter)
        }
        // The entry the matrix saw it under comes first: that is where the answer is.
        let entryID =
            (seen.first { isFirst(query, $0.row, $0.column) } ?? seen.first { $0.reachedCaller } ?? seen.first)?.entry
        let entry = hits.first { $0.entry.id == entryID }?.entry ?? hits[0].entry
        var out = "\(entry.title)\n\n"
        out += "What it means: \(firstSentences(entry.meaning, limit: 300))\n\n"
        guard let measured, !seen.isEmpty else {
            out +=
                adapter.map { "The drivers matrix never saw this message from \($0) (docs/drivers.json).\n\n" }
                ?? "The drivers matrix never saw this message verbatim (docs/drivers.json).\n\n"
            out += "Reproduce it (repro's own pool):\n"
            for c in entry.commands.prefix(2) { out += "  \(c)\n" }
            return out + "\nEvery driver, policy and command: repro explain --verbose \(quoted(query))\n"
        }
        // Where it was seen: column by column, the stacks (or the one stack's releases and configurations).
        // Columns where it was the first error the application saw come first; then where a follow-up saw it.
        var columns: [MatrixColumn] = []
        for s in seen where isFirst(query, s.row, s.column) && !columns.contains(s.column) { columns.append(s.column) }
        var later: [MatrixColumn] = []
        for s in seen where !columns.contains(s.column) && !later.contains(s.column) { later.append(s.column) }
        if columns.isEmpty {
            columns = later
            later = []
        }
        out +=
            adapter.map { "Where it comes from, and what survives it (\($0); measured, docs/drivers.md):\n" }
            ?? "Where it comes from (measured, docs/drivers.md):\n"
        for column in columns.prefix(4) {
            let rows = seen.filter { $0.column == column }.map(\.row)
            let who =
                adapter == nil
                ? rows.map(\.adapter).uniqued()
                    .joined(separator: ", ")
                : releasesAndConfigs(rows)
            out +=
                "  - `\(column.rawValue)` (\(Report.ellipsized(column.title, limit: 90))): from \(Report.ellipsized(who, limit: 100))"
            if let adapter {
                if let failure = WhatFixesIt.failure(in: measured, adapter: adapter, column: column) {
                    out +=
                        failure.fixes.isEmpty
                        ? "; nothing measured survives it"
                        : "; survives with "
                            + failure.fixes.map { "\($0.plainLabel) \($0.optionsText)" }.joined(separator: "; ")
                } else {
                    out += "; the defaults of its newest release survive it"
                }
            }
            out += "\n"
        }
        if columns.count > 4 { out += "  - and \(columns.count - 4) more column(s): --verbose lists them\n" }
        if !later.isEmpty {
            out += "  - also seen after another first error (a later operation or a follow-up command) in "
            out += later.map { "`\($0.rawValue)`" }.joined(separator: ", ") + "\n"
        }
        out += "\n"
        if adapter == nil {
            out +=
                "What survives it: name your stack, e.g. repro explain --driver \(seen[0].row.adapter) \(quoted(query))\n\n"
        }
        if let source = source(of: query, adapter: adapter, in: measured) {
            out += "Reproduce it (the cell \(source.row) / \(source.column.rawValue)):\n  \(source.command)\n\n"
        }
        return out + "Every driver, policy and command: repro explain --verbose \(quoted(query))\n"
    }

    /// The first sentences of `text` up to about `limit` characters.
    static func firstSentences(_ text: String, limit: Int) -> String {
        guard text.count > limit else { return text }
        var out = ""
        for sentence in text.components(separatedBy: ". ") {
            let next = out.isEmpty ? sentence : out + ". " + sentence
            if next.count > limit { break }
            out = next
        }
        if out.isEmpty { return Report.cut(text, limit: limit) }
        return out.hasSuffix(".") ? out : out + "."
    }

    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
