import Foundation
import Yams

/// One column of a matrix: a fault with its timing, its workload and its words, read from `matrix/columns.yaml`
/// (compiled in). Nothing in Swift names a column to decide what it does: a new column is one entry in that file.
///
/// The fault is written as a scenario file's `fault:` mapping, so it is read and checked by the fault kind's own
/// reader (`ScenarioFile.fault`), and each of its keys is also the flag of the fault's subcommand: that is how a
/// cell writes the `repro …` line that reproduces it.
public struct MatrixColumn: Sendable, Hashable, Codable, CustomStringConvertible {
    /// How long the warm pool idles before the fault.
    public enum Idle: String, Sendable {
        /// The matrix's idle time (`Settings.idle`): a KILL or a restart comes at any moment.
        case matrix
        /// Past every threshold a configuration sets (`Settings.cutIdle`), as a middlebox's idle timeout is.
        case cut
        /// 2 s past the middlebox's own idle timeout (`Settings.middleboxTimeout`).
        case middlebox
    }

    /// The matrices a column belongs to.
    public enum Membership: String, Sendable {
        /// `repro matrix`: repro's own pool with every preset.
        case policy
        /// `repro matrix --drivers`: the real stacks and the presets that model them.
        case drivers
    }

    /// The column's name in reports, `--scenarios` and cell ids.
    public let id: String
    /// What the column does, in a few words, for the table's legend.
    public let title: String
    /// The fault's scenario-file keys and their values, in the file's order; `${name}` is a matrix setting.
    public let faultKeys: [FaultKey]
    public let idleMode: Idle
    public let pattern: WorkloadPattern
    /// Operations after the fault; nil: the pool size + 1.
    public let operations: Int?
    /// repro's pool reads with the matrix's short read timeout (or the modeled pool's own) in this column.
    public let shortReadTimeout: Bool
    /// The catalog entry that explains this column's errors (in the restart columns: the errors once the server was
    /// back, from connections it closed when it went away).
    public let catalogEntry: String
    /// How the fault's moment relates to the thresholds configurations set, with `${setting}` placeholders.
    public let timingTemplate: String
    public let membership: [Membership]
    /// What the fault is, whatever the timing: its kind's traits, read from the fault built at the default settings.
    public let restartsServer: Bool
    /// The column suspends the application: its operations run inside the pool's process as it resumes.
    public let freezes: Bool
    /// The fault uses the scenario's idle time (`--idle`).
    let usesIdle: Bool
    /// A restart with operations tried while the server was down.
    public let hasWhileDown: Bool
    /// The fault cuts through the kernel whatever the matrix's `via` (a freeze during a half-open cut: the proxy's
    /// own kernel would answer the stopped application's keepalive probes).
    public let cutsThroughKernel: Bool

    /// One key of the fault's mapping.
    public struct FaultKey: Sendable, Hashable {
        public let key: String
        public let value: String
    }

    public var description: String { id }
    /// The column's name, as the enums it replaces spelled it.
    public var rawValue: String { id }

    public static func == (a: MatrixColumn, b: MatrixColumn) -> Bool { a.id == b.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    /// A column by name, when it is one.
    public init?(rawValue: String) {
        guard let column = Self.all.first(where: { $0.id == rawValue }) else { return nil }
        self = column
    }

    /// A column that `matrix/columns.yaml` defines; the code names only columns other code is about (a fault's own
    /// column, a starter scenario's).
    static func named(_ id: String) -> MatrixColumn {
        guard let column = MatrixColumn(rawValue: id) else {
            let custom = ProcessInfo.processInfo.environment["REPRO_MATRIX_COLUMNS"].map {
                "REPRO_MATRIX_COLUMNS \($0)"
            }
            Console.err(
                "repro: the matrix columns (\(custom ?? "matrix/columns.yaml, compiled in")) have no column '\(id)': keep every column of matrix/columns.yaml in your file\n"
            )
            exit(custom == nil ? 70 : 2)
        }
        return column
    }

    /// Saved reports name their columns; a name this build does not know is refused, naming it.
    public init(from decoder: any Decoder) throws {
        let id = try decoder.singleValueContainer().decode(String.self)
        guard let column = MatrixColumn(rawValue: id) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription:
                        "column '\(id)' is not one this repro knows (\(Self.all.map(\.id).joined(separator: ", "))): use the repro that wrote the report"
                ))
        }
        self = column
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(id)
    }

    // MARK: - The columns

    /// Every column, in the order tables show them.
    /// `REPRO_MATRIX_COLUMNS` names a columns file to use instead of the compiled-in one: a column of your own,
    /// run and reported without rebuilding repro (reports that name it read back only with the same file).
    public static let all: [MatrixColumn] = {
        if let path = ProcessInfo.processInfo.environment["REPRO_MATRIX_COLUMNS"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path) else {
                Console.err("repro: REPRO_MATRIX_COLUMNS '\(path)' cannot be read: check the path, or unset it\n")
                exit(2)
            }
            do { return try load(String(decoding: data, as: UTF8.self)) } catch {
                Console.err(
                    "repro: REPRO_MATRIX_COLUMNS \(path): \(error): fix the file (matrix/columns.yaml shows the format)\n"
                )
                exit(2)
            }
        }
        do { return try load(MatrixColumnsData.yaml) } catch {
            Console.err("repro: matrix/columns.yaml compiled into repro does not load: \(error): rebuild repro\n")
            exit(70)
        }
    }()

    /// The columns of `repro matrix --drivers`.
    public static var allCases: [MatrixColumn] { all.filter { $0.membership.contains(.drivers) } }
    /// The columns of `repro matrix` (repro's own pool, every preset).
    public static var policyColumns: [MatrixColumn] { all.filter { $0.membership.contains(.policy) } }

    // The columns other code is about by name.
    public static var waitTimeout: MatrixColumn { named("wait-timeout") }
    public static var killThread: MatrixColumn { named("kill-thread") }
    public static var killThreadBusy: MatrixColumn { named("kill-thread-busy") }
    public static var networkCutReset: MatrixColumn { named("network-cut-reset") }
    public static var networkCutClose: MatrixColumn { named("network-cut-close") }
    public static var networkCutHalfOpen: MatrixColumn { named("network-cut-half-open") }
    public static var networkCutBlackhole: MatrixColumn { named("network-cut-blackhole") }
    public static var held: MatrixColumn { named("held-kill-thread") }
    public static var serverRestartGraceful: MatrixColumn { named("server-restart-graceful") }
    public static var serverRestartCrash: MatrixColumn { named("server-restart-crash") }
    public static var serverRestartQuiet: MatrixColumn { named("server-restart-quiet") }
    public static var freezeWaitTimeout: MatrixColumn { named("freeze-wait-timeout") }
    public static var freezeKillThread: MatrixColumn { named("freeze-kill-thread") }
    public static var freezeNetworkCutHalfOpen: MatrixColumn { named("freeze-network-cut-half-open") }
    public static var natIdleTimeout: MatrixColumn { named("nat-idle-timeout") }
    public static var haproxyIdleTimeout: MatrixColumn { named("haproxy-idle-timeout") }

    /// The drivers-matrix column that measures `fault` with `pattern`, if one does: same kind and pattern, and every
    /// scenario-file key equal to the column's at the default settings, except the keys the column fills from the
    /// matrix's settings and the kind's timing keys (how long, how many). The first such column.
    public static func measuring(_ fault: Fault, pattern: WorkloadPattern) -> MatrixColumn? {
        let values = Dictionary(fault.fileValues.map { ($0.key, $0.value) }) { a, _ in a }
        let timing = type(of: fault.base).timingKeys
        return allCases.first { column in
            guard column.pattern == pattern else { return false }
            let probe = column.fault(DriversMatrix.Settings())
            guard probe.kind == fault.kind else { return false }
            let theirs = Dictionary(probe.fileValues.map { ($0.key, $0.value) }) { a, _ in a }
            let templated = Set(column.faultKeys.filter { $0.value.contains("${") }.map(\.key))
            let keys = Set(values.keys).union(theirs.keys).subtracting(templated).subtracting(timing)
            return keys.allSatisfy { values[$0] == theirs[$0] }
        }
    }

    /// Parses a comma-separated list of column names; the error names the bad one and the allowed ones.
    public static func parseList(_ text: String, from columns: [MatrixColumn] = allCases) throws(RunError)
        -> [MatrixColumn]
    {
        var out: [MatrixColumn] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let column = columns.first(where: { $0.id == part }) else {
                throw .usage(
                    "--scenarios '\(part)' is unknown: use any of \(columns.map(\.id).joined(separator: ", "))")
            }
            if !out.contains(column) { out.append(column) }
        }
        if out.isEmpty { throw .usage("--scenarios is empty: name at least one scenario") }
        return out
    }

    // MARK: - A column at a matrix's settings

    /// The values `${name}` stands for: the settings of the row's cells, and the row's own host keepalive time.
    static func variables(_ settings: DriversMatrix.Settings, hostKeepaliveTime: Int? = nil) -> [String: String] {
        var v: [String: String] = [
            "waitTimeout": "\(settings.waitTimeout)", "freezeFor": "\(settings.waitTimeout + 1)",
            "middleboxTimeout": "\(settings.middleboxTimeout)", "via": settings.via.rawValue,
            "threshold": DriversMatrix.format(settings.threshold), "idle": DriversMatrix.format(settings.idle),
            "cutIdle": DriversMatrix.format(settings.cutIdle),
        ]
        if let hostKeepaliveTime { v["hostKeepaliveTime"] = "\(hostKeepaliveTime)" }
        return v
    }

    /// Every name `${…}` may use; a row's own are optional (a key whose value names an absent one is left out).
    static let settingNames: Set<String> = [
        "waitTimeout", "freezeFor", "middleboxTimeout", "via", "threshold", "idle", "cutIdle",
    ]
    static let rowNames: Set<String> = ["hostKeepaliveTime"]

    /// The fault's keys with the settings filled in; a key naming a row setting the row does not have is left out.
    func resolvedKeys(_ settings: DriversMatrix.Settings, hostKeepaliveTime: Int? = nil) -> [FaultKey] {
        let values = Self.variables(settings, hostKeepaliveTime: hostKeepaliveTime)
        return faultKeys.compactMap { key in
            Self.substitute(key.value, values).map { FaultKey(key: key.key, value: $0) }
        }
    }

    /// The fault this column injects at these settings.
    public func fault(_ settings: DriversMatrix.Settings, hostKeepaliveTime: Int? = nil) -> Fault {
        let keys = resolvedKeys(settings, hostKeepaliveTime: hostKeepaliveTime)
        do { return try ScenarioFile.fault(keys.map { ($0.key, $0.value) }, file: "matrix/columns.yaml") } catch {
            // Loading checked the keys at the default settings; a setting outside a kind's limits ends here.
            Console.err(
                "repro: column \(id) at these settings: \(error.problems.map(\.message).joined(separator: "; "))\n")
            exit(70)
        }
    }

    /// How long the warm pool idles in this column at these settings.
    public func idle(_ settings: DriversMatrix.Settings) -> Double {
        switch idleMode {
        case .matrix: settings.idle
        case .cut: settings.cutIdle
        case .middlebox: Double(settings.middleboxTimeout + 2)
        }
    }

    /// Columns whose fault is a middlebox's own idle timeout.
    public var isMiddlebox: Bool { idleMode == .middlebox }

    /// How the fault's moment relates to the thresholds configurations set, at these settings.
    public func timing(_ settings: DriversMatrix.Settings) -> String {
        Self.substitute(timingTemplate, Self.variables(settings)) ?? timingTemplate
    }

    /// The catalog entry of the errors operations saw while the server was down (restart columns with traffic):
    /// a refused connect is `cannot-connect`; a client that kept its dead connection and never tried to connect
    /// again (a PHP worker's PDO, a pool handing out what it holds) saw that connection's own error, which is the
    /// column's entry.
    public func whileDownEntry(for error: DriversReport.ErrorFact) -> String? {
        guard hasWhileDown else { return nil }
        return error.kind == .refused ? "cannot-connect" : catalogEntry
    }

    /// The words of the `repro …` line for this column's fault, without the row's: the subcommand, a flag per fault
    /// key, the pattern and the idle time.
    public func faultArguments(_ settings: DriversMatrix.Settings, hostKeepaliveTime: Int? = nil) -> [String] {
        let keys = resolvedKeys(settings, hostKeepaliveTime: hostKeepaliveTime)
        var words: [String] = []
        for key in keys {
            if key.key == "kind" { words.insert(key.value, at: 0) } else { words += ["--" + key.key, key.value] }
        }
        if pattern != .pool { words += ["--pattern", pattern.rawValue] }
        if usesIdle && idle(settings) != Scenario.defaultIdleSeconds {
            words += ["--idle", DriversMatrix.format(idle(settings))]
        }
        return words
    }

    /// `text` with every `${name}` replaced; nil when a name has no value.
    static func substitute(_ text: String, _ values: [String: String]) -> String? {
        var out = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                return out + rest[start.lowerBound...]
            }
            guard let value = values[String(rest[start.upperBound..<end])] else { return nil }
            out += value
            rest = rest[rest.index(after: end)...]
        }
        return out + rest
    }

    /// Every `${name}` in `text`.
    static func placeholders(_ text: String) -> [String] {
        var names: [String] = []
        var rest = Substring(text)
        while let start = rest.range(of: "${"), let end = rest[start.upperBound...].firstIndex(of: "}") {
            names.append(String(rest[start.upperBound..<end]))
            rest = rest[rest.index(after: end)...]
        }
        return names
    }

    // MARK: - Reading the file

    /// A problem in the columns file: the column and what is wrong.
    public struct LoadError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    static let keys: Set<String> = [
        "id", "title", "fault", "idle", "pattern", "operations", "readTimeout", "catalog", "timing", "in",
    ]

    /// Reads the columns; every column's fault is built at the default settings and checked by its kind's reader.
    public static func load(_ yaml: String) throws -> [MatrixColumn] {
        guard let root = try Yams.compose(yaml: yaml), let entries = root.sequence else {
            throw LoadError(message: "the file is not a list of columns")
        }
        var out: [MatrixColumn] = []
        for (index, entry) in entries.enumerated() {
            guard let map = entry.mapping else { throw LoadError(message: "entry \(index + 1) is not a mapping") }
            func text(_ key: String) -> String? { map[key]?.scalar?.string }
            guard let id = text("id"), !id.isEmpty else { throw LoadError(message: "entry \(index + 1) has no id") }
            func fail(_ message: String) -> LoadError { LoadError(message: "column \(id): \(message)") }
            for key in map.keys.compactMap(\.scalar?.string) where !keys.contains(key) {
                throw fail("unknown key '\(key)': use \(keys.sorted().joined(separator: ", "))")
            }
            if out.contains(where: { $0.id == id }) { throw fail("defined twice") }
            guard let title = text("title"), let catalog = text("catalog"), let timing = text("timing") else {
                throw fail("title, catalog and timing are required")
            }
            guard let faultMap = map["fault"]?.mapping else { throw fail("fault is required, as a mapping") }
            var faultKeys: [FaultKey] = []
            for (key, value) in faultMap {
                guard let k = key.scalar?.string, let v = value.scalar?.string else {
                    throw fail("fault keys take scalar values")
                }
                faultKeys.append(FaultKey(key: k, value: v))
            }
            for name in faultKeys.flatMap({ placeholders($0.value) }) + placeholders(timing)
            where !settingNames.contains(name) && !rowNames.contains(name) {
                throw fail(
                    "${\(name)} is not a setting: use \((settingNames.union(rowNames)).sorted().joined(separator: ", "))"
                )
            }
            let idle = try text("idle").map { t throws -> Idle in
                guard let v = Idle(rawValue: t) else { throw fail("idle '\(t)': use matrix, cut or middlebox") }
                return v
            }
            let pattern = try text("pattern").map { t throws -> WorkloadPattern in
                guard let v = WorkloadPattern(rawValue: t) else { throw fail("pattern '\(t)' is unknown") }
                return v
            }
            let operations = try text("operations").map { t throws -> Int in
                guard let v = Int(t), Scenario.operationsRange.contains(v) else { throw fail("operations '\(t)'") }
                return v
            }
            let readTimeout = text("readTimeout")
            if let readTimeout, readTimeout != "short" { throw fail("readTimeout '\(readTimeout)': use short") }
            guard let members = map["in"]?.sequence, !members.isEmpty else { throw fail("in is required: a list") }
            let membership = try members.map { node throws -> Membership in
                guard let t = node.scalar?.string, let m = Membership(rawValue: t) else {
                    throw fail("in: use policy and/or drivers")
                }
                return m
            }
            guard ErrorCatalog.entries.contains(where: { $0.id == catalog }) else {
                throw fail("catalog '\(catalog)' is not an entry of the error catalog")
            }
            // The fault at the default settings (a row's own settings given): checked by the kind's own reader.
            let probeKeys = faultKeys.compactMap { key in
                substitute(key.value, variables(DriversMatrix.Settings(), hostKeepaliveTime: 1)).map { (key.key, $0) }
            }
            let probe: Fault
            do { probe = try ScenarioFile.fault(probeKeys, file: "matrix/columns.yaml") } catch {
                throw fail(error.problems.map(\.message).joined(separator: "; "))
            }
            out.append(
                MatrixColumn(
                    id: id, title: title, faultKeys: faultKeys, idleMode: idle ?? .matrix, pattern: pattern ?? .pool,
                    operations: operations, shortReadTimeout: readTimeout != nil, catalogEntry: catalog,
                    timingTemplate: timing, membership: membership, restartsServer: probe.needsServerAlone,
                    freezes: probe.base.suspendsPool, usesIdle: probe.base.usesIdle,
                    hasWhileDown: (probe.as(ServerRestartFault.self)?.tries ?? 0) > 0,
                    cutsThroughKernel: probe.as(FreezeFault.self)?.cutsThroughKernel ?? false))
        }
        return out
    }

    init(
        id: String, title: String, faultKeys: [FaultKey], idleMode: Idle, pattern: WorkloadPattern, operations: Int?,
        shortReadTimeout: Bool, catalogEntry: String, timingTemplate: String, membership: [Membership],
        restartsServer: Bool, freezes: Bool, usesIdle: Bool, hasWhileDown: Bool, cutsThroughKernel: Bool
    ) {
        self.cutsThroughKernel = cutsThroughKernel
        self.id = id
        self.title = title
        self.faultKeys = faultKeys
        self.idleMode = idleMode
        self.pattern = pattern
        self.operations = operations
        self.shortReadTimeout = shortReadTimeout
        self.catalogEntry = catalogEntry
        self.timingTemplate = timingTemplate
        self.membership = membership
        self.restartsServer = restartsServer
        self.freezes = freezes
        self.usesIdle = usesIdle
        self.hasWhileDown = hasWhileDown
    }
}
