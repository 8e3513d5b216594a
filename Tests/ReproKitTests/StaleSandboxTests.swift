import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("Sandboxes left by a killed run", .ownThreads, .serialized)
struct StaleSandboxTests {
    /// A pid that surely belongs to no process: one that just exited and was reaped.
    func deadPid() throws -> pid_t {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func sandbox(owner: pid_t?, in base: String = "/tmp") throws -> String {
        var template = Array("\(base)/repro-mariadb-XXXXXX".utf8CString)
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
        // Any sweep may take it first: this test's, or that of a repro process or test running meanwhile.
        #expect(removed.contains(orphan) || !FileManager.default.fileExists(atPath: orphan))
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(FileManager.default.fileExists(atPath: unowned))
    }

    @Test("a new sandbox is named repro-mariadb-* only once its owner lock is held inside it")
    func lockExistsBeforeTheName() throws {
        let made = try ManagedServer.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: made.directory) }
        #expect(made.directory.hasPrefix("/tmp/repro-mariadb-") || made.directory.contains("/repro-mariadb-"))
        #expect(made.lock.path == made.directory + "/owner.lock")
        // The only entry is the lock, and it is held: there was never a moment without it under this name.
        #expect(try FileManager.default.contentsOfDirectory(atPath: made.directory) == ["owner.lock"])
        guard case .held = OwnerLock.probe(made.lock.path) else {
            Issue.record("the new sandbox's lock must be held")
            return
        }
        let staging = made.directory.replacingOccurrences(of: "repro-mariadb-", with: "repro-staging-")
        #expect(!FileManager.default.fileExists(atPath: staging))
        // Live: a sweep leaves it alone.
        #expect(!ManagedServer.removeStale().contains(made.directory))
        #expect(FileManager.default.fileExists(atPath: made.directory))
        // Its owner gone (the lock released as by the kernel at exit): the next sweep removes it.
        made.lock.release(removingFile: false)
        // Any sweep may take it, this test's or one of a repro process running meanwhile.
        let swept = ManagedServer.removeStale()
        #expect(swept.contains(made.directory) || !FileManager.default.fileExists(atPath: made.directory))
        #expect(!FileManager.default.fileExists(atPath: made.directory))
    }

    @Test("a held lock wins over an owner pid that is not visible here (another PID namespace)")
    func lockBeatsPid() throws {
        let dir = try sandbox(owner: try deadPid())
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lock = try OwnerLock.create(at: dir + "/owner.lock")
        defer { lock.release() }
        #expect(!ManagedServer.removeStale().contains(dir))
        #expect(FileManager.default.fileExists(atPath: dir + "/owner.pid"))
    }

    @Test("a sandbox without any owner file is removed once it is older than the grace, kept while young")
    func ownerlessByAge() throws {
        let old = try sandbox(owner: nil)
        let young = try sandbox(owner: nil)
        defer {
            for dir in [old, young] { try? FileManager.default.removeItem(atPath: dir) }
        }
        let past = Date().addingTimeInterval(-(ManagedServer.unownedGrace + 60))
        try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: old)
        let removed = ManagedServer.removeStale()
        #expect(removed.contains(old) || !FileManager.default.fileExists(atPath: old))
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: young))
    }

    @Test("processes still running in a stale sandbox (an orphaned mariadb-install-db) are killed by the sweep")
    func killsOrphans() throws {
        // In a directory of its own: the sweep every repro run makes at start (other tests start many, one of them
        // inside a PID namespace of its own that cannot see this orphan) never reaches this sandbox.
        var template = Array("/tmp/repro-sweep-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        try #require(made)
        let base = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { try? FileManager.default.removeItem(atPath: base) }
        let dir = try sandbox(owner: nil, in: base)
        // Stands in for mariadb-install-db: a shell script whose command line names the sandbox.
        let orphan = try ChildProcess.spawn(
            "/bin/sh", ["-c", "while :; do sleep 1; done", dir + "/install-db"], stdin: .devNull, stdout: .devNull,
            stderr: .devNull)
        defer { orphan.terminate(grace: .zero) }
        // Until the child has exec'd, its command line is still this test binary's: wait (bounded) until it names
        // the sandbox, as a real orphan's does.
        for _ in 0..<400 {
            let cmdline = FileManager.default.contents(atPath: "/proc/\(orphan.pid)/cmdline") ?? Data()
            if String(decoding: cmdline, as: UTF8.self).contains(dir + "/install-db") { break }
            usleep(5_000)
        }
        // What a killed run leaves: its lock file, no longer held.
        try OwnerLock.create(at: dir + "/owner.lock").release(removingFile: false)
        let removed = ManagedServer.removeStale(in: [base])
        #expect(removed == [dir])
        #expect(orphan.wait(until: .now + .seconds(5)) == .signaled(SIGKILL))
        #expect(!FileManager.default.fileExists(atPath: dir))
    }
}
