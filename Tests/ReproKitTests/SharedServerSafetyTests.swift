import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// What keeps repro to its own sessions and its own SQL on a server it shares with others, and what keeps a
/// hostile driver from growing a report without end.
@Suite("Shared-server safety and bounded reports (no server)", .ownThreads)
struct SharedServerSafetyTests {
    static let pool = [
        ClientEndpoint(address: "127.0.0.1", port: 40001), ClientEndpoint(address: "127.0.0.1", port: 40002),
    ]

    @Test("a session from another address with the same client port is not the pool's")
    func collidingPortFromAnotherAddress() {
        let rows: [[String?]] = [
            ["11", "127.0.0.1:40001"], ["12", "10.1.2.3:40001"], ["13", "127.0.0.1:40002"], ["14", "127.0.0.2:40002"],
            ["15", "127.0.0.1:49999"],
        ]
        let found = ScenarioRunner.poolThreads(
            rows: rows, endpoints: Self.pool, baseline: [], seenAs: nil, resolve: { _ in [] })
        #expect(found.map(\.id) == [11, 13])
    }

    @Test("names, IPv6 and IPv4-mapped hosts compare by address; the baseline and the reported ids")
    func addressForms() {
        let rows: [[String?]] = [
            ["21", "localhost:40001"], ["22", "::ffff:127.0.0.1:40002"], ["23", "otherhost:40001"],
            ["24", "::1:40001"],
            ["25", "127.0.0.1:40001"], ["26", "192.0.2.9:5555"],
        ]
        let found = ScenarioRunner.poolThreads(
            rows: rows, endpoints: Self.pool, baseline: [25], seenAs: nil, reported: [26],
            resolve: { $0 == "localhost" ? ["127.0.0.1", "::1"] : ["192.0.2.1"] })
        #expect(found.map(\.id) == [21, 22, 26])
    }

    @Test("behind this run's NAT the server sees the translated address, not the socket's")
    func translatedAddress() {
        let inside = [ClientEndpoint(address: "10.254.0.2", port: 40001)]
        let rows: [[String?]] = [["31", "127.0.0.1:40001"], ["32", "10.254.0.2:40001"]]
        let seen = ScenarioRunner.poolThreads(
            rows: rows, endpoints: inside, baseline: [], seenAs: "127.0.0.1", resolve: { _ in [] })
        #expect(seen.map(\.id) == [31])
    }

    @Test("/proc/net/tcp addresses read as the server writes them")
    func procAddresses() {
        #expect(ProcessSockets.TCPRow.address("0100007F:0CEA") == "127.0.0.1")
        #expect(ProcessSockets.TCPRow.address("0000000000000000FFFF00000100007F:0CEA") == "127.0.0.1")
        #expect(ProcessSockets.TCPRow.address("00000000000000000000000001000000:0CEA") == "::1")
        #expect(ProcessSockets.TCPRow.address("0202FE0A:9C41") == "10.254.2.2")
        #expect(ClientEndpoint.normalized("::ffff:10.0.0.1") == "10.0.0.1")
        #expect(ClientEndpoint.normalized("db.example") == nil)
    }

    @Test(
        "only read-only SQL passes on a server repro did not start",
        arguments: [
            ("SELECT 1", nil), ("  select sleep(0.1)", nil), ("(SELECT 1)", nil), ("SHOW PROCESSLIST", nil),
            ("/* x */ SELECT 'DROP TABLE t; x'", nil), ("DO SLEEP(1)", nil), ("ROLLBACK", nil),
            ("DROP DATABASE app", "starts with DROP"), ("delete from t", "starts with DELETE"),
            ("SELECT 1; DROP TABLE t", "more than one statement"), ("SELECT * FROM t FOR UPDATE", "FOR UPDATE"),
            ("SELECT * INTO OUTFILE '/tmp/x' FROM t", "INTO OUTFILE"), ("", "is empty"),
            ("-- SELECT\nUPDATE t SET a = 1", "starts with UPDATE"),
        ] as [(String, String?)])
    func readOnly(sql: String, refusal: String?) {
        let why = ReadOnlySQL.refusal(sql)
        if let refusal {
            #expect(why?.contains(refusal) == true, "\(sql): \(why ?? "accepted")")
        } else {
            #expect(why == nil, "\(sql): \(why ?? "")")
        }
    }

    @Test("a scenario bringing SQL that writes is refused on a server repro did not start, unless allowed")
    func writesRefusedExternally() throws {
        var scenario = Scenario(name: "q", fault: .killThread(), policy: PolicyPreset.naive.policy)
        scenario.load = LoadSpec(concurrency: 2, duration: 1, query: "DROP DATABASE app")
        #expect(throws: RunError.self) { try scenario.preflight(external: true) }
        do {
            try scenario.preflight(external: true)
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message.contains("--allow-writes") && error.message.contains("DROP"))
        }
        try scenario.preflight(external: false)
        scenario.allowWrites = true
        try scenario.preflight(external: true)
    }

    @Test("driver events outside load mode are bounded: the first ones kept, the rest counted")
    func eventsBounded() {
        let log = EventLog()
        for i in 0..<(EventLog.defaultOtherLimit + 500) { log.record(.driverEvent, detail: "event \(i)") }
        log.record(.scenario, detail: "the scenario's own note")
        let events = log.events
        #expect(events.filter { $0.event == .driverEvent }.count == EventLog.defaultOtherLimit)
        #expect(events.contains { $0.detail == "the scenario's own note" })
        #expect(events.contains { ($0.detail ?? "").contains("500 driver-event events not kept") })
    }

    @Test("keepalive pings repeat without end in one summary entry, not counted against the bound")
    func summariesNotCounted() {
        let log = EventLog()
        for _ in 0..<(EventLog.defaultOtherLimit * 2) { log.record(.keepaliveOK, connection: 1) }
        let pings = log.events.filter { $0.event == .keepaliveOK }
        #expect(pings.count == 2)
        #expect(pings.last?.detail?.contains("×\(EventLog.defaultOtherLimit * 2)") == true)
    }

    @Test("a megabyte driver message is cut to 4 KB with the rest counted")
    func messagesCapped() {
        let log = EventLog()
        let huge = "Lost connection " + String(repeating: "é", count: 600_000)
        let observed = log.record(
            driverError: DriverErrorDetail(errorClass: "E", message: huge, cause: huge), phase: .query,
            handledBy: nil, operation: 1)
        let message = observed.driver?.message ?? ""
        #expect(message.hasPrefix("Lost connection ") && message.hasSuffix("bytes more"))
        #expect(message.utf8.count < EventLog.textLimit + 40)
        #expect(observed.driver?.cause?.utf8.count ?? 0 < EventLog.textLimit + 40)
        log.record(.driverEvent, detail: huge)
        #expect((log.events.last?.detail ?? "").utf8.count < EventLog.textLimit + 40)
    }

    @Test("a nested merge key in an anchored mapping merges what it merges")
    func nestedMergeKeys() throws {
        let yaml = """
            name: nested
            fault: {kind: kill-thread}
            policy:
              <<: &outer
                <<: &inner {preset: ping-on-borrow, read-timeout: 2}
                read-timeout: 4
            """
        let s = try ScenarioFile.parse(yaml, file: "n.yml")
        #expect(s.policy.validation == .ping)
        #expect(s.policy.readTimeout == 4)
    }

    @Test("JSON nesting is measured outside strings")
    func jsonNesting() {
        #expect(JSONNesting.depth(of: Data(#"{"a":[1,{"b":"[[[{"}]}"#.utf8)) == 3)
        #expect(JSONNesting.depth(of: Data("[[]".utf8)) == nil)
        #expect(
            JSONNesting.depth(of: Data((String(repeating: "[", count: 600) + String(repeating: "]", count: 600)).utf8))
                == 600)
    }

    @Test("a long option is cut in the one-line client summary")
    func longOptionCut() {
        let key = String(repeating: "k", count: 100_000)
        let client = Report.Client(library: "mysql2", version: "3", options: [key: "1"])
        #expect(client.summary.count < 300)
        #expect(client.summary.contains("(100000 characters)"))
        #expect(
            Report.cutLongWords("unknown option '\(key)'; known: maxIdle, idleTimeout").hasSuffix(
                "known: maxIdle, idleTimeout"))
    }
}
