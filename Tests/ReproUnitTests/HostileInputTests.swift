import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// Hostile input in scenario files and report text: each way it once broke repro, pinned.
@Suite("Hostile input: scenario files and report text")
struct HostileInputTests {
    static func problems(_ text: String) -> [ScenarioFileError.Problem] {
        do {
            _ = try ScenarioFile.parse(text, file: "f.yml")
            return []
        } catch {
            return error.problems
        }
    }

    @Test("a duplicate key is one line naming the key and the line of the repeat, not the file")
    func duplicateKey() {
        var text = "name: a\nfault: {kind: kill-thread}\n"
        for i in 0..<2000 { text += "k\(i): 1\n" }
        text += "name: b\n"
        let found = Self.problems(text)
        #expect(found.count == 1)
        #expect(found.first?.description == "f.yml:2003: duplicate key 'name': each key may appear once in a mapping")
    }

    @Test("a NUL byte is one line with its line number")
    func nulByte() {
        let found = Self.problems("name: a\nfault: {kind: kill-thread}\ndescription: x\u{0}y\n")
        #expect(found.count == 1)
        #expect(found.first?.line == 3)
        #expect(found.first.map { !$0.description.contains("\n") } == true)
        #expect(found.first?.message.contains("control characters") == true)
    }

    @Test("a 200,000-character value is cut in the message")
    func longValue() {
        let huge = String(repeating: "Z", count: 200_000)
        let found = Self.problems("name: a\nfault: {kind: kill-thread, target: \(huge)}\n")
        #expect(!found.isEmpty)
        #expect(found.allSatisfy { $0.description.count < 400 }, "\(found.map(\.description.count))")
    }

    @Test("problems come sorted by line, the same every run")
    func sortedByLine() {
        let text = """
            name: a
            fault: {kind: kill-thread, target: sideways, count: many}
            pool: {size: -1}
            colour: red
            expect: {recovered: perhaps}
            """
        let runs = (0..<5).map { _ in Self.problems(text).map(\.description) }
        #expect(runs.allSatisfy { $0 == runs[0] })
        let lines = Self.problems(text).map(\.line)
        #expect(lines.count >= 4)
        #expect(lines == lines.sorted())
    }

    @Test("control characters in a description never reach the Markdown raw")
    func controlCharactersEscaped() throws {
        var result = sampleResult()
        result.description = "red \u{1B}[31mALERT\u{1B}[0m\nsecond | line\u{7}"
        let md = try MarkdownRenderer.render(
            Report(
                server: sampleReport().server, client: sampleReport().client ?? ReproSession.clientInfo,
                scenarios: [result]))
        #expect(!md.contains("\u{1B}") && !md.contains("\u{7}"))
        #expect(md.contains("red \\u{1B}[31mALERT\\u{1B}[0m second | line\\u{7}"))
    }
}
