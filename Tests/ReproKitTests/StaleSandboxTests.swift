import Foundation
import Testing

@testable import ReproKit

@Suite("Sandboxes left by a killed run")
struct StaleSandboxTests {
    /// A pid that surely belongs to no process: one that just exited and was reaped.
    func deadPid() throws -> pid_t {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func sandbox(owner: pid_t?) throws -> String {
        var template = Array("/tmp/repro-mariadb-XXXXXX".utf8CString)
        let ok = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        try #require(ok)
        let dir = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if let owner { try "\(owner)\n".write(toFile: dir + "/owner.pid", atomically: true, encoding: .utf8) }
        return dir
    }

    @Test("a sandbox whose owner is gone is removed; live owners and unowned ones are kept")
    func removesOnlyOrphans() throws {
        let orphan = try sandbox(owner: try deadPid())
        let live = try sandbox(owner: 1)
        let unowned = try sandbox(owner: nil)
        defer {
            for dir in [orphan, live, unowned] { try? FileManager.default.removeItem(atPath: dir) }
        }
        let removed = ManagedServer.removeStale()
        #expect(removed.contains(orphan))
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(FileManager.default.fileExists(atPath: unowned))
    }
}
