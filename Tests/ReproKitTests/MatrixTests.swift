import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("repro matrix against a real mariadbd", .ownThreads, .requiresServer)
struct MatrixTests {
    @Test("the cells that are facts of the design hold, and the text is drawn from them")
    func designFacts() throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        let matrix = Matrix(
            scenarios: [.waitTimeout, .killThread], policies: [.naive, .seedFix, .pingOnBorrow, .goSQL, .keepalive],
            seconds: 1, costBorrows: 50)
        let report = try matrix.run(session: session)
        func cell(_ policy: PolicyPreset, _ scenario: MatrixColumn) throws -> ScenarioResult {
            try #require(report.scenarios.first { $0.policy.name == policy.rawValue && $0.name == scenario.rawValue })
        }
        #expect(report.scenarios.count == 10)
        #expect(try !cell(.naive, .waitTimeout).survived)
        let seed = try cell(.seedFix, .waitTimeout)
        #expect(!seed.survived)
        #expect(seed.firstUnhandledError?.phase == .query)
        for policy in [PolicyPreset.pingOnBorrow, .goSQL] {
            #expect(try cell(policy, .waitTimeout).survived, "\(policy)")
            #expect(try cell(policy, .killThread).survived, "\(policy)")
        }
        #expect(try cell(.keepalive, .waitTimeout).survived)
        let outcome = try #require(report.policyOutcome(scenario: "wait-timeout"))
        #expect(outcome.recovered.contains("go-sql"))
        #expect(outcome.failed.contains("naive"))
        #expect(report.policyOutcome(scenario: "network-cut-close") == nil)
        let costs = try #require(report.policyCosts)
        #expect(costs.count == 5)
        #expect(costs.first { $0.policy == "ping-on-borrow" }?.roundTripsPerBorrow == 1)
        #expect(costs.first { $0.policy == "go-sql" }?.roundTripsPerBorrow == 0)
        let md = try MatrixRenderer.render(report)
        #expect(md.contains("| `naive` | ✗"))
        #expect(md.contains("the retry on acquire never ran"))
        #expect(md.contains("- **wait-timeout**: the cheapest policy that recovered is `"))
    }
}

@Suite("Error catalog search", .ownThreads)
struct ErrorSearchTests {
    @Test(
        "every error people paste finds its entry",
        arguments: [
            ("2006", "server-closed-idle"), ("2013", "server-closed-idle"), ("1927", "thread-killed"),
            ("4031", "server-closed-idle"), ("1317", "thread-killed"), ("CR_SERVER_LOST", "server-closed-idle"),
            ("Server has gone away", "server-closed-idle"),
            ("Lost connection to server during query", "server-closed-idle"),
            ("Can't add new command when connection is in closed state", "suspended-application"),
            ("this socket has been ended by the other party!", "suspended-application"),
            ("PROTOCOL_CONNECTION_LOST", "server-closed-idle"), ("ECONNRESET", "connection-reset"),
            ("communications link failure", "server-closed-idle"), ("invalid connection", "server-closed-idle"),
            ("The client was disconnected by the server because of inactivity", "server-closed-idle"),
            ("read ECONNRESET", "connection-reset"), ("Query inactivity timeout", "blackhole"),
        ])
    func finds(query: String, id: String) throws {
        let hits = ErrorSearch.search(query, measured: try MeasuredDrivers.report)
        #expect(hits.contains { $0.entry.id == id }, "\(query) -> \(hits.map(\.entry.id))")
    }

    @Test("2013 lists every failure that produces it")
    func sharedCode() throws {
        let ids = Set(ErrorSearch.search("2013", measured: try MeasuredDrivers.report).map(\.entry.id))
        #expect(ids.isSuperset(of: ["server-closed-idle", "thread-killed", "connection-reset", "blackhole"]))
    }

    @Test("nonsense matches nothing but still gets closest entries")
    func nonsense() throws {
        let measured = try MeasuredDrivers.report
        #expect(ErrorSearch.search("banana smoothie", measured: measured).isEmpty)
        #expect(ErrorSearch.search("???", measured: measured).isEmpty)
        #expect(ErrorSearch.closest("server gonne awway").count == 3)
    }

    @Test("every entry names scenarios the matrix knows and commands that start with repro")
    func catalogConsistent() {
        let known = Set(MatrixColumn.policyColumns.map(\.rawValue))
        for entry in ErrorCatalog.entries {
            #expect(Set(entry.scenarios).isSubset(of: known), "\(entry.id)")
            #expect(entry.commands.allSatisfy { $0.hasPrefix("repro ") }, "\(entry.id)")
        }
    }
}
