import Foundation

/// What real driver stacks did, as measured by `make drivers-matrix` (`docs/drivers.json`, compiled into ReproKit
/// as `MeasuredDriversData.json` by the EmbedData build-tool plugin): the source of every "what drivers
/// show" line repro prints.
public enum MeasuredDrivers {
    /// The compiled-in measurement, decoded once. A docs/drivers.json that does not decode (edited by hand, or
    /// older than a change to `DriversReport`) still builds, and every use of it fails with `decode`'s error
    /// (exit 3), never a report that silently leaves the measured lines out; a unit test checks it decodes.
    public static var report: DriversReport {
        get throws(RunError) { try compiledIn.get() }
    }

    private static let compiledIn = Result { () throws(RunError) in try decode(Data(MeasuredDriversData.json.utf8)) }

    /// `data` as the drivers matrix compiled into repro; the error names what did not decode and the fix.
    static func decode(_ data: Data) throws(RunError) -> DriversReport {
        do {
            return try DriversReport.decode(data)
        } catch {
            throw .environment(
                "the measured drivers matrix compiled into repro does not decode: \(reason(error)): rerun make drivers-matrix"
            )
        }
    }

    /// A decoding error in one line: where in the JSON, and what was wrong there.
    static func reason(_ error: any Error) -> String {
        func at(_ path: [any CodingKey]) -> String {
            guard !path.isEmpty else { return "" }
            var keys = ""
            for key in path {
                if let index = key.intValue {
                    keys += "[\(index)]"
                } else {
                    keys += (keys.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return "at '\(keys)': "
        }
        let text: String
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            text = at(context.codingPath) + "'\(key.stringValue)' is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            text = at(context.codingPath) + context.debugDescription
        case DecodingError.dataCorrupted(let context):
            text =
                at(context.codingPath) + context.debugDescription
                + (context.underlyingError.map { " (\($0.localizedDescription))" } ?? "")
        default: text = "\(error)"
        }
        let line = oneLine(text)
        return line.hasSuffix(".") ? String(line.dropLast()) : line
    }

    /// Where the lines come from, for a sentence in reports.
    public static func source(_ report: DriversReport) -> String {
        "measured by `make drivers-matrix` (docs/drivers.json) on MariaDB \(report.server.version), \(report.generatedAt)"
    }

    /// The column a scenario result belongs to, if the drivers matrix has one like it.
    public static func column(kind: String, parameters: [String: String], pattern: WorkloadPattern) -> MatrixColumn? {
        Fault(kind: kind, parameters: parameters).flatMap { MatrixColumn.measuring($0, pattern: pattern) }
    }

    /// One line per real stack and configuration (and per modeled preset) for `column`: its outcome and the
    /// verbatim error, with versions.
    public static func lines(for column: MatrixColumn, in report: DriversReport) -> [CatalogEntry.DriverMessage] {
        report.rows.compactMap { row in
            guard let cell = row.cell(column) else { return nil }
            return CatalogEntry.DriverMessage(driver: label(row), message: outcome(cell))
        }
    }

    /// One line per row for the columns a catalog entry covers.
    public static func lines(forEntry id: String, in report: DriversReport) -> [CatalogEntry.DriverMessage] {
        let columns = report.columns.map(\.id).filter { $0.catalogEntry == id }
        let downColumns = report.columns.map(\.id).filter(\.hasWhileDown).filter { column in
            report.rows.contains { row in
                row.cell(column)?.whileDownError.flatMap { column.whileDownEntry(for: $0) } == id
            }
        }
        guard !columns.isEmpty || !downColumns.isEmpty else { return [] }
        return report.rows.map { row in
            var parts = columns.compactMap { c in row.cell(c).map { "`\(c.rawValue)` \(outcome($0))" } }
            parts += downColumns.compactMap { c in
                row.cell(c).flatMap { cell in whileDown(cell).map { "`\(c.rawValue)` while down: \(oneLine($0))" } }
            }
            return CatalogEntry.DriverMessage(driver: label(row), message: parts.joined(separator: "; "))
        }
    }

    /// What the application saw while the server was down: the first error verbatim, or that every try waited
    /// for the server and succeeded; nil outside the restart columns.
    static func whileDown(_ cell: DriversReport.Cell) -> String? {
        guard let down = cell.whileDown else { return nil }
        if let e = cell.whileDownError { return "\"\(e.message)\" (\(e.label))" }
        return "no error (\(down.joined(separator: "; ")))"
    }

    /// `node-mysql2 default (mysql2 3.23.4 on node 20.20.2)`.
    public static func label(_ row: DriversReport.Row) -> String {
        var text = "\(row.id) (\(row.client.library) \(row.client.version)"
        if let runtime = row.client.runtime { text += " on \(runtime) \(row.client.runtimeVersion ?? "")" }
        return text + ")"
    }

    /// `✓ recovered (pool event: read ECONNRESET)` or `✗ "invalid connection"`, on one line.
    public static func outcome(_ cell: DriversReport.Cell) -> String {
        oneLine(multiLineOutcome(cell))
    }

    /// Messages keep their words; line breaks (SQLAlchemy appends `[SQL: ...]` on new lines) become spaces.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    static func multiLineOutcome(_ cell: DriversReport.Cell) -> String {
        let after = afterFault(cell)
        guard let down = cell.whileDown else { return after }
        let seen =
            cell.whileDownError.map { "\"\($0.message)\" (\($0.label))" }
            ?? "no error (\(down.joined(separator: "; ")))"
        return "while down: \(seen); once back: \(after)"
    }

    static func afterFault(_ cell: DriversReport.Cell) -> String {
        if cell.survived {
            var text = "✓ nothing reached the application"
            if let e = cell.absorbed.first { text += " (absorbed by \(e.handledBy ?? "the pool"): \"\(e.message)\")" }
            if let event = cell.events.first { text += " (pool event: \"\(event)\")" }
            return text
        }
        guard let e = cell.firstError else { return "✗ \(cell.operations.failed) operation(s) failed" }
        if e.kind == .hung { return "✗ hung: no answer within the deadline (no timeout of its own fired)" }
        return "✗ \"\(e.message)\" (\(e.label))"
    }

    /// Every place a message was seen, matched by shape (ids, ports and timings masked) or containment.
    public static func sightings(of query: String, in report: DriversReport) -> [(
        row: DriversReport.Row, column: MatrixColumn, reachedCaller: Bool, entry: String
    )] {
        let q = normalized(query)
        guard q.count >= 3 else { return [] }
        var out: [(DriversReport.Row, MatrixColumn, Bool, String)] = []
        for row in report.rows {
            for cell in row.cells {
                let entry = cell.column.catalogEntry
                var messages: [(String, Bool, String)] = cell.firstError.map { [($0.message, true, entry)] } ?? []
                if let e = cell.whileDownError, let down = cell.column.whileDownEntry(for: e) {
                    messages.append((e.message, true, down))
                }
                messages += (cell.laterErrors ?? []).map { ($0.message, true, entry) }
                messages += cell.absorbed.map { ($0.message, false, entry) }
                messages += cell.events.map { ($0, false, entry) }
                // One sighting per entry: the same words once back and while down belong to both.
                var seenEntries: Set<String> = []
                for (message, reached, belongs) in messages where !seenEntries.contains(belongs) {
                    let m = normalized(message)
                    if m == q || m.contains(q) || (q.count >= 12 && q.contains(m) && m.count >= 8) {
                        out.append((row, cell.column, reached, belongs))
                        seenEntries.insert(belongs)
                    }
                }
            }
        }
        return out
    }

    /// The catalog entries whose columns saw `query`.
    public static func entries(seeing query: String, in report: DriversReport) -> [String] {
        var ids: [String] = []
        for s in sightings(of: query, in: report) where !ids.contains(s.entry) {
            ids.append(s.entry)
        }
        return ids
    }

    static func normalized(_ text: String) -> String {
        ErrorSearch.normalize(DriversReport.Cell.shape(text))
    }
}
