import Foundation

import struct Foundation.Date

/// Runs every scenario against every policy preset on one server, and measures each policy's cost: the drivers
/// matrix's plan with a row per preset (`DriversMatrix.Row.policy`) and the policy matrix's columns and timing.
public struct Matrix: Sendable {
    public var scenarios: [MatrixColumn]
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
        scenarios: [MatrixColumn] = MatrixColumn.policyColumns, policies: [PolicyPreset] = PolicyPreset.allCases,
        seconds: Int = 1, poolSize: Int = 4, costBorrows: Int = 2000
    ) {
        self.scenarios = scenarios
        self.policies = policies
        self.seconds = seconds
        self.poolSize = poolSize
        self.costBorrows = costBorrows
    }

    /// The plan: a row per preset, the columns, the policy matrix's timing.
    public var plan: DriversMatrix {
        DriversMatrix(
            rows: policies.map(DriversMatrix.Row.policy), columns: scenarios,
            settings: .policyMatrix(seconds: seconds, poolSize: poolSize))
    }

    /// The cell's scenario: named for its column, the policy is the preset (blackhole reads time out after 1 s).
    public func scenario(_ column: MatrixColumn, _ preset: PolicyPreset) -> Scenario {
        plan.scenario(.policy(preset), column)
    }

    /// The `repro` command that reproduces one cell.
    public func command(_ column: MatrixColumn, _ preset: PolicyPreset) -> String {
        plan.command(.policy(preset), column)
    }

    /// Runs every cell (policy-major), up to `jobs` at a time, then the cost measurements one at a time (they
    /// time borrows, so nothing else may run beside them); `onCell` sees each result as it lands, with the
    /// cell's label (`preset/column`, the name progress events carry).
    public func run(
        session: ReproSession, jobs: Int = 1, progress: @escaping @Sendable (RunProgress) -> Void = { _ in },
        onCell: @escaping @Sendable (String, ScenarioResult) -> Void = { _, _ in }
    ) throws(RunError) -> Report {
        let cells = plan.cells
        let results = try DriversMatrix.run(
            cells, session: session, nodePath: nil, jobs: jobs, progress: progress, onCell: { onCell($0.id, $1) })
        var costs: [PolicyCost] = []
        for preset in policies {
            progress(.step(scenario: preset.rawValue, "measuring borrow cost (\(costBorrows) borrows)"))
            costs.append(try PolicyCost.measure(preset.policy, endpoint: session.endpoint, borrows: costBorrows))
        }
        var report = Report(
            server: session.serverInfo, client: ReproSession.clientInfo, scenarios: cells.compactMap { results[$0.id] })
        report.policyCosts = costs
        return report
    }
}
