import Foundation

/// The frame of every run that writes reports: the report directory checked before anything starts, the
/// server session (the embedded one, or `--dsn`), and no report after Ctrl-C. The scenario commands
/// (`ScenarioBatch`) and both matrices run inside it; the CLI keeps only printing and the exit code.
public struct RunPlan: Sendable {
    /// `--dsn` / REPRO_DSN; nil or empty: the embedded server.
    public var dsn: String?
    public var reportDirectory: String
    /// The first connection check's timeout, seconds (a silent port would otherwise take 5 s).
    public var connectTimeout: Int

    public init(dsn: String?, reportDirectory: String, connectTimeout: Int = 5) {
        self.dsn = dsn
        self.reportDirectory = reportDirectory
        self.connectTimeout = connectTimeout
    }

    /// Whether the run uses a server repro did not start.
    public var external: Bool { !(dsn ?? "").isEmpty }

    /// Installs the Ctrl-C handlers (from here on Ctrl-C stops the embedded server and puts back what the run
    /// changed), checks the report directory with a real file, opens the session, runs `body` in it and
    /// closes it. A run cut short by Ctrl-C never returns: the handler exits with 128 + signal, so no report
    /// is written.
    public func withSession<T>(_ body: (ReproSession) throws(RunError) -> T) throws(RunError) -> T {
        CleanupRegistry.shared.installSignalHandlers()
        try ReportWriter.prepare(directory: reportDirectory)
        let session = try ReproSession.open(dsn: external ? dsn : nil, connectTimeout: connectTimeout)
        defer { session.close() }
        let result = try body(session)
        CleanupRegistry.shared.parkIfInterrupted()
        return result
    }

    /// Writes `<name>.<ext>` files into the report directory as one set; returns their paths in order.
    public func write(_ files: [(name: String, data: Data)]) throws(RunError) -> [String] {
        let paths = files.map { reportDirectory + "/" + $0.name }
        try FileOutput.writeAll(zip(files, paths).map { ($0.data, $1) })
        return paths
    }
}

/// Scenarios run as one report: `repro all`, and each scenario subcommand (a batch of one). Every check that
/// needs no server comes first, then the run (`ReproSession.run`, up to `jobs` at a time), then the reports
/// and the GitHub step summary.
public struct ScenarioBatch: Sendable {
    public var scenarios: [Scenario]
    public var plan: RunPlan
    /// Report files are `<basename>.<ext>`.
    public var basename: String
    public var formats: [ReportFormat]
    public var jobs: Int
    public var failFast: Bool
    /// NODE_PATH for the Node adapters.
    public var nodePath: String?

    /// What a batch of scenarios wrote.
    public struct Outcome: Sendable {
        public var report: Report
        /// Paths of the report files, in the order written.
        public var written: [String]
    }

    public init(
        _ scenarios: [Scenario], dsn: String?, reportDirectory: String, basename: String, formats: [ReportFormat],
        jobs: Int = 1, failFast: Bool = false, nodePath: String? = nil
    ) {
        self.scenarios = scenarios
        // The first connection check honours --connect-timeout.
        let connectTimeout = scenarios.map(\.policy.connectTimeout).min() ?? 5
        plan = RunPlan(dsn: dsn, reportDirectory: reportDirectory, connectTimeout: connectTimeout)
        self.basename = basename
        self.formats = formats
        self.jobs = jobs
        self.failFast = failFast
        self.nodePath = nodePath
    }

    /// Report file name of a single scenario: its name and the pool under test (policy or driver).
    public static func basename(_ scenario: Scenario) -> String {
        "\(scenario.name)-\(scenario.driver?.name ?? scenario.policy.name)\(scenario.pattern == .held ? "-held" : "")"
    }

    /// Refuses, before any server is touched, what cannot run: every impossible scenario (one line each, with
    /// its file:line), for a batch every real stack it names that cannot run here (a single scenario's
    /// adapter says the same when it starts), and a Markdown report repro could not write.
    public func check() throws(RunError) {
        let refused = scenarios.compactMap { scenario -> String? in
            do throws(RunError) {
                try scenario.preflight(external: plan.external)
                return nil
            } catch {
                return error.message
            }
        }
        if !refused.isEmpty { throw .usage(refused.joined(separator: "\nrepro: ")) }
        if scenarios.count > 1 { try AdapterCatalog.preflight(scenarios, nodePath: nodePath) }
        // The Markdown report quotes the compiled-in drivers matrix: a copy that does not decode fails here, not
        // after the run.
        if formats.contains(.md) { _ = try MeasuredDrivers.report }
    }

    /// Checks, runs and writes the reports. `beforeWriting` sees the report first (the CLI prints it with
    /// `--json`); an expectation that failed is in `report.passed`, not an error.
    public func run(
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in },
        onResult: @escaping @Sendable (ScenarioResult) -> Void = { _ in },
        beforeWriting: (Report) throws(RunError) -> Void = { _ in }
    ) throws(RunError) -> Outcome {
        try check()
        return try plan.withSession { session throws(RunError) in
            let report = try session.run(
                scenarios, jobs: jobs, failFast: failFast, nodePath: nodePath, progress: progress,
                onResult: onResult)
            // A run cut short by Ctrl-C leaves no report: the handler exits with 128 + signal.
            CleanupRegistry.shared.parkIfInterrupted()
            try beforeWriting(report)
            let written = try ReportWriter.write(
                report, to: plan.reportDirectory, basename: basename, formats: formats)
            GitHubSummary.append(report)
            return Outcome(report: report, written: written)
        }
    }
}
