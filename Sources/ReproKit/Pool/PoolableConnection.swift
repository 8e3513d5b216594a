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
}

extension MariaDBConnection: PoolableConnection {}
