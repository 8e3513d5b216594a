import ReproTestSupport
import Testing

@testable import ReproKit

/// The keepalive thread itself, on real time (a bounded wait for its first ping), so not a unit test.
@Suite("Pool keepalive thread", .ownThreads)
struct PoolKeepaliveThreadTests {
    @Test("the keepalive thread starts with warm(), pings on its own, and close() stops it")
    func keepaliveThreadStartsAndStops() throws {
        let factory = FakeFactory()
        let pool = factory.pool(PoolPolicy(keepaliveInterval: 0.02), size: 1)
        try pool.warm()
        #expect(pool.isKeepingAlive)
        // The thread itself is under test here, so real time: bounded wait for its first ping.
        #expect(waitUntil(seconds: 5) { pool.eventLog.events.contains { $0.event == .keepaliveOK } })
        pool.close()
        #expect(!pool.isKeepingAlive)
        let pings = factory.connections[0].pings
        #expect(factory.connections[0].isClosed)
        pool.keepaliveRound()
        #expect(factory.connections[0].pings == pings, "a closed pool pings nothing")

        let without = FakeFactory().pool(PoolPolicy(), size: 1)
        try without.warm()
        #expect(!without.isKeepingAlive)
        without.close()
    }
}
