import Foundation

/// Appends the Markdown summary table to `$GITHUB_STEP_SUMMARY` when GitHub Actions sets it.
public enum GitHubSummary {
    public static func append(_ report: Report, environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["GITHUB_STEP_SUMMARY"], !path.isEmpty else { return }
        let text = "## repro\n\n" + MarkdownRenderer.summaryTable(report) + "\n"
        // Never blocks and never stops the run: a summary that cannot be written is a warning; the reports and
        // the exit code stay what they are.
        do { try FileOutput.append(Data(text.utf8), to: path) } catch {
            Console.err("repro: warning: cannot append to GITHUB_STEP_SUMMARY: \(error.message); skipped\n")
        }
    }
}
