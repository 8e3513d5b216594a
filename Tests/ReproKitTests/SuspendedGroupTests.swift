import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

#if canImport(Glibc)
    import Glibc
#endif

/// The record a freeze leaves for the next run's sweep: it continues and kills only a group that is still the one
/// stopped, still stopped, and ours.
@Suite(.ownThreads, .serialized)
struct SuspendedGroupTests {
    /// A child in a group of its own, running `sleep 30`.
    static func sleeper() throws -> ChildProcess {
        try ChildProcess.spawn("/bin/sleep", ["30"], stdin: .devNull, stdout: .devNull, stderr: .devNull)
    }

    /// A directory of the test's own (other tests' runs sweep the real one meanwhile), mode 0700.
    static func scratch() throws -> String {
        let dir = NSTemporaryDirectory() + "repro-suspended-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try #require(mkdir(dir, 0o700) == 0)
        return dir
    }

    /// A lock file as a killed run would leave it: nobody holds its lock.
    static func plantRecord(in dir: String, group: pid_t, start: UInt64) -> String {
        let path = "\(dir)/suspended-\(group)-\(start).lock"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("0\n".utf8)))
        return path
    }

    @Test func aRecordOfARunningGroupIsRemovedWithoutTouchingTheGroup() throws {
        let child = try Self.sleeper()
        defer { _ = child.terminate(grace: .milliseconds(100)) }
        let start = try #require(SuspendedGroup.startTime(of: child.pid))
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = Self.plantRecord(in: dir, group: child.pid, start: start)
        let done = SuspendedGroup.removeStale(in: dir)
        #expect(done.isEmpty, "\(done)")
        #expect(kill(child.pid, 0) == 0, "a running group is not ours to kill")
        #expect(!FileManager.default.fileExists(atPath: path), "the stale record is gone")
    }

    @Test func aRecordWhosePidWasRecycledIsRemovedWithoutTouchingTheProcess() throws {
        let child = try Self.sleeper()
        defer { _ = child.terminate(grace: .milliseconds(100)) }
        kill(child.pid, SIGSTOP)
        defer { kill(child.pid, SIGCONT) }
        for _ in 0..<100 where SuspendedGroup.state(of: child.pid) != "T" { Thread.sleep(forTimeInterval: 0.01) }
        let start = try #require(SuspendedGroup.startTime(of: child.pid))
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = Self.plantRecord(in: dir, group: child.pid, start: start + 1)
        #expect(SuspendedGroup.removeStale(in: dir).isEmpty)
        #expect(SuspendedGroup.state(of: child.pid) == "T", "another process's start time: left alone")
    }

    @Test func aStoppedGroupLeftByAKilledRunIsContinuedAndKilled() throws {
        let child = try Self.sleeper()
        defer { _ = child.terminate(grace: .milliseconds(100)) }
        kill(child.pid, SIGSTOP)
        for _ in 0..<100 where SuspendedGroup.state(of: child.pid) != "T" { Thread.sleep(forTimeInterval: 0.01) }
        let start = try #require(SuspendedGroup.startTime(of: child.pid))
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = Self.plantRecord(in: dir, group: child.pid, start: start)
        #expect(chmod(dir, 0o777) == 0)
        #expect(SuspendedGroup.removeStale(in: dir).isEmpty, "a directory others can write names nothing")
        #expect(chmod(dir, 0o700) == 0)
        let done = SuspendedGroup.removeStale(in: dir)
        #expect(done == ["continued and killed process group \(child.pid), left suspended by a killed run"])
        #expect(child.wait(until: .now + .seconds(5)) != nil, "it was killed")
    }

    @Test func aRecordHeldByALiveRunIsLeftAlone() throws {
        let child = try Self.sleeper()
        defer { _ = child.terminate(grace: .milliseconds(100)) }
        let group = try SuspendedGroup(child.pid)
        try group.stop()
        #expect(SuspendedGroup.state(of: child.pid) == "T")
        #expect(SuspendedGroup.removeStale().isEmpty, "our own record is locked")
        #expect(SuspendedGroup.state(of: child.pid) == "T")
        group.resume()
        for _ in 0..<100 where SuspendedGroup.state(of: child.pid) == "T" { Thread.sleep(forTimeInterval: 0.01) }
        #expect(SuspendedGroup.state(of: child.pid) != "T", "continued")
    }
}
