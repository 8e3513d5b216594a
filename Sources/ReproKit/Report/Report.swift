import Foundation

/// The whole report: what ran where, and every scenario's result.
public struct Report: Sendable, Equatable, Codable {
    public struct Tool: Sendable, Equatable, Codable {
        public var name: String
        public var version: String
    }

    /// The server, described without credentials.
    public struct Server: Sendable, Equatable, Codable {
        public var version: String
        /// true when this tool started the server itself.
        public var managed: Bool
        public var address: String

        public init(version: String, managed: Bool, address: String) {
            self.version = version
            self.managed = managed
            self.address = address
        }
    }

    /// The client a scenario ran: repro's own pool over Connector/C, or a real driver stack in an adapter.
    public struct Client: Sendable, Equatable, Codable {
        /// The driver library (Connector/C, mysql2, go-sql-driver/mysql, ...).
        public var library: String
        public var version: String
        /// The pool: "repro" for repro's own, the real pool (mysql2 Pool, database/sql, HikariCP, ...).
        public var pool: String?
        public var poolVersion: String?
        public var runtime: String?
        public var runtimeVersion: String?
        /// The adapter that ran it (`--driver`); nil for repro's own pool.
        public var adapter: String?
        /// The pool's own settings as given (`--driver-option`).
        public var options: [String: String]?

        public init(
            library: String, version: String, pool: String? = nil, poolVersion: String? = nil, runtime: String? = nil,
            runtimeVersion: String? = nil, adapter: String? = nil, options: [String: String]? = nil
        ) {
            self.library = library
            self.version = version
            self.pool = pool
            self.poolVersion = poolVersion
            self.runtime = runtime
            self.runtimeVersion = runtimeVersion
            self.adapter = adapter
            self.options = options
        }

        /// One line: "mysql2 3.23.4, mysql2 Pool 3.23.4 on node 20.20.2 (maxIdle=3)".
        /// The release as `--driver NAME@VERSION` names it: the library's version, preceded by the pool's when the
        /// pool is a library of its own (HikariCP over Connector/J: `6.0.0+3.5.9`; not database/sql, whose version
        /// is Go's, nor mysql2's pool, whose version is mysql2's).
        public var releaseVersion: String {
            guard let poolVersion, poolVersion != version, poolVersion != runtimeVersion else { return version }
            return "\(poolVersion)+\(version)"
        }

        public var summary: String {
            var text = "\(library) \(version)"
            if let pool { text += ", \(pool)\(poolVersion.map { " \($0)" } ?? "")" }
            if let runtime { text += " on \(runtime)\(runtimeVersion.map { " \($0)" } ?? "")" }
            if let options, !options.isEmpty {
                let shown = options.keys.sorted().map { "\(Report.cut($0))=\(Report.cut(options[$0]!))" }
                text += " (\(shown.joined(separator: ", ")))"
            }
            return text
        }
    }

    /// A value of the user's shown in a line (a `--driver-option` key or value): at most `limit` characters,
    /// then "…(N characters)".
    public static func cut(_ text: String, limit: Int = 80) -> String {
        text.count > limit ? "\(text.prefix(limit))…(\(text.count) characters)" : text
    }

    /// `text` cut to at most `limit` characters, the last one an ellipsis: for a line that must fit a width.
    public static func ellipsized(_ text: String, limit: Int) -> String {
        text.count > limit ? String(text.prefix(max(0, limit - 1))) + "…" : text
    }

    /// `text` with every word (a run without spaces) longer than `limit` cut as `cut` does: an adapter's message
    /// that repeats a 300 KB key keeps its other words (the list of known keys).
    public static func cutLongWords(_ text: String, limit: Int = 120) -> String {
        guard text.count > limit else { return text }
        return text.split(separator: " ", omittingEmptySubsequences: false).map { word in
            word.count > limit ? cut(String(word), limit: limit) : String(word)
        }.joined(separator: " ")
    }

    public static let currentSchemaVersion = 3
    /// Versions `decode` reads: 1 lacks per-scenario clients and driver error details; 2 names repro's own client,
    /// policy and error codes even for a real driver's run.
    public static let readableSchemaVersions = 1...3

    public var schemaVersion: Int
    public var tool: Tool
    public var generatedAt: String
    public var server: Server
    /// repro's own client (Connector/C and its pool); nil when every scenario ran a real driver stack, which each
    /// scenario's `client` names.
    public var client: Client?
    public var scenarios: [ScenarioResult]
    /// Matrix runs only: each policy's borrow cost on a healthy pool.
    public var policyCosts: [PolicyCost]?

    public init(server: Server, client: Client, scenarios: [ScenarioResult], generatedAt: Date = Date()) {
        self.schemaVersion = Self.currentSchemaVersion
        self.tool = Tool(name: ReproVersion.name, version: ReproVersion.version)
        self.generatedAt = Self.timestamp(generatedAt)
        self.server = server
        // A report of real driver runs only does not claim repro's client.
        let onlyDrivers = !scenarios.isEmpty && scenarios.allSatisfy { $0.client.adapter != nil }
        self.client = onlyDrivers ? nil : client
        self.scenarios = scenarios
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion, tool, generatedAt, server, client, scenarios, policyCosts
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        tool = try c.decode(Tool.self, forKey: .tool)
        generatedAt = try c.decode(String.self, forKey: .generatedAt)
        server = try c.decode(Server.self, forKey: .server)
        client = try c.decodeIfPresent(Client.self, forKey: .client)
        scenarios = try c.decode([ScenarioResult].self, forKey: .scenarios)
        policyCosts = try c.decodeIfPresent([PolicyCost].self, forKey: .policyCosts)
    }

    /// `client` is written as `null` when absent, as every optional field is.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schemaVersion, forKey: .schemaVersion)
        try c.encode(tool, forKey: .tool)
        try c.encode(generatedAt, forKey: .generatedAt)
        try c.encode(server, forKey: .server)
        try c.encode(client, forKey: .client)
        try c.encode(scenarios, forKey: .scenarios)
        try c.encodeIfPresent(policyCosts, forKey: .policyCosts)
    }

    /// true when every scenario's expectations held.
    public var passed: Bool { scenarios.allSatisfy(\.passed) }

    /// Pretty, key-sorted JSON.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Reads a report written by `jsonData()`.
    public static func decode(_ data: Data) throws -> Report {
        var report = try JSONDecoder().decode(Report.self, from: data)
        guard readableSchemaVersions.contains(report.schemaVersion) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: [],
                    debugDescription:
                        "schema version \(report.schemaVersion) is not one this repro reads (\(readableSchemaVersions.lowerBound)–\(readableSchemaVersions.upperBound)): use a matching repro version"
                ))
        }
        if report.schemaVersion == 1, let client = report.client {
            for i in report.scenarios.indices { report.scenarios[i].client = client }
        }
        return report
    }
}

extension Sequence where Element: Hashable {
    /// The elements in their order, each once.
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
