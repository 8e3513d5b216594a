import Foundation

/// `docs/drivers.svg`: the drivers matrix as a picture, one cell per stack × release × configuration × column,
/// coloured by outcome, with its recovery time or the first error in a word. Drawn from the report only.
public enum DriversGrid {
    static let labelWidth = 300.0
    static let cellWidth = 74.0
    static let cellHeight = 18.0
    static let headerHeight = 150.0
    static let top = 40.0

    /// The outcome's colour: survived, failed, hung, not run.
    static func fill(_ cell: DriversReport.Cell?) -> String {
        guard let cell else { return "#eeeeee" }
        if cell.survived { return "#4caf50" }
        return cell.firstError?.kind == .hung ? "#7b1f1f" : "#e53935"
    }

    /// A cell's text in at most 11 characters: `303 ms`, `hung`, `ECONNRESET`, `2006`.
    static func text(_ cell: DriversReport.Cell?) -> String {
        guard let cell else { return "–" }
        if cell.survived { return cell.recoveryMs.map { String(format: "%.0f ms", $0) } ?? "ok" }
        guard let e = cell.firstError else { return "\(cell.operations.failed) failed" }
        if e.kind == .hung { return "hung" }
        // The label's first word: a MySQL number, the library's code, or its class.
        var word = e.label.split(separator: " ").first.map(String.init) ?? e.label
        // A bare class says little (`Error`, `java.sql.SQLException`): the kind says more.
        if word == "Error" || word.contains(".") { word = e.kind.rawValue }
        return word.count > 11 ? String(word.prefix(10)) + "…" : word
    }

    public static func render(_ report: DriversReport) -> String {
        let columns = report.columns.map(\.id)
        let rows = report.rows
        // Room on the right for the last column's slanted name.
        let width = labelWidth + cellWidth * Double(columns.count) + 130
        let height = top + headerHeight + cellHeight * Double(rows.count) + 60
        var out =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"10\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        let title =
            "What real driver stacks do when idle connections die — repro \(report.repro), MariaDB \(report.server.version)"
        out +=
            "<text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\" fill=\"#222222\">\(TimelineChart.escape(fitted(title, width: width - 16, charWidth: 7.4)))</text>\n"
        let legend = [
            ("#4caf50", "survived (ms to first success)"), ("#e53935", "first error the application saw"),
            ("#7b1f1f", "hung (no timeout of its own fired)"), ("#eeeeee", "not run"),
        ]
        var x = 8.0
        for (color, words) in legend {
            out += "<rect x=\"\(f(x))\" y=\"26\" width=\"10\" height=\"10\" fill=\"\(color)\" stroke=\"#999999\"/>"
            out += "<text x=\"\(f(x + 14))\" y=\"35\" fill=\"#222222\">\(TimelineChart.escape(words))</text>\n"
            x += 14 + Double(words.count) * 6 + 16
        }
        // Column names, slanted so they fit above narrow cells.
        for (i, column) in columns.enumerated() {
            let cx = labelWidth + cellWidth * Double(i) + cellWidth / 2
            let cy = top + headerHeight - 6
            out +=
                "<text x=\"\(f(cx))\" y=\"\(f(cy))\" transform=\"rotate(-40 \(f(cx)) \(f(cy)))\" fill=\"#222222\">\(TimelineChart.escape(column.rawValue))</text>\n"
        }
        var lastStack = ""
        for (r, row) in rows.enumerated() {
            let y = top + headerHeight + cellHeight * Double(r)
            let stack = row.isModel ? "repro" : row.adapter
            if stack != lastStack && r > 0 {
                out +=
                    "<line x1=\"4\" y1=\"\(f(y))\" x2=\"\(f(width - 8))\" y2=\"\(f(y))\" stroke=\"#555555\" stroke-width=\"1\"/>\n"
            }
            lastStack = stack
            let label = row.isModel ? "repro preset \(row.stack)" : "\(row.adapter) \(row.release) \(row.config)"
            out +=
                "<text x=\"8\" y=\"\(f(y + cellHeight - 5))\" fill=\"#222222\">\(TimelineChart.escape(fitted(label, width: labelWidth - 12, charWidth: 6)))</text>\n"
            for (i, column) in columns.enumerated() {
                let cell = row.cell(column)
                let cx = labelWidth + cellWidth * Double(i)
                out +=
                    "<rect x=\"\(f(cx))\" y=\"\(f(y))\" width=\"\(f(cellWidth - 1))\" height=\"\(f(cellHeight - 1))\" fill=\"\(fill(cell))\">"
                out += "<title>\(TimelineChart.escape(tooltip(row, column, cell)))</title></rect>"
                let ink = cell == nil ? "#777777" : "#ffffff"
                out +=
                    "<text x=\"\(f(cx + cellWidth / 2))\" y=\"\(f(y + cellHeight - 5))\" text-anchor=\"middle\" fill=\"\(ink)\">\(TimelineChart.escape(text(cell)))</text>\n"
            }
        }
        let foot = top + headerHeight + cellHeight * Double(rows.count) + 20
        out +=
            "<text x=\"8\" y=\"\(f(foot))\" fill=\"#555555\">\(TimelineChart.escape("Measured by repro matrix --drivers, \(report.generatedAt); every cell is one run of the real library (docs/drivers.md has the errors verbatim and what fixes which failure)."))</text>\n"
        return out + "</svg>\n"
    }

    /// A cell's tooltip: the row, the column and what happened, verbatim.
    static func tooltip(_ row: DriversReport.Row, _ column: MatrixColumn, _ cell: DriversReport.Cell?) -> String {
        guard let cell else { return "\(row.id) / \(column.rawValue): not run" }
        return "\(row.id) / \(column.rawValue): \(MeasuredDrivers.outcome(cell))"
    }

    /// `text` cut with an ellipsis so it fits `width` at about `charWidth` per character.
    static func fitted(_ text: String, width: Double, charWidth: Double) -> String {
        Report.ellipsized(text, limit: max(4, Int(width / charWidth)))
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }
}
