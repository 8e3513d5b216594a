import Foundation
import Testing

@testable import ReproKit

/// A result shaped like a real naive wait-timeout run, built by hand so the renderers can be pinned without a server.
func sampleResult(recovered: Bool = false) -> ScenarioResult {
    let gone = DatabaseError(code: .serverGone, sqlState: "HY000", message: "Server has gone away")
    let error = ObservedError(error: gone, phase: .query, atMs: 2503, connection: 4, threadID: 7, operation: 1)
    let ops = [
        OperationRecord(
            index: 1, succeeded: recovered, atMs: 2503, durationMs: 0.2, attempts: 1, connection: 4,
            error: recovered ? nil : error),
        OperationRecord(index: 2, succeeded: true, atMs: 2504, durationMs: 0.6, attempts: 1, connection: 5, error: nil),
    ]
    let expectations = Expectations(firstError: [.serverGone, .serverLost], phase: .query, recovered: false)
        .evaluate(firstError: error, recovered: recovered)
    return ScenarioResult(
        name: "wait-timeout-naive", client: ReproSession.clientInfo, pattern: .pool, idleBeforeOperationsMs: 2501,
        kind: "wait-timeout", description: "Idle pool after wait_timeout",
        policy: PolicyPreset.naive.policy, poolSize: 4,
        parameters: ["seconds": "2", "margin": "0.5", "scope": "session", "operations": "2"], firstError: error,
        errors: [error], recovered: recovered,
        operations: .init(total: 2, succeeded: recovered ? 2 : 1, failed: recovered ? 0 : 1), operationResults: ops,
        faultAtMs: 2002, detectionMs: 501, recoveryMs: 502, tcpSignal: nil,
        timeline: [
            PoolEvent(atMs: 1.4, event: .connect, connection: 1, threadID: 4),
            PoolEvent(atMs: 2503, event: .queryError, connection: 4, threadID: 7, detail: "2006 | gone"),
        ],
        expectations: expectations, passed: expectations.allSatisfy(\.passed), durationMs: 2510)
}

func sampleReport(recovered: Bool = false) -> Report {
    Report(
        server: .init(version: "10.11.19-MariaDB", managed: true, address: "127.0.0.1:3306"),
        client: .init(library: "MariaDB Connector/C", version: "3.3.8"), scenarios: [sampleResult(recovered: recovered)]
    )
}

/// The package root, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

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

    @Test("the JSON report validates against docs/report.schema.json, and a broken one does not")
    func schema() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("repro-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("report.json")
        try sampleReport().jsonData().write(to: path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", packageRoot.appendingPathComponent("Tests/schema/check_schema.py").path, path.path,
        ]
        process.currentDirectoryURL = packageRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("PASS"))
    }

    @Test("Markdown shows the first error, the operations, the explanation and the timeline")
    func markdown() {
        let md = MarkdownRenderer.render(sampleReport())
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
    func markdownRecovered() {
        let md = MarkdownRenderer.render(sampleReport(recovered: true))
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
