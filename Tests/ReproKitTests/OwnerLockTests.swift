import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A fresh private directory under /tmp for one test.
func makeScratchDirectory(_ prefix: String = "ownerlock") throws -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let ok = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
    try #require(ok)
    return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

@Suite("OwnerLock: liveness by flock, not by pid", .ownThreads)
struct OwnerLockTests {
    @Test("a created lock is held (also against this process's own probe), and released it is gone")
    func createProbeRelease() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lock = try OwnerLock.create(at: dir + "/a.lock")
        guard case .held = OwnerLock.probe(lock.path) else {
            Issue.record("a lock held by this process must probe as held")
            return
        }
        #expect(try String(contentsOfFile: lock.path, encoding: .utf8) == "\(getpid())\n")
        // Nothing but the lock file itself is left beside it (the temporary name is gone).
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["a.lock"])
        lock.release(removingFile: true)
        #expect(!lock.isHeld)
        guard case .absent = OwnerLock.probe(dir + "/a.lock") else {
            Issue.record("a released and removed lock must probe as absent")
            return
        }
    }

    @Test("an existing file is never replaced")
    func refusesExisting() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try OwnerLock.create(at: dir + "/a.lock")
        defer { first.release() }
        #expect {
            try OwnerLock.create(at: dir + "/a.lock")
        } throws: { error in
            (error as? OwnerLock.Failure)?.exists == true
        }
        guard case .held = OwnerLock.probe(dir + "/a.lock") else {
            Issue.record("the first owner's lock must still be held")
            return
        }
    }

    @Test("a lock held by another process is held; once that process is gone it is stale and can be taken")
    func otherProcess() throws {
        let flockTool = try #require(
            ["/usr/bin/flock", "/bin/flock"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "util-linux flock is needed")
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/other.lock"
        // Its own process group (ChildProcess): flock and the sleep it runs die together below.
        let holder = try ChildProcess.spawn(
            flockTool, ["--exclusive", "--close", path, "sleep", "30"], stdin: .devNull, stdout: .devNull,
            stderr: .devNull)
        defer { holder.terminate(grace: .zero) }
        // Bounded wait until the other process holds it.
        var held = false
        for _ in 0..<200 {
            if case .held = OwnerLock.probe(path) {
                held = true
                break
            }
            usleep(10_000)
        }
        #expect(held)
        holder.terminate(grace: .zero)
        guard case .stale(let taken) = OwnerLock.probe(path) else {
            Issue.record("the lock of a killed process must be stale")
            return
        }
        // While we hold it, nobody else can take it.
        guard case .held = OwnerLock.probe(path) else {
            Issue.record("a stale lock taken by a sweeper must be held against other sweepers")
            return
        }
        taken.release(removingFile: true)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("a lock moved with its directory stays held throughout")
    func movedWithDirectory() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/before", withIntermediateDirectories: false)
        let lock = try OwnerLock.create(at: dir + "/before/owner.lock")
        #expect(rename(dir + "/before", dir + "/after") == 0)
        let moved = lock.moved(to: dir + "/after/owner.lock")
        #expect(!lock.isHeld)
        guard case .held = OwnerLock.probe(moved.path) else {
            Issue.record("the moved lock must still be held")
            return
        }
        moved.release(removingFile: true)
        #expect(!FileManager.default.fileExists(atPath: moved.path))
    }
}

@Suite("Spawned children get an empty signal mask and default dispositions", .ownThreads)
struct SpawnSignalTests {
    /// Runs `body` with repro's startup mask (`CleanupRegistry.blockSignals`) on this thread, then restores it.
    private func withReproMask<T>(_ body: () throws -> T) rethrows -> T {
        var old = sigset_t()
        pthread_sigmask(SIG_SETMASK, nil, &old)
        CleanupRegistry.blockSignals()
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        return try body()
    }

    /// `SigBlk:` and `SigIgn:` of a status file, as numbers, for the standard signals 1 to 31 (glibc keeps two
    /// real-time signals of its own ignored in every process, which no one can change).
    private func masks(_ status: String) -> (blocked: UInt64?, ignored: UInt64?) {
        func field(_ name: String) -> UInt64? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.flatMap {
                UInt64($0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces), radix: 16)
            }.map { $0 & 0x7fff_ffff }
        }
        return (field("SigBlk"), field("SigIgn"))
    }

    @Test("ChildProcess: a child of a process that blocks SIGINT/SIGTERM/SIGHUP/SIGUSR1 blocks and ignores nothing")
    func childProcess() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let output = dir + "/status"
        let child = try withReproMask {
            try ChildProcess.spawn("/bin/cat", ["/proc/self/status"], outputPath: output)
        }
        let exit = child.wait(until: .now + .seconds(10))
        #expect(exit == .exited(0))
        let seen = masks(try String(contentsOfFile: output, encoding: .utf8))
        #expect(seen.blocked == 0)
        #expect(seen.ignored == 0)
    }

    @Test("FirewallCommand spawns through ChildProcess: descriptors above 2 stay with us")
    func firewallChildKeepsOnlyStandardDescriptors() throws {
        // Not close-on-exec: only ChildProcess's closefrom(3) keeps it from the child.
        let fd = open("/dev/null", O_RDONLY)
        try #require(fd > 2)
        defer { close(fd) }
        let output = FirewallCommand.run("/bin/ls", ["/proc/self/fd"])
        #expect(output.succeeded, "\(output.stderr)")
        let listed = output.stdout.split(separator: "\n").compactMap { Int32($0) }
        #expect(!listed.isEmpty)
        #expect(!listed.contains(fd), "fd \(fd) leaked into the child: \(listed)")
    }

    @Test("FirewallCommand: the same for the iptables tools")
    func firewallCommand() {
        let output = withReproMask { FirewallCommand.run("/bin/cat", ["/proc/self/status"]) }
        #expect(output.succeeded)
        let seen = masks(output.stdout)
        #expect(seen.blocked == 0)
        #expect(seen.ignored == 0)
    }
}
