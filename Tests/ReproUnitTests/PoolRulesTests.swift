import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// The pool's decisions as pure functions: any `now`, no pool, no thread, no sleep.
extension PoolTests {
    @Suite("Pool decisions (PoolRules) at chosen instants")
    struct Decisions {
        let t0 = ContinuousClock.now

        func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }

        @Test("eviction: lifetime from creation, idle time from the last release, each at its exact boundary")
        func evictionBoundaries() {
            let rules = PoolRules(PoolPolicy(maxIdleTime: 0.5, maxLifetime: 1.0))
            let fresh = ConnectionTimes(openedAt: t0)
            #expect(rules.eviction(of: fresh, invalidatedAt: nil, now: at(499)) == nil)
            #expect(rules.eviction(of: fresh, invalidatedAt: nil, now: at(500)) == .idle(0.5))
            let usedLater = ConnectionTimes(created: t0, lastUsed: at(600), lastChecked: at(600))
            #expect(rules.eviction(of: usedLater, invalidatedAt: nil, now: at(999)) == nil)
            #expect(rules.eviction(of: usedLater, invalidatedAt: nil, now: at(1000)) == .lifetime(1.0))
            // The `evict` event's detail, as reports show it.
            #expect(
                [PoolRules.Eviction.lifetime(1.0), .invalidated, .idle(0.5)].map(\.description) == [
                    "max-lifetime 1.0s", "pool invalidated", "max-idle 0.5s",
                ])
        }

        @Test("eviction order: lifetime before invalidation before idle time")
        func evictionOrder() {
            let rules = PoolRules(PoolPolicy(maxIdleTime: 0.5, maxLifetime: 1.0))
            let old = ConnectionTimes(openedAt: t0)
            #expect(rules.eviction(of: old, invalidatedAt: at(1), now: at(1000)) == .lifetime(1.0))
            #expect(rules.eviction(of: old, invalidatedAt: at(1), now: at(700)) == .invalidated)
            #expect(rules.eviction(of: old, invalidatedAt: nil, now: at(700)) == .idle(0.5))
            // Opened at the instant of the invalidation, or after it: kept.
            #expect(rules.eviction(of: old, invalidatedAt: t0, now: at(100)) == nil)
            #expect(PoolRules(PoolPolicy()).eviction(of: old, invalidatedAt: nil, now: at(86_400_000)) == nil)
        }

        @Test("invalidation: only with the knob, only after a connection-level error")
        func invalidation() {
            let gone = DatabaseError(code: .serverGone, sqlState: "HY000", message: "gone")
            let syntax = DatabaseError(code: DatabaseError.Code(1064), sqlState: "42000", message: "syntax")
            #expect(PoolRules(PolicyPreset.sqlalchemy.policy).invalidatesPool(after: gone))
            #expect(!PoolRules(PolicyPreset.sqlalchemy.policy).invalidatesPool(after: syntax))
            #expect(!PoolRules(PolicyPreset.naive.policy).invalidatesPool(after: gone))
        }

        @Test("validation: which check a borrow runs, ping-if-idle from the last release")
        func checks() {
            let idleFor = { (v: PoolPolicy.Validation, ms: Int) in
                PoolRules(PoolPolicy(validation: v)).check(lastUsed: self.t0, now: self.at(ms))
            }
            #expect(idleFor(.none, 10_000) == nil)
            #expect(idleFor(.ping, 0) == .ping)
            #expect(idleFor(.liveness, 0) == .peek)
            #expect(idleFor(.pingIfIdle(milliseconds: 500), 499) == nil)
            #expect(idleFor(.pingIfIdle(milliseconds: 500), 500) == .ping)
            #expect(idleFor(.pingIfIdle(milliseconds: 0), 0) == .ping)
        }

        @Test("hand-out: eviction wins over the check; no eviction and no check hands out as is")
        func handOut() {
            let times = ConnectionTimes(openedAt: t0)
            let pinging = PoolRules(PoolPolicy(validation: .ping, maxLifetime: 1.0))
            #expect(pinging.handOut(times, invalidatedAt: nil, now: at(999)) == .check(.ping))
            #expect(pinging.handOut(times, invalidatedAt: nil, now: at(1000)) == .evict(.lifetime(1.0)))
            #expect(PoolRules(PolicyPreset.naive.policy).handOut(times, invalidatedAt: nil, now: at(1)) == .handOut)
            #expect(
                PoolRules(PolicyPreset.goSQL.policy).handOut(times, invalidatedAt: nil, now: at(1)) == .check(.peek))
        }

        @Test("a borrow takes from the idle set unless asked for a fresh one or validations failed past the size")
        func takesIdle() {
            let rules = PoolRules(PoolPolicy())
            #expect(rules.takesIdle(fresh: false, validationFailures: 0, size: 2))
            #expect(rules.takesIdle(fresh: false, validationFailures: 2, size: 2))
            #expect(!rules.takesIdle(fresh: false, validationFailures: 3, size: 2))
            #expect(!rules.takesIdle(fresh: true, validationFailures: 0, size: 2))
        }

        @Test(
            "retry plan: counts, which try runs on a fresh connection",
            arguments: [
                ("none", 0, 0, [false, false, false]),
                ("acquire:2", 2, 0, [false, false, false]),
                ("query:2", 0, 2, [false, false, false]),
                ("query:2+fresh", 0, 2, [false, false, true]),
                ("unsent:1+fresh", 0, 1, [false, true, false]),
            ])
        func retryPlan(text: String, acquire: Int, query: Int, fresh: [Bool]) throws {
            let plan = PoolRules(PoolPolicy(retry: try .init(parsing: text))).retry
            #expect(plan.acquireRetries == acquire)
            #expect(plan.queryRetries == query)
            #expect((0..<3).map { plan.isFresh(attempt: $0) } == fresh)
        }

        @Test("retry plan: which errors are retried, on which try, and the retry event's words")
        func retryDecisions() throws {
            let gone = DatabaseError(code: .serverGone, sqlState: "HY000", message: "gone")
            let lost = DatabaseError(code: .serverLost, sqlState: "HY000", message: "lost")
            let syntax = DatabaseError(code: DatabaseError.Code(1064), sqlState: "42000", message: "syntax")
            let query = RetryPlan(.query(2, fresh: true))
            #expect(query.retriesQuery(after: lost, attempt: 0))
            #expect(query.retriesQuery(after: lost, attempt: 1))
            #expect(!query.retriesQuery(after: lost, attempt: 2))
            #expect(!query.retriesQuery(after: syntax, attempt: 0))
            #expect(query.queryRetryDetail(attempt: 1) == "query retry 1 of 2 from the pool")
            #expect(query.queryRetryDetail(attempt: 2) == "query retry 2 of 2 on a new connection")
            // Only a query that never left the client (2006) is retried: after the write, 2013 reaches the caller.
            let unsent = RetryPlan(.unsent(2, fresh: false))
            #expect(unsent.retriesQuery(after: gone, attempt: 0))
            #expect(!unsent.retriesQuery(after: lost, attempt: 0))
            #expect(!RetryPlan(.acquire(3)).retriesQuery(after: gone, attempt: 0))
        }

        @Test("keepalive: due one interval after the last check, the first due in idle-set order")
        func keepaliveDue() {
            let rules = PoolRules(PoolPolicy(keepaliveInterval: 0.5))
            #expect(rules.keepaliveInterval == .milliseconds(500))
            let idle = [
                ConnectionTimes(created: t0, lastUsed: t0, lastChecked: at(200)),
                ConnectionTimes(openedAt: t0),
                ConnectionTimes(openedAt: at(100)),
            ]
            #expect(rules.nextKeepalive(in: idle, now: at(499)) == nil)
            #expect(rules.nextKeepalive(in: idle, now: at(500)) == 1)
            #expect(rules.nextKeepalive(in: idle, now: at(700)) == 0)
            #expect(!rules.keepaliveDue(idle[2], now: at(599)))
            #expect(rules.keepaliveDue(idle[2], now: at(600)))
            let none = PoolRules(PoolPolicy())
            #expect(none.keepaliveInterval == nil)
            #expect(none.nextKeepalive(in: idle, now: at(86_400_000)) == nil)
        }
    }
}
