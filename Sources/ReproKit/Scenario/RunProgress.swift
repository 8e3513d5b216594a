/// What a running scenario tells its caller; the runner never prints, the CLI decides how to show it.
public enum RunProgress: Sendable {
    /// A step started ("warming 4 connections", "killing 4 server threads").
    case step(scenario: String, String)
    /// Operation `index` of `total` is about to run.
    case operation(scenario: String, index: Int, total: Int)
    /// Waiting: `elapsed` of `total` seconds.
    case waiting(scenario: String, elapsed: Double, total: Double, reason: String)
}

extension RunProgress {
    /// The scenario the event is about.
    public var scenario: String {
        switch self {
        case .step(let scenario, _), .operation(let scenario, _, _), .waiting(let scenario, _, _, _): scenario
        }
    }

    /// The same event under another name: matrix cells share their column's scenario name, and with `--jobs`
    /// the progress display needs one name per running cell (`row/column`).
    public func labeled(_ label: String) -> RunProgress {
        switch self {
        case .step(_, let text): .step(scenario: label, text)
        case .operation(_, let index, let total): .operation(scenario: label, index: index, total: total)
        case .waiting(_, let elapsed, let total, let reason):
            .waiting(scenario: label, elapsed: elapsed, total: total, reason: reason)
        }
    }
}
