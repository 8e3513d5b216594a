import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("network-cut through FaultProxy against a real mariadbd", .ownThreads, .requiresServer)
struct NetworkCutIntegrationTests {
    @Test(
        "naive: every mode surfaces a connection error at the query and the pool does not recover",
        arguments: [
            (CutMode.reset, "rst"), (.close, "fin"), (.halfOpen, "rst"), (.blackhole, "none"),
        ])
    func naive(mode: CutMode, signal: String) throws {
        let (report, _) = try runOnEmbeddedServer([networkCut(mode, .naive, readTimeout: 1, poolSize: 2)])
        let s = try #require(report.scenarios.first)
        let first = try #require(s.firstError)
        #expect(first.phase == .query)
        #expect(first.handledBy == nil)
        #expect(first.error.isConnectionLevel, "\(first.error)")
        #expect(!s.recovered)
        #expect(s.tcpSignal == signal)
    }

    @Test("blackhole: nothing fails before the read timeout, and the error comes from it, not from TCP")
    func blackholeWaitsForReadTimeout() throws {
        let (report, _) = try runOnEmbeddedServer([networkCut(.blackhole, .naive, readTimeout: 1, poolSize: 1)])
        let s = try #require(report.scenarios.first)
        #expect(s.firstError?.error.code == .serverLost)
        let detection = try #require(s.detectionMs)
        #expect(detection >= 900, "the client cannot notice a blackhole before its 1 s read timeout")
        #expect(detection < 10_000, "bounded by the read timeout, not TCP's retransmission timeout")
    }

    @Test(
        "ping-on-borrow catches every mode at validation and recovers",
        arguments: [
            CutMode.reset, .close, .halfOpen, .blackhole,
        ])
    func pingOnBorrow(mode: CutMode) throws {
        let (report, _) = try runOnEmbeddedServer([networkCut(mode, .pingOnBorrow, readTimeout: 1, poolSize: 2)])
        let s = try #require(report.scenarios.first)
        #expect(s.recovered)
        #expect(s.firstError?.phase == .validate)
        #expect(s.firstUnhandledError == nil)
    }

    @Test(
        "a socket peek sees reset and close but not half-open; go-sql, like database/sql, does not retry a query that was sent"
    )
    func livenessVersusHalfOpen() throws {
        let (report, _) = try runOnEmbeddedServer([
            networkCut(.reset, .livenessCheck), networkCut(.halfOpen, .livenessCheck), networkCut(.halfOpen, .goSQL),
        ])
        let byName = Dictionary(uniqueKeysWithValues: report.scenarios.map { ($0.name, $0) })
        #expect(byName["network-cut-reset-liveness-check"]?.recovered == true)
        #expect(byName["network-cut-half-open-liveness-check"]?.recovered == false)
        #expect(byName["network-cut-half-open-liveness-check"]?.firstError?.phase == .query)
        let goSQL = try #require(byName["network-cut-half-open-go-sql"])
        #expect(!goSQL.recovered)
        #expect(goSQL.firstUnhandledError?.error.code == .serverLost, "2013: written, then the RST")
        #expect(goSQL.errors.allSatisfy { $0.handledBy == nil }, "unsent:2 never retries a 2013")
    }
}
