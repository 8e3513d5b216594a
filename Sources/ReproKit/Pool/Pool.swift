import Dispatch
import Foundation
import Synchronization

#if os(Linux)
    /// POLLRDHUP: the peer shut down its write side (FIN). Linux's `<poll.h>` defines it only under _GNU_SOURCE,
    /// so Swift's Glibc does not export it.
    private let pollPeerHangup: Int16 = 0x2000
#else
    private let pollPeerHangup: Int16 = 0
#endif

/// A fixed-size connection pool whose validation, aging, keepalive, socket-event eviction and retry follow a
/// `PoolPolicy`.
///
/// The pool does the I/O and the locking; what to do with a connection (evict it, check it, hand it out, retry,
/// ping it in the background) is decided by `PoolRules`, with "now" read from the injected `PoolClock`.
///
/// Every call blocks (Connector/C is blocking): call it from a dedicated thread, never
/// from Swift's cooperative pool. Background work (keepalive, the socket watcher) runs on its own `Thread`s.
public final class Pool<Connection: PoolableConnection>: Sendable {
    /// A connection handed to a borrower; give it back with `release` or `destroy`.
    public struct Lease: Sendable {
        public let id: Int
        public let connection: Connection
        let created: ContinuousClock.Instant
    }

    private struct Entry: Sendable {
        var id: Int
        var connection: Connection
        var times: ConnectionTimes
    }

    private struct State: Sendable {
        var idle: [Entry] = []
        /// Every open connection, idle or lent out, by pool id.
        var open: [Int: Connection] = [:]
        var nextID = 1
        var closed = false
        /// Set by a connection-level error when the policy invalidates the pool: connections created
        /// before it are replaced when next borrowed.
        var invalidatedAt: ContinuousClock.Instant?
    }

    public let policy: PoolPolicy
    /// The decisions `policy` makes.
    public let rules: PoolRules
    /// Where decisions read "now" from (the real monotonic clock unless a test injects its own).
    public let clock: any PoolClock
    public let size: Int
    public let log: any RunObserver
    /// How long a borrow waits for a free slot before failing.
    public let acquireTimeout: Duration
    private let factory: @Sendable () throws(DatabaseError) -> Connection
    private let state = Mutex(State())
    /// One permit per connection lent out or being opened; idle connections hold none.
    private let permits: DispatchSemaphore
    private let keepaliveStop = DispatchSemaphore(value: 0)
    private let keepaliveDone = DispatchSemaphore(value: 0)
    private let keepaliveRunning = Atomic<Bool>(false)
    private let keepaliveExited = Atomic<Bool>(false)
    private let watcherStop = DispatchSemaphore(value: 0)
    private let watcherDone = DispatchSemaphore(value: 0)
    private let watcherRunning = Atomic<Bool>(false)
    private let watcherStopping = Atomic<Bool>(false)
    /// Borrows that took an idle connection or opened one: the watcher's sign that the application went first.
    private let borrowsTaken = Atomic<Int>(0)
    /// The application has work due on a timer of its own (`repro serve-pool`'s armed batch with a delay).
    private let timerWorkDue = Atomic<Bool>(false)

    /// How long one `poll(2)` of the socket watcher waits before it refreshes the idle set and checks for `close()`.
    static var watchIntervalMs: Int32 { 25 }
    /// How long `close()` waits for the socket watcher to stop (one poll and one eviction take far less).
    static var watcherStopBound: Duration { .seconds(2) }

    public init(
        policy: PoolPolicy, size: Int, log: any RunObserver, acquireTimeout: Duration = .seconds(30),
        clock: any PoolClock = MonotonicPoolClock(),
        factory: @escaping @Sendable () throws(DatabaseError) -> Connection
    ) {
        precondition(size > 0, "pool size must be positive")
        self.policy = policy
        self.rules = PoolRules(policy)
        self.clock = clock
        self.size = size
        self.log = log
        self.acquireTimeout = acquireTimeout
        self.factory = factory
        self.permits = DispatchSemaphore(value: size)
    }

    /// Opens connections until the pool is full and starts keepalive and the socket watcher when the policy has them.
    public func warm() throws(DatabaseError) {
        let missing = size - state.withLock { $0.open.count }
        for _ in 0..<max(0, missing) {
            let entry = try connect()
            state.withLock { $0.idle.append(entry) }
        }
        startKeepaliveIfNeeded()
        startWatcherIfNeeded()
    }

    /// True while the socket watcher thread runs (evict-on-socket-event, between `warm()` and `close()`).
    public var isWatchingSockets: Bool { watcherRunning.load(ordering: .acquiring) }

    /// True while the keepalive thread runs (a keepalive interval, between `warm()` and `close()`).
    public var isKeepingAlive: Bool {
        keepaliveRunning.load(ordering: .acquiring) && !keepaliveExited.load(ordering: .acquiring)
    }

    /// Server thread ids of every connection the pool has open, idle or lent out.
    public var threadIDs: [UInt64] {
        state.withLock { s in s.open.keys.sorted().compactMap { s.open[$0]?.threadID } }
    }

    /// Every open connection, idle or lent out.
    public var connections: [Connection] {
        state.withLock { s in s.open.keys.sorted().compactMap { s.open[$0] } }
    }

    public var openCount: Int { state.withLock { $0.open.count } }
    public var idleCount: Int { state.withLock { $0.idle.count } }

    /// Borrow, run `sql`, give back — retrying as the policy says — and report what the caller saw.
    public func execute(_ sql: String, operation: Int) -> OperationRecord {
        let started = log.ms()
        let plan = rules.retry
        var attempt = 0
        while true {
            let lease: Lease
            switch borrow(fresh: plan.isFresh(attempt: attempt), operation: operation) {
            case .failure(let observed):
                return OperationRecord(
                    index: operation, succeeded: false, atMs: started, durationMs: log.ms() - started,
                    attempts: attempt + 1, connection: observed.connection, error: observed)
            case .success(let l):
                lease = l
            }
            do {
                try lease.connection.query(sql)
                log.record(.queryOK, connection: lease.id, threadID: lease.connection.threadID)
                release(lease)
                return OperationRecord(
                    index: operation, succeeded: true, atMs: started, durationMs: log.ms() - started,
                    attempts: attempt + 1, connection: lease.id, error: nil)
            } catch {
                let willRetry = plan.retriesQuery(after: error, attempt: attempt)
                let observed = log.record(
                    failure: error, event: .queryError, phase: .query, connection: lease.id,
                    threadID: lease.connection.threadID, handledBy: willRetry ? .retry : nil, operation: operation)
                if error.isConnectionLevel {
                    invalidateIfPolicySays(after: error)
                    destroy(lease, reason: "connection error \(error.code.rawValue)")
                } else {
                    release(lease)
                }
                if willRetry {
                    attempt += 1
                    log.record(.retry, detail: plan.queryRetryDetail(attempt: attempt))
                    continue
                }
                return OperationRecord(
                    index: operation, succeeded: false, atMs: started, durationMs: log.ms() - started,
                    attempts: attempt + 1, connection: lease.id, error: observed)
            }
        }
    }

    /// Hands out a connection: evicts aged ones, validates per policy, opens a new one when none is idle.
    public func borrow(fresh: Bool = false, operation: Int? = nil) -> Result<Lease, ObservedError> {
        let deadline = DispatchTime.now() + .nanoseconds(Int(EventLog.milliseconds(acquireTimeout) * 1e6))
        guard permits.wait(timeout: deadline) == .success else {
            let error = DatabaseError(
                code: .poolTimeout, sqlState: "HY000",
                message: "no connection became free within \(acquireTimeout) (pool size \(size))")
            return .failure(
                log.record(
                    error: error, phase: .acquire, connection: nil, threadID: nil, handledBy: nil,
                    operation: operation))
        }
        var acquireRetries = rules.retry.acquireRetries
        var validationFailures = 0
        while true {
            if rules.takesIdle(fresh: fresh, validationFailures: validationFailures, size: size),
                let entry = takeIdle()
            {
                let invalidatedAt = state.withLock { $0.invalidatedAt }
                switch rules.handOut(entry.times, invalidatedAt: invalidatedAt, now: clock.now) {
                case .evict(let why):
                    destroy(entry.id, entry.connection, reason: why.description, event: .evict, polite: true)
                    continue
                case .check(let check):
                    if let failure = run(check, on: entry) {
                        log.record(
                            failure: failure, event: .validateFailed, phase: .validate, connection: entry.id,
                            threadID: entry.connection.threadID, handledBy: .validation, operation: operation)
                        invalidateIfPolicySays(after: failure)
                        destroy(
                            entry.id, entry.connection, reason: "validation failed", event: .destroy, polite: false)
                        validationFailures += 1
                        continue
                    }
                case .handOut:
                    break
                }
                log.record(.borrow, connection: entry.id, threadID: entry.connection.threadID)
                return .success(Lease(id: entry.id, connection: entry.connection, created: entry.times.created))
            }
            do {
                let entry = try connect()
                borrowsTaken.add(1, ordering: .releasing)
                log.record(.borrow, connection: entry.id, threadID: entry.connection.threadID, detail: "new connection")
                return .success(Lease(id: entry.id, connection: entry.connection, created: entry.times.created))
            } catch {
                let willRetry = acquireRetries > 0
                let observed = log.record(
                    error: error, phase: .acquire, connection: nil, threadID: nil,
                    handledBy: willRetry ? .retry : nil, operation: operation)
                if willRetry {
                    acquireRetries -= 1
                    log.record(.retry, detail: "acquire retry")
                    continue
                }
                permits.signal()
                return .failure(observed)
            }
        }
    }

    /// SQLAlchemy-style: a disconnect error marks every connection opened until now for replacement.
    private func invalidateIfPolicySays(after error: DatabaseError) {
        guard rules.invalidatesPool(after: error) else { return }
        let now = clock.now
        state.withLock { $0.invalidatedAt = now }
        log.record(
            .evict, detail: "pool invalidated after \(error.code.name): older connections are replaced on borrow")
    }

    /// Gives a healthy connection back to the idle set.
    public func release(_ lease: Lease) {
        let now = clock.now
        let entry = Entry(
            id: lease.id, connection: lease.connection,
            times: ConnectionTimes(created: lease.created, lastUsed: now, lastChecked: now))
        let accepted = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.idle.append(entry)
            return true
        }
        log.record(.release, connection: lease.id, threadID: lease.connection.threadID)
        if !accepted { destroy(lease.id, lease.connection, reason: "pool closed", event: .destroy, polite: true) }
        permits.signal()
    }

    /// Throws a lent connection away (it failed); the slot becomes free.
    public func destroy(_ lease: Lease, reason: String) {
        destroy(lease.id, lease.connection, reason: reason, event: .destroy, polite: false)
        permits.signal()
    }

    /// Stops keepalive and the socket watcher and closes every idle connection; bounded.
    public func close() {
        let idle = state.withLock { s -> [Entry] in
            s.closed = true
            defer { s.idle.removeAll() }
            return s.idle
        }
        if keepaliveRunning.load(ordering: .acquiring) {
            keepaliveStop.signal()
            _ = keepaliveDone.wait(timeout: .now() + .seconds(Int(policy.readTimeout) + 5))
        }
        stopWatcher()
        for entry in idle {
            destroy(
                entry.id, entry.connection, reason: "pool closed", event: .destroy,
                polite: entry.connection.liveness().isAlive)
        }
    }

    // MARK: - Internals

    private func connect() throws(DatabaseError) -> Entry {
        let connection: Connection
        do {
            connection = try factory()
        } catch {
            log.record(.connectFailed, detail: error.description)
            throw error
        }
        let now = clock.now
        let id = state.withLock { s -> Int in
            let id = s.nextID
            s.nextID += 1
            s.open[id] = connection
            return id
        }
        log.record(.connect, connection: id, threadID: connection.threadID)
        return Entry(id: id, connection: connection, times: ConnectionTimes(openedAt: now))
    }

    private func takeIdle() -> Entry? {
        defer { borrowsTaken.add(1, ordering: .releasing) }
        return state.withLock { s in s.idle.popLast() }
    }

    /// Runs a borrow's check: nil when the connection may be handed out, else the error the check saw.
    private func run(_ check: PoolRules.Check, on entry: Entry) -> DatabaseError? {
        switch check {
        case .peek:
            let state = entry.connection.liveness()
            guard state.isAlive else { return Self.livenessError(state) }
            log.record(.validateOK, connection: entry.id, threadID: entry.connection.threadID, detail: "liveness")
        case .ping:
            do {
                try entry.connection.ping()
            } catch {
                return error
            }
            log.record(.validateOK, connection: entry.id, threadID: entry.connection.threadID, detail: "ping")
        }
        return nil
    }

    static func livenessError(_ state: Liveness) -> DatabaseError {
        let words =
            switch state {
            case .closed: "the server closed the socket (FIN seen by a non-blocking peek)"
            case .reset: "the socket was reset (RST seen by a non-blocking peek)"
            case .unexpectedData: "unexpected bytes waiting on an idle connection"
            case .alive: "alive"
            }
        return DatabaseError(code: .livenessClosed, sqlState: "08S01", message: "liveness check: \(words)")
    }

    private func destroy(_ id: Int, _ connection: Connection, reason: String, event: PoolEvent.Kind, polite: Bool) {
        state.withLock { _ = $0.open.removeValue(forKey: id) }
        log.record(event, connection: id, threadID: connection.threadID, detail: reason)
        if polite { connection.close() } else { connection.abandon() }
    }

    private func startKeepaliveIfNeeded() {
        guard let interval = rules.keepaliveInterval,
            keepaliveRunning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        let thread = Thread { [self] in
            keepaliveLoop(interval: interval)
            keepaliveExited.store(true, ordering: .releasing)
            keepaliveDone.signal()
        }
        thread.name = "repro-keepalive"
        thread.start()
    }

    /// Runs a keepalive round every interval (real time) until `close()`.
    private func keepaliveLoop(interval: Duration) {
        let nanos = Int(EventLog.milliseconds(interval) * 1e6)
        while keepaliveStop.wait(timeout: .now() + .nanoseconds(nanos)) == .timedOut {
            keepaliveRound()
        }
    }

    /// One keepalive round: pings the idle connections `rules` says are due at the clock's now; dead ones are
    /// replaced. The keepalive thread runs it; tests call it directly after moving a manual clock.
    func keepaliveRound() {
        let now = clock.now
        // Take only what can be lent (a permit each), so borrowers never see more than `size`.
        var due: [Entry] = []
        while permits.wait(timeout: .now()) == .success {
            let next = state.withLock { s -> Entry? in
                guard !s.closed, let i = rules.nextKeepalive(in: s.idle.lazy.map(\.times), now: now) else {
                    return nil
                }
                return s.idle.remove(at: i)
            }
            guard let entry = next else {
                permits.signal()
                break
            }
            due.append(entry)
        }
        for var entry in due {
            // close() is waiting: drop what is left instead of pinging it (each ping may take a read timeout).
            if state.withLock({ $0.closed }) {
                destroy(entry.id, entry.connection, reason: "pool closed", event: .destroy, polite: false)
                permits.signal()
                continue
            }
            do {
                try entry.connection.ping()
                log.record(.keepaliveOK, connection: entry.id, threadID: entry.connection.threadID)
                entry.times.lastChecked = clock.now
                let kept = state.withLock { s -> Bool in
                    guard !s.closed else { return false }
                    s.idle.append(entry)
                    return true
                }
                if !kept {
                    destroy(entry.id, entry.connection, reason: "pool closed", event: .destroy, polite: true)
                }
            } catch {
                log.record(
                    failure: error, event: .keepaliveFailed, phase: .keepalive, connection: entry.id,
                    threadID: entry.connection.threadID, handledBy: .keepalive, operation: nil)
                destroy(entry.id, entry.connection, reason: "keepalive failed", event: .destroy, polite: false)
                if !state.withLock({ $0.closed }), let fresh = try? connect() {
                    let kept = state.withLock { s -> Bool in
                        guard !s.closed else { return false }
                        s.idle.append(fresh)
                        return true
                    }
                    if !kept {
                        destroy(fresh.id, fresh.connection, reason: "pool closed", event: .destroy, polite: true)
                    }
                }
            }
            permits.signal()
        }
    }

    // MARK: - Socket watcher (evict-on-socket-event)

    private func startWatcherIfNeeded() {
        guard policy.evictOnSocketEvent, !watcherStopping.load(ordering: .acquiring),
            watcherRunning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        let thread = Thread { [self] in
            watchLoop()
            watcherDone.signal()
        }
        thread.name = "repro-socket-watch"
        thread.start()
    }

    /// Asks the watcher to stop and waits for it, bounded; only the first call waits.
    private func stopWatcher() {
        watcherStopping.store(true, ordering: .releasing)
        guard watcherRunning.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged
        else { return }
        watcherStop.signal()
        let nanos = Int(EventLog.milliseconds(Self.watcherStopBound) * 1e6)
        _ = watcherDone.wait(timeout: .now() + .nanoseconds(nanos))
    }

    /// Waits on the idle connections' sockets and evicts the ones the server closed or reset (what mysql2 and
    /// mysqljs do on a socket's 'end'/'error'). Each round polls for at most `watchIntervalMs`, so a connection
    /// borrowed or returned meanwhile is seen on the next round and `close()` is noticed; stops on `close()`.
    private func watchLoop() {
        let interval = DispatchTimeInterval.milliseconds(Int(Self.watchIntervalMs))
        // A round (a poll, or a wait between polls) that took far longer than it can means the process did not run
        // meanwhile: the resume rule below.
        let longestRound = .milliseconds(2 * Int(Self.watchIntervalMs)) + Self.resumeGap
        var lastRound = ContinuousClock.now
        while !watcherStopping.load(ordering: .acquiring) {
            if timerWorkDue.load(ordering: .acquiring), ContinuousClock.now - lastRound > longestRound {
                // Suspended between two polls: the same head start as below.
                waitForBorrow(after: borrowsTaken.load(ordering: .acquiring), upTo: Self.resumeBorrowWait)
            }
            lastRound = ContinuousClock.now
            let watched = state.withLock { s -> [(id: Int, fd: Int32)] in
                guard !s.closed else { return [] }
                return s.idle.compactMap { e in e.connection.socketDescriptor.map { (e.id, $0) } }
            }
            if watched.isEmpty {
                if watcherStop.wait(timeout: .now() + interval) == .success { return }
                continue
            }
            var fds = watched.map { pollfd(fd: $0.fd, events: Self.pollEvents, revents: 0) }
            let borrowsBefore = borrowsTaken.load(ordering: .acquiring)
            let polledAt = ContinuousClock.now
            let ready = poll(&fds, nfds_t(fds.count), Self.watchIntervalMs)
            if timerWorkDue.load(ordering: .acquiring),
                ContinuousClock.now - polledAt > .milliseconds(Int(Self.watchIntervalMs)) + Self.resumeGap
            {
                // The process was suspended in the middle of this poll (SIGSTOP, a paused VM) while work of the
                // application's was due on a timer. An event loop — the pools this watcher models, mysql2's and
                // mysqljs' — runs the timers that fell due meanwhile before it reads its sockets, so that work's
                // first borrow goes ahead of the socket events: let it, then look again. (Work that arrives as a
                // request is read together with the socket events: no head start.)
                waitForBorrow(after: borrowsBefore, upTo: Self.resumeBorrowWait)
                lastRound = ContinuousClock.now
                continue
            }
            if ready == 0 { continue }
            var evicted = 0
            if ready > 0 {
                for (i, p) in fds.enumerated() where p.revents != 0 {
                    if evictIfDead(watched[i].id) { evicted += 1 }
                }
            }
            // A wake-up that evicted nothing (EINTR, a descriptor closed and reused, a connection borrowed
            // between the snapshot and the poll): wait one interval instead of spinning on it.
            if evicted == 0, watcherStop.wait(timeout: .now() + interval) == .success { return }
        }
    }

    /// A poll that returned this much later than its timeout means the process did not run meanwhile (the
    /// shortest freeze is 1 s; a thread on a loaded machine is not held off its CPU this long).
    static var resumeGap: Duration { .milliseconds(500) }

    /// Says whether the application has work due on a timer of its own (see the socket watcher's resume rule).
    public func expectsTimerWork(_ due: Bool) { timerWorkDue.store(due, ordering: .releasing) }
    /// How long the watcher, after a resume, lets the application's first borrow go ahead of it.
    static var resumeBorrowWait: Duration { .seconds(2) }

    /// Waits (bounded) until a borrow took a connection after `count`, or `close()` is called.
    private func waitForBorrow(after count: Int, upTo bound: Duration) {
        let end = ContinuousClock.now + bound
        while borrowsTaken.load(ordering: .acquiring) == count, ContinuousClock.now < end,
            !watcherStopping.load(ordering: .acquiring)
        {
            Thread.sleep(forTimeInterval: 0.001)
        }
    }

    /// Readable (data, FIN) or the peer shut its write side; POLLERR/POLLHUP are always reported.
    private static var pollEvents: Int16 { Int16(POLLIN) | pollPeerHangup }

    /// Evicts the connection `id` if it is still idle and its socket says it is dead; true when it did.
    private func evictIfDead(_ id: Int) -> Bool {
        // The peek runs under the state lock: no borrower can take the connection between the peek and the
        // removal, and a lent-out connection is never looked at (it is not in `idle`).
        let found = state.withLock { s -> (Entry, Liveness)? in
            guard !s.closed, let i = s.idle.firstIndex(where: { $0.id == id }) else { return nil }
            let seen = s.idle[i].connection.liveness()
            guard !seen.isAlive else { return nil }
            return (s.idle.remove(at: i), seen)
        }
        guard let (entry, seen) = found else { return false }
        // Idle connections hold no permit: nothing to give back. No COM_QUIT to a socket the server closed.
        destroy(
            entry.id, entry.connection, reason: Self.socketEventReason(seen), event: .evictedSocketEvent,
            polite: false)
        return true
    }

    static func socketEventReason(_ state: Liveness) -> String {
        switch state {
        case .closed: "server closed the socket (FIN)"
        case .reset: "reset (RST)"
        case .unexpectedData: "unexpected data on an idle connection (the server wrote before closing)"
        case .alive: "alive"
        }
    }
}
