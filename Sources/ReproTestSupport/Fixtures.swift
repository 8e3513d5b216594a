import Foundation
import ReproKit

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// A result shaped like a real naive wait-timeout run, built by hand so the renderers can be pinned without a server.
public func sampleResult(recovered: Bool = false) -> ScenarioResult {
    let gone = DatabaseError(code: .serverGone, sqlState: "HY000", message: "Server has gone away")
    let error = ObservedError(error: gone, phase: .query, atMs: 2503, connection: 4, threadID: 7, operation: 1)
    let ops = [
        OperationRecord(
            index: 1, succeeded: recovered, atMs: 2503, durationMs: 0.2, attempts: 1, connection: 4,
            error: recovered ? nil : error),
        OperationRecord(index: 2, succeeded: true, atMs: 2504, durationMs: 0.6, attempts: 1, connection: 5, error: nil),
    ]
    let expectations = Expectations(firstError: [.serverGone, .serverLost], phase: .query, recovered: false)
        .evaluate(firstError: error, recovered: recovered)
    return ScenarioResult(
        name: "wait-timeout-naive", client: ReproSession.clientInfo, pattern: .pool, idleBeforeOperationsMs: 2501,
        kind: "wait-timeout", description: "Idle pool after wait_timeout",
        policy: PolicyPreset.naive.policy, poolSize: 4,
        parameters: ["seconds": "2", "margin": "0.5", "scope": "session", "operations": "2"], firstError: error,
        errors: [error], recovered: recovered,
        operations: .init(total: 2, succeeded: recovered ? 2 : 1, failed: recovered ? 0 : 1), operationResults: ops,
        faultAtMs: 2002, detectionMs: 501, recoveryMs: 502, tcpSignal: nil,
        timeline: [
            PoolEvent(atMs: 1.4, event: .connect, connection: 1, threadID: 4),
            PoolEvent(atMs: 2503, event: .queryError, connection: 4, threadID: 7, detail: "2006 | gone"),
        ],
        expectations: expectations, passed: expectations.allSatisfy(\.passed), durationMs: 2510)
}

/// `sampleResult` in a report of a managed server.
public func sampleReport(recovered: Bool = false) -> Report {
    Report(
        server: .init(version: "10.11.19-MariaDB", managed: true, address: "127.0.0.1:3306"),
        client: .init(library: "MariaDB Connector/C", version: "3.3.8"), scenarios: [sampleResult(recovered: recovered)]
    )
}

/// The package root, found from this file's path (Sources/ReproTestSupport/Fixtures.swift).
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// `docs/drivers.json`, the drivers matrix as committed.
public let committedDriversFile = packageRoot.appendingPathComponent("docs/drivers.json")

/// The committed drivers matrix, decoded.
public func committedDrivers() throws -> DriversReport {
    try DriversReport.decode(Data(contentsOf: committedDriversFile))
}

/// Element names, `<text>` contents and root attributes of an SVG, read as a person's viewer would parse it.
public final class SVGReader: NSObject, XMLParserDelegate {
    public struct NotXML: Error, CustomStringConvertible {
        public var description: String
    }

    public private(set) var elements: [String: Int] = [:]
    public private(set) var texts: [String] = []
    public private(set) var root: [String: String] = [:]
    private var inText = false

    /// Parses `svg`; throws when it is not well-formed XML.
    public static func read(_ svg: String) throws -> SVGReader {
        let parser = XMLParser(data: Data(svg.utf8))
        let reader = SVGReader()
        parser.delegate = reader
        guard parser.parse() else {
            throw NotXML(description: "not well-formed XML: \(String(describing: parser.parserError))")
        }
        return reader
    }

    public func parser(
        _ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String]
    ) {
        if root.isEmpty { root = attributes }
        elements[element, default: 0] += 1
        inText = element == "text"
        if inText { texts.append("") }
    }

    public func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inText { texts[texts.count - 1] += string }
    }

    public func parser(
        _ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?
    ) { inText = false }
}

extension Pool {
    /// The pool records through `RunObserver`; the tests build it on an `EventLog` and read that back.
    public var eventLog: EventLog {
        guard let log = log as? EventLog else { preconditionFailure("test pools record into an EventLog") }
        return log
    }
}

/// A network-cut scenario through the in-process proxy, with `preset`'s policy and its read timeout set.
public func networkCut(_ mode: CutMode, _ preset: PolicyPreset, readTimeout: Int = 5, poolSize: Int = 3) -> Scenario {
    var policy = preset.policy
    policy.readTimeout = readTimeout
    return Scenario(
        name: "network-cut-\(mode.rawValue)-\(preset.rawValue)", fault: .networkCut(mode: mode, via: .proxy),
        policy: policy, poolSize: poolSize)
}
