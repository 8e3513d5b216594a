import Foundation

/// Renders a report as Markdown for people: summary, then one section per scenario.
public enum MarkdownRenderer {
    /// `charts[i]` is the file name of scenario i's timeline chart, linked from its section (none: no link).
    /// Each section quotes the compiled-in drivers matrix: throws when it does not decode (`MeasuredDrivers.report`).
    public static func render(_ report: Report, charts: [String] = []) throws(RunError) -> String {
        let measured = try MeasuredDrivers.report
        var out = "# repro report\n\n"
        let where_ = report.server.managed ? "embedded, started by repro" : "external"
        out += "- Server: MariaDB/MySQL \(report.server.version) (\(where_), \(report.server.address))\n"
        let clients = Set(report.scenarios.map(\.client.summary)).sorted()
        out += "- Client: \(clients.isEmpty ? (report.client?.summary ?? "none") : clients.joined(separator: "; "))\n"
        out += "- Tool: \(report.tool.name) \(report.tool.version), generated \(report.generatedAt)\n"
        let passed = report.scenarios.filter(\.passed).count
        out += "- Scenarios: \(report.scenarios.count), expectations held in \(passed)\n\n"
        out += summaryTable(report)
        for (i, scenario) in report.scenarios.enumerated() {
            out += "\n" + section(scenario, chart: i < charts.count ? charts[i] : nil, measured: measured)
        }
        return out
    }

    /// The summary table alone (also what goes to a CI step summary).
    public static func summaryTable(_ report: Report) -> String {
        var out = "| scenario | fault | pool | first error | phase | reached caller | recovered | expectations |\n"
        out += "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
        for s in report.scenarios {
            let first = s.firstError.map(\.label) ?? "none"
            let phase = s.firstError?.phase.rawValue ?? "–"
            let caller = s.firstUnhandledError.map(\.label) ?? "nothing"
            let expectations =
                s.expectations.isEmpty
                ? "–"
                : (s.passed ? "✓" : "✗ " + s.expectations.filter { !$0.passed }.map(\.name).joined(separator: ", "))
            out +=
                "| \(s.name) | \(faultLabel(s)) | \(s.poolLabel) | \(first) | \(phase) | \(caller) | \(s.recovered ? "yes" : "no") | \(expectations) |\n"
        }
        return out
    }

    /// For a real stack's run that failed: what the drivers matrix measured surviving the same fault on the same
    /// stack, or that nothing measured did; nil when the run recovered or the matrix has no such column.
    static func whatFixesIt(_ s: ScenarioResult, measured: DriversReport) -> String? {
        guard let adapter = s.client.adapter, !s.recovered || s.firstUnhandledError != nil,
            let column = MeasuredDrivers.column(kind: s.kind, parameters: s.parameters, pattern: s.pattern)
        else { return nil }
        guard let failure = WhatFixesIt.failure(in: measured, adapter: adapter, column: column) else {
            // The defaults survived there in the matrix: this run's own configuration or timing differs.
            guard measured.rows.contains(where: { $0.adapter == adapter && $0.cell(column) != nil }) else { return nil }
            return
                "**What fixes it**: this run failed, but \(adapter)'s defaults survived `\(column.rawValue)` in the drivers matrix (docs/drivers.md): compare this run's options and timing with that cell's command."
        }
        return "**What fixes it**: this run failed; \(WhatFixesIt.sentence(failure))."
    }

    static func faultLabel(_ s: ScenarioResult) -> String { s.fault?.label ?? s.kind }

    static func ms(_ v: Double) -> String { String(format: "%.0f", v) }

    static func cell(_ text: String) -> String {
        plain(text).replacingOccurrences(of: "|", with: "\\|")
    }

    /// Text from outside (a scenario's description, a driver's message) with line breaks as spaces and every
    /// other control character written out (`\u{1B}`), so it cannot restyle a terminal or break the Markdown.
    static func plain(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar == "\n" || scalar == "\r" || scalar == "\t" {
                out.append(" ")
            } else if scalar.properties.generalCategory == .control {
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Load mode: the account, the times from the fault, and throughput and latency before, during and after.
    static func loadSection(_ l: LoadSummary) -> String {
        var out = "### Under load\n\n"
        out +=
            "\(l.concurrency) worker(s) ran `\(cell(l.query))` for \(String(format: "%.1f", l.durationMs / 1000)) s: \(l.started) operations started, \(l.succeeded) succeeded, \(l.failed) reached their caller as errors (every worker's account adds up: succeeded + failed = started).\n\n"
        out +=
            "- **Fault → first error a caller saw**: \(l.firstCallerErrorMs.map { "\(ms($0)) ms" } ?? "none reached a caller")\n"
        out +=
            "- **Fault → full recovery** (from then on every worker's operations succeeded): \(l.fullRecoveryMs.map { "\(ms($0)) ms" } ?? "not within the run")\n"
        out += "- **Connections**: \(l.connectionsOpened) opened, \(l.connectionsDestroyed) destroyed\n\n"
        out += "| window | operations | per second | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- |\n"
        for (name, w) in [("before the fault", l.before), ("fault → recovery", l.during), ("after", l.after)] {
            let p50 = w.p50.map { String(format: "%.2f", $0) } ?? "–"
            let p99 = w.p99.map { String(format: "%.2f", $0) } ?? "–"
            out +=
                "| \(name) | \(w.count) | \(w.perSecond.map { String(format: "%.0f", $0) } ?? "–") | \(p50) | \(p99) |\n"
        }
        return out + "\n"
    }

    static func section(_ s: ScenarioResult, chart: String? = nil, measured: DriversReport) -> String {
        var out = "## \(s.name)\n\n"
        if let d = s.description { out += "\(plain(d))\n\n" }
        let params = s.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        out += "- **Fault**: \(s.kind) (\(params))\n"
        if s.client.adapter != nil {
            out +=
                "- **Pool under test**: \(s.client.summary), \(s.poolSize) connection(s), run by the `\(s.client.adapter ?? "")` adapter\n"
        } else {
            out += "- **Pool**: \(s.poolSize) connection(s), policy `\(s.policy.name)`: \(s.policy.summary)\n"
        }
        if s.pattern == .held {
            out +=
                "- **Application pattern**: held — one connection kept across the idle period, every operation on it\n"
        }
        if let idle = s.idleBeforeOperationsMs { out += "- **Idle before the operations**: \(ms(idle)) ms\n" }
        if let f = s.firstError, let d = f.driver {
            out +=
                "- **First error** (\(f.kind.rawValue)), verbatim: `\(cell(d.errorClass))`\(d.code.map { " code `\($0)`" } ?? "")\(d.errno.map { " errno \($0)" } ?? "")\(d.sqlState.map { " SQLSTATE \($0)" } ?? ""): \"\(cell(d.message))\" at phase **\(f.phase.rawValue)**, \(ms(f.atMs)) ms after start"
            if let d = s.detectionMs { out += ", \(ms(d)) ms after the fault took effect" }
            out += f.handledBy.map { " — handled by \($0.rawValue)" } ?? " — reached the caller"
            out += "\n"
        } else if let f = s.firstError {
            out +=
                "- **First error**: `\(f.error.code)` (SQLSTATE \(f.error.sqlState)) \"\(cell(f.error.message))\" at phase **\(f.phase.rawValue)**, \(ms(f.atMs)) ms after start"
            if let d = s.detectionMs { out += ", \(ms(d)) ms after the fault took effect" }
            out += f.handledBy.map { " — handled by \($0.rawValue)" } ?? " — reached the caller"
            out += "\n"
        } else {
            out += "- **First error**: none\n"
        }
        if let signal = s.tcpSignal { out += "- **Client socket received**: \(signal)\n" }
        out += "- **Operations after the fault**: \(s.operations.succeeded) of \(s.operations.total) succeeded\n"
        out += "- **Recovered**: \(s.recovered ? "yes" : "no")"
        if let r = s.recoveryMs { out += " (first operation done \(ms(r)) ms after the fault)" }
        out += "\n\n"
        if let chart {
            // The file name is ours (ReportWriter.chartNames): safe characters only.
            out += "![Timeline of \(plain(s.name)): connections, operations per second, the fault](\(chart))\n\n"
        }
        out += "### What happened\n\n\(plain(ExplanationWriter.explain(s)))\n\n"
        if let fix = whatFixesIt(s, measured: measured) { out += "\(plain(fix))\n\n" }
        if let load = s.load { out += loadSection(load) }
        if s.expectations.isEmpty {
            out +=
                "### Expectations\n\nNone: this run is reported, not judged — it passes whether or not the pool recovered (it \(s.recovered ? "did" : "did not")). Add `expect:` to the scenario file, or `--expect-recovered`, to make CI fail on it.\n\n"
        } else {
            out += "### Expectations\n\n| expectation | expected | observed | held |\n| --- | --- | --- | --- |\n"
            for e in s.expectations {
                out += "| \(e.name) | \(cell(e.expected)) | \(cell(e.actual)) | \(e.passed ? "✓" : "✗") |\n"
            }
            out += "\n"
        }
        if s.load != nil {
            out +=
                "### Operations\n\nUnder load only the failed operations are listed (up to \(LoadSummary.keptFailures)).\n\n"
        } else {
            out += "### Operations\n\n"
        }
        out += "| # | result | attempts | connection | ms | error |\n| --- | --- | --- | --- | --- | --- |\n"
        for op in s.operationResults {
            let err =
                op.error.map {
                    "\($0.label) at \($0.phase.rawValue): \(cell($0.message))"
                } ?? ""
            out +=
                "| \(op.index) | \(op.succeeded ? "ok" : "failed") | \(op.attempts) | \(op.connection.map(String.init) ?? "–") | \(String(format: "%.1f", op.durationMs)) | \(err) |\n"
        }
        if !s.errors.isEmpty {
            out +=
                "\n### Errors seen\n\n| at ms | phase | error | kind | message | connection | handled by |\n| --- | --- | --- | --- | --- | --- | --- |\n"
            for e in s.errors {
                out +=
                    "| \(ms(e.atMs)) | \(e.phase.rawValue) | \(cell(e.driver.map { [$0.errorClass, $0.code].compactMap { $0 }.joined(separator: " ") } ?? e.error.code.description)) | \(e.kind.rawValue) | \(cell(e.message)) | \(e.connection.map(String.init) ?? "–") | \(e.handledBy?.rawValue ?? "reached caller") |\n"
            }
        }
        if let column = MeasuredDrivers.column(kind: s.kind, parameters: s.parameters, pattern: s.pattern) {
            out += "\n### What real driver stacks do in this scenario\n\n"
            out += "Each real stack and configuration in the same scenario (`\(column.rawValue)`), "
            out += "\(MeasuredDrivers.source(measured)); not this run's result.\n\n"
            for d in MeasuredDrivers.lines(for: column, in: measured) { out += "- **\(d.driver)**: \(d.message)\n" }
        }
        if let entry = ErrorCatalog.entry(forKind: s.kind, parameters: s.parameters), !entry.drivers.isEmpty {
            out += "\nNot measured here (from documentation, not from a run):\n\n"
            for d in entry.drivers { out += "- **\(d.driver)**: \(d.message)\n" }
        }
        out +=
            "\n### Timeline\n\n| ms | event | connection | server thread | detail |\n| --- | --- | --- | --- | --- |\n"
        for e in s.timeline {
            out +=
                "| \(String(format: "%.1f", e.atMs)) | \(e.event.rawValue) | \(e.connection.map(String.init) ?? "") | \(e.threadID.map(String.init) ?? "") | \(cell(e.detail ?? "")) |\n"
        }
        return out
    }
}
