import Foundation
import ReproKit
import Synchronization

/// Shows run progress on stderr. On a terminal: one live line per running scenario (several with `--jobs`),
/// redrawn in place, and a permanent line when each one finishes. Otherwise plain lines, prefixed with the
/// scenario's name (idle and operation lines at most every 5 s per scenario).
final class ProgressPrinter: Sendable {
    private let enabled: Bool
    private let terminal: Bool

    private struct State {
        /// Live lines in the order their scenarios started: (scenario, text).
        var live: [(String, String)] = []
        /// Live lines currently on the screen, below the permanent output.
        var drawn = 0
        /// Per scenario: seconds since its first plain idle line / operation line was last printed.
        var lastIdle: [String: Double] = [:]
        var lastOperation: [String: Double] = [:]
    }

    private let state = Mutex(State())
    private let started = ContinuousClock.now

    init(quiet: Bool) {
        enabled = !quiet
        terminal = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    func handle(_ progress: RunProgress) {
        guard enabled else { return }
        let scenario = progress.scenario
        if terminal {
            let text: String
            switch progress {
            case .step(_, let step): text = step
            case .operation(_, let index, let total): text = "operation \(index) of \(total)"
            case .waiting(_, let elapsed, let total, let reason):
                text = "idle, \(String(format: "%.1f", max(0, total - elapsed))) s left (\(reason))"
            }
            redraw { state in
                if let i = state.live.firstIndex(where: { $0.0 == scenario }) {
                    // Nothing new to show (idle ticks of 0.25 s round to the same 0.1 s often): no repaint.
                    if state.live[i].1 == text { return nil }
                    state.live[i].1 = text
                } else {
                    state.live.append((scenario, text))
                }
                return []
            }
            return
        }
        let now = EventLog.milliseconds(ContinuousClock.now - started) / 1000
        switch progress {
        case .step(_, let text):
            write("[\(scenario)] \(text)\n")
        case .operation(_, let index, let total):
            // A line every 5 s at most: a blackholed pool can spend minutes here.
            let due = state.withLock { s -> Bool in
                guard now - (s.lastOperation[scenario] ?? 0) >= 5 else { return false }
                s.lastOperation[scenario] = now
                return true
            }
            if due && index > 1 { write("[\(scenario)] operation \(index) of \(total)\n") }
        case .waiting(_, let elapsed, let total, let reason):
            let due = state.withLock { s -> Bool in
                let quiet = s.lastIdle[scenario].map { now - $0 < 5 } ?? false
                guard !quiet || elapsed >= total else { return false }
                s.lastIdle[scenario] = now
                return true
            }
            if due {
                write(
                    "[\(scenario)] idle \(String(format: "%.1f", elapsed))/\(String(format: "%.1f", total)) s (\(reason))\n"
                )
            }
        }
    }

    /// The scenario's final line, replacing its live line on a terminal. `label` is the name its progress
    /// events carried (a matrix cell's `row/column`); by default the scenario's name.
    func finished(_ result: ScenarioResult, label: String? = nil) {
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
        done(label ?? result.name, line: line)
    }

    /// A permanent line for a finished job, replacing its live line on a terminal.
    func done(_ label: String, line: String) {
        guard enabled else { return }
        if terminal {
            redraw { state in
                state.live.removeAll { $0.0 == label }
                return [line]
            }
        } else {
            write(line + "\n")
        }
    }

    func line(_ text: String) {
        guard enabled else { return }
        if terminal {
            redraw { _ in [text] }
        } else {
            write(text + "\n")
        }
    }

    /// Applies `change` and repaints: the live block is erased, the permanent lines `change` returns are
    /// printed above it, then the live lines (cut to the terminal's width so each stays one row); nil from
    /// `change` means nothing changed. One write(2) per repaint, under the lock, so threads never interleave.
    private func redraw(_ change: (inout State) -> [String]?) {
        guard !CleanupRegistry.shared.isInterrupted else { return }
        let width = Self.columns()
        state.withLock { state in
            guard let permanent = change(&state) else { return }
            var out = state.drawn > 0 ? "\u{1B}[\(state.drawn)A\r\u{1B}[J" : "\r\u{1B}[K"
            for line in permanent { out += line + "\n" }
            for (scenario, text) in state.live {
                let full = "▸ \(scenario): \(text)"
                out += (full.count > width - 1 ? String(full.prefix(max(10, width - 2))) + "…" : full) + "\n"
            }
            state.drawn = state.live.count
            Console.err(out)
        }
    }

    /// The terminal's width in columns (80 when it cannot be read).
    private static func columns() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    private func write(_ text: String) {
        // After Ctrl-C only the cleanup line is printed; a half-run's progress would mislead.
        guard !CleanupRegistry.shared.isInterrupted else { return }
        Console.err(text)
    }
}
