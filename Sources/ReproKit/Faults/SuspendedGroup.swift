import CMariaDB
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A process group repro stopped with SIGSTOP (the `freeze` fault). It is continued on every path: `resume` (a
/// `defer` around the freeze, whether it returns or throws) and the cleanup registry on Ctrl-C. A run killed outright (SIGKILL) cannot continue it. The kernel
/// does when the group becomes orphaned (SIGHUP, then SIGCONT, to a stopped orphaned group), but not when a
/// subreaper in the same session adopts it (systemd --user, tini, a CI runner): then it stays stopped. So while
/// the group is stopped a lock file `/tmp/repro-state/suspended-<pgid>-<start time>.lock` is held (`OwnerLock`);
/// the next run's `removeStale` finds it unlocked, continues the group and kills it, when the group's leader is
/// still the process that was stopped (same start time: a recycled pid is left alone), is stopped, and belongs to
/// this user. The lock files live in a directory of this user's own (`/tmp/repro-suspended-<uid>`, mode 0700,
/// checked before use), so another user cannot plant one, and a run as root and one as a user never share it.
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

    /// This user's own directory for the suspension records: `REPRO_SUSPENDED_DIR` when set (runs that share it
    /// sweep each other's leftovers; a test keeps its own), else `/tmp/repro-suspended-<uid>`.
    public static var directory: String {
        if let configured = ProcessInfo.processInfo.environment["REPRO_SUSPENDED_DIR"], !configured.isEmpty {
            return configured
        }
        return "/tmp/repro-suspended-\(geteuid())"
    }

    var lockPath: String { "\(Self.directory)/\(Self.prefix)\(group)-\(startTime).lock" }

    /// True when `directory` exists, is a real directory (no symlink), is ours, and only we can write it.
    static func directoryIsOurs(_ directory: String = directory) -> Bool {
        var info = stat()
        return lstat(directory, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR && info.st_uid == geteuid()
            && info.st_mode & 0o022 == 0
    }

    /// Stops the group; from now on it is continued on every exit path.
    public func stop() throws(RunError) {
        if mkdir(Self.directory, 0o700) != 0 && errno != EEXIST {
            throw .environment(
                "cannot create \(Self.directory) (\(String(cString: strerror(errno)))): not suspending the application; check that /tmp is writable"
            )
        }
        guard Self.directoryIsOurs() else {
            throw .environment(
                "\(Self.directory) is not a directory owned by this user and writable only by it: remove it and run again"
            )
        }
        let lock: OwnerLock
        do {
            lock = try OwnerLock.create(at: lockPath)
        } catch {
            throw .environment(
                "cannot record the suspension in \(Self.directory) (\(error.reason)): not suspending the application"
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
        // The signal is delivered asynchronously: the freeze starts when the leader is really stopped (bounded).
        let end = ContinuousClock.now + .seconds(1)
        while Self.state(of: group) != "T", ContinuousClock.now < end { Thread.sleep(forTimeInterval: 0.002) }
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
    public static func removeStale(in directory: String = directory) -> [String] {
        // Only a directory of our own: a file someone else planted never names a group to kill.
        guard directoryIsOurs(directory) else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var done: [String] = []
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".lock") {
            let parts = name.dropFirst(prefix.count).dropLast(5).split(separator: "-")
            guard parts.count == 2, let group = pid_t(parts[0]), let start = UInt64(parts[1]) else { continue }
            guard case .stale(let lock) = OwnerLock.probe(directory + "/" + name) else { continue }
            if startTime(of: group) == start, state(of: group) == "T", owner(of: group) == geteuid() {
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

    /// The uid that owns the process (its /proc entry), or nil when it is gone.
    static func owner(of pid: pid_t) -> uid_t? {
        var info = stat()
        return stat("/proc/\(pid)", &info) == 0 ? info.st_uid : nil
    }

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
