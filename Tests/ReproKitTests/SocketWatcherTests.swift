import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// Polls `condition` every 10 ms for at most `seconds`; true when it held.
func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return condition()
}

@Suite("Socket watcher (evict-on-socket-event) against fake connections with real sockets", .ownThreads)
struct SocketWatcherTests {
    static let knob = PoolPolicy(evictOnSocketEvent: true)

    @Test("a dead idle connection is dropped as soon as its socket reads EOF, without COM_QUIT or an error")
    func evictsDeadIdle() throws {
        let factory = FakeFactory(sockets: true)
        let pool = factory.pool(Self.knob, size: 3)
        defer { pool.close() }
        try pool.warm()
        #expect(pool.isWatchingSockets)
        factory.connections[1].kill()
        #expect(waitUntil(seconds: 2) { pool.openCount == 2 })
        let evictions = pool.eventLog.events.filter { $0.event == .evictedSocketEvent }
        #expect(evictions.map(\.connection) == [2])
        #expect(evictions.first?.detail == "server closed the socket (FIN)")
        #expect(factory.connections[1].closeCalls == (polite: 0, abandoned: 1))
        #expect(pool.idleCount == 2)
        #expect(pool.eventLog.errors.isEmpty, "eviction is not an error")
        #expect(pool.execute("SELECT 1", operation: 1).succeeded)
        #expect(factory.connections.count == 3, "a live idle connection answered; nothing was opened")
        #expect(factory.connections[0].closeCalls == (0, 0) && factory.connections[2].closeCalls == (0, 0))
    }

    @Test("without the knob nothing watches: the dead idle connection stays until a borrower hits it")
    func offByDefault() throws {
        let factory = FakeFactory(sockets: true)
        let pool = factory.pool(PoolPolicy(), size: 2)
        defer { pool.close() }
        try pool.warm()
        #expect(!pool.isWatchingSockets)
        factory.connections.forEach { $0.kill() }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(pool.openCount == 2)
        #expect(!pool.eventLog.events.contains { $0.event == .evictedSocketEvent })
        #expect(!pool.execute("SELECT 1", operation: 1).succeeded)
    }

    @Test("a lent-out connection is never touched, even when its socket reads EOF")
    func leavesLentConnection() throws {
        let factory = FakeFactory(sockets: true)
        let pool = factory.pool(Self.knob, size: 2)
        defer { pool.close() }
        try pool.warm()
        let lease = try pool.borrow().get()
        let lent = try #require(factory.connections.first { $0 === lease.connection })
        let idle = try #require(factory.connections.first { $0 !== lease.connection })
        lent.kill()
        idle.kill()
        #expect(waitUntil(seconds: 2) { pool.openCount == 1 }, "the idle one is evicted")
        Thread.sleep(forTimeInterval: 0.2)
        #expect(pool.openCount == 1)
        #expect(!lent.isClosed)
        #expect(lent.closeCalls == (0, 0))
        // Pool ids are 1 and 2: the idle one is whichever the borrower did not get.
        #expect(pool.eventLog.events.filter { $0.event == .evictedSocketEvent }.map(\.connection) == [3 - lease.id])
        #expect(lent.livenessChecks == 0, "the watcher never even peeked at it")
        #expect(throws: DatabaseError.self) { try lease.connection.query("SELECT 1") }
        pool.destroy(lease, reason: "test")
    }

    @Test("a wake-up on a connection that is still alive evicts nothing and does not spin")
    func liveWakeUpDoesNotSpin() throws {
        let factory = FakeFactory(sockets: true)
        let pool = factory.pool(Self.knob, size: 1)
        defer { pool.close() }
        try pool.warm()
        factory.connections[0].writeFromServer()
        Thread.sleep(forTimeInterval: 0.3)
        #expect(pool.openCount == 1)
        let checks = factory.connections[0].livenessChecks
        #expect(checks >= 1, "the watcher woke up and looked")
        #expect(checks < 40, "one look per 25 ms round at most, not a busy loop (\(checks))")
    }

    @Test("close() stops the watcher promptly, and a second close() does not wait")
    func closeIsBounded() throws {
        let factory = FakeFactory(sockets: true)
        let pool = factory.pool(Self.knob, size: 3)
        try pool.warm()
        #expect(pool.isWatchingSockets)
        let clock = ContinuousClock()
        let first = clock.measure { pool.close() }
        #expect(!pool.isWatchingSockets)
        #expect(first < .milliseconds(500), "\(first)")
        let second = clock.measure { pool.close() }
        #expect(second < .milliseconds(100), "\(second)")
        #expect(factory.connections.allSatisfy { $0.isClosed })
    }
}
