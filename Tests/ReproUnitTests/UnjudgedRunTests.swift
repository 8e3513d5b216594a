import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("a scenario with no expectations says it was not judged")
struct UnjudgedRunTests {
    @Test("JUnit and Markdown say a case with no expectations passes whatever happened")
    func noExpectationsIsSaid() throws {
        var result = sampleResult(recovered: false)
        result.expectations = []
        result.passed = true
        let report = Report(server: sampleReport().server, client: ReproSession.clientInfo, scenarios: [result])
        let junit = JUnitRenderer.render(report)
        #expect(
            junit.contains("name=\"expectations\" value=\"none: this case passes whatever happened (recovered=false)"))
        #expect(!junit.contains("<failure"))
        let md = try MarkdownRenderer.render(report)
        #expect(
            md.contains(
                "None: this run is reported, not judged — it passes whether or not the pool recovered (it did not)"))
        var judged = sampleResult(recovered: false)
        judged.passed = false
        let checked = JUnitRenderer.render(
            Report(server: sampleReport().server, client: ReproSession.clientInfo, scenarios: [judged]))
        #expect(!checked.contains("name=\"expectations\""))
    }
}
