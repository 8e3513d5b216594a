import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// The report against its JSON Schema, checked by Python's jsonschema (a child process, so not a unit test).
@Suite("Reports against their schema", .ownThreads)
struct ReportSchemaTests {
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
}
