import Dispatch
import Foundation
import Synchronization

/// repro's own pool (`Pool` over Connector/C, configured by a `PoolPolicy`) as a pool under test.
public final class SwiftPoolUnderTest: PoolUnderTest {
    public let pool: Pool<MariaDBConnection>
    private let held = Mutex<Pool<MariaDBConnection>.Lease?>(nil)
    /// Turns a connect failure into the one-line message a user can act on.
    private let connectError: @Sendable (DatabaseError) -> RunError

    public init(
        policy: PoolPolicy, size: Int, options: ConnectionOptions, log: any RunObserver,
        connectError: @escaping @Sendable (DatabaseError) -> RunError
    ) {
        self.connectError = connectError
        pool = Pool(policy: policy, size: size, log: log) { () throws(DatabaseError) in
            try MariaDBConnection(options: options)
        }
    }

    public var client: Report.Client { ReproSession.clientInfo }
    public var size: Int { pool.size }

    public func warm() throws(RunError) -> [UInt64] {
        do {
            try pool.warm()
        } catch {
            throw connectError(error)
        }
        return pool.threadIDs
    }

    public func execute(_ sql: String, operation: Int, held useHeld: Bool) -> OperationRecord {
        guard useHeld, let lease = held.withLock({ $0 }) else { return pool.execute(sql, operation: operation) }
        // The application kept this connection object: no borrow, no validation, no release.
        let log = pool.log
        let started = log.ms()
        do {
            try lease.connection.query(sql)
            log.record(.queryOK, connection: lease.id, threadID: lease.connection.threadID)
            return OperationRecord(
                index: operation, succeeded: true, atMs: started, durationMs: log.ms() - started, attempts: 1,
                connection: lease.id, error: nil)
        } catch {
            let observed = log.record(
                failure: error, event: .queryError, phase: .query, connection: lease.id,
                threadID: lease.connection.threadID, handledBy: nil, operation: operation)
            return OperationRecord(
                index: operation, succeeded: false, atMs: started, durationMs: log.ms() - started, attempts: 1,
                connection: lease.id, error: observed)
        }
    }

    public func hold() throws(RunError) {
        switch pool.borrow() {
        case .success(let lease): held.withLock { $0 = lease }
        case .failure(let observed): throw connectError(observed.error)
        }
    }

    /// The server thread of the connection `hold` keeps, once it holds one.
    public var heldThreadID: UInt64? { held.withLock { $0?.connection.threadID } }

    public func startBusy(count: Int, sql: String) throws(RunError) -> any BusyQueries {
        var leases: [Pool<MariaDBConnection>.Lease] = []
        for _ in 0..<count {
            if case .success(let lease) = pool.borrow() { leases.append(lease) }
        }
        let group = DispatchGroup()
        let pool = self.pool
        let log = pool.log
        for lease in leases {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                do throws(DatabaseError) {
                    try lease.connection.query(sql)
                    log.record(.queryOK, connection: lease.id, threadID: lease.connection.threadID)
                    pool.release(lease)
                } catch {
                    // A query in flight is not retried: its bytes were sent (database/sql does the same).
                    log.record(
                        failure: error, event: .queryError, phase: .query, connection: lease.id,
                        threadID: lease.connection.threadID, handledBy: nil, operation: nil)
                    if error.isConnectionLevel {
                        pool.destroy(lease, reason: "killed mid-query")
                    } else {
                        pool.release(lease)
                    }
                }
            }
            thread.start()
        }
        return ThreadBusy(group: group)
    }

    public func knownServerThreads() -> [ServerThread]? {
        pool.connections.map { ServerThread(id: $0.threadID, clientPort: $0.localPort) }
    }

    public func close() {
        if let lease = held.withLock({ l in
            defer { l = nil }; return l
        }) {
            pool.destroy(lease, reason: "held connection given up")
        }
        pool.close()
    }
}

private struct ThreadBusy: BusyQueries {
    let group: DispatchGroup
    func wait() throws(RunError) { _ = group.wait(timeout: .now() + .seconds(10)) }
}
