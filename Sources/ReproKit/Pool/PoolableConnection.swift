/// What the pool needs from a connection; the real one is `MariaDBConnection`, tests use a fake.
public protocol PoolableConnection: AnyObject, Sendable {
    var threadID: UInt64 { get }
    func ping() throws(DatabaseError)
    func liveness() -> Liveness
    @discardableResult func query(_ sql: String) throws(DatabaseError) -> [[String?]]
    /// Polite close (COM_QUIT).
    func close()
    /// Drop a connection known to be broken, without talking to the server.
    func abandon()
    /// The connection's socket, for the pool's socket watcher (`poll(2)` on idle connections); nil when there is
    /// none or it is closed. Only a hint for waking up: the watcher decides with `liveness()`.
    var socketDescriptor: Int32? { get }
}

extension PoolableConnection {
    public var socketDescriptor: Int32? { nil }
}

extension MariaDBConnection: PoolableConnection {}
