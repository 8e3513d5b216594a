import Foundation
import Synchronization

/// Creates directories and writes files with POSIX calls, so errors name the system's reason ("Not a directory",
/// "No space left on device") instead of a Foundation error code.
public enum FileOutput {
    /// `mkdir -p`.
    public static func makeDirectories(_ path: String) throws(RunError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw .environment("cannot create '\(current)': \(String(cString: strerror(errno)))")
            }
            var info = stat()
            if stat(current, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR {
                throw .environment("cannot create '\(path)': '\(current)' is not a directory")
            }
        }
    }

    /// Writes (replaces) a file atomically: a temporary file beside it, then rename, so a full disk or a
    /// Ctrl-C never leaves a truncated file in place of the old one.
    public static func write(_ data: Data, to path: String) throws(RunError) {
        try writeAll([(data, path)])
    }

    /// Writes several files as one set: every temporary file is complete before the first rename, so an
    /// interrupted or failed run leaves either the old set or the new one, never a report without its JSON.
    /// Paths that exist and are not regular files (`/dev/stdout`, a FIFO) are written in place, without
    /// blocking: a FIFO with no reader is an error, not a hang.
    public static func writeAll(_ files: [(Data, String)]) throws(RunError) {
        var staged: [(temp: String, path: String)] = []
        // Ctrl-C between writing and renaming: the signal handler removes the temporary files.
        let pending = Mutex<[String]>([])
        let token = CleanupRegistry.shared.register("remove temporary report files") {
            pending.withLock { $0.forEach { unlink($0) } }
        }
        defer { CleanupRegistry.shared.unregister(token) }
        do throws(RunError) {
            for (data, path) in files {
                var info = stat()
                if stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG {
                    try writeFile(data, to: path, flags: O_WRONLY | O_NONBLOCK, shownAs: path)
                    continue
                }
                let temp = path + ".tmp-\(getpid())"
                staged.append((temp, path))
                pending.withLock { $0.append(temp) }
                try writeFile(data, to: temp, flags: O_WRONLY | O_CREAT | O_TRUNC | O_EXCL, shownAs: path)
            }
            for s in staged {
                guard rename(s.temp, s.path) == 0 else {
                    throw RunError.environment("cannot write '\(s.path)': \(String(cString: strerror(errno)))")
                }
            }
            staged = []
            pending.withLock { $0.removeAll() }
        } catch {
            for s in staged { unlink(s.temp) }
            throw error
        }
    }

    /// Appends to a file, creating it; never blocks (a FIFO without a reader fails at once).
    public static func append(_ data: Data, to path: String) throws(RunError) {
        try writeFile(data, to: path, flags: O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK, shownAs: path)
    }

    /// Creates and removes a file in `directory`: `access()` says yes for /proc and read-only mounts as root.
    public static func probeWritable(_ directory: String) throws(RunError) {
        let probe = (directory as NSString).appendingPathComponent(".repro-write-probe-\(getpid())")
        try writeFile(Data(), to: probe, flags: O_WRONLY | O_CREAT | O_EXCL, shownAs: directory)
        unlink(probe)
    }

    /// One open, a write loop, close: errors name the system's reason.
    static func writeFile(_ data: Data, to path: String, flags: Int32, shownAs shown: String) throws(RunError) {
        let fd = open(path, flags | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .environment("cannot write '\(shown)': \(String(cString: strerror(errno)))") }
        let failed: Int32? = data.withUnsafeBytes { buffer -> Int32? in
            guard var p = buffer.baseAddress else { return nil }
            var left = buffer.count
            while left > 0 {
                let n = Glibc.write(fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                left -= n
                p += n
            }
            return nil
        }
        let closed = close(fd) == 0 ? nil : errno
        if let failed = failed ?? closed {
            throw .environment("cannot write '\(shown)': \(String(cString: strerror(failed)))")
        }
    }
}
