import CMariaDB
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A process group repro stopped with SIGSTOP (the `freeze` fault). It is continued on every path: `resume`,
/// the cleanup registry on Ctrl-C and on exit. A run killed outright (SIGKILL) cannot continue it. The kernel
/// does when the group becomes orphaned (SIGHUP, then SIGCONT, to a stopped orphaned group), but not when a
/// subreaper in the same session adopts it (systemd --user, tini, a CI runner): then it stays stopped. So while
/// the group is stopped a lock file `/tmp/repro-state/suspended-<pgid>-<start time>.lock` is held (`OwnerLock`);
/// the next run's `removeStale` finds it unlocked, continues the group and kills it, when the group's leader is
/// still the process that was stopped (same start time: a recycled pid is left alone) and has not exited.
public final class SuspendedGroup: Sendable {
    public let group: pid_t
    private let startTime: UInt64
    private let state = Mutex<(stopped: Bool, lock: OwnerLock?, token: CleanupRegistry.Token?)>((false, nil, nil))

    static let prefix = "suspended-"

    public init(_ group: pid_t) throws(RunError) {
        guard let start = Self.startTime(of: group) else {
            throw .environment("the pool's process \(group) is gone: nothing to suspend")
        }
        self.group = group
        startTime = start
    }

    var lockPath: String { "\(KernelCut.stateDirectory)/\(Self.prefix)\(group)-\(startTime).lock" }

    /// Stops the group; from now on it is continued on every exit path.
    public func stop() throws(RunError) {
        try? FileManager.default.createDirectory(
            atPath: KernelCut.stateDirectory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        let lock: OwnerLock
        do {
            lock = try OwnerLock.create(at: lockPath)
        } catch {
            throw .environment(
                "cannot record the suspension in \(KernelCut.stateDirectory) (\(error.reason)): not suspending the application"
            )
        }
        let group = self.group
        let token = CleanupRegistry.shared.register("continue the suspended process group \(group)") {
            killpg(group, SIGCONT)
        }
        state.withLock { $0 = (true, lock, token) }
        guard killpg(group, SIGSTOP) == 0 else {
            let reason = String(cString: strerror(errno))
            resume()
            throw .environment("cannot suspend the pool's process group \(group): \(reason)")
        }
    }

    /// Continues the group and forgets the record. Idempotent.
    public func resume() {
        let taken = state.withLock { s -> (OwnerLock?, CleanupRegistry.Token?)? in
            guard s.stopped else { return nil }
            defer { s = (false, nil, nil) }
            return (s.lock, s.token)
        }
        guard let (lock, token) = taken else { return }
        killpg(group, SIGCONT)
        if let token { CleanupRegistry.shared.unregister(token) }
        lock?.release(removingFile: true)
    }

    /// Continues and kills the groups that runs killed outright left stopped; returns what it did, one line each.
    @discardableResult
    public static func removeStale() -> [String] {
        let directory = KernelCut.stateDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var done: [String] = []
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".lock") {
            let parts = name.dropFirst(prefix.count).dropLast(5).split(separator: "-")
            guard parts.count == 2, let group = pid_t(parts[0]), let start = UInt64(parts[1]) else { continue }
            guard case .stale(let lock) = OwnerLock.probe(directory + "/" + name) else { continue }
            if startTime(of: group) == start, state(of: group) != "Z" {
                killpg(group, SIGCONT)
                killpg(group, SIGKILL)
                done.append("continued and killed process group \(group), left suspended by a killed run")
            }
            lock.release(removingFile: true)
        }
        return done
    }

    /// Makes this process the subreaper of its descendants' orphans (or stops it), as systemd or tini are: tests
    /// use it to leave a stopped group that the kernel does not continue.
    public static func adoptOrphans(_ on: Bool) -> Bool { repro_set_child_subreaper(on ? 1 : 0) == 0 }

    /// The process's state letter (field 3 of /proc/<pid>/stat: R, S, T, Z, ...), or nil when it is gone.
    static func state(of pid: pid_t) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ").first.map(String.init)
    }

    /// The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or nil when it is gone.
    static func startTime(of pid: pid_t) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)" come the fields from 3 on: the start time is field 22, the 20th of those.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}
