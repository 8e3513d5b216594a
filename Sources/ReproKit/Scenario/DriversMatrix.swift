import Foundation

/// Configurations of the real stacks: the defaults, what each library's own documentation recommends against
/// stale connections (scaled to the matrix's timing: thresholds below its wait_timeout), and for mysql2 each
/// setting and application pattern people are told to use, one at a time.
public enum DriverConfig: String, CaseIterable, Sendable, Codable {
    case `default`
    case recommended
    /// mysql2: TCP keepalive alone (`enableKeepAlive`, `keepAliveInitialDelay`).
    case keepAlive = "keepalive"
    /// mysql2: the idle sweep alone (`maxIdle` below `connectionLimit`, `idleTimeout`).
    case idleSweep = "idle-sweep"
    /// The application pings what it borrowed and borrows again when the ping fails.
    case pingBeforeUse = "ping-before-use"
    /// The application destroys the connection after a fatal query error and runs the operation again.
    case retryQuery = "retry-query"
    /// The application calls getConnection once more when it fails ("destroy and retry").
    case retryGetConnection = "retry-get-connection"
    /// Connections kept across requests or jobs: Django `CONN_MAX_AGE=60` (its default closes them after every
    /// request), PHP `PDO::ATTR_PERSISTENT`.
    case persistent

    /// The configurations every stack has.
    public static let standard: [DriverConfig] = [.default, .recommended]

    /// The columns of a keepalive row of a stack other than mysql2, and of repro's keepalive preset.
    public static let keepaliveColumns: [MatrixColumn] = [.networkCutHalfOpen, .natIdleTimeout, .haproxyIdleTimeout]

    /// What this configuration is for `adapter` at `version` (nil: the installed release), from the stack's
    /// manifest (`adapters/<name>/matrix.json`): its options and note at these settings, its columns, its host
    /// keepalive time and its caveats; nil when the configuration does not apply to that stack.
    public func plan(adapter: String, settings: DriversMatrix.Settings, version: String? = nil) -> ConfigPlan? {
        let manifest = AdapterManifest.of(adapter)
        let every = manifest?.everyConfig
        let fill = { (text: String) in AdapterManifest.fill(text, settings) }
        var options = (every?.options ?? [:])
        let suffix = every.map { fill($0.note) } ?? ""
        guard let variant = manifest?.variant(rawValue, version: version) else {
            switch self {
            case .default: return ConfigPlan(options: options, note: "the library's defaults" + suffix)
            case .recommended:
                return ConfigPlan(options: options, note: "no recommendation known to repro: the defaults" + suffix)
            default: return nil
            }
        }
        for (key, value) in variant.options where options[key] == nil { options[key] = fill(value) }
        var note = fill(variant.note) + suffix
        if let version, let manifest {
            for caveat in manifest.caveats(variant, version: version) { note += "; " + caveat }
        }
        return ConfigPlan(
            options: options, note: note, columns: variant.columns?.compactMap(MatrixColumn.init(rawValue:)),
            hostKeepaliveTime: variant.hostKeepaliveTime.flatMap { Int(fill($0)) })
    }

    /// A configuration of one stack at one release and settings.
    public struct ConfigPlan: Sendable, Equatable {
        public var options: [String: String]
        public var note: String
        /// The only columns its rows run; nil: all.
        public var columns: [MatrixColumn]? = nil
        /// The application host's `net.ipv4.tcp_keepalive_time` in the NAT column (`--keepalive-time`).
        public var hostKeepaliveTime: Int? = nil
    }

    /// The shortest threshold (s) a stack accepts for this configuration's settings, when the matrix's is too short
    /// to mean anything (HikariCP refuses `maxLifetime` and `keepaliveTime` below 30000 ms): such a row runs its
    /// columns at `Settings.scaled(toThreshold:)`. From the stack's manifest.
    public func minimumThreshold(adapter: String, version: String?) -> Double? {
        AdapterManifest.of(adapter)?.variant(rawValue, version: version)?.minimumThreshold
    }

    /// Seconds the stack's own default timeouts may legitimately take to get past a blackhole with every pooled
    /// connection dead, so a cell is "hung" only when no timeout of the library's own fired (the manifest's
    /// `ownTimeout`: mysqljs pings a free connection with `acquireTimeout`, HikariCP validates with
    /// `validationTimeout` within `connectionTimeout`). The other stacks have no default timeout on an
    /// established connection.
    public static func ownTimeoutBound(adapter: String, poolSize: Int) -> (seconds: Double, why: String)? {
        AdapterManifest.of(adapter)?.ownTimeout.map { ($0.bound(poolSize: poolSize), $0.why) }
    }
}

extension PolicyPreset {
    /// The read timeout the modeled pool's validation uses by default (seconds), so the preset meets a
    /// blackhole as that pool does; nil when the modeled pool has none (the matrix then uses a short one).
    public var modeledReadTimeout: Int? {
        switch self {
        case .pingOnBorrow: 10
        case .pingIfIdle: 5
        default: nil
        }
    }
}

/// Runs every fault column against real driver stacks (adapters) in their default and recommended
/// configurations, and against repro's presets that claim to model them, on one server.
public struct DriversMatrix: Sendable {
    /// The timing every cell shares.
    public struct Settings: Sendable, Equatable, Codable {
        /// The session wait_timeout of the wait-timeout column, seconds.
        public var waitTimeout: Int
        /// Seconds the warm pool sits unused before a kill or a cut.
        public var idle: Double
        /// Seconds an adapter's operation may take before it is recorded as hung (bounds blackhole cells).
        public var deadline: Double
        public var poolSize: Int
        /// How network cuts (except close) are made: the kernel's packet filter or repro's proxy.
        public var via: CutVia
        /// Read timeout of repro's own pool in the columns with a short one (blackhole), whole seconds.
        public var presetReadTimeout: Int
        /// Seconds the pool idles before a cut when not `cutIdle`'s rule (the policy matrix: its idle time).
        public var cutIdleSeconds: Double?
        /// false: a preset reads with `presetReadTimeout` in those columns, not with the modeled pool's own timeout
        /// (the policy matrix); nil: true.
        public var modeledReadTimeouts: Bool?

        public init(
            waitTimeout: Int = 3, idle: Double = 1, deadline: Double = 3, poolSize: Int = 4, via: CutVia = .kernel,
            presetReadTimeout: Int = 2, cutIdleSeconds: Double? = nil, modeledReadTimeouts: Bool? = nil
        ) {
            self.waitTimeout = waitTimeout
            self.idle = idle
            self.deadline = deadline
            self.poolSize = poolSize
            self.via = via
            self.presetReadTimeout = presetReadTimeout
            self.cutIdleSeconds = cutIdleSeconds
            self.modeledReadTimeouts = modeledReadTimeouts
        }

        /// The policy matrix's timing: a wait_timeout of `seconds`, every idle fault after the default idle time,
        /// cuts through repro's proxy, blackhole reads time out after 1 s.
        public static func policyMatrix(seconds: Int, poolSize: Int) -> Settings {
            Settings(
                waitTimeout: seconds, idle: Scenario.defaultIdleSeconds, poolSize: poolSize, via: .proxy,
                presetReadTimeout: 1, cutIdleSeconds: Scenario.defaultIdleSeconds, modeledReadTimeouts: false)
        }

        /// The idle/lifetime threshold recommended configurations use: below the wait_timeout, as documented.
        public var threshold: Double { max(1, Double(waitTimeout) - 1) }

        /// Seconds the pool idles before a cut: past the threshold by 3 s, so every idle sweep (mysql2 checks each
        /// second), lifetime cleaner (database/sql's runs every lifetime) and keepalive delay set at the threshold
        /// has had its turn, as a middlebox's idle timeout is above them in the real world.
        public var cutIdle: Double { cutIdleSeconds ?? max(idle, threshold + 3) }

        /// These settings scaled up so `threshold` is at least `seconds`: for a stack that refuses thresholds as
        /// short as the matrix's (HikariCP: 30 s at least), its longer columns.
        public func scaled(toThreshold seconds: Double?) -> Settings {
            guard let seconds, seconds > threshold else { return self }
            var out = self
            out.waitTimeout = Int(seconds.rounded(.up)) + 1
            return out
        }

        /// The middlebox columns' idle timeout (s): above every threshold, keepalive interval and recovery time of
        /// the pools measured, as a cloud middlebox's minutes are — HikariCP validating a pool of 4 dead
        /// connections takes 20 s (validationTimeout 5 s each), Go's default dialer keepalive is 15 s, HikariCP's
        /// keepaliveTime is 30 s at least. Shorter, a pool busy validating dead connections lets its fresh ones
        /// idle into the timeout too (measured with 3 s and 8 s), which no real NAT's 240-350 s produces.
        public var middleboxTimeout: Int { Self.middleboxTimeout(waitTimeout: waitTimeout) }

        public static func middleboxTimeout(waitTimeout: Int) -> Int { max(32, waitTimeout + 1) }
    }

    /// One row: a real stack in one configuration, or a repro preset.
    public struct Row: Sendable, Equatable {
        public var id: String
        public var driver: DriverChoice?
        public var preset: PolicyPreset?
        public var config: String
        public var note: String
        /// The only columns this row runs (nil: every column of the matrix); its other cells stay empty.
        public var only: [MatrixColumn]?
        /// The application host's `net.ipv4.tcp_keepalive_time` in the NAT column (`--keepalive-time`); nil: the
        /// kernel's default.
        public var hostKeepaliveTime: Int? = nil
        /// The threshold this row's configuration needs when the matrix's is shorter than the stack accepts: its
        /// cells run at the matrix's settings scaled to it (`DriversMatrix.settings(for:)`).
        public var threshold: Double? = nil

        /// True when this row runs `column`.
        public func runs(_ column: MatrixColumn) -> Bool { only?.contains(column) ?? true }

        /// The row of `adapter` in `config`; nil when the configuration does not apply to that stack.
        public static func real(
            _ adapter: String, _ config: DriverConfig, settings: Settings, library: LibraryVersion? = nil
        ) -> Row? {
            let threshold = config.minimumThreshold(adapter: adapter, version: library?.primaryVersion)
                .flatMap { $0 > settings.threshold ? $0 : nil }
            let settings = settings.scaled(toThreshold: threshold)
            guard let chosen = config.plan(adapter: adapter, settings: settings, version: library?.primaryVersion)
            else { return nil }
            let options = chosen.options
            var note = chosen.note
            var deadline = settings.deadline
            if let bound = DriverConfig.ownTimeoutBound(adapter: adapter, poolSize: settings.poolSize),
                bound.seconds + 5 > deadline
            {
                deadline = bound.seconds + 5
                note += "; deadline \(DriversMatrix.format(deadline)) s: \(bound.why)"
            }
            var driver = DriverChoice(name: adapter, options: options, deadline: deadline)
            driver.libraryPath = library?.libraryPath
            driver.version = library?.version
            return Row(
                id: "\(adapter)\(library.map { "@" + $0.version } ?? "") \(config.rawValue)", driver: driver,
                preset: nil, config: config.rawValue, note: note, only: chosen.columns,
                hostKeepaliveTime: chosen.hostKeepaliveTime, threshold: threshold)
        }

        public static func model(_ preset: PolicyPreset) -> Row {
            // repro's keepalive preset models no one stack; it is measured where keepalive can matter.
            Row(
                id: "repro \(preset.rawValue)", driver: nil, preset: preset, config: "preset",
                note: preset.summary, only: preset == .keepalive ? DriverConfig.keepaliveColumns : nil)
        }

        /// A row of the policy matrix: the preset in every column, named by the preset alone.
        public static func policy(_ preset: PolicyPreset) -> Row {
            Row(id: preset.rawValue, driver: nil, preset: preset, config: "preset", note: preset.summary, only: nil)
        }
    }

    public var rows: [Row]
    public var columns: [MatrixColumn]
    public var settings: Settings

    public init(rows: [Row], columns: [MatrixColumn] = MatrixColumn.allCases, settings: Settings = Settings()) {
        self.rows = rows
        self.columns = columns
        self.settings = settings
    }

    /// A release of a library other than the one the run finds by default: where it is and its version (`3.1.0`,
    /// `6.0.0+3.5.9`; read from its own package metadata by the adapter's `check`).
    public struct LibraryVersion: Sendable, Equatable {
        public var adapter: String
        public var version: String
        public var libraryPath: String

        public init(adapter: String, version: String, libraryPath: String) {
            self.adapter = adapter
            self.version = version
            self.libraryPath = libraryPath
        }

        /// The first library's version (`6.0.0` of `6.0.0+3.5.9`): the one a recommendation depends on.
        public var primaryVersion: String { String(version.split(separator: "+").first ?? "") }
    }

    /// Rows for `adapters` in `configs` (and for each extra library version, after its adapter's own rows), then
    /// every preset that claims to model one of them (or `presets`).
    public static func rows(
        adapters: [String], configs: [DriverConfig], presets: [PolicyPreset]? = nil, settings: Settings,
        versions: [LibraryVersion] = []
    ) -> [Row] {
        var rows: [Row] = []
        for adapter in adapters {
            // Older releases: the library's defaults and its recommendation, to see which release fixed what.
            for library in versions where library.adapter == adapter {
                for config in configs where DriverConfig.standard.contains(config) {
                    if let row = Row.real(adapter, config, settings: settings, library: library) { rows.append(row) }
                }
            }
            for config in configs {
                if let row = Row.real(adapter, config, settings: settings) { rows.append(row) }
            }
        }
        let models =
            presets
            ?? PolicyPreset.allCases.filter {
                $0.modeledOn.map(adapters.contains) ?? ($0 == .keepalive && configs.contains(.keepAlive))
            }
        rows += models.map(Row.model)
        return rows
    }

    /// The timing of `row`'s cells: the matrix's, or scaled to the row's own threshold.
    public func settings(for row: Row) -> Settings { settings.scaled(toThreshold: row.threshold) }

    /// One cell of the plan: a row in a column, with its id (`row id/column id`, the name progress events carry),
    /// its scenario and the `repro` line that reproduces it.
    public struct Cell: Sendable {
        public var id: String
        public var row: Row
        public var column: MatrixColumn
        public var scenario: Scenario
        public var command: String
    }

    /// Every cell, row by row, each row's columns in the matrix's order.
    public var cells: [Cell] { rows.flatMap { row in columns.filter(row.runs).map { cell(row, $0) } } }

    public func cell(_ row: Row, _ column: MatrixColumn) -> Cell {
        Cell(
            id: "\(row.id)/\(column.id)", row: row, column: column, scenario: scenario(row, column),
            command: command(row, column))
    }

    /// The plan's identity: its settings, cells and their command lines. Shards of one plan have the same one,
    /// whichever machine ran them (library paths are not part of it).
    public var planID: String {
        var text = "\(settings)"
        for cell in cells { text += "\n\(cell.id)\t\(cell.command)" }
        return stableHash(text)
    }

    /// The read timeout repro's pool uses in a column with a short one: the modeled pool's own, or the matrix's.
    func shortReadTimeout(_ row: Row, _ settings: Settings) -> Int {
        ((settings.modeledReadTimeouts ?? true) ? row.preset?.modeledReadTimeout : nil) ?? settings.presetReadTimeout
    }

    /// The scenario of one cell: the column's fault at the row's settings, the row's pool.
    public func scenario(_ row: Row, _ column: MatrixColumn) -> Scenario {
        let settings = settings(for: row)
        let fault = column.fault(settings, hostKeepaliveTime: row.hostKeepaliveTime)
        var policy = row.preset?.policy ?? PoolPolicy(name: "driver")
        // As the cell's command line gives it: the short one where the column says so, else the fault's default.
        if column.shortReadTimeout {
            policy.readTimeout = shortReadTimeout(row, settings)
        } else if let timeout = fault.base.defaultReadTimeout {
            policy.readTimeout = timeout
        }
        return Scenario(
            name: column.id, fault: fault, policy: policy, poolSize: settings.poolSize, operations: column.operations,
            driver: row.driver, pattern: column.pattern, idleSeconds: column.idle(settings))
    }

    /// The `repro` command that reproduces one cell: the column's fault words, then the row's pool.
    public func command(_ row: Row, _ column: MatrixColumn) -> String {
        let settings = settings(for: row)
        var parts = ["repro"] + column.faultArguments(settings, hostKeepaliveTime: row.hostKeepaliveTime)
        if let driver = row.driver {
            // A release other than the installed one goes by its version: repro finds it among the staged ones.
            parts += ["--driver", driver.name + (driver.version.map { "@" + $0 } ?? "")]
            for key in driver.options.keys.sorted() { parts += ["--driver-option", "\(key)=\(driver.options[key]!)"] }
            parts += ["--driver-deadline", DriversMatrix.format(driver.deadline)]
        } else if let preset = row.preset {
            parts += ["--policy", preset.rawValue]
            if column.shortReadTimeout { parts += ["--read-timeout", "\(shortReadTimeout(row, settings))"] }
        }
        return parts.joined(separator: " ")
    }

    /// Runs `cells` up to `jobs` at a time on one session; cells that need the server alone (restarts) run after
    /// all the others, each alone: one of them between two slow cells (a blackhole waits out its deadlines) would
    /// hold every job slot idle until the slow one ended. `onCell` sees each result as it lands. Results by cell id.
    public static func run(
        _ cells: [Cell], session: ReproSession, nodePath: String?, jobs: Int,
        progress: @escaping @Sendable (RunProgress) -> Void, onCell: @escaping @Sendable (Cell, ScenarioResult) -> Void
    ) throws(RunError) -> [String: ScenarioResult] {
        let order =
            cells.indices.filter { !cells[$0].scenario.fault.needsServerAlone }
            + cells.indices.filter { cells[$0].scenario.fault.needsServerAlone }
        let ran = ParallelRuns.run(
            count: order.count, jobs: jobs, exclusive: { cells[order[$0]].scenario.fault.needsServerAlone },
            onResult: { onCell(cells[order[$0]], $1) }
        ) { position throws(RunError) in
            let cell = cells[order[position]]
            return try session.run(
                cell.scenario, with: session.runner(nodePath: nodePath) { progress($0.labeled(cell.id)) })
        }
        if let failure = ran.failure { throw failure }
        var results: [String: ScenarioResult] = [:]
        for (position, index) in order.enumerated() { results[cells[index].id] = ran.results[position] }
        return results
    }

    /// Runs every cell (of `shard` only, when given), row by row, up to `jobs` at a time; `onCell` sees each
    /// result as it lands. Rows keep their order; a shard's report has every row and command, and its own cells.
    public func run(
        session: ReproSession, nodePath: String?, jobs: Int = 1, shard: MatrixShard? = nil,
        progress: @escaping @Sendable (RunProgress) -> Void = { _ in },
        onCell: @escaping @Sendable (Cell, ScenarioResult) -> Void = { _, _ in }
    ) throws(RunError) -> DriversReport {
        let all = cells
        let chosen = shard.map { $0.select(all) } ?? all
        let results = try Self.run(
            chosen, session: session, nodePath: nodePath, jobs: jobs, progress: progress, onCell: onCell)
        var out: [DriversReport.Row] = []
        for row in rows {
            var cells: [DriversReport.Cell] = []
            var client: Report.Client?
            for column in columns where row.runs(column) {
                guard let result = results["\(row.id)/\(column.id)"] else { continue }
                client = client ?? result.client
                cells.append(DriversReport.Cell(column: column, result: result))
            }
            out.append(
                DriversReport.Row(
                    id: row.id, stack: row.driver?.name ?? row.preset?.rawValue ?? row.id,
                    config: row.config, options: row.driver?.options ?? [:], deadline: row.driver?.deadline,
                    client: client ?? ReproSession.clientInfo, modeledOn: row.preset?.modeledOn, note: row.note,
                    policy: row.preset.map { $0.policy.summary }, cells: cells,
                    timing: row.threshold == nil ? nil : settings(for: row)))
        }
        var report = DriversReport(
            generatedAt: Report.timestamp(), repro: ReproVersion.version, server: session.serverInfo,
            settings: settings, columns: columns.map { DriversReport.Column($0, settings: settings) }, rows: out,
            commands: Dictionary(uniqueKeysWithValues: all.map { ("\($0.row.id)|\($0.column.id)", $0.command) }))
        report.plan = planID
        report.shard = shard
        return report
    }

    public static func format(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e15 else { return String(seconds) }
        return seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
