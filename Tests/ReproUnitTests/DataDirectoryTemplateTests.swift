import Foundation
import Testing

@testable import ReproKit

@Suite("the data directory template's key and copy")
struct DataDirectoryTemplateTests {
    private func template(_ arguments: [String], installDB: String = "/bin/sh", root: String = "/nonexistent")
        -> DataDirectoryTemplate
    {
        DataDirectoryTemplate(root: root, installDB: installDB, mariadbd: "/bin/ls", arguments: arguments)
    }

    @Test("the same binaries and arguments give the same key; another argument or binary gives another")
    func keyFollowsWhatMakesTheInstall() {
        let base = template(["--skip-test-db"])
        #expect(base.key == template(["--skip-test-db"]).key)
        #expect(base.key.hasPrefix("v1-") && base.path == "/nonexistent/" + base.key)
        #expect(base.key != template(["--skip-test-db", "--user=root"]).key)
        #expect(base.key != template(["--skip-test-db"], installDB: "/bin/cat").key)
    }

    @Test("without a published template nothing is copied and nothing is left at the target")
    func noTemplateNoCopy() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("repro-template-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let unpublished = template([], root: root)
        // A directory under the key without the marker is a copy still being made: not a template.
        try FileManager.default.createDirectory(atPath: unpublished.path, withIntermediateDirectories: true)
        let target = root + "/target"
        #expect(!unpublished.copy(to: target))
        #expect(!FileManager.default.fileExists(atPath: target))
    }
}
