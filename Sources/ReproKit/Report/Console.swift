import Foundation

/// Writes to stdout/stderr with write(2): a closed pipe (`repro ... | head`) stops the output, never the run.
///
/// FileHandle.write traps on EPIPE, which would skip every cleanup (server, firewall rules) on a closed pipe.
public enum Console {
    public static func out(_ text: String) { write(STDOUT_FILENO, Data(text.utf8)) }
    public static func out(_ data: Data) { write(STDOUT_FILENO, data) }
    public static func err(_ text: String) { write(STDERR_FILENO, Data(text.utf8)) }

    static func write(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { buffer in
            guard var p = buffer.baseAddress else { return }
            var left = buffer.count
            while left > 0 {
                let n = Glibc.write(fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    return  // EPIPE and friends: the reader is gone; drop the output.
                }
                left -= n
                p += n
            }
        }
    }
}
