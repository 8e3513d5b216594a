/// What a running scenario tells its caller; the runner never prints, the CLI decides how to show it.
public enum RunProgress: Sendable {
    /// A step started ("warming 4 connections", "killing 4 server threads").
    case step(scenario: String, String)
    /// Operation `index` of `total` is about to run.
    case operation(scenario: String, index: Int, total: Int)
    /// Waiting: `elapsed` of `total` seconds.
    case waiting(scenario: String, elapsed: Double, total: Double, reason: String)
}
