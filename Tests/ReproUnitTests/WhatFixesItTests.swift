import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("what fixes which failure, read off the drivers matrix")
struct WhatFixesItTests {
    @Test("every line has measured cells behind it: the default fails, each fix survived, each 'not' failed")
    func everyLineIsMeasured() throws {
        let report = try committedDrivers()
        let failures = WhatFixesIt.failures(in: report)
        #expect(!failures.isEmpty)
        for failure in failures {
            let reference = try #require(report.row(failure.reference))
            #expect(reference.config == "default" && reference.adapter == failure.adapter)
            #expect(reference.cell(failure.column)?.survived == false, "\(failure.reference) \(failure.column)")
            for fix in failure.fixes {
                #expect(!fix.rows.isEmpty)
                for id in fix.rows {
                    let row = try #require(report.row(id))
                    #expect(row.adapter == failure.adapter && row.config == fix.config)
                    #expect(row.cell(failure.column)?.survived == true, "\(id) \(failure.column)")
                }
                for release in fix.failed {
                    let row = report.rows.first {
                        $0.adapter == failure.adapter && $0.config == fix.config && $0.release == release
                    }
                    #expect(row?.cell(failure.column)?.survived == false, "\(fix.config) \(release)")
                }
            }
            // A configuration that survived on no release is not named.
            let named = Set(failure.fixes.map(\.config))
            for row in report.rows where row.adapter == failure.adapter && !row.isModel {
                if row.cell(failure.column)?.survived == true { #expect(named.contains(row.config)) }
            }
        }
    }

    @Test("the section at the top of drivers.md names only what the cells say, column by column")
    func renderedSectionMatchesCells() throws {
        let report = try committedDrivers()
        let text = DriversRenderer.render(report)
        let section = try #require(text.components(separatedBy: "## What fixes which failure, per stack").last)
        let body = try #require(section.components(separatedBy: "\n## ").first)
        #expect(text.range(of: "## What fixes which failure")!.lowerBound < text.range(of: "## Every cell")!.lowerBound)
        var stack = ""
        var lines = 0
        for line in body.components(separatedBy: "\n") {
            if line.hasPrefix("- **") {
                stack = String(line.dropFirst(4).prefix { $0 != "*" })
                continue
            }
            guard line.hasPrefix("  - `"), let colon = line.range(of: ": ") else { continue }
            let columns = line[..<colon.lowerBound].components(separatedBy: "`").compactMap(MatrixColumn.init)
            let answer = String(line[colon.upperBound...])
            for column in columns {
                lines += 1
                let failure = try #require(WhatFixesIt.failure(in: report, adapter: stack, column: column))
                if answer.hasPrefix("nothing measured survives") {
                    #expect(failure.fixes.isEmpty, "\(stack) \(column)")
                    let rows = report.rows.filter { $0.adapter == stack && !$0.isModel }
                    #expect(rows.allSatisfy { $0.cell(column)?.survived != true }, "\(stack) \(column)")
                } else {
                    for fix in failure.fixes { #expect(answer.contains("**\(fix.config)**"), "\(line)") }
                }
            }
        }
        #expect(lines == WhatFixesIt.failures(in: report).count, "every failure has its line")
    }

    @Test("a failed mysql2 run's report says what survives its fault, from the matrix")
    func failedRunNamesTheFix() throws {
        var result = sampleResult(recovered: false)
        let freeze = Fault.freeze(seconds: 4, during: .waitTimeout)
        result.kind = freeze.kind
        result.parameters = freeze.parameters
        result.client = Report.Client(library: "mysql2", version: "3.23.4", adapter: "node-mysql2")
        func fixLine(_ result: ScenarioResult) throws -> String {
            let md = try MarkdownRenderer.render(
                Report(server: sampleReport().server, client: result.client, scenarios: [result]))
            return try #require(
                md.components(separatedBy: "\n").first { $0.hasPrefix("**What fixes it**") }, "\(md)")
        }
        #expect(try fixLine(result).contains("node-mysql2 survives `freeze-wait-timeout` with recommended"))
        let kill = Fault.killThread(target: .idle, count: .all)
        result.kind = kill.kind
        result.parameters = kill.parameters
        result.pattern = .held
        #expect(
            try fixLine(result).contains("no configuration of node-mysql2 measured survives `held-kill-thread`"))
        result.recovered = true
        result.errors = []
        let md = try MarkdownRenderer.render(
            Report(server: sampleReport().server, client: result.client, scenarios: [result]))
        #expect(!md.contains("What fixes it"), "a run that recovered needs no fix")
    }
}
