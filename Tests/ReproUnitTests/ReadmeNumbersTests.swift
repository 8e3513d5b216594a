import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// The numbers the README states, checked against what they count, so they cannot go stale unseen.
@Suite("the README's numbers match their sources")
struct ReadmeNumbersTests {
    static let readme = packageRoot.appendingPathComponent("README.md")

    @Test("each preset's agreement with the stack it models is the committed matrix's")
    func presetAgreements() throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8)
        let report = try committedDrivers()
        let columns = report.columns.map(\.id)
        var checked = 0
        for preset in PolicyPreset.allCases {
            guard let stack = preset.modeledOn, let model = report.row("repro \(preset.rawValue)"),
                let real = report.row("\(stack) default")
            else { continue }
            let agreement = DriversRenderer.agreementOf(model: model, real: real, columns: columns)
            let line = try #require(
                text.components(separatedBy: "\n").first {
                    $0.hasPrefix("| `\(preset.rawValue)` |") && $0.contains("agrees with")
                },
                "README's preset table has \(preset.rawValue)")
            #expect(
                line.contains("agrees with \(stack) in \(agreement.agree) of \(columns.count)"),
                "\(preset.rawValue): the matrix says \(agreement.agree) of \(columns.count): \(line)")
            checked += 1
        }
        #expect(checked >= 5)
    }

    @Test("the scenario counts and the matrix's cell count")
    func counts() throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8).replacingOccurrences(of: "\n", with: " ")
        let dir = packageRoot.appendingPathComponent("Scenarios").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yml") }
        let drivers = try files.filter {
            try String(contentsOfFile: dir + "/" + $0, encoding: .utf8).contains("\ndriver")
        }
        #expect(
            text.contains(
                "\(files.count) scenarios on one embedded server (\(drivers.count) of them on real driver stacks)"),
            "Scenarios/ has \(files.count), \(drivers.count) with a driver")
        let cells = try committedDrivers().rows.reduce(0) { $0 + $1.cells.count }
        #expect(text.contains("\(cells) cells"), "docs/drivers.json has \(cells) cells")
    }
}

extension ReadmeNumbersTests {
    @Test("the unit-test count make unit runs")
    func unitTestCount() throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8).replacingOccurrences(of: "\n", with: " ")
        let dir = packageRoot.appendingPathComponent("Tests/ReproUnitTests").path
        var tests = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasSuffix(".swift") {
            let source = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            tests +=
                source.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("@Test") }
                .count
        }
        #expect(text.contains("\(tests) tests in about"), "Tests/ReproUnitTests has \(tests) tests")
    }
}
