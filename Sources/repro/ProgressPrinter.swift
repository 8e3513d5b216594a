import Foundation
import ReproKit
import Synchronization

/// Shows run progress on stderr: a live countdown on a terminal, a plain line every few seconds otherwise.
final class ProgressPrinter: Sendable {
    private let enabled: Bool
    private let terminal: Bool
    private let lastPlain = Mutex<(String, Double)>(("", -100))

    init(quiet: Bool) {
        enabled = !quiet
        terminal = isatty(STDERR_FILENO) == 1
    }

    func handle(_ progress: RunProgress) {
        guard enabled else { return }
        switch progress {
        case .step(let scenario, let text):
            endLine()
            write("[\(scenario)] \(text)\n")
        case .waiting(let scenario, let elapsed, let total, let reason):
            if terminal {
                let left = max(0, total - elapsed)
                write("\r\u{1B}[K[\(scenario)] idle \(String(format: "%.1f", left)) s left (\(reason))")
                if elapsed >= total { write("\n") }
            } else {
                let due = lastPlain.withLock { state -> Bool in
                    let fresh = state.0 != scenario
                    if fresh || elapsed - state.1 >= 5 || elapsed >= total {
                        state = (scenario, elapsed)
                        return fresh || elapsed < total || true
                    }
                    return false
                }
                if due {
                    write("[\(scenario)] idle \(String(format: "%.1f", elapsed))/\(String(format: "%.1f", total)) s (\(reason))\n")
                }
            }
        }
    }

    func line(_ text: String) {
        guard enabled else { return }
        write(text + "\n")
    }

    private func endLine() {}

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
