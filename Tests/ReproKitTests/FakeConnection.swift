import ReproKit
import Synchronization

/// A connection the test kills at will: no server, so pool logic can be pinned exactly.
final class FakeConnection: PoolableConnection {
    private struct State {
        var dead = false
        var queryError: DatabaseError?
        var pings = 0
        var livenessChecks = 0
        var queries = 0
        var closed = false
    }

    let threadID: UInt64
    private let state = Mutex(State())

    init(threadID: UInt64) { self.threadID = threadID }

    static let gone = DatabaseError(code: .serverGone, sqlState: "HY000", message: "Server has gone away")

    /// The server side went away: ping and query fail, the socket reads EOF.
    func kill() { state.withLock { $0.dead = true } }
    /// The next queries fail with this (non-connection) error.
    func failQueries(with error: DatabaseError?) { state.withLock { $0.queryError = error } }

    var pings: Int { state.withLock { $0.pings } }
    var livenessChecks: Int { state.withLock { $0.livenessChecks } }
    var queries: Int { state.withLock { $0.queries } }
    var isClosed: Bool { state.withLock { $0.closed } }

    func ping() throws(DatabaseError) {
        let dead = state.withLock { s -> Bool in
            s.pings += 1
            return s.dead
        }
        if dead { throw Self.gone }
    }

    func liveness() -> Liveness {
        state.withLock { s in
            s.livenessChecks += 1
            return s.dead ? .closed : .alive
        }
    }

    @discardableResult
    func query(_ sql: String) throws(DatabaseError) -> [[String?]] {
        let (dead, error) = state.withLock { s -> (Bool, DatabaseError?) in
            s.queries += 1
            return (s.dead, s.queryError)
        }
        if dead { throw Self.gone }
        if let error { throw error }
        return [["1"]]
    }

    func close() { state.withLock { $0.closed = true } }
    func abandon() { state.withLock { $0.closed = true } }
}

/// Hands out fake connections with increasing thread ids and remembers them.
final class FakeFactory: Sendable {
    private let made = Mutex<[FakeConnection]>([])
    private let failNext = Mutex(0)

    var connections: [FakeConnection] { made.withLock { $0 } }

    /// The next `n` connects fail with 2003.
    func failConnects(_ n: Int) { failNext.withLock { $0 = n } }

    func make() throws(DatabaseError) -> FakeConnection {
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
            let c = FakeConnection(threadID: UInt64(100 + list.count))
            list.append(c)
            return c
        }
    }

    func pool(_ policy: PoolPolicy, size: Int = 3) -> Pool<FakeConnection> {
        Pool(policy: policy, size: size, log: EventLog(), acquireTimeout: .seconds(2)) {
            [self] () throws(DatabaseError) in
            try make()
        }
    }
}
