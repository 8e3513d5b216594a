import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("docs/drivers.svg: the drivers matrix as a grid", .ownThreads)
struct DriversGridTests {
    @Test("one cell per row and column, coloured by outcome, rendered by rsvg-convert, matching the committed file")
    func gridOfTheCommittedMatrix() throws {
        let report = try committedDrivers()
        let svg = DriversGrid.render(report)
        let reader = try SVGReader.read(svg)
        let cells = report.rows.count * report.columns.count
        // One rect per cell, plus the background and the four legend swatches.
        #expect(reader.elements["rect"] == cells + 5)
        #expect(reader.elements["title"] == cells, "every cell says what happened when pointed at")
        let size = try TimelineChartTests.render(svg)
        #expect(size.width > 1000 && size.height > 600)
        // Cell colours, counted in the picture, match the outcomes counted in the report.
        let cellsOf = { (fill: String) in svg.components(separatedBy: "fill=\"\(fill)\"><title>").count - 1 }
        let all = report.rows.flatMap { row in report.columns.map { row.cell($0.id) } }
        let survived = all.filter { $0?.survived == true }.count
        let hung = all.filter { $0.map { !$0.survived && $0.firstError?.kind == .hung } ?? false }.count
        let failed = all.filter { $0?.survived == false }.count - hung
        #expect(survived > 0 && failed > 0 && hung > 0)
        #expect(cellsOf("#4caf50") == survived)
        #expect(cellsOf("#e53935") == failed)
        #expect(cellsOf("#7b1f1f") == hung)
        #expect(cellsOf("#eeeeee") == all.filter { $0 == nil }.count)
        let committed = packageRoot.appendingPathComponent("docs/drivers.svg")
        #expect(
            (try? String(contentsOf: committed, encoding: .utf8)) == svg,
            "docs/drivers.svg is rendered from docs/drivers.json: make drivers-matrix, or repro report docs/drivers.json --format svg -o docs/drivers.svg"
        )
    }
}
