import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("Reports")
struct ReportTests {
    @Test("JSON round trip keeps every field")
    func roundTrip() throws {
        let report = sampleReport()
        let decoded = try Report.decode(try report.jsonData())
        #expect(decoded == report)
    }

    @Test("JSON writes firstError as null, not missing, when nothing failed")
    func nullFirstError() throws {
        var report = sampleReport(recovered: true)
        report.scenarios[0].firstError = nil
        let text = String(decoding: try report.jsonData(), as: UTF8.self)
        #expect(text.contains("\"firstError\" : null"))
    }

    @Test("Markdown shows the first error, the operations, the explanation and the timeline")
    func markdown() throws {
        let md = try MarkdownRenderer.render(sampleReport())
        #expect(md.contains("| wait-timeout-naive | wait-timeout 2s | naive | 2006 CR_SERVER_GONE_ERROR | query |"))
        #expect(md.contains("`2006 CR_SERVER_GONE_ERROR` (SQLSTATE HY000) \"Server has gone away\" at phase **query**"))
        #expect(md.contains("### What happened"))
        #expect(md.contains("handed out a dead connection without any error"))
        #expect(md.contains("| 1 | failed | 1 | 4 |"))
        #expect(md.contains("2006 \\| gone"), "pipes inside cells are escaped")
        #expect(md.contains("### What real driver stacks do in this scenario"), "measured lines, not hand-written")
        #expect(md.contains("- **node-mysql2 default (mysql2 "))
        #expect(md.contains("- **sqlalchemy default (PyMySQL ") && md.contains("(2006, "))
        #expect(md.contains("Not measured here"))
        #expect(md.contains("- **Recovered**: no"))
    }

    @Test("Markdown says recovered when the pool recovered")
    func markdownRecovered() throws {
        let md = try MarkdownRenderer.render(sampleReport(recovered: true))
        #expect(md.contains("- **Recovered**: yes"))
        #expect(md.contains("the pool recovered"))
    }

    @Test("expectations evaluate against the observed error and outcome")
    func expectations() {
        let e = Expectations(firstError: [.serverLost], phase: .validate, recovered: false)
        let gone = ObservedError(
            error: DatabaseError(code: .serverGone, sqlState: "HY000", message: ""), phase: .query, atMs: 1)
        let results = e.evaluate(firstError: gone, recovered: false)
        #expect(results.map(\.passed) == [false, false, true])
        #expect(results[0].actual == "2006 CR_SERVER_GONE_ERROR")
    }
}
