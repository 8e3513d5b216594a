import Foundation

/// "What fixes it", read off the drivers matrix: for each stack and each fault its default configuration fails,
/// the measured configurations and application patterns that survived it, or that nothing measured did. Every
/// line stands on cells of `docs/drivers.json`; nothing here is written by hand.
public enum WhatFixesIt {
    /// One configuration of a stack that survived a fault: on which releases, and on which it did not.
    public struct Fix: Sendable, Equatable {
        /// `recommended`, `idle-sweep`, `ping-before-use`, ...
        public var config: String
        /// The options that make the configuration (the application pattern of the original reports left out).
        public var options: [String: String]
        /// Releases where this configuration survived, oldest first.
        public var survived: [String]
        /// Releases where it was measured and did not survive.
        public var failed: [String]
        /// The cells behind the line: row ids of `docs/drivers.json`.
        public var rows: [String]

        /// `**recommended** (3.23.4; not 2.2.5, 3.1.0)`.
        public var label: String { label(bold: true) }

        /// The label for a terminal: no Markdown.
        public var plainLabel: String { label(bold: false) }

        func label(bold: Bool) -> String {
            var text = bold ? "**\(config)**" : config
            if !survived.isEmpty || !failed.isEmpty {
                text += " (" + survived.joined(separator: ", ")
                if !failed.isEmpty { text += "; not " + failed.joined(separator: ", ") }
                text += ")"
            }
            return text
        }

        /// `maxIdle=3, idleTimeout=2000`, or "its defaults".
        public var optionsText: String {
            options.isEmpty
                ? "its defaults"
                : options.keys.sorted().map { "`\($0)=\(options[$0]!)`" }.joined(separator: ", ")
        }
    }

    /// A fault a stack's default configuration fails, and what survived it.
    public struct Failure: Sendable, Equatable {
        public var adapter: String
        public var column: MatrixColumn
        /// The default configuration's row the failure is read from (the newest release measured).
        public var reference: String
        /// Its first error, verbatim (`hung` for a hang).
        public var error: String
        /// Configurations that survived, in the matrix's row order; empty: nothing measured survives it.
        public var fixes: [Fix]
    }

    /// Options that describe how the harness's application behaves, not a fix a user applies.
    static let harnessOptions: Set<String> = ["app.followUp"]

    /// Every failure of every stack (or of `adapter`), in the matrix's stack and column order.
    public static func failures(in report: DriversReport, adapter: String? = nil) -> [Failure] {
        let real = report.rows.filter { !$0.isModel }
        let stacks = real.map(\.adapter).uniqued()
        var out: [Failure] = []
        for stack in stacks where adapter == nil || adapter == stack {
            let rows = real.filter { $0.adapter == stack }
            let defaults = rows.filter { $0.config == DriverConfig.default.rawValue }
            guard
                let reference = defaults.max(by: {
                    DriverReleases.compareVersions($0.release, $1.release) == .orderedAscending
                })
            else { continue }
            for column in report.columns.map(\.id) {
                guard let failed = reference.cell(column), !failed.survived else { continue }
                out.append(
                    Failure(
                        adapter: stack, column: column, reference: reference.id, error: errorText(failed),
                        fixes: fixes(rows: rows, column: column)))
            }
        }
        return out
    }

    /// The failure of `adapter` in `column`, if its default configuration fails there.
    public static func failure(in report: DriversReport, adapter: String, column: MatrixColumn) -> Failure? {
        failures(in: report, adapter: adapter).first { $0.column == column }
    }

    static func errorText(_ cell: DriversReport.Cell) -> String {
        guard let e = cell.firstError else { return "\(cell.operations.failed) operation(s) failed" }
        return e.kind == .hung ? "hung" : MeasuredDrivers.oneLine(e.message)
    }

    static func fixes(rows: [DriversReport.Row], column: MatrixColumn) -> [Fix] {
        var order: [String] = []
        var byConfig: [String: [DriversReport.Row]] = [:]
        for row in rows where row.cell(column) != nil {
            if byConfig[row.config] == nil { order.append(row.config) }
            byConfig[row.config, default: []].append(row)
        }
        return order.compactMap { config in
            let measured = (byConfig[config] ?? []).sorted {
                DriverReleases.compareVersions($0.release, $1.release) == .orderedAscending
            }
            let ok = measured.filter { $0.cell(column)?.survived == true }
            guard let newest = ok.last else { return nil }
            let failed = measured.filter { $0.cell(column)?.survived == false }
            // Release names only when the stack was measured on more than one.
            let releases = measured.count > 1 || measured.contains { $0.id.contains("@") }
            return Fix(
                config: config, options: newest.options.filter { !harnessOptions.contains($0.key) },
                survived: releases ? ok.map(\.release) : [], failed: releases ? failed.map(\.release) : [],
                rows: ok.map(\.id))
        }
    }

    /// One sentence: "with **recommended** (`maxIdle=3`, ...) node-mysql2 survives this fault", or that nothing
    /// measured does; nil when the stack's defaults survive it.
    public static func sentence(_ failure: Failure, source: String = "docs/drivers.md") -> String {
        guard !failure.fixes.isEmpty else {
            return
                "no configuration of \(failure.adapter) measured survives `\(failure.column.rawValue)` (every one fails or hangs; \(source))"
        }
        let fixes = failure.fixes.map { "\($0.plainLabel): \($0.optionsText)" }.joined(separator: "; ")
        return "\(failure.adapter) survives `\(failure.column.rawValue)` with \(fixes) (measured: \(source))"
    }

    /// The Markdown section at the top of `docs/drivers.md`: per stack, every failure of its defaults and what
    /// survived it.
    public static func markdown(_ report: DriversReport) -> String {
        let all = failures(in: report)
        guard !all.isEmpty else { return "" }
        var out = "## What fixes which failure, per stack\n\n"
        out += "Read off the table below: for each stack, every column its default configuration (newest release "
        out += "measured) fails, and the configurations and application patterns that survived it — with the "
        out += "releases they survived on, and those they did not. \"Nothing measured survives\" means every row of "
        out += "that stack failed or hung there. Each stack's settings line says what a configuration sets; its "
        out += "thresholds are scaled to this matrix's timing (in production, set them below the server's "
        out += "wait_timeout and every middlebox's idle timeout), and `app.` options are application code, not "
        out += "library settings (docs/adapters.md). Sources and caveats per configuration are under "
        out += "[Stacks and configurations](#stacks-and-configurations).\n\n"
        let stacks = all.map(\.adapter).uniqued()
        for stack in stacks {
            let mine = all.filter { $0.adapter == stack }
            let reference = mine.first.flatMap { report.row($0.reference) }
            out += "- **\(stack)** (defaults of \(reference?.release ?? "the newest release")):\n"
            // Columns with the same answer on one line: the answer is what a reader looks for.
            var answers: [String] = []
            var columns: [String: [MatrixColumn]] = [:]
            for failure in mine {
                let answer =
                    failure.fixes.isEmpty
                    ? "nothing measured survives"
                    : "survives with " + failure.fixes.map(\.label).joined(separator: ", ")
                if columns[answer] == nil { answers.append(answer) }
                columns[answer, default: []].append(failure.column)
            }
            for answer in answers {
                let named = (columns[answer] ?? []).map { "`\($0.rawValue)`" }.joined(separator: ", ")
                out += "  - \(named): \(answer).\n"
            }
            // What each surviving configuration sets, once per stack.
            var settings: [String] = []
            var listed: Set<String> = []
            for fix in mine.flatMap(\.fixes) where listed.insert(fix.config).inserted {
                settings.append("**\(fix.config)**: \(fix.optionsText)")
            }
            if !settings.isEmpty { out += "  - Settings: " + settings.joined(separator: "; ") + ".\n" }
        }
        return out + "\n"
    }
}
