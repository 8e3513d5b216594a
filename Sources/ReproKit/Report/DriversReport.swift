import Foundation

/// What `repro matrix --drivers` measured: real stacks and repro's presets × fault columns, compact enough to
/// commit (`docs/drivers.json`) and to build the error catalog's driver lines from.
public struct DriversReport: Sendable, Equatable, Codable {
    public static let schema = "repro-drivers/1"

    /// One error as the application (or the pool) saw it.
    public struct ErrorFact: Sendable, Equatable, Codable {
        /// Verbatim: the driver's message, or Connector/C's for repro's pool.
        public var message: String
        /// The report's one-phrase name (`2013 CR_SERVER_LOST`, `ECONNRESET (reset)`).
        public var label: String
        public var kind: ErrorKind
        public var phase: ErrorPhase
        /// The MySQL/Connector error number, or repro's code (-3 driver error, -4 hung).
        public var code: Int
        /// The driver's error class and code, when a real driver raised it.
        public var errorClass: String?
        public var driverCode: String?
        /// What absorbed it (validation, retry, keepalive, pool); nil when it reached the caller.
        public var handledBy: String?

        public init(_ e: ObservedError) {
            message = e.message
            label = e.label
            kind = e.kind
            phase = e.phase
            code = e.error.code.rawValue
            errorClass = e.driver?.errorClass
            driverCode = e.driver?.code
            handledBy = e.handledBy?.rawValue
        }
    }

    public struct Cell: Sendable, Equatable, Codable {
        public var column: MatrixColumn
        /// Every operation succeeded and no error reached the caller.
        public var survived: Bool
        public var operations: ScenarioResult.Operations
        /// The first error that reached the application, verbatim; while a restarted server was down every stack
        /// fails, so those errors are in `whileDownError` instead.
        public var firstError: ErrorFact?
        /// server-restart columns: what each operation tried while the server was down saw
        /// (`operation 1 failed with ECONNREFUSED after 2.1 ms`); nil in the other columns.
        public var whileDown: [String]?
        /// server-restart columns: the first error that reached the application while the server was down, verbatim.
        public var whileDownError: ErrorFact?
        /// Errors that reached the application after the first one, distinct messages in the order they came, at
        /// most 4 (the EPIPE after a "Connection lost", a follow-up's "closed state"); nil when there were none.
        public var laterErrors: [ErrorFact]?
        /// Errors the pool absorbed (validation, retry), distinct messages, at most 3.
        public var absorbed: [ErrorFact]
        /// What the real pool reported on its own (idle connection error events, log lines), at most 3.
        public var events: [String]
        /// From the fault to the first operation that succeeded, ms.
        public var recoveryMs: Double?
        /// From the fault to the first error seen (handled or not), ms.
        public var detectionMs: Double?
        /// The whole scenario, ms.
        public var durationMs: Double

        public init(column: MatrixColumn, result: ScenarioResult) {
            self.column = column
            survived = result.survived
            operations = result.operations
            firstError = result.firstCallerErrorOnceBack.map(ErrorFact.init)
            whileDown = result.duringFault.map { $0.map(\.description) }
            whileDownError = result.errors.first { $0.duringFault && $0.handledBy == nil }.map(ErrorFact.init)
            var reached = Set(firstError.map { [$0.message] } ?? [])
            let later = result.errors.filter {
                $0.handledBy == nil && !$0.duringFault && reached.insert($0.message).inserted
            }.prefix(4).map(ErrorFact.init)
            laterErrors = later.isEmpty ? nil : Array(later)
            var seen = Set<String>()
            absorbed = result.errors.filter { $0.handledBy != nil && seen.insert($0.message).inserted }.prefix(3).map(
                ErrorFact.init)
            // Distinct by shape: the same event on another connection (other thread id, port) is not news.
            var seenEvents = Set<String>()
            events = result.timeline.filter { $0.event == .driverEvent }.compactMap(\.detail).filter {
                seenEvents.insert(Self.shape($0)).inserted
            }.prefix(3).map { $0.count > 200 ? String($0.prefix(199)) + "…" : $0 }
            recoveryMs = result.recoveryMs
            detectionMs = result.detectionMs
            durationMs = result.durationMs
        }

        /// Digits runs masked: messages that differ only in ids, ports or timings have one shape.
        public static func shape(_ text: String) -> String {
            var out = ""
            var lastWasDigit = false
            for ch in text {
                if ch.isNumber {
                    if !lastWasDigit { out.append("#") }
                    lastWasDigit = true
                } else {
                    out.append(ch)
                    lastWasDigit = false
                }
            }
            return out
        }

        /// The cell in a few characters: `✓ 212 ms` or `✗ hung`.
        public var mark: String {
            if survived { return "✓" + (recoveryMs.map { String(format: " %.0f ms", $0) } ?? "") }
            return "✗"
        }
    }

    public struct Column: Sendable, Equatable, Codable {
        public var id: MatrixColumn
        public var title: String
        public var fault: String
        /// How the fault's moment relates to the thresholds the configurations set (`MatrixColumn.timing`); nil in
        /// reports from before it was stated.
        public var timing: String?

        public init(_ column: MatrixColumn, settings: DriversMatrix.Settings) {
            id = column
            title = column.title
            fault = column.fault(settings).summary
            timing = column.timing(settings)
        }
    }

    public struct Row: Sendable, Equatable, Codable {
        /// `node-mysql2 default`, `go-sql recommended`, `repro go-sql`.
        public var id: String
        /// The adapter, or the preset for repro's rows.
        public var stack: String
        /// `default`, `recommended`, or `preset`.
        public var config: String
        public var options: [String: String]
        /// Seconds an operation could take before it was recorded as hung (real stacks).
        public var deadline: Double?
        /// Library, pool, runtime and their versions as the adapter reported them.
        public var client: Report.Client
        /// For a preset: the real stack it claims to behave like (its default configuration).
        public var modeledOn: String?
        /// Where the configuration comes from, or what the preset models.
        public var note: String
        /// For a preset: its knobs.
        public var policy: String?
        public var cells: [Cell]
        /// This row's timing when it is not the matrix's: a stack whose settings refuse the matrix's short
        /// thresholds (HikariCP) runs longer columns; nil: `DriversReport.settings`.
        public var timing: DriversMatrix.Settings?

        public var isModel: Bool { config == "preset" }

        /// The stack as tables show it: `node-mysql2`, or `node-mysql2@2.2.5` for an older release's row.
        public var stackLabel: String {
            id.hasSuffix(" \(config)") ? String(id.dropLast(config.count + 1)) : stack
        }

        public func cell(_ column: MatrixColumn) -> Cell? { cells.first { $0.column == column } }

        /// The adapter this row ran (`node-mysql2` of `node-mysql2@2.2.5`).
        public var adapter: String { client.adapter ?? String(stackLabel.split(separator: "@").first ?? "") }

        /// The release the row ran, as its adapter read it from the libraries' metadata: `3.1.0`, or the pool's
        /// and its driver's, `6.0.0+3.5.9`, when the pool is a library of its own.
        public var release: String { client.releaseVersion }
    }

    /// Where a newer release of a stack, in the same configuration, changes a column's outcome: ✓ ↔ ✗, another
    /// first error, or another number of failed operations. Oldest release first within each stack and configuration.
    public struct ReleaseChange: Sendable, Equatable {
        public var adapter: String
        public var config: String
        public var column: MatrixColumn
        public var before: (release: String, cell: Cell)
        public var after: (release: String, cell: Cell)

        public static func == (a: ReleaseChange, b: ReleaseChange) -> Bool {
            a.adapter == b.adapter && a.config == b.config && a.column == b.column
                && a.before.release == b.before.release && a.after.release == b.after.release
        }
    }

    /// An error as releases are compared: its code and its text with every number as `N`, so a connection id
    /// (`(conn=1703)`) or a versioned documentation link (`sqlalche.me/e/14/…`) is no change.
    static func errorShape(_ e: ErrorFact) -> String {
        var out = "\(e.code) "
        var inNumber = false
        for c in e.message {
            if c.isNumber {
                if !inNumber { out.append("N") }
                inNumber = true
            } else {
                out.append(c)
                inNumber = false
            }
        }
        return out
    }

    /// Every change of outcome between consecutive releases of a stack in one configuration; and the stacks and
    /// configurations measured on more than one release (those the changes are drawn from), with their releases.
    public func releaseChanges() -> (
        changes: [ReleaseChange], compared: [(adapter: String, config: String, releases: [String])]
    ) {
        var groups: [String: [Row]] = [:]
        var order: [String] = []
        for row in rows where !row.isModel {
            let key = row.adapter + " " + row.config
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(row)
        }
        var changes: [ReleaseChange] = []
        var compared: [(adapter: String, config: String, releases: [String])] = []
        for key in order {
            let group = (groups[key] ?? []).sorted {
                DriverReleases.compareVersions($0.release, $1.release) == .orderedAscending
            }
            guard group.count > 1, let first = group.first else { continue }
            compared.append((first.adapter, first.config, group.map(\.release)))
            for column in columns.map(\.id) {
                for (older, newer) in zip(group, group.dropFirst()) {
                    guard let a = older.cell(column), let b = newer.cell(column) else { continue }
                    let differs =
                        a.survived != b.survived
                        || (!a.survived && !b.survived
                            && (a.firstError.map(Self.errorShape) != b.firstError.map(Self.errorShape)
                                || a.operations.failed != b.operations.failed))
                    if differs {
                        changes.append(
                            ReleaseChange(
                                adapter: first.adapter, config: first.config, column: column,
                                before: (older.release, a), after: (newer.release, b)))
                    }
                }
            }
        }
        return (changes, compared)
    }

    public var schema: String
    public var generatedAt: String
    public var repro: String
    public var server: Report.Server
    public var settings: DriversMatrix.Settings
    public var columns: [Column]
    public var rows: [Row]
    /// The `repro` command that reproduces each cell, keyed `row id|column`.
    public var commands: [String: String]
    /// The plan's identity (`DriversMatrix.planID`): shards of one plan share it; nil in reports from before it.
    public var plan: String?
    /// The slice of the plan this report ran (`--shard K/N`); nil: every cell (an unsharded or a merged run).
    public var shard: MatrixShard?

    public init(
        generatedAt: String, repro: String, server: Report.Server, settings: DriversMatrix.Settings,
        columns: [Column], rows: [Row], commands: [String: String]
    ) {
        self.schema = Self.schema
        self.generatedAt = generatedAt
        self.repro = repro
        self.server = server
        self.settings = settings
        self.columns = columns
        self.rows = rows
        self.commands = commands
    }

    public func row(_ id: String) -> Row? { rows.first { $0.id == id } }

    /// Pretty, key-sorted JSON.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> DriversReport {
        let report = try JSONDecoder().decode(DriversReport.self, from: data)
        guard report.schema == schema else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: [],
                    debugDescription:
                        "drivers report schema '\(report.schema)' is not '\(schema)': regenerate it with make drivers-matrix"
                ))
        }
        return report
    }

    /// Every distinct message seen in any cell (reaching the caller or absorbed), with where it was seen and the
    /// catalog entry it belongs to.
    public var observedMessages: [(message: String, row: Row, column: MatrixColumn, reachedCaller: Bool, entry: String)]
    {
        var out: [(String, Row, MatrixColumn, Bool, String)] = []
        for row in rows {
            for cell in row.cells {
                let entry = cell.column.catalogEntry
                if let e = cell.firstError { out.append((e.message, row, cell.column, true, entry)) }
                for e in cell.laterErrors ?? [] { out.append((e.message, row, cell.column, true, entry)) }
                for e in cell.absorbed { out.append((e.message, row, cell.column, false, entry)) }
                if let e = cell.whileDownError, let down = cell.column.whileDownEntry(for: e) {
                    out.append((e.message, row, cell.column, true, down))
                }
            }
        }
        return out
    }
}

extension Report {
    /// ISO 8601 now, as reports stamp it.
    public static func timestamp(_ date: Date = Date()) -> String { ISO8601DateFormatter().string(from: date) }
}
