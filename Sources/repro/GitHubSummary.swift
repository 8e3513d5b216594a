import Foundation
import ReproKit

/// Appends the Markdown summary table to `$GITHUB_STEP_SUMMARY` when GitHub Actions sets it.
enum GitHubSummary {
    static func append(_ report: Report, environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["GITHUB_STEP_SUMMARY"], !path.isEmpty else { return }
        let text = "## repro\n\n" + MarkdownRenderer.summaryTable(report) + "\n"
        // Never blocks (a FIFO without a reader fails at once) and never stops the run: a summary that cannot
        // be written is a warning; the reports and the exit code stay what they are.
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            Console.err(
                "repro: warning: cannot append to GITHUB_STEP_SUMMARY (\(path)): \(String(cString: strerror(errno))); skipped\n"
            )
            return
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = n < 0 ? String(cString: strerror(errno)) : "nothing written"
                Console.err("repro: warning: cannot append to GITHUB_STEP_SUMMARY (\(path)): \(reason); skipped\n")
                return
            }
            offset += n
        }
    }
}
