import Foundation

/// Renders `docs/drivers.md`: what real driver stacks do against each failure, and where repro's presets
/// agree with the stacks they claim to model.
public enum DriversRenderer {
    public static func render(_ report: DriversReport) -> String {
        let columns = report.columns.map(\.id)
        // Grouped by stack (in the order they first appear), oldest release first within each.
        let unordered = report.rows.filter { !$0.isModel }
        let stackOrder = unordered.map(\.adapter).uniqued()
        let real = stackOrder.flatMap { stack in
            unordered.filter { $0.adapter == stack }.enumerated().sorted { a, b in
                let order = DriverReleases.compareVersions(a.element.release, b.element.release)
                return order == .orderedSame ? a.offset < b.offset : order == .orderedAscending
            }.map(\.element)
        }
        let models = report.rows.filter(\.isModel)
        let s = report.settings
        var out = "# What real driver stacks do when idle connections die\n\n"
        out +=
            "Measured by `repro matrix --drivers` (repro \(report.repro)) on MariaDB \(report.server.version) "
        out += "(\(report.server.managed ? "embedded" : "external")), \(report.generatedAt). "
        out += "Regenerate with `make drivers-matrix`. Nothing here is written by hand: every cell is one run of "
        out += "the real library in a child process (see `docs/adapters.md`), with the versions listed below.\n\n"
        out += "Each cell: a fresh pool of \(s.poolSize) connections, warmed, then the fault; then the application "
        out += "runs its operations (borrow, `SELECT 1`, release). "
        out += "**✓** = every operation succeeded and no error reached the application (ms: from the fault to the "
        out += "first success); **✗** = the first error the application saw, verbatim. "
        out += "Timing: wait_timeout \(s.waitTimeout) s (session), kills \(fmt(s.idle)) s after the last use, "
        out += "cuts after \(fmt(s.cutIdle)) s idle (past every threshold, as a middlebox's idle timeout is), "
        out +=
            "cuts \(s.via == .kernel ? "by the kernel's packet filter (iptables) except close" : "by repro's proxy"), "
        out += "an operation that takes \(fmt(s.deadline)) s is recorded as hung. "
        out += "Recommended configurations scale the documented thresholds below the wait_timeout "
        out += "(\(fmt(s.threshold)) s); a stack that refuses thresholds that short (HikariCP: 30 s at least) "
        out += "runs those rows on longer columns, named with the row below. How each column's moment relates to "
        out += "the thresholds is under [Columns](#columns). "
        out += "In the server-restart columns the application tries operations while the server is down (every "
        out += "stack fails or waits then; their errors are listed below), and the cell says what happened once "
        out += "it was back.\n\n"
        if columns.contains(where: \.isMiddlebox) {
            out += "In `nat-idle-timeout` and `haproxy-idle-timeout` nothing is cut at a chosen moment: the pool "
            out += "reaches the server through a real middlebox that forgets (NAT: conntrack, packets then dropped) or "
            out += "closes (HAProxy: `timeout client/server`) a flow idle \(s.middleboxTimeout) s, and the pool idles "
            out += "\(s.middleboxTimeout + 2) s. TCP keepalive probes keep a flow alive through the NAT, never through "
            out += "HAProxy, which counts payload only. A cloud middlebox's timeout is minutes (AWS NAT gateway and "
            out += "NLB 350 s, Azure 4 min, GCP Cloud NAT 20 min); this one is scaled down but stays above every "
            out += "threshold and interval measured here, as the real ones do: the recommended configurations' "
            out += "\(fmt(s.threshold)) s, Go's default dialer keepalive (15 s), HikariCP's `keepaliveTime` (30 s at "
            out += "least) and its validation of a pool of \(s.poolSize) dead connections (5 s each). Shorter, a pool "
            out += "busy validating dead connections lets its fresh ones idle into the timeout too, which no real "
            out += "NAT produces.\n\n"
        }

        out += "![Every cell of this matrix as a grid, coloured by outcome](drivers.svg)\n\n"
        out += WhatFixesIt.markdown(report)
        out += "## Every cell\n\n"
        out +=
            "| stack | release | configuration | " + columns.map { "`\($0.rawValue)`" }.joined(separator: " | ")
            + " |\n"
        out += "| --- | --- | --- |" + String(repeating: " --- |", count: columns.count) + "\n"
        for row in real {
            out += "| \(row.adapter) | \(row.release) | \(row.config) |"
            for column in columns { out += " \(cellText(row.cell(column))) |" }
            out += "\n"
        }

        out += releaseSection(report)
        out += freezeSection(report, real: real)

        out += "\n## Columns\n\n"
        for c in report.columns {
            out += "- `\(c.id.rawValue)`: \(c.title) (`\(c.fault)`)."
            if let timing = c.timing { out += " Timing: \(timing)." }
            out += "\n"
        }

        out += "\n## Stacks and configurations\n\n"
        for row in real {
            out += "- **\(row.id)**: \(row.client.summary). Configuration: \(row.note).\n"
        }

        if !models.isEmpty {
            out += "\n## repro's presets beside the stacks they model\n\n"
            out += "A preset that says it behaves like a real pool is run through the same cells as that pool's "
            out += "default configuration. Agreement is on the outcome (✓/✗) per column.\n\n"
            out += "| row | " + columns.map { "`\($0.rawValue)`" }.joined(separator: " | ") + " | agreement |\n"
            out += "| --- |" + String(repeating: " --- |", count: columns.count + 1) + "\n"
            for model in models {
                guard let stack = model.modeledOn, let realRow = report.row("\(stack) default") else {
                    out += "| repro `\(model.stack)` |"
                    for column in columns { out += " \(cellText(model.cell(column))) |" }
                    out += " no real row to compare |\n"
                    continue
                }
                out += "| \(realRow.id) (real) |"
                for column in columns { out += " \(cellText(realRow.cell(column))) |" }
                out += " |\n"
                let agreement = agreementOf(model: model, real: realRow, columns: columns)
                out += "| repro `\(model.stack)` |"
                for column in columns {
                    let same = model.cell(column)?.survived == realRow.cell(column)?.survived
                    out += " \(cellText(model.cell(column)))\(same ? "" : " ≠") |"
                }
                out += " \(agreement.agree) of \(columns.count)"
                if !agreement.differ.isEmpty {
                    out += "; differs in " + agreement.differ.map { "`\($0.rawValue)`" }.joined(separator: ", ")
                }
                out += " |\n"
            }
            out += "\n"
            for model in models { out += "- repro `\(model.stack)`: \(model.note) (\(model.policy ?? "")).\n" }
        }

        out += "\n## Every error the application saw, verbatim\n\n"
        for column in columns {
            var lines: [String] = []
            for row in report.rows {
                guard let cell = row.cell(column) else { continue }
                if let down = cell.whileDown {
                    let seen = cell.whileDownError.map { "`\(code($0.message))` (\($0.label)); " } ?? ""
                    lines.append("  - \(row.id), while the server was down: \(seen)\(down.joined(separator: "; "))")
                }
                if let e = cell.firstError {
                    let busy = column == .killThreadBusy ? "the killed queries failed; then " : ""
                    lines.append(
                        "  - \(row.id): `\(code(e.message))` (\(e.label), phase \(e.phase.rawValue); \(busy)\(cell.operations.failed) of \(cell.operations.total) operations failed)"
                    )
                }
                for e in cell.absorbed {
                    lines.append("  - \(row.id), absorbed by \(e.handledBy ?? "the pool"): `\(code(e.message))`")
                }
                for event in cell.events { lines.append("  - \(row.id), pool event: `\(code(event))`") }
            }
            guard !lines.isEmpty else { continue }
            out += "- `\(column.rawValue)`:\n" + lines.joined(separator: "\n") + "\n"
        }

        out += "\n## Reproduce one cell\n\n"
        if let row = real.first, let column = columns.first,
            let command = report.commands["\(row.id)|\(column.rawValue)"]
        {
            out += "Every cell's command is in `drivers.json` (`commands`), for example \(row.id) × "
            out += "`\(column.rawValue)`:\n\n```\n\(command)\n```\n"
        }
        return out
    }

    /// Where a newer release changes an outcome, stack by stack: the answer to "does upgrading fix it?".
    static func releaseSection(_ report: DriversReport) -> String {
        let found = report.releaseChanges()
        guard !found.compared.isEmpty else { return "" }
        var out = "\n## Where a release changes the outcome\n\n"
        out += "The same cells on consecutive releases of one stack in one configuration (each release's own "
        out += "recommendation where it differs): every column whose outcome, first error (numbers such as "
        out += "connection ids aside) or number of failed operations changes, with every distinct error the "
        out += "application saw (↳: the follow-up command's).\n\n"
        for group in found.compared {
            let changes = found.changes.filter { $0.adapter == group.adapter && $0.config == group.config }
            let releases = group.releases.joined(separator: ", ")
            guard !changes.isEmpty else {
                out += "- **\(group.adapter) \(group.config)** (\(releases)): the same outcome in every column.\n"
                continue
            }
            out += "- **\(group.adapter) \(group.config)** (\(releases)):\n"
            for change in changes {
                out += "  - `\(change.column.rawValue)`: \(change.before.release) \(changeText(change.before.cell)) → "
                out += "\(change.after.release) \(changeText(change.after.cell))\n"
            }
        }
        return out
    }

    /// A cell in the release comparison: its mark, and for ✗ how many operations failed and every distinct error.
    static func changeText(_ cell: DriversReport.Cell) -> String {
        cell.survived ? cell.mark : errorSequence(cell)
    }

    /// A failed cell as `✗ failed/total:` and every distinct error in order (↳: the follow-up command's).
    static func errorSequence(_ cell: DriversReport.Cell) -> String {
        let errors = (cell.firstError.map { [$0] } ?? []) + (cell.laterErrors ?? [])
        let seen = errors.map { e in
            (e.phase == .followUp ? "↳ " : "") + "`\(code(e.kind == .hung ? "hung" : e.message))`"
        }
        return "✗ \(cell.operations.failed)/\(cell.operations.total): \(seen.joined(separator: " → "))"
    }

    /// The freeze columns with every error the application saw, in order: the condition of the original reports
    /// (mysql2's "This socket has been ended by the other party", then "Can't add new command when connection is
    /// in closed state"), release by release and setting by setting.
    static func freezeSection(_ report: DriversReport, real: [DriversReport.Row]) -> String {
        let columns = report.columns.map(\.id).filter(\.freezes)
        let rows = real.filter { row in columns.contains { row.cell($0) != nil } }
        guard !columns.isEmpty, !rows.isEmpty else { return "" }
        var out = "\n## Suspended while the connections died: every error, in order\n\n"
        out += "The freeze columns again, with every distinct error that reached the application in the order it "
        out += "came (a follow-up command's error is marked ↳) and how many operations failed. Each run: the "
        out += "application's process group is stopped right after its pool was warmed and released, the fault hits "
        out += "the idle connections, and the process is continued with its own timer due; the operations then run "
        out += "back to back inside it. The same faults with the application running are the `wait-timeout`, "
        out += "`kill-thread` and `network-cut-half-open` columns above.\n\n"
        out +=
            "| stack | release | configuration | " + columns.map { "`\($0.rawValue)`" }.joined(separator: " | ")
            + " |\n"
        out += "| --- | --- | --- |" + String(repeating: " --- |", count: columns.count) + "\n"
        for row in rows {
            out += "| \(row.adapter) | \(row.release) | \(row.config) |"
            for column in columns {
                guard let cell = row.cell(column) else {
                    out += " – |"
                    continue
                }
                out += " \(changeText(cell)) |"
            }
            out += "\n"
        }
        return out
    }

    /// How many columns a model row agrees with its real row on, and which differ.
    public static func agreementOf(model: DriversReport.Row, real: DriversReport.Row, columns: [MatrixColumn])
        -> (agree: Int, differ: [MatrixColumn])
    {
        let differ = columns.filter { model.cell($0)?.survived != real.cell($0)?.survived }
        return (columns.count - differ.count, differ)
    }

    static func cellText(_ cell: DriversReport.Cell?) -> String {
        guard let cell else { return "–" }
        if cell.survived { return cell.mark }
        guard let e = cell.firstError else { return "✗ \(cell.operations.failed) failed" }
        let text = e.kind == .hung ? "hung" : e.message
        let short = text.count > 60 ? String(text.prefix(57)) + "…" : text
        return "✗ `\(code(short))`"
    }

    /// Safe inside a Markdown code span in a table: no backticks, pipes or line breaks.
    static func code(_ text: String) -> String {
        text.replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "|", with: "¦")
            .replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
    }

    static func fmt(_ seconds: Double) -> String { DriversMatrix.format(seconds) }
}
