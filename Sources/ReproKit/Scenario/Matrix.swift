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
        if case .networkCut = column.fault(seconds: seconds) {
            policy.readTimeout = column == .networkCutBlackhole ? 1 : 5
        }
        return Scenario(
            name: column.rawValue, fault: column.fault(seconds: seconds), policy: policy, poolSize: poolSize)
    }

    /// Runs every cell (policy-major) and the cost measurements; `onCell` sees each result as it lands.
    public func run(
        session: ReproSession, progress: @escaping @Sendable (RunProgress) -> Void = { _ in },
        onCell: (ScenarioResult) -> Void = { _ in }
    ) throws(RunError) -> Report {
        let runner = ScenarioRunner(endpoint: session.endpoint, progress: progress)
        var results: [ScenarioResult] = []
        var costs: [PolicyCost] = []
        for preset in policies {
            for column in scenarios {
                let result = try session.run(scenario(column, preset), with: runner)
                results.append(result)
                onCell(result)
            }
            progress(.step(scenario: preset.rawValue, "measuring borrow cost (\(costBorrows) borrows)"))
            costs.append(try PolicyCost.measure(preset.policy, endpoint: session.endpoint, borrows: costBorrows))
        }
        var report = Report(server: session.serverInfo, client: ReproSession.clientInfo, scenarios: results)
        report.policyCosts = costs
        return report
    }
}
