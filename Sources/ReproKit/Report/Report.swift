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

    public struct Client: Sendable, Equatable, Codable {
        public var library: String
        public var version: String

        public init(library: String, version: String) {
            self.library = library
            self.version = version
        }
    }

    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    public var tool: Tool
    public var generatedAt: String
    public var server: Server
    public var client: Client
    public var scenarios: [ScenarioResult]
    /// Matrix runs only: each policy's borrow cost on a healthy pool.
    public var policyCosts: [PolicyCost]?

    public init(server: Server, client: Client, scenarios: [ScenarioResult], generatedAt: Date = Date()) {
        self.schemaVersion = Self.currentSchemaVersion
        self.tool = Tool(name: ReproVersion.name, version: ReproVersion.version)
        self.generatedAt = ISO8601DateFormatter().string(from: generatedAt)
        self.server = server
        self.client = client
        self.scenarios = scenarios
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
        let report = try JSONDecoder().decode(Report.self, from: data)
        guard report.schemaVersion == currentSchemaVersion else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: [],
                    debugDescription:
                        "schema version \(report.schemaVersion) is not the \(currentSchemaVersion) this repro reads: use a matching repro version"
                ))
        }
        return report
    }
}
