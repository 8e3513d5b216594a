import Foundation

/// The files `repro init` writes: a README and one scenario per fault a pool most often meets, for repro's own
/// pool or for a real driver stack, with expectations taken from what repro measured for that stack.
public enum StarterScenarios {
    public struct File: Sendable, Equatable {
        public var name: String
        public var text: String
    }

    /// The three faults, with the drivers-matrix column whose measurement fills in the expectation.
    static let faults: [(file: String, column: MatrixColumn, fault: String, what: String)] = [
        (
            "wait-timeout", .waitTimeout, "{kind: wait-timeout, seconds: 3}",
            "the server's wait_timeout closes connections that sat idle in the pool"
        ),
        (
            "kill-thread", .killThread, "{kind: kill-thread, target: idle}",
            "an operator or a watchdog KILLs idle threads"
        ),
        (
            "network-cut-half-open", .networkCutHalfOpen,
            "{kind: network-cut, mode: half-open, idle: \(DriversMatrix.format(DriversMatrix.Settings().cutIdle))}",
            "a NAT, firewall or load balancer forgot the idle flows; the next packet gets a reset"
        ),
    ]

    /// What the drivers matrix measured surviving `column` on `driver`, as comment lines under `expect:`; only
    /// measured cells produce a line.
    static func fixComments(driver: String?, column: MatrixColumn, measured: DriversReport?) -> String {
        let pad = "  #                    # "
        guard let driver, let measured,
            let failure = WhatFixesIt.failure(in: measured, adapter: driver, column: column)
        else { return pad + "(docs/drivers.md: what fixes which failure, per stack)\n" }
        guard !failure.fixes.isEmpty else {
            return pad + "measured: no configuration of \(driver) survives this (docs/drivers.md)\n"
        }
        var out = pad + "measured to survive this (docs/drivers.md; thresholds scaled to its timing):\n"
        for fix in failure.fixes {
            out += pad + "  \(fix.plainLabel): \(fix.optionsText.replacingOccurrences(of: "`", with: ""))\n"
        }
        return out
    }

    /// The stacks `repro init --driver` knows: those the compiled-in drivers matrix measured.
    public static func knownDrivers(measured: DriversReport?) -> [String] {
        var out: [String] = []
        for row in measured?.rows ?? [] where !row.isModel && !out.contains(row.stack) { out.append(row.stack) }
        return out
    }

    /// The files for `driver` (an adapter name) or, when nil, repro's own pool with `preset`.
    public static func files(driver: String?, preset: PolicyPreset = .pingOnBorrow, measured: DriversReport?) -> [File]
    {
        var out: [File] = []
        let row = driver.flatMap { measured?.row("\($0) default") }
        for f in faults {
            var text = "# \(f.what).\n"
            text += "name: \(f.file)\(driver.map { "-\($0)" } ?? "")\n"
            text += "description: \(f.what.prefix(1).uppercased() + f.what.dropFirst()).\n"
            text += "fault: \(f.fault)\n"
            if let driver {
                text += "driver: \(driver)          # or {name: \(driver), options: {...}}: the pool's own settings\n"
            } else {
                text += "policy: \(preset.rawValue)          # or a mapping: preset + knobs (see Scenarios/README.md)\n"
            }
            text += "expect:\n"
            if let row, let cell = row.cell(f.column) {
                let version = "\(row.client.library) \(row.client.version)"
                if cell.survived {
                    text += "  recovered: true      # measured: \(version) with its defaults survives this\n"
                } else {
                    let first = cell.firstError.map { MeasuredDrivers.oneLine($0.message) } ?? "an error"
                    text += "  recovered: false     # measured: \(version) with its defaults fails with: \(first)\n"
                    text += "  # recovered: true    # the goal: add options under driver: until this holds\n"
                    text += Self.fixComments(driver: driver, column: f.column, measured: measured)
                }
            } else {
                text += "  recovered: true      # what you want; repro reports what really happened\n"
                text += "  # firstError: [2006, 2013]   # expected error numbers, if you want to pin them\n"
                text += "  # phase: query               # acquire | validate | query | keepalive\n"
            }
            out.append(File(name: f.file + ".yml", text: text))
        }
        var readme = "# Scenarios\n\n"
        readme += "Written by `repro init`"
        readme += driver.map { " for the `\($0)` driver stack" } ?? " for repro's own pool"
        readme += ": one scenario per failure a pool most often meets after sitting idle.\n\n"
        readme +=
            "Run them against your own database (the user needs PROCESS to see its threads and may KILL its own):\n\n"
        readme += "```sh\nexport REPRO_DSN='mysql://user:password@127.0.0.1:3306/db'   # not --dsn: argv shows in ps\n"
        readme += "repro all \(".")\n```\n\n"
        readme += "or without `REPRO_DSN` on an embedded MariaDB that repro starts and removes. `repro all` exits 1 "
        readme += "when an expectation fails, writes Markdown, JSON and JUnit XML into `reports/`, and appends a "
        readme += "summary to `$GITHUB_STEP_SUMMARY` when that is set. The file format is in repro's "
        readme += "`Scenarios/README.md`; a CI recipe is in `docs/ci.md` (both installed under `share/repro`).\n"
        out.insert(File(name: "README.md", text: readme), at: 0)
        return out
    }
}
