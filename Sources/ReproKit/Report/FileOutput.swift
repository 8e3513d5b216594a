import Foundation

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

    /// Writes (replaces) a file.
    public static func write(_ data: Data, to path: String) throws(RunError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .environment("cannot write '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
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
        if let failed { throw .environment("cannot write '\(path)': \(String(cString: strerror(failed)))") }
    }
}
