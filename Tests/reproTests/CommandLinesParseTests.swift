import ArgumentParser
import Foundation
import ReproKit
import ReproTestSupport
import Testing

@testable import repro

/// Every `repro …` line repro prints for a person to run (a drivers-matrix cell's, a policy-matrix cell's, an error
/// catalog entry's) parses with repro's own parser, validation included: a line a user copies must run.
@Suite("the command lines repro writes parse as repro commands", .ownThreads)
struct CommandLinesParseTests {
    /// Splits a line as a POSIX shell does for the words repro writes: spaces, single and double quotes.
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for character in line {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == " " {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// Nil when `line` parses, else the parser's words for why not.
    static func refusal(_ line: String) -> String? {
        let words = words(line)
        guard words.first == "repro" else { return "does not start with repro" }
        do {
            _ = try Repro.parseAsRoot(Array(words.dropFirst()))
            return nil
        } catch {
            return Repro.message(for: error)
        }
    }

    @Test("the splitter keeps quoted words whole")
    func splitter() {
        #expect(
            Self.words(#"repro explain "can't add" --driver 'a b'"#) == [
                "repro", "explain", "can't add", "--driver", "a b",
            ])
    }

    @Test("every drivers-matrix cell's command in docs/drivers.json")
    func driversMatrixCells() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let report = try DriversReport.decode(Data(contentsOf: root.appendingPathComponent("docs/drivers.json")))
        #expect(report.commands.count > 500)
        // Parsing is slow in a debug build (~80 ms a line), so each line is parsed that brings something no line
        // parsed before had: its shape (the line without its driver and driver options), its --driver value or one
        // of its --driver-option values. Every shape, driver and option of the matrix is parsed at least once.
        var covered = Set<String>()
        for (cell, line) in report.commands.sorted(by: { $0.key < $1.key }) {
            let words = Self.words(line)
            var keys: Set<String> = []
            var shape: [String] = []
            var index = 0
            while index < words.count {
                if ["--driver", "--driver-option"].contains(words[index]), index + 1 < words.count {
                    keys.insert(words[index] + " " + words[index + 1])
                    index += 2
                } else {
                    shape.append(words[index])
                    index += 1
                }
            }
            keys.insert(shape.joined(separator: " "))
            guard !keys.isSubset(of: covered) else { continue }
            covered.formUnion(keys)
            let refusal = Self.refusal(line)
            #expect(refusal == nil, "\(cell): \(line): \(refusal ?? "")")
        }
    }

    @Test("every policy-matrix cell's command and every error catalog entry's")
    func matrixAndCatalog() {
        var lines: [String] = []
        // A cell's line is its scenario's with the preset's name in --policy: each scenario once, each preset in turn.
        let presets = PolicyPreset.allCases
        let matrix = Matrix()
        for (index, column) in MatrixColumn.policyColumns.enumerated() {
            lines.append(matrix.command(column, presets[index % presets.count]))
        }
        lines += presets.map { matrix.command(MatrixColumn.policyColumns[0], $0) }
        lines += ErrorCatalog.entries.flatMap(\.commands)
        #expect(lines.count > 30)
        for line in lines {
            let refusal = Self.refusal(line)
            #expect(refusal == nil, "\(line): \(refusal ?? "")")
        }
    }

    @Test("a line that does not parse is caught")
    func badLineIsCaught() {
        #expect(Self.refusal("repro wait-timeout --seconds 0") != nil)
        #expect(Self.refusal("repro network-cut --mode sideways") != nil)
    }
}
