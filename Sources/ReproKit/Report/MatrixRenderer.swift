import Foundation

/// Renders a matrix report: policies × scenarios, each policy's cost, and conclusions drawn from the results.
public enum MatrixRenderer {
    /// "Beside the real pools" quotes the compiled-in drivers matrix: throws when it does not decode
    /// (`MeasuredDrivers.report`).
    public static func render(_ report: Report) throws(RunError) -> String {
        let measured = try MeasuredDrivers.report
        let columns = unique(report.scenarios.map(\.name))
        let rows = unique(report.scenarios.map(\.policy.name))
        var cell: [String: ScenarioResult] = [:]
        for s in report.scenarios { cell["\(s.policy.name)|\(s.name)"] = s }
        let costs = Dictionary((report.policyCosts ?? []).map { ($0.policy, $0) }, uniquingKeysWith: { a, _ in a })

        var out = "# Which pool policy survives which failure\n\n"
        out +=
            "Measured by `repro matrix` on MariaDB \(report.server.version) (\(report.server.managed ? "embedded" : "external")), "
        let client = report.client ?? ReproSession.clientInfo
        out += "\(client.library) \(client.version), \(report.generatedAt). "
        out +=
            "Each cell is a fresh pool of \(report.scenarios.first?.poolSize ?? 0) connections: the fault hits while it sits idle, then it runs its operations. "
        out +=
            "✓ = every operation succeeded and no error reached the caller (ms: from the fault to the first success); "
        out += "✗ = the error that reached the caller first.\n\n"
        out += "| policy | " + columns.joined(separator: " | ") + " |\n"
        out += "| --- |" + String(repeating: " --- |", count: columns.count) + "\n"
        for row in rows {
            var line = "| `\(row)` |"
            for column in columns {
                guard let s = cell["\(row)|\(column)"] else {
                    line += " – |"
                    continue
                }
                if s.survived {
                    line += " ✓ \(s.recoveryMs.map { String(format: "%.0f ms", $0) } ?? "") |"
                } else if let e = s.firstCallerErrorOnceBack {
                    line += " ✗ \(e.error.code) (\(e.phase.rawValue)) |"
                } else {
                    line += " ✗ \(s.operations.failed) failed |"
                }
            }
            out += line + "\n"
        }
        if !costs.isEmpty {
            out += "\n## What each policy costs on a healthy pool\n\n"
            out +=
                "Borrow latency on a warm pool (borrow + release, no query), and the round trips the borrow itself makes.\n\n"
            out +=
                "| policy | borrow p50 (µs) | borrow p99 (µs) | extra round trips per borrow | background work |\n| --- | --- | --- | --- | --- |\n"
            for row in rows {
                guard let c = costs[row] else { continue }
                let policy = report.scenarios.first { $0.policy.name == row }?.policy
                var background = "none"
                if let k = policy?.keepaliveInterval { background = "1 ping per idle connection every \(k) s" }
                if policy?.evictOnSocketEvent == true {
                    background = "a watcher thread polls the idle sockets (no round trips)"
                }
                if let l = policy?.maxLifetime {
                    background = "a new connection per \(l) s of age (reconnect on borrow)"
                }
                out +=
                    "| `\(row)` | \(String(format: "%.1f", c.p50Micros)) | \(String(format: "%.1f", c.p99Micros)) | \(String(format: "%.2f", c.roundTripsPerBorrow)) | \(background) |\n"
            }
        }
        out += "\n## What the results say\n\n"
        for column in columns {
            let survivors = rows.filter { cell["\($0)|\(column)"]?.survived == true }
            if survivors.isEmpty {
                out += "- **\(column)**: no policy recovered: the error reached the caller in every row.\n"
                continue
            }
            // Cheapest by borrow latency; background work (keepalive, lifetime reconnects) is listed in the cost table.
            let cheapest = survivors.min { (costs[$0]?.p50Micros ?? .infinity) < (costs[$1]?.p50Micros ?? .infinity) }!
            let c =
                costs[cheapest].map {
                    String(
                        format: " (borrow p50 %.1f µs, %.2f round trips per borrow)", $0.p50Micros,
                        $0.roundTripsPerBorrow)
                } ?? ""
            out +=
                "- **\(column)**: the cheapest policy that recovered is `\(cheapest)`\(c); recovered: \(survivors.map { "`\($0)`" }.joined(separator: ", ")).\n"
        }
        out += besideRealPools(report, columns: columns, measured: measured)
        let seedFix = report.scenarios.filter { $0.policy.name == PolicyPreset.seedFix.rawValue }
        let notRetried = seedFix.filter { s in
            s.firstUnhandledError?.phase == .query && !s.errors.contains { $0.phase == .acquire }
        }
        if !notRetried.isEmpty {
            out +=
                "\n**The hand-written fix (`seed-fix`, retry once when getting a connection fails)** did not help in "
            out += notRetried.map { "`\($0.name)`" }.joined(separator: ", ")
            out +=
                ": the pool does not validate, so it handed out the dead connection without any error, the failure surfaced at the query, and the retry on acquire never ran (no error was ever recorded at phase acquire).\n"
        }
        return out
    }

    /// Per column: which real stacks recovered in the drivers matrix, and whether each preset that claims to
    /// model one of them agrees there with this run.
    static func besideRealPools(_ report: Report, columns: [String], measured: DriversReport) -> String {
        var out = "\n## Beside the real pools\n\n"
        out += "The same columns run against the real stacks (\(MeasuredDrivers.source(measured)); "
        out +=
            "default configurations, half-open and blackhole through the kernel, reset and close through the proxy, wait_timeout \(measured.settings.waitTimeout) s). "
        out += "A preset that claims to model a pool agrees when it survived here exactly where that pool did.\n\n"
        let real = measured.rows.filter { $0.config == DriverConfig.default.rawValue }
        for name in columns {
            guard let column = MatrixColumn(rawValue: name) else { continue }
            let ok = real.filter { $0.cell(column)?.survived == true }.map(\.stackLabel)
            let failed = real.filter { $0.cell(column)?.survived == false }.map(\.stackLabel)
            var line = "- **\(name)**: real stacks that recovered: \(ok.isEmpty ? "none" : ok.joined(separator: ", "))"
            line += "; did not: \(failed.isEmpty ? "none" : failed.joined(separator: ", "))."
            var verdicts: [String] = []
            for preset in PolicyPreset.allCases {
                guard let stack = preset.modeledOn,
                    let mine = report.scenarios.first(where: { $0.name == name && $0.policy.name == preset.rawValue }),
                    let theirs = measured.row("\(stack) default")?.cell(column)
                else { continue }
                verdicts.append(
                    "`\(preset.rawValue)` \(mine.survived == theirs.survived ? "agrees with" : "DISAGREES with") \(stack)"
                )
            }
            if !verdicts.isEmpty { line += " " + verdicts.joined(separator: "; ") + "." }
            out += line + "\n"
        }
        return out
    }

    static func unique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }
}
