import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A lock file that says "my owner is alive": held with `flock(LOCK_EX)` for the owner's whole lifetime, and
/// released by the kernel when the owner dies, however it dies (SIGKILL, OOM, a crash).
///
/// Unlike a pid file this works across PID namespaces (a run under `unshare --pid` cannot see our pid, but it
/// sees our lock) and cannot be fooled by a recycled pid. A sweeper deletes another run's state only after
/// `probe` took that state's lock itself.
public final class OwnerLock: Sendable {
    /// Where the lock file lives.
    public let path: String
    private let descriptor: Mutex<Int32>

    /// Why a lock file could not be created.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// True when `path` already exists (a live owner's, or a stale one nobody swept yet).
        public let exists: Bool
        /// The system's reason, e.g. "Permission denied".
        public let reason: String

        public var description: String { reason }
    }

    /// What `probe` found.
    public enum Probe: Sendable {
        /// No lock file at that path.
        case absent
        /// Its owner is alive (or its state cannot be judged): leave it alone.
        case held
        /// Its owner is gone; the caller now holds the lock and must `release` it when done.
        case stale(OwnerLock)
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    deinit {
        let fd = descriptor.withLock { $0 }
        if fd >= 0 { close(fd) }
    }

    /// Creates `path` already locked: a temporary file beside it is locked first and then linked into place, so
    /// no one ever sees `path` unlocked while its owner lives; `link` never replaces an existing file. The file
    /// holds our pid, for people reading it; liveness is the lock alone.
    public static func create(at path: String) throws(Failure) -> OwnerLock {
        var lastReason = "no attempt"
        // Bounded: the temporary name is only taken by a sweeper that probed it in the instant between open and
        // flock, which is a race, not a state.
        for attempt in 0..<5 {
            let temporary = "\(path).tmp-\(getpid())-\(attempt)-\(UInt32.random(in: 0...UInt32.max))"
            let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
            guard fd >= 0 else { throw Failure(exists: false, reason: String(cString: strerror(errno))) }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                lastReason = String(cString: strerror(errno))
                close(fd)
                continue
            }
            let text = "\(getpid())\n"
            _ = text.withCString { write(fd, $0, strlen($0)) }
            let linked = link(temporary, path) == 0
            let linkError = errno
            unlink(temporary)
            guard linked else {
                close(fd)
                throw Failure(exists: linkError == EEXIST, reason: String(cString: strerror(linkError)))
            }
            return OwnerLock(path: path, descriptor: fd)
        }
        throw Failure(exists: false, reason: "could not lock a new file beside \(path): \(lastReason)")
    }

    /// Tries to take the lock of an existing file without waiting. Only `.stale` means its owner is gone.
    public static func probe(_ path: String) -> Probe {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return errno == ENOENT ? .absent : .held }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return .held
        }
        // The file may have been released (unlinked) or replaced between our open and our flock: only a lock on
        // the file that is still at `path` proves anything.
        var ours = stat()
        var current = stat()
        guard fstat(fd, &ours) == 0 else {
            close(fd)
            return .held
        }
        guard lstat(path, &current) == 0 else {
            let missing = errno == ENOENT
            close(fd)
            return missing ? .absent : .held
        }
        guard ours.st_dev == current.st_dev, ours.st_ino == current.st_ino else {
            close(fd)
            return .held
        }
        return .stale(OwnerLock(path: path, descriptor: fd))
    }

    /// True when the file at `path` is locked by a live owner (this process included).
    public static func ownerIsAlive(_ path: String) -> Bool {
        switch probe(path) {
        case .held: return true
        case .absent: return false
        case .stale(let lock):
            lock.release(removingFile: false)
            return false
        }
    }

    /// Unlocks; with `removingFile`, first unlinks the file (while still holding the lock, so a sweeper never
    /// takes a lock on a file that is about to vanish). Safe to call more than once.
    public func release(removingFile: Bool = true) {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            if removingFile {
                // Only our own file: never one that replaced it.
                var ours = stat()
                var current = stat()
                if fstat(fd, &ours) == 0, lstat(path, &current) == 0, ours.st_dev == current.st_dev,
                    ours.st_ino == current.st_ino
                {
                    unlink(path)
                }
            }
            close(fd)
            fd = -1
        }
    }

    /// True until `release`.
    public var isHeld: Bool { descriptor.withLock { $0 >= 0 } }

    /// The same lock under a new path, after the file (or a directory holding it) was renamed; this object lets go
    /// of the descriptor without unlocking, so the lock is held throughout.
    public func moved(to newPath: String) -> OwnerLock {
        descriptor.withLock { fd in
            let moved = OwnerLock(path: newPath, descriptor: fd)
            fd = -1
            return moved
        }
    }
}
