import Foundation
import Testing

@testable import ReproKit

@Suite("docs/drivers.svg: the drivers matrix as a grid")
struct DriversGridTests {
    @Test("one cell per row and column, coloured by outcome, rendered by rsvg-convert, matching the committed file")
    func gridOfTheCommittedMatrix() throws {
        let report = try MeasuredDriversTests.committed()
        let svg = DriversGrid.render(report)
        let reader = try TimelineChartTests.read(svg)
        let cells = report.rows.count * report.columns.count
        // One rect per cell, plus the background and the four legend swatches.
        #expect(reader.elements["rect"] == cells + 5)
        #expect(reader.elements["title"] == cells, "every cell says what happened when pointed at")
        let size = try TimelineChartTests.render(svg)
        #expect(size.width > 1000 && size.height > 600)
        for row in report.rows {
            for column in report.columns.map(\.id) {
                guard let cell = row.cell(column) else { continue }
                let colour = DriversGrid.fill(cell)
                #expect(colour == (cell.survived ? "#4caf50" : cell.firstError?.kind == .hung ? "#7b1f1f" : "#e53935"))
            }
        }
        let committed = packageRoot.appendingPathComponent("docs/drivers.svg")
        #expect(
            (try? String(contentsOf: committed, encoding: .utf8)) == svg,
            "docs/drivers.svg is rendered from docs/drivers.json: make drivers-matrix, or repro report docs/drivers.json --format svg -o docs/drivers.svg"
        )
    }
}
