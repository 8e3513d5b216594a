import Foundation

import struct Foundation.Date

/// Runs every scenario against every policy preset on one server, and measures each policy's cost.
public struct Matrix: Sendable {
    public var scenarios: [MatrixScenario]
    public var policies: [PolicyPreset]
    public var seconds: Int
    public var poolSize: Int
    /// Borrows per policy for the cost table.
    public var costBorrows: Int

    /// `repro matrix --seconds`: the wait_timeout of the wait-timeout column.
    public static let secondsRange = 1...60
    /// `repro matrix --cost-borrows`.
    public static let costBorrowsRange = 10...1_000_000

    public init(
        scenarios: [MatrixScenario] = MatrixScenario.allCases, policies: [PolicyPreset] = PolicyPreset.allCases,
        seconds: Int = 1, poolSize: Int = 4, costBorrows: Int = 2000
    ) {
        self.scenarios = scenarios
        self.policies = policies
        self.seconds = seconds
        self.poolSize = poolSize
        self.costBorrows = costBorrows
    }

    /// The cell's scenario: named for its column, the policy is the preset (blackhole reads time out after 1 s).
    public func scenario(_ column: MatrixScenario, _ preset: PolicyPreset) -> Scenario {
        var policy = preset.policy
        if column.fault(seconds: seconds).kind == NetworkCutFault.kind {
            policy.readTimeout = column == .networkCutBlackhole ? 1 : 5
        }
        return Scenario(
            name: column.rawValue, fault: column.fault(seconds: seconds), policy: policy, poolSize: poolSize)
    }

    /// Runs every cell (policy-major), up to `jobs` at a time, then the cost measurements one at a time (they
    /// time borrows, so nothing else may run beside them); `onCell` sees each result as it lands, with the
    /// cell's label (`preset/column`, the name progress events carry).
    public func run(
        session: ReproSession, jobs: Int = 1, progress: @escaping @Sendable (RunProgress) -> Void = { _ in },
        onCell: @escaping @Sendable (String, ScenarioResult) -> Void = { _, _ in }
    ) throws(RunError) -> Report {
        let cells = policies.flatMap { preset in scenarios.map { (preset, $0) } }
        let planned = cells.map { scenario($0.1, $0.0) }
        let labels = cells.map { "\($0.0.rawValue)/\($0.1.rawValue)" }
        let outcome = ParallelRuns.run(
            count: planned.count, jobs: jobs, exclusive: { planned[$0].fault.needsServerAlone },
            onResult: { onCell(labels[$0], $1) }
        ) { index throws(RunError) in
            let label = labels[index]
            return try session.run(
                planned[index], with: session.runner { progress($0.labeled(label)) })
        }
        if let failure = outcome.failure { throw failure }
        var costs: [PolicyCost] = []
        for preset in policies {
            progress(.step(scenario: preset.rawValue, "measuring borrow cost (\(costBorrows) borrows)"))
            costs.append(try PolicyCost.measure(preset.policy, endpoint: session.endpoint, borrows: costBorrows))
        }
        var report = Report(
            server: session.serverInfo, client: ReproSession.clientInfo, scenarios: outcome.results.compactMap { $0 })
        report.policyCosts = costs
        return report
    }
}
