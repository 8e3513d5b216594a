import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("Pool logic against a fake connection")
struct PoolTests {
    @Test("naive hands out a dead connection: the error surfaces at query and reaches the caller")
    func naiveSurfacesAtQuery() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PolicyPreset.naive.policy)
        try pool.warm()
        factory.connections.forEach { $0.kill() }
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(!op.succeeded)
        #expect(op.error?.phase == .query)
        #expect(op.error?.handledBy == nil)
        #expect(op.error?.error.code == .serverGone)
        #expect(pool.openCount == 2, "the failed connection is destroyed, never returned")
    }

    @Test("validation failure evicts the connection and takes another", arguments: ["ping", "liveness"])
    func validationEvictsAndTakesAnother(validation: String) throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(validation: try .init(parsing: validation)))
        try pool.warm()
        // Idle set is LIFO: kill the two most recently added, leave the oldest alive.
        factory.connections[1].kill()
        factory.connections[2].kill()
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(op.succeeded)
        #expect(op.connection == 1)
        let errors = pool.eventLog.errors
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0.phase == .validate && $0.handledBy == .validation })
        #expect(factory.connections.count == 3, "a live idle connection was used; nothing new opened")
    }

    @Test("ping-if-idle skips the ping inside the bypass window, counted from the last release, and pings after it")
    func pingIfIdleWindow() throws {
        let factory = FakeFactory()
        let clock = ManualClock()
        let pool = factory.pool(PoolPolicy(validation: .pingIfIdle(milliseconds: 500)), size: 1, clock: clock)
        try pool.warm()
        clock.advance(by: .milliseconds(499))
        #expect(pool.execute("SELECT 1", operation: 1).succeeded)
        #expect(factory.connections[0].pings == 0)
        // 998 ms after it was opened, but 499 ms after it was given back: still inside the window.
        clock.advance(by: .milliseconds(499))
        #expect(pool.execute("SELECT 1", operation: 2).succeeded)
        #expect(factory.connections[0].pings == 0)
        clock.advance(by: .milliseconds(500))
        #expect(pool.execute("SELECT 1", operation: 3).succeeded)
        #expect(factory.connections[0].pings == 1)
        #expect(pool.eventLog.events.filter { $0.event == .validateOK }.map(\.detail) == ["ping"])
    }

    @Test("retry acquire:1 does not retry a query error")
    func acquireRetryIgnoresQueryErrors() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PolicyPreset.seedFix.policy)
        try pool.warm()
        factory.connections.forEach { $0.kill() }
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(!op.succeeded)
        #expect(op.attempts == 1)
        #expect(op.error?.phase == .query)
        #expect(!pool.eventLog.events.contains { $0.event == .retry })
    }

    @Test("retry acquire:1 retries a failed connect once")
    func acquireRetryRetriesConnect() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PolicyPreset.seedFix.policy, size: 1)
        factory.failConnects(1)
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(op.succeeded)
        let errors = pool.eventLog.errors
        #expect(errors.count == 1)
        #expect(errors.first?.phase == .acquire)
        #expect(errors.first?.handledBy == .retry)
    }

    @Test("query:2+fresh retries from the pool, then uses a brand-new connection last")
    func queryRetryFreshLast() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(retry: .query(2, fresh: true)), size: 3)
        try pool.warm()
        factory.connections.forEach { $0.kill() }
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(op.succeeded)
        #expect(op.attempts == 3)
        #expect(op.connection == 4, "the last try ran on a connection opened for it")
        // Connection 1 was never tried: the fresh retry skipped the idle set.
        #expect(factory.connections[0].queries == 0)
        let handled = pool.eventLog.errors
        #expect(handled.count == 2)
        #expect(handled.allSatisfy { $0.handledBy == .retry && $0.phase == .query })
    }

    @Test("query:N does not retry a non-connection error and keeps the connection")
    func queryRetrySkipsSQLErrors() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(retry: .query(2, fresh: false)), size: 1)
        try pool.warm()
        factory.connections[0].failQueries(
            with: DatabaseError(code: DatabaseError.Code(1064), sqlState: "42000", message: "syntax"))
        let op = pool.execute("SELEC 1", operation: 1)
        #expect(!op.succeeded)
        #expect(op.attempts == 1)
        #expect(pool.openCount == 1)
        #expect(pool.idleCount == 1)
    }

    @Test("max lifetime evicts an old connection before borrow, however recently it was used")
    func lifetimeEviction() throws {
        let factory = FakeFactory()
        let clock = ManualClock()
        let pool = factory.pool(PoolPolicy(maxLifetime: 0.1), size: 1, clock: clock)
        try pool.warm()
        clock.advance(by: .milliseconds(99))
        #expect(pool.execute("SELECT 1", operation: 1).connection == 1)
        clock.advance(by: .milliseconds(1))
        factory.connections[0].kill()
        let op = pool.execute("SELECT 1", operation: 2)
        #expect(op.succeeded)
        #expect(op.connection == 2)
        let evictions = pool.eventLog.events.filter { $0.event == .evict }
        #expect(evictions.map(\.connection) == [1])
        #expect(evictions.first?.detail == "max-lifetime 0.1s")
        #expect(pool.eventLog.errors.isEmpty, "eviction happens before any use, so no error is seen")
        #expect(factory.connections[0].closeCalls == (polite: 1, abandoned: 0))
    }

    @Test("max idle time evicts a connection idle too long, counted from its last release")
    func idleEviction() throws {
        let factory = FakeFactory()
        let clock = ManualClock()
        let pool = factory.pool(PoolPolicy(maxIdleTime: 0.1), size: 1, clock: clock)
        try pool.warm()
        clock.advance(by: .milliseconds(100))
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(op.succeeded)
        #expect(op.connection == 2)
        #expect(pool.eventLog.events.filter { $0.event == .evict }.map(\.detail) == ["max-idle 0.1s"])
        // 99 ms after its release: connection 2 is handed out again.
        clock.advance(by: .milliseconds(99))
        #expect(pool.execute("SELECT 1", operation: 2).connection == 2)
        #expect(factory.connections.count == 2)
    }

    @Test("keepalive finds a dead idle connection and replaces it before any borrower")
    func keepaliveReplaces() throws {
        let factory = FakeFactory()
        let clock = ManualClock()
        // A minute between the thread's rounds: the test runs the rounds itself, on the manual clock.
        let pool = factory.pool(PoolPolicy(keepaliveInterval: 60), size: 2, clock: clock)
        defer { pool.close() }
        try pool.warm()
        factory.connections[0].kill()
        clock.advance(by: .seconds(59))
        pool.keepaliveRound()
        #expect(factory.connections.map(\.pings) == [0, 0], "nothing is due before one interval")
        clock.advance(by: .seconds(1))
        pool.keepaliveRound()
        #expect(factory.connections.map(\.pings) == [1, 1, 0], "both pinged; the dead one's replacement is new")
        let errors = pool.eventLog.errors
        #expect(errors.count == 1)
        #expect(errors.first?.phase == .keepalive)
        #expect(errors.first?.handledBy == .keepalive)
        #expect(errors.first?.connection == 1)
        #expect(factory.connections.count == 3, "the dead connection was replaced")
        #expect(pool.openCount == 2)
        #expect(pool.idleCount == 2)
        // The ping restarted the live one's interval; the replacement is new: the next round pings nothing.
        clock.advance(by: .seconds(59))
        pool.keepaliveRound()
        #expect(factory.connections.map(\.pings) == [1, 1, 0])
        #expect(pool.execute("SELECT 1", operation: 1).succeeded)
    }

    @Test("the pool never opens more connections than its size, even with a keepalive running")
    func sizeBound() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(keepaliveInterval: 0.01), size: 2)
        try pool.warm()
        let a = try pool.borrow().get()
        let b = try pool.borrow().get()
        #expect(pool.openCount == 2)
        pool.release(a)
        pool.release(b)
        pool.close()
        #expect(factory.connections.count == 2)
    }

    @Test("a borrow waits for a free slot and fails with a pool timeout when none frees up")
    func acquireTimeout() throws {
        let factory = FakeFactory()
        let pool = Pool(policy: PoolPolicy(), size: 1, log: EventLog(), acquireTimeout: .milliseconds(100)) {
            () throws(DatabaseError) in try factory.make()
        }
        let held = try pool.borrow().get()
        let second = pool.borrow()
        guard case .failure(let observed) = second else {
            Issue.record("second borrow should time out")
            return
        }
        #expect(observed.error.code == .poolTimeout)
        #expect(observed.phase == .acquire)
        pool.release(held)
    }
}
