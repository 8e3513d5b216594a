import Foundation
import ReproKit
import Synchronization

/// A connection a test kills at will: no server, so pool logic can be pinned exactly.
public final class FakeConnection: PoolableConnection {
    private struct State {
        var dead = false
        var queryError: DatabaseError?
        var pings = 0
        var livenessChecks = 0
        var queries = 0
        var closed = false
        var politeCloses = 0
        var abandons = 0
        /// Our end and the "server's" end of a socketpair, when the fake has a socket; -1 once closed.
        var ours: Int32 = -1
        var theirs: Int32 = -1
    }

    public let threadID: UInt64
    private let state = Mutex(State())

    /// With `socket`, the fake owns a socketpair: `kill()` closes the far end (our end reads EOF, as after FIN)
    /// and `socketDescriptor` is our end, so the pool's socket watcher can wait on it.
    public init(threadID: UInt64, socket: Bool = false) {
        self.threadID = threadID
        guard socket else { return }
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { return }
        state.withLock {
            $0.ours = fds[0]
            $0.theirs = fds[1]
        }
    }

    deinit {
        state.withLock { s in
            if s.ours >= 0 { _ = Foundation.close(s.ours) }
            if s.theirs >= 0 { _ = Foundation.close(s.theirs) }
        }
    }

    public static let gone = DatabaseError(code: .serverGone, sqlState: "HY000", message: "Server has gone away")

    /// The server side went away: ping and query fail, the socket reads EOF.
    public func kill() {
        state.withLock { s in
            s.dead = true
            if s.theirs >= 0 {
                _ = Foundation.close(s.theirs)
                s.theirs = -1
            }
        }
    }

    /// The "server" writes a byte the client never asked for; the fake's liveness still says alive (as a
    /// descriptor reused by a healthy connection would look to the watcher).
    public func writeFromServer() {
        state.withLock { s in
            guard s.theirs >= 0 else { return }
            var byte: UInt8 = 0
            _ = Foundation.write(s.theirs, &byte, 1)
        }
    }

    public var socketDescriptor: Int32? { state.withLock { s in s.closed || s.ours < 0 ? nil : s.ours } }
    /// The next queries fail with this (non-connection) error.
    public func failQueries(with error: DatabaseError?) { state.withLock { $0.queryError = error } }

    public var pings: Int { state.withLock { $0.pings } }
    public var livenessChecks: Int { state.withLock { $0.livenessChecks } }
    public var queries: Int { state.withLock { $0.queries } }
    public var isClosed: Bool { state.withLock { $0.closed } }

    public func ping() throws(DatabaseError) {
        let dead = state.withLock { s -> Bool in
            s.pings += 1
            return s.dead
        }
        if dead { throw Self.gone }
    }

    public func liveness() -> Liveness {
        state.withLock { s in
            s.livenessChecks += 1
            return s.dead ? .closed : .alive
        }
    }

    @discardableResult
    public func query(_ sql: String) throws(DatabaseError) -> [[String?]] {
        let (dead, error) = state.withLock { s -> (Bool, DatabaseError?) in
            s.queries += 1
            return (s.dead, s.queryError)
        }
        if dead { throw Self.gone }
        if let error { throw error }
        return [["1"]]
    }

    public func close() {
        state.withLock {
            $0.closed = true
            $0.politeCloses += 1
        }
    }
    public func abandon() {
        state.withLock {
            $0.closed = true
            $0.abandons += 1
        }
    }
    /// How often the pool closed this connection politely (COM_QUIT) and how often it abandoned it.
    public var closeCalls: (polite: Int, abandoned: Int) { state.withLock { ($0.politeCloses, $0.abandons) } }
}

/// Hands out fake connections with increasing thread ids and remembers them.
public final class FakeFactory: Sendable {
    private let made = Mutex<[FakeConnection]>([])
    private let failNext = Mutex(0)
    /// Each connection gets a socketpair (for the socket watcher).
    public let sockets: Bool

    public init(sockets: Bool = false) { self.sockets = sockets }

    public var connections: [FakeConnection] { made.withLock { $0 } }

    /// The next `n` connects fail with 2003.
    public func failConnects(_ n: Int) { failNext.withLock { $0 = n } }

    public func make() throws(DatabaseError) -> FakeConnection {
        let fail = failNext.withLock { n -> Bool in
            guard n > 0 else { return false }
            n -= 1
            return true
        }
        if fail {
            throw DatabaseError(
                code: .connHostError, sqlState: "HY000", message: "Can't connect to server on '127.0.0.1' (111)")
        }
        return made.withLock { list in
            let c = FakeConnection(threadID: UInt64(100 + list.count), socket: sockets)
            list.append(c)
            return c
        }
    }

    /// A pool of fake connections; `clock` is where its decisions read "now" (a `ManualClock` in decision tests).
    public func pool(
        _ policy: PoolPolicy, size: Int = 3, clock: any PoolClock = MonotonicPoolClock()
    ) -> Pool<FakeConnection> {
        Pool(policy: policy, size: size, log: EventLog(), acquireTimeout: .seconds(2), clock: clock) {
            [self] () throws(DatabaseError) in
            try make()
        }
    }
}
