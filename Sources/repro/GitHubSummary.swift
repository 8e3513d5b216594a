import Foundation
import ReproKit

/// Appends the Markdown summary table to `$GITHUB_STEP_SUMMARY` when GitHub Actions sets it.
enum GitHubSummary {
    static func append(_ report: Report, environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["GITHUB_STEP_SUMMARY"], !path.isEmpty else { return }
        let text = "## repro\n\n" + MarkdownRenderer.summaryTable(report) + "\n"
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            Console.err("repro: cannot append to GITHUB_STEP_SUMMARY (\(path)); skipped\n")
            return
        }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
    }
}
