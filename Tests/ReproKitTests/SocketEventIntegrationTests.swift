import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// repro's pool on a real server, with or without evict-on-socket-event, and an admin connection to kill with.
private struct WatchRig {
    let session: ReproSession
    let runner: ScenarioRunner
    let admin: MariaDBConnection

    init() throws {
        session = try ReproSession.open(dsn: nil)
        runner = ScenarioRunner(endpoint: session.endpoint)
        do {
            admin = try runner.adminConnection()
        } catch {
            session.close()
            throw error
        }
    }

    func pool(evict: Bool, size: Int = 3, initCommands: [String] = []) -> Pool<MariaDBConnection> {
        let policy = evict ? PolicyPreset.evictOnEvent.policy : PolicyPreset.naive.policy
        let options = runner.connectionOptions(policy: policy, initCommands: initCommands)
        return Pool(policy: policy, size: size, log: EventLog(), acquireTimeout: .seconds(5)) {
            () throws(DatabaseError) in try MariaDBConnection(options: options)
        }
    }

    func kill(_ ids: [UInt64]) throws {
        for id in ids { try admin.query("KILL CONNECTION \(id)") }
    }

    func close() {
        admin.close()
        session.close()
    }
}

private let socketReasons: Set<String> = [
    Pool<MariaDBConnection>.socketEventReason(.closed), Pool<MariaDBConnection>.socketEventReason(.reset),
    Pool<MariaDBConnection>.socketEventReason(.unexpectedData),
]

private func socketEvictions<C>(_ pool: Pool<C>) -> [PoolEvent] {
    pool.eventLog.events.filter { $0.event == .evictedSocketEvent }
}

@Suite("evict-on-socket-event against a real mariadbd", .ownThreads, .requiresServer, .serialized)
struct SocketEventIntegrationTests {
    @Test(
        "KILL of idle threads: with the knob the watcher evicts them and the caller sees no error; without it the caller gets 2013/2006"
    )
    func killIdle() throws {
        let rig = try WatchRig()
        defer { rig.close() }

        let watched = rig.pool(evict: true)
        defer { watched.close() }
        try watched.warm()
        let killed = watched.threadIDs
        #expect(killed.count == 3)
        try rig.kill(killed)
        Thread.sleep(forTimeInterval: 0.3)
        let evictions = socketEvictions(watched)
        #expect(evictions.count == 3, "\(watched.eventLog.events)")
        #expect(Set(evictions.compactMap(\.threadID)) == Set(killed))
        #expect(evictions.allSatisfy { socketReasons.contains($0.detail ?? "") }, "\(evictions.map(\.detail))")
        #expect(watched.openCount == 0)
        let op = watched.execute("SELECT 1", operation: 1)
        #expect(op.succeeded, "\(String(describing: op.error))")
        #expect(watched.eventLog.errors.isEmpty, "no error anywhere, not even a handled one")

        let naive = rig.pool(evict: false)
        defer { naive.close() }
        try naive.warm()
        try rig.kill(naive.threadIDs)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(naive.openCount == 3, "nothing watches: the dead connections sit in the pool")
        #expect(socketEvictions(naive).isEmpty)
        let failed = naive.execute("SELECT 1", operation: 1)
        #expect(!failed.succeeded)
        #expect(failed.error?.handledBy == nil)
        #expect([DatabaseError.Code.serverLost, .serverGone].contains(failed.error?.error.code))
    }

    @Test("session wait_timeout=1: after 1.6 s idle the watcher has evicted every connection")
    func waitTimeout() throws {
        let rig = try WatchRig()
        defer { rig.close() }
        let pool = rig.pool(evict: true, initCommands: ["SET SESSION wait_timeout=1"])
        defer { pool.close() }
        try pool.warm()
        Thread.sleep(forTimeInterval: 1.6)
        let evictions = socketEvictions(pool)
        #expect(evictions.count == 3, "\(pool.eventLog.events)")
        #expect(evictions.allSatisfy { socketReasons.contains($0.detail ?? "") }, "\(evictions.map(\.detail))")
        #expect(pool.openCount == 0)
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(op.succeeded, "\(String(describing: op.error))")
        #expect(pool.eventLog.errors.isEmpty)
    }

    @Test("a lent-out connection is never destroyed by the watcher: its borrower sees the error at query time")
    func lentOut() throws {
        let rig = try WatchRig()
        defer { rig.close() }
        let pool = rig.pool(evict: true, size: 2)
        defer { pool.close() }
        try pool.warm()
        let lease = try pool.borrow().get()
        // Kill both: the idle one must go, the lent one must stay the borrower's.
        try rig.kill(pool.threadIDs)
        Thread.sleep(forTimeInterval: 0.3)
        let evictions = socketEvictions(pool)
        #expect(evictions.count == 1)
        #expect(!evictions.contains { $0.connection == lease.id })
        #expect(pool.openCount == 1)
        #expect(pool.connections.first === lease.connection)
        #expect(lease.connection.socketDescriptor != nil, "not closed behind the borrower's back")
        do {
            try lease.connection.query("SELECT 1")
            Issue.record("the killed connection answered")
        } catch {
            #expect([DatabaseError.Code.serverLost, .serverGone].contains(error.code), "\(error)")
        }
        pool.destroy(lease, reason: "killed while lent")
        #expect(pool.openCount == 0)
    }

    @Test("close() with the watcher running returns promptly and stops it")
    func closeIsBounded() throws {
        let rig = try WatchRig()
        defer { rig.close() }
        let pool = rig.pool(evict: true)
        try pool.warm()
        #expect(pool.isWatchingSockets)
        Thread.sleep(forTimeInterval: 0.1)
        let took = ContinuousClock().measure { pool.close() }
        #expect(!pool.isWatchingSockets)
        #expect(took < .seconds(1), "\(took)")
        #expect(pool.openCount == 0)
    }
}
