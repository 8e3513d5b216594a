import Foundation
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
        let errors = pool.log.errors
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0.phase == .validate && $0.handledBy == .validation })
        #expect(factory.connections.count == 3, "a live idle connection was used; nothing new opened")
    }

    @Test("ping-if-idle skips the ping inside the bypass window and pings after it")
    func pingIfIdleWindow() throws {
        let factory = FakeFactory()
        // A wide window: a loaded CI machine must not stall past it between warm() and the first borrow.
        let pool = factory.pool(PoolPolicy(validation: .pingIfIdle(milliseconds: 1000)), size: 1)
        try pool.warm()
        #expect(pool.execute("SELECT 1", operation: 1).succeeded)
        #expect(factory.connections[0].pings == 0)
        Thread.sleep(forTimeInterval: 1.1)
        #expect(pool.execute("SELECT 1", operation: 2).succeeded)
        #expect(factory.connections[0].pings == 1)
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
        #expect(!pool.log.events.contains { $0.event == .retry })
    }

    @Test("retry acquire:1 retries a failed connect once")
    func acquireRetryRetriesConnect() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PolicyPreset.seedFix.policy, size: 1)
        factory.failConnects(1)
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(op.succeeded)
        let errors = pool.log.errors
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
        let handled = pool.log.errors
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

    @Test("max lifetime evicts an old connection before borrow")
    func lifetimeEviction() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(maxLifetime: 0.1), size: 1)
        try pool.warm()
        Thread.sleep(forTimeInterval: 0.15)
        factory.connections[0].kill()
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(op.succeeded)
        #expect(op.connection == 2)
        #expect(pool.log.events.contains { $0.event == .evict && $0.connection == 1 })
        #expect(pool.log.errors.isEmpty, "eviction happens before any use, so no error is seen")
        #expect(factory.connections[0].isClosed)
    }

    @Test("max idle time evicts a connection idle too long")
    func idleEviction() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(maxIdleTime: 0.1), size: 1)
        try pool.warm()
        Thread.sleep(forTimeInterval: 0.15)
        let op = pool.execute("SELECT 1", operation: 1)
        #expect(op.succeeded)
        #expect(op.connection == 2)
    }

    @Test("keepalive finds a dead idle connection and replaces it before any borrower")
    func keepaliveReplaces() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(keepaliveInterval: 0.05), size: 2)
        try pool.warm()
        factory.connections[0].kill()
        // Bounded wait for the background check.
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline && !pool.log.errors.contains(where: { $0.handledBy == .keepalive }) {
            Thread.sleep(forTimeInterval: 0.02)
        }
        pool.close()
        let errors = pool.log.errors
        #expect(errors.contains { $0.phase == .keepalive && $0.handledBy == .keepalive && $0.connection == 1 })
        #expect(factory.connections.count >= 3, "the dead connection was replaced")
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
