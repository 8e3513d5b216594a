import Foundation
import ReproKit
import Synchronization

/// Shows run progress on stderr: one live line per scenario on a terminal, plain lines (idle every 5 s) otherwise.
final class ProgressPrinter: Sendable {
    private let enabled: Bool
    private let terminal: Bool
    /// (scenario, last plain idle line's elapsed seconds)
    private let lastPlain = Mutex<(String, Double)>(("", -100))
    private let started = ContinuousClock.now
    /// Seconds since start when the last plain operation line was printed.
    private let lastOperation = Mutex<Double>(0)

    init(quiet: Bool) {
        enabled = !quiet
        terminal = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    func handle(_ progress: RunProgress) {
        guard enabled else { return }
        switch progress {
        case .step(let scenario, let text):
            if terminal {
                write("\r\u{1B}[K▸ \(scenario): \(text)")
            } else {
                write("[\(scenario)] \(text)\n")
            }
        case .operation(let scenario, let index, let total):
            if terminal {
                write("\r\u{1B}[K▸ \(scenario): operation \(index) of \(total)")
            } else {
                // A line every 5 s at most: a blackholed pool can spend minutes here.
                let now = EventLog.milliseconds(ContinuousClock.now - started) / 1000
                let due = lastOperation.withLock { last -> Bool in
                    guard now - last >= 5 else { return false }
                    last = now
                    return true
                }
                if due && index > 1 { write("[\(scenario)] operation \(index) of \(total)\n") }
            }
        case .waiting(let scenario, let elapsed, let total, let reason):
            if terminal {
                let left = max(0, total - elapsed)
                write("\r\u{1B}[K▸ \(scenario): idle, \(String(format: "%.1f", left)) s left (\(reason))")
            } else {
                let due = lastPlain.withLock { state -> Bool in
                    if state.0 != scenario || elapsed - state.1 >= 5 || elapsed >= total {
                        state = (scenario, elapsed)
                        return true
                    }
                    return false
                }
                if due {
                    write(
                        "[\(scenario)] idle \(String(format: "%.1f", elapsed))/\(String(format: "%.1f", total)) s (\(reason))\n"
                    )
                }
            }
        }
    }

    /// The scenario's final line, replacing its live line on a terminal.
    func finished(_ result: ScenarioResult) {
        guard enabled else { return }
        let first =
            result.firstError.map { "\($0.label) at \($0.phase.rawValue)" }
            ?? "no error"
        let mark = result.expectations.isEmpty ? "•" : (result.passed ? "✓" : "✗")
        let unmet = result.expectations.filter { !$0.passed }.map {
            "\($0.name): expected \($0.expected), got \($0.actual)"
        }
        let tail = unmet.isEmpty ? "" : " — EXPECTATION FAILED: " + unmet.joined(separator: "; ")
        let line =
            "\(mark) \(result.name) [\(result.poolLabel)]: first error \(first); recovered \(result.recovered ? "yes" : "no") (\(result.operations.succeeded)/\(result.operations.total) ok), \(String(format: "%.1f", result.durationMs / 1000)) s\(tail)"
        write(terminal ? "\r\u{1B}[K\(line)\n" : "\(line)\n")
    }

    func line(_ text: String) {
        guard enabled else { return }
        write(text + "\n")
    }

    private func write(_ text: String) {
        // After Ctrl-C only the cleanup line is printed; a half-run's progress would mislead.
        guard !CleanupRegistry.shared.isInterrupted else { return }
        Console.err(text)
    }
}
