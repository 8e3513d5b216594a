import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// Runs one scenario on its own embedded server and tears the server down.
func runOnEmbeddedServer(_ scenarios: [Scenario]) throws -> (Report, ReproSession) {
    let session = try ReproSession.open(dsn: nil)
    defer { session.close() }
    return (try session.run(scenarios), session)
}

func waitTimeout(_ preset: PolicyPreset, seconds: Int = 1) -> Scenario {
    Scenario(
        name: "wait-timeout-\(preset.rawValue)", fault: .waitTimeout(seconds: seconds, margin: 0.6, scope: .session),
        policy: preset.policy)
}

@Suite("Scenarios against a real mariadbd", .ownThreads, .requiresServer)
struct ScenarioIntegrationTests {
    @Test("naive: wait_timeout surfaces 2006/2013 at the query and the pool does not recover")
    func waitTimeoutNaive() throws {
        let (report, _) = try runOnEmbeddedServer([waitTimeout(.naive)])
        let s = try #require(report.scenarios.first)
        let first = try #require(s.firstError)
        #expect([DatabaseError.Code.serverGone, .serverLost].contains(first.error.code))
        #expect(first.phase == .query)
        #expect(first.handledBy == nil)
        #expect(!s.recovered)
        #expect(s.operations.failed == 4, "every one of the 4 idle connections was dead")
        #expect(s.operations.succeeded == 1, "the 5th operation opened a new connection")
    }

    @Test(
        "recovering policies absorb wait_timeout: no error reaches the caller",
        arguments: [
            PolicyPreset.pingOnBorrow, .livenessCheck, .goSQL,
        ])
    func waitTimeoutRecovers(preset: PolicyPreset) throws {
        let (report, _) = try runOnEmbeddedServer([waitTimeout(preset)])
        let s = try #require(report.scenarios.first)
        #expect(s.recovered)
        #expect(s.operations.failed == 0)
        #expect(s.firstUnhandledError == nil)
        #expect(s.errors.count == 4, "each dead idle connection was seen once")
        #expect(s.errors.allSatisfy { $0.phase == .validate && $0.handledBy == .validation })
    }

    @Test("seed-fix: the retry on acquire never runs, the error surfaces at query")
    func seedFix() throws {
        let (report, _) = try runOnEmbeddedServer([waitTimeout(.seedFix)])
        let s = try #require(report.scenarios.first)
        #expect(s.firstError?.phase == .query)
        #expect(!s.recovered)
        #expect(!s.timeline.contains { $0.event == .retry })
    }

    @Test(
        "kill-thread idle: naive fails at query, ping-on-borrow recovers",
        arguments: [
            (PolicyPreset.naive, false), (.pingOnBorrow, true),
        ])
    func killIdle(preset: PolicyPreset, recovers: Bool) throws {
        let scenario = Scenario(name: "kill", fault: .killThread(target: .idle, count: .all), policy: preset.policy)
        let (report, _) = try runOnEmbeddedServer([scenario])
        let s = try #require(report.scenarios.first)
        #expect(s.firstError != nil)
        #expect(s.recovered == recovers)
        if !recovers {
            #expect(s.firstError?.phase == .query)
            #expect([DatabaseError.Code.serverGone, .serverLost].contains(s.firstError?.error.code))
        }
    }

    @Test("kill-thread busy: the query in flight fails with a connection error that reaches the caller")
    func killBusy() throws {
        let scenario = Scenario(
            name: "kill-busy", fault: .killThread(target: .busy, count: .some(2)), policy: PolicyPreset.naive.policy)
        let (report, _) = try runOnEmbeddedServer([scenario])
        let s = try #require(report.scenarios.first)
        let first = try #require(s.firstError)
        #expect(first.phase == .query)
        #expect(first.handledBy == nil)
        #expect(first.error.isConnectionLevel || first.error.code == .queryInterrupted)
        #expect(s.errors.count == 2)
    }

    @Test("kill-thread kills only the pool's threads: a bystander session survives")
    func bystanderSurvives() throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        let runner = ScenarioRunner(endpoint: session.endpoint)
        let bystander = try runner.adminConnection()
        defer { bystander.close() }
        let scenario = Scenario(
            name: "kill", fault: .killThread(target: .idle, count: .all), policy: PolicyPreset.naive.policy)
        let result = try runner.run(scenario)
        #expect(!result.recovered)
        let rows = try bystander.query("SELECT CONNECTION_ID()")
        #expect(rows.first?.first == "\(bystander.threadID)")
    }

    @Test("global scope sets wait_timeout server-wide and restores it afterwards", .exclusive(.globalWaitTimeout))
    func globalScopeRestores() throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        let runner = ScenarioRunner(endpoint: session.endpoint)
        let admin = try runner.adminConnection()
        defer { admin.close() }
        let before = try admin.query("SELECT @@GLOBAL.wait_timeout").first?.first ?? nil
        let scenario = Scenario(
            name: "global", fault: .waitTimeout(seconds: 1, margin: 0.6, scope: .global),
            policy: PolicyPreset.naive.policy)
        let result = try runner.run(scenario)
        #expect(!result.recovered)
        let after = try admin.query("SELECT @@GLOBAL.wait_timeout").first?.first ?? nil
        #expect(before == after)
        #expect(!CleanupRegistry.shared.pendingNames.contains { $0.contains("wait_timeout") })
    }

    @Test("the embedded server's process and directory are gone after the session closes")
    func serverCleanedUp() throws {
        let session = try ReproSession.open(dsn: nil)
        let runner = ScenarioRunner(endpoint: session.endpoint)
        _ = try runner.run(waitTimeout(.naive))
        session.close()
        let probe = Result { try runner.adminConnection(readTimeout: 1) }
        guard case .failure(let error) = probe else {
            Issue.record("server still answers after close")
            return
        }
        #expect((error as? RunError)?.kind == .environment)
    }

    @Test("an unreachable DSN fails fast as an environment error that names host:port and hides the password")
    func unreachableDSN() throws {
        do {
            _ = try ReproSession.open(dsn: "mysql://root:s3cr3t-pw@127.0.0.1:1/")
            Issue.record("expected a failure")
        } catch {
            #expect(error.kind == .environment)
            #expect(error.exitCode == 3)
            #expect(error.message.contains("127.0.0.1:1"))
            #expect(!error.message.contains("s3cr3t-pw"))
        }
    }
}

@Suite("A server reached as the user's own (--dsn)", .ownThreads, .requiresServer)
struct ExternalServerTests {
    @Test("?socket= connects through the Unix socket; network-cut refuses it with a usage error")
    func unixSocketDSN() throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        var endpoint = session.endpoint
        endpoint.managed = false
        endpoint.host = "localhost"
        endpoint.port = 1  // nothing listens there: only the socket can work
        let runner = ScenarioRunner(endpoint: endpoint)
        let kill = try runner.run(
            Scenario(name: "k", fault: .killThread(target: .idle, count: .all), policy: PolicyPreset.naive.policy))
        #expect(kill.firstError?.phase == .query)
        do {
            _ = try runner.run(
                Scenario(name: "c", fault: .networkCut(mode: .reset, via: .proxy), policy: PolicyPreset.naive.policy))
            Issue.record("network-cut over a Unix socket must be refused")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message.contains("?socket="))
        }
    }

    @Test("a kill count above the pool size is a usage error")
    func killCountAbovePool() throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        do {
            _ = try ScenarioRunner(endpoint: session.endpoint).run(
                Scenario(
                    name: "k", fault: .killThread(target: .idle, count: .some(9)), policy: PolicyPreset.naive.policy,
                    poolSize: 2))
            Issue.record("expected a usage error")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message.contains("larger than the pool size 2"))
        }
    }
}
