import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The timeline charts, checked as a person would look at them: they parse as XML, `rsvg-convert` renders
/// them to a PNG of the size the SVG declares, and they stay small and readable at 100 connections and for
/// a 10-minute run.
@Suite(.ownThreads) struct TimelineChartTests {
    static func read(_ svg: String) throws -> SVGReader {
        try SVGReader.read(svg)
    }

    /// Renders with rsvg-convert (installed by make setup) and returns the PNG's width and height.
    static func render(_ svg: String) throws -> (width: Int, height: Int) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("repro-chart-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("chart.svg")
        let output = dir.appendingPathComponent("chart.png")
        try Data(svg.utf8).write(to: input)
        let tool = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        let path = try #require(tool, "rsvg-convert is missing: run make setup (it installs librsvg2-bin)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = [input.path, "-o", output.path]
        let err = Pipe()
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "rsvg-convert failed: \(message)")
        let png = try Data(contentsOf: output)
        // PNG signature, then the IHDR chunk: width and height, big-endian, at bytes 16 and 20.
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let be = { (at: Int) in png[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }

    /// A synthetic run: `connections` warmed, a kill at `faultAt`, then `operations` spread over `spanMs`
    /// (the first `failing` of them failed), each on its own lane in turn.
    static func synthetic(
        connections: Int, operations: Int, spanMs: Double, faultAt: Double, failing: Int = 2
    ) -> ScenarioResult {
        var result = sampleResult()
        var timeline: [PoolEvent] = (1...connections).map {
            PoolEvent(atMs: Double($0) * 0.5, event: .connect, connection: $0)
        }
        timeline.append(PoolEvent(atMs: faultAt, event: .scenario, detail: "fault: KILL CONNECTION"))
        var ops: [OperationRecord] = []
        var errors: [ObservedError] = []
        let start = faultAt + 200
        for i in 0..<operations {
            let at = start + spanMs * Double(i) / Double(max(1, operations))
            let connection = i % connections + 1
            let ok = i >= failing
            timeline.append(PoolEvent(atMs: at, event: .borrow, connection: connection))
            timeline.append(PoolEvent(atMs: at + 0.2, event: ok ? .queryOK : .queryError, connection: connection))
            var error: ObservedError?
            if !ok {
                error = ObservedError(
                    error: DatabaseError(code: .serverLost, sqlState: "HY000", message: "Lost connection <&> \u{1}"),
                    phase: .query, atMs: at + 0.2, connection: connection)
                errors.append(error!)
                timeline.append(PoolEvent(atMs: at + 0.3, event: .destroy, connection: connection))
            }
            ops.append(
                OperationRecord(
                    index: i + 1, succeeded: ok, atMs: at, durationMs: 0.3, attempts: 1, connection: connection,
                    error: error))
        }
        result.name = "synthetic <\(connections)> & \"quotes\""
        result.timeline = timeline
        result.operationResults = ops
        result.errors = errors
        result.firstError = errors.first
        result.faultAtMs = faultAt
        result.idleBeforeOperationsMs = start - Double(connections) * 0.5
        result.durationMs = start + spanMs + 10
        result.poolSize = connections
        return result
    }

    @Test func aSmallRunHasALanePerConnectionTheFaultAndTheOperationsPanel() throws {
        let result = Self.synthetic(connections: 4, operations: 6, spanMs: 5, faultAt: 1000)
        let svg = TimelineChart.svg(result)
        let reader = try Self.read(svg)
        for lane in 1...4 { #expect(reader.texts.contains("conn \(lane)"), "lane \(lane) missing") }
        #expect(reader.texts.contains("fault"))
        #expect(reader.texts.contains("idle"))
        #expect(reader.texts.contains("operations/s"))
        #expect(reader.texts.contains { $0.contains("quiet stretches") })
        // Two operations failed: red marks (error reached the caller) and destroys on their lanes.
        #expect(svg.contains("fill=\"#d62728\""))
        #expect(reader.texts.first?.contains("synthetic <4> & \"quotes\"") == true, "title escaped and parsed back")
        let size = try Self.render(svg)
        #expect(size.width == 1000)
        #expect(Double(size.height) == Double(reader.root["height"] ?? ""))
    }

    @Test func aLongTitleIsCutWithAnEllipsisInsideThePicture() throws {
        var result = Self.synthetic(connections: 2, operations: 2, spanMs: 5, faultAt: 1000)
        result.name = "driver-node-mysql2-network-cut-half-open-" + String(repeating: "very-long-name-", count: 12)
        let reader = try Self.read(TimelineChart.svg(result))
        let title = try #require(reader.texts.first)
        #expect(title.hasSuffix("…"), "\(title)")
        #expect(Double(title.count) * 7.6 <= 1000 - 16, "\(title.count) characters at 13 px bold")
    }

    @Test func a100ConnectionRunCollapsesItsLanesIntoHeatStrips() throws {
        let result = Self.synthetic(connections: 100, operations: 2000, spanMs: 3000, faultAt: 1000)
        let svg = TimelineChart.svg(result)
        let reader = try Self.read(svg)
        #expect(!reader.texts.contains("conn 1"), "100 lanes would not be readable")
        #expect(reader.texts.contains("100 connections open"))
        #expect(reader.texts.contains("errors"))
        let size = try Self.render(svg)
        #expect(size.height < 400, "heat strips keep the picture short: \(size.height) px")
    }

    @Test func aTenMinuteRunStaysSmallAndLinear() throws {
        // 10 minutes of traffic: 60,000 operations on 8 connections.
        let result = Self.synthetic(connections: 8, operations: 60_000, spanMs: 600_000, faultAt: 1000)
        let svg = TimelineChart.svg(result)
        #expect(svg.utf8.count < 600_000, "marks are merged per pixel column: \(svg.utf8.count) bytes")
        let reader = try Self.read(svg)
        #expect(reader.texts.contains { $0.contains("5000 ms buckets") || $0.contains("ms buckets") })
        #expect(!reader.texts.contains { $0.hasPrefix("… ") }, "busy throughout: no stretch is compressed")
        let size = try Self.render(svg)
        #expect(size.width == 1000)
    }

    @Test func severalScenariosStackIntoOnePicture() throws {
        let a = Self.synthetic(connections: 3, operations: 4, spanMs: 5, faultAt: 500)
        let b = Self.synthetic(connections: 150, operations: 300, spanMs: 500, faultAt: 500)
        let one = try Self.read(TimelineChart.svg(a))
        let two = try Self.read(TimelineChart.svg(b))
        let both = TimelineChart.svg([a, b])
        let reader = try Self.read(both)
        let total = (Double(one.root["height"] ?? "") ?? 0) + (Double(two.root["height"] ?? "") ?? 0)
        #expect(Double(reader.root["height"] ?? "") == total)
        #expect(reader.elements["svg"] == 3)
        let size = try Self.render(both)
        #expect(Double(size.height) == total)
    }

    @Test func bucketsAre100MillisecondsUnderLoadAndWidenForLongRuns() {
        #expect(TimelineChart.bucketMs(linearMs: 10_000) == 100)
        #expect(TimelineChart.bucketMs(linearMs: 600_000) >= 3000)
        #expect(600_000 / TimelineChart.bucketMs(linearMs: 600_000) <= 200)
        #expect(TimelineChart.bucketMs(linearMs: 40) == 1)
    }
}
