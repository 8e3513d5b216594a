import Foundation
import Synchronization

/// Writes to stdout/stderr with write(2): a closed pipe (`repro ... | head`) stops the output, never the run.
///
/// FileHandle.write traps on EPIPE, which would skip every cleanup (server, firewall rules) on a closed pipe.
public enum Console {
    private static let failure = Mutex<String?>(nil)
    /// stdout was closed when repro started (`>&-`): what is written to it is lost.
    private static let stdoutClosed = Atomic<Bool>(false)

    /// Call first thing: a standard descriptor the caller closed (`2>&-`) is reopened on /dev/null, so that no file
    /// or socket the run opens later becomes "stderr" and receives progress lines. Output to a closed stderr is
    /// dropped (the run's exit code is its own); output to a closed stdout is lost output, as before.
    public static func adoptClosedStandardDescriptors() {
        for fd in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            // open(2) returns the lowest free descriptor: this one, as the lower ones are open by now.
            let null = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY)
            if null >= 0 && null != fd {
                dup2(null, fd)
                close(null)
            }
            if fd == STDOUT_FILENO { stdoutClosed.store(true, ordering: .relaxed) }
        }
    }

    /// Why output could not be written (a full disk, an I/O error), if it happened; a closed pipe is not a failure.
    public static var writeFailure: String? { failure.withLock { $0 } }

    public static func out(_ text: String) { write(STDOUT_FILENO, Data(text.utf8)) }
    public static func out(_ data: Data) { write(STDOUT_FILENO, data) }
    /// One line to stdout in a single write(2), so lines from several threads never interleave.
    public static func line(_ text: String) { write(STDOUT_FILENO, Data((text + "\n").utf8)) }
    public static func err(_ text: String) { write(STDERR_FILENO, Data(text.utf8)) }

    static func write(_ fd: Int32, _ data: Data) {
        if fd == STDOUT_FILENO, !data.isEmpty, stdoutClosed.load(ordering: .relaxed) {
            failure.withLock { if $0 == nil { $0 = "stdout is closed" } }
            return
        }
        data.withUnsafeBytes { buffer in
            guard var p = buffer.baseAddress else { return }
            var left = buffer.count
            while left > 0 {
                let n = Glibc.write(fd, p, left)
                if n < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    // EPIPE: the reader is gone, which is how `| head` ends; anything else lost output for real.
                    if code != EPIPE {
                        let reason = String(cString: strerror(code))
                        failure.withLock { if $0 == nil { $0 = reason } }
                    }
                    return
                }
                left -= n
                p += n
            }
        }
    }
}
