import Foundation

/// What `repro bisect` found: one scenario on each release of one stack, oldest first, and where the outcome
/// changes ("fails up to 2.3.3, survives from 3.0.0").
public struct BisectReport: Sendable, Equatable, Codable {
    public static let schema = "repro-bisect/1"

    /// One release's run.
    public struct Row: Sendable, Equatable, Codable {
        /// The release asked for (`3.0.0`, `6.0.0+3.5.9`).
        public var version: String
        /// What the adapter loaded, read from the libraries' own metadata (`mysql2 3.0.0`).
        public var loaded: String
        public var survived: Bool
        public var operations: ScenarioResult.Operations
        /// The first error that reached the application, verbatim.
        public var firstError: DriversReport.ErrorFact?
        /// Errors the pool absorbed (validation, retry), distinct messages, at most 3.
        public var absorbed: [DriversReport.ErrorFact]

        public init(version: String, result: ScenarioResult) {
            self.version = version
            let client = result.client
            var text = "\(client.library) \(client.version)"
            if let pool = client.pool, let poolVersion = client.poolVersion, poolVersion != client.version,
                poolVersion != client.runtimeVersion
            {
                text += " under \(pool) \(poolVersion)"
            }
            if let runtime = client.runtime { text += " on \(runtime)\(client.runtimeVersion.map { " " + $0 } ?? "")" }
            loaded = text
            survived = result.survived
            operations = result.operations
            firstError = result.firstCallerErrorOnceBack.map(DriversReport.ErrorFact.init)
            var seen = Set<String>()
            absorbed = result.errors.filter { $0.handledBy != nil }.filter { seen.insert($0.message).inserted }
                .prefix(3).map(DriversReport.ErrorFact.init)
        }
    }

    public var schema = BisectReport.schema
    public var generatedAt: String
    public var repro: String
    public var server: Report.Server
    /// The stack (`node-mysql2`).
    public var driver: String
    /// The scenario's name (`kill-thread`) and the command line that describes it, when it came from one.
    public var scenario: String
    public var command: String?
    public var rows: [Row]
    /// One sentence: "fails up to 2.3.3, survives from 3.0.0", "no release survives", "every release survives", or
    /// where it goes back and forth.
    public var boundary: String
    /// The release from which every later one survives while every earlier one fails; nil when there is no such
    /// single change.
    public var fixedIn: String?
    /// `--expect-fixed-in`, and whether `fixedIn` is that release.
    public var expectFixedIn: String?
    public var passed: Bool

    public init(
        server: Report.Server, driver: String, scenario: String, command: String?, rows: [Row],
        expectFixedIn: String?, generatedAt: String = Report.timestamp()
    ) {
        self.generatedAt = generatedAt
        repro = ReproVersion.version
        self.server = server
        self.driver = driver
        self.scenario = scenario
        self.command = command
        self.rows = rows
        let found = Self.boundary(rows.map { ($0.version, $0.survived) })
        boundary = found.text
        fixedIn = found.fixedIn
        self.expectFixedIn = expectFixedIn
        passed = expectFixedIn.map { $0 == found.fixedIn } ?? true
    }

    /// Where the outcome changes along `outcomes` (oldest first): the sentence and the release that fixed it.
    public static func boundary(_ outcomes: [(version: String, survived: Bool)]) -> (text: String, fixedIn: String?) {
        guard !outcomes.isEmpty else { return ("no release ran", nil) }
        if outcomes.allSatisfy({ !$0.survived }) { return ("no release survives", nil) }
        if outcomes.allSatisfy(\.survived) { return ("every release survives", nil) }
        if let first = outcomes.firstIndex(where: \.survived), outcomes[first...].allSatisfy(\.survived) {
            return (
                "fails up to \(outcomes[first - 1].version), survives from \(outcomes[first].version)",
                outcomes[first].version
            )
        }
        var changes: [String] = []
        for i in 1..<outcomes.count where outcomes[i].survived != outcomes[i - 1].survived {
            changes.append(
                "\(outcomes[i].survived ? "survives" : "fails") from \(outcomes[i].version) (after \(outcomes[i - 1].version))"
            )
        }
        return (
            "no single boundary: \(outcomes[0].survived ? "survives" : "fails") on \(outcomes[0].version), then "
                + changes.joined(separator: ", "), nil
        )
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// The Markdown a person reads.
public enum BisectRenderer {
    public static func render(_ report: BisectReport) -> String {
        var out = "# \(report.driver): \(report.scenario) across releases\n\n"
        out += "**\(report.boundary.prefix(1).uppercased() + report.boundary.dropFirst()).**"
        if let expected = report.expectFixedIn {
            out +=
                report.passed ? " As expected (fixed in \(expected))." : " Expected fixed in \(expected): **not so**."
        }
        out += "\n\n"
        if let command = report.command { out += "Scenario: `\(command)`\n\n" }
        out += "MariaDB \(report.server.version), repro \(report.repro), \(report.generatedAt).\n\n"
        out +=
            "| release | loaded (from its metadata) | outcome | first error the application saw | absorbed by the pool |\n"
        out += "| --- | --- | --- | --- | --- |\n"
        for row in report.rows {
            let outcome =
                row.survived ? "✓ survived" : "✗ \(row.operations.failed) of \(row.operations.total) failed"
            let first = row.firstError.map { "`\(cell($0.message))` (\($0.phase.rawValue))" } ?? "—"
            let absorbed =
                row.absorbed.isEmpty ? "—" : row.absorbed.map { "`\(cell($0.message))`" }.joined(separator: "<br>")
            out += "| \(row.version) | \(cell(row.loaded)) | \(outcome) | \(first) | \(absorbed) |\n"
        }
        return out
    }

    private static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
