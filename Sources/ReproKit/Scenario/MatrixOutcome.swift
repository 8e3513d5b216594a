import Foundation

/// Whether a matrix cell counts as survived: every operation succeeded and no error reached the caller. Errors of
/// operations during the fault itself (operation 0: while a restarted server was down, every pool fails) do not
/// count: the question is what the pool does once the server is back.
extension ScenarioResult {
    public var survived: Bool { recovered && firstCallerErrorOnceBack == nil }

    /// The first error that reached the caller outside the fault itself: what a ✗ cell names.
    public var firstCallerErrorOnceBack: ObservedError? { errors.first { $0.handledBy == nil && !$0.duringFault } }
}

extension Report {
    /// For a matrix report: the policies that survived `scenario`, and those that did not; nil when it never ran.
    public func policyOutcome(scenario: String) -> (recovered: [String], failed: [String])? {
        let cells = scenarios.filter { $0.name == scenario }
        guard !cells.isEmpty else { return nil }
        return (cells.filter(\.survived).map(\.policy.name), cells.filter { !$0.survived }.map(\.policy.name))
    }
}
