import Foundation
import ReproTestSupport
import Testing

@Suite("docs/cli-reference.md: every command's help, as the binary prints it", .ownThreads)
struct CLIReferenceTests {
    @Test("the committed reference is what scripts/cli-reference.sh writes from this binary")
    func referenceIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cli-reference-\(UUID().uuidString).md")
        defer { try? FileManager.default.removeItem(at: output) }
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/bin/bash")
        script.arguments = [
            root.appendingPathComponent("scripts/cli-reference.sh").path, ReproBinary.path, output.path,
        ]
        try script.run()
        script.waitUntilExit()
        #expect(script.terminationStatus == 0)
        let generated = try String(contentsOf: output, encoding: .utf8)
        let committed = try String(
            contentsOf: root.appendingPathComponent("docs/cli-reference.md"), encoding: .utf8)
        #expect(generated.contains("## repro proxy") && generated.contains("--api <host:port>"))
        #expect(generated == committed, "docs/cli-reference.md is stale: run scripts/cli-reference.sh and commit it")
    }
}
