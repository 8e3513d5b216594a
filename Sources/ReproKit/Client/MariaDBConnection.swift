import CMariaDB
import Foundation

/// One blocking MariaDB Connector/C connection.
///
/// `@unchecked Sendable`: the `MYSQL*` is only touched by whoever holds the
/// connection — the pool hands a connection to one borrower (or to the
/// keepalive thread) at a time, so no two threads use the handle at once.
/// `closed` is the one field read from elsewhere and sits behind a lock.
public final class MariaDBConnection: @unchecked Sendable {
    private let handle: UnsafeMutablePointer<MYSQL>
    private let lock = NSLock()
    private var isClosed = false
    /// The server's thread id for this connection (`CONNECTION_ID()`), the id `KILL` takes.
    public let threadID: UInt64
    /// The server's version string from the handshake.
    public let serverVersion: String

    private static let libraryReady: Bool = repro_mysql_library_init() == 0

    /// The Connector/C version string, e.g. "3.3.8".
    public static var clientVersion: String { String(cString: mysql_get_client_info()) }

    /// Connects, applying the timeouts and init commands; blocks up to the connect timeout.
    public init(options: ConnectionOptions) throws(DatabaseError) {
        guard Self.libraryReady, let h = mysql_init(nil) else {
            throw DatabaseError(code: .outOfMemory, sqlState: "HY000", message: "mysql_init failed")
        }
        _ = repro_mysql_option_uint(h, MYSQL_OPT_CONNECT_TIMEOUT, UInt32(max(1, options.connectTimeout)))
        _ = repro_mysql_option_uint(h, MYSQL_OPT_READ_TIMEOUT, UInt32(max(1, options.readTimeout)))
        _ = repro_mysql_option_uint(h, MYSQL_OPT_WRITE_TIMEOUT, UInt32(max(1, options.writeTimeout)))
        // A pool must see failures, not have the library hide them by reconnecting.
        _ = repro_mysql_option_bool(h, MYSQL_OPT_RECONNECT, 0)
        // TCP even for "localhost": the faults act on TCP flows. A socket only when the user's DSN asks for one.
        let proto = options.unixSocket == nil ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET
        _ = repro_mysql_option_uint(h, MYSQL_OPT_PROTOCOL, UInt32(proto.rawValue))
        for command in options.initCommands {
            _ = repro_mysql_option_string(h, MYSQL_INIT_COMMAND, command)
        }
        // Connector/C takes the socket only for the host "localhost": a DSN that names a socket means it,
        // whatever host it gives (a TCP connect elsewhere would send the password to another server).
        let connected = mysql_real_connect(
            h, options.unixSocket == nil ? options.host : "localhost", options.user, options.password, options.database,
            UInt32(options.port), options.unixSocket, 0)
        if connected == nil {
            let error = Self.error(of: h)
            mysql_close(h)
            throw error
        }
        handle = h
        threadID = UInt64(mysql_thread_id(h))
        serverVersion = String(cString: mysql_get_server_info(h))
    }

    deinit { close() }

    /// Runs one statement and reads its whole result; returns the rows as text.
    @discardableResult
    public func query(_ sql: String) throws(DatabaseError) -> [[String?]] {
        try checkOpen()
        let bytes = Array(sql.utf8)
        let rc = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                mysql_real_query(handle, $0.baseAddress, UInt(bytes.count))
            }
        }
        if rc != 0 { throw Self.error(of: handle) }
        var rows: [[String?]] = []
        repeat {
            if let result = mysql_store_result(handle) {
                defer { mysql_free_result(result) }
                let columns = Int(mysql_num_fields(result))
                while let row = mysql_fetch_row(result) {
                    let lengths = mysql_fetch_lengths(result)
                    var values: [String?] = []
                    values.reserveCapacity(columns)
                    for i in 0..<columns {
                        if let field = row[i], let lengths {
                            let buffer = UnsafeRawBufferPointer(start: field, count: Int(lengths[i]))
                            values.append(String(decoding: buffer, as: UTF8.self))
                        } else {
                            values.append(nil)
                        }
                    }
                    rows.append(values)
                }
            } else if mysql_field_count(handle) != 0 {
                throw Self.error(of: handle)
            }
            let next = mysql_next_result(handle)
            if next > 0 { throw Self.error(of: handle) }
            if next != 0 { break }
        } while true
        return rows
    }

    /// One round trip (COM_PING).
    public func ping() throws(DatabaseError) {
        try checkOpen()
        if mysql_ping(handle) != 0 { throw Self.error(of: handle) }
    }

    /// Peeks at the socket without blocking and without sending anything (go-sql-driver's connCheck).
    public func liveness() -> Liveness {
        // Under the lock: a concurrent close() must not free the handle between the check and the peek.
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return .closed }
        let fd = mysql_get_socket(handle)
        guard fd >= 0 else { return .closed }
        var err: Int32 = 0
        let n = repro_socket_peek(Int32(fd), &err)
        if n == 0 { return .closed }
        if n > 0 { return .unexpectedData }
        if err == EAGAIN || err == EWOULDBLOCK || err == EINTR { return .alive }
        return .reset
    }

    /// Connector/C's socket (`mysql_get_socket`), or nil once closed. The descriptor may be closed and reused as
    /// soon as this returns: use it to wait for readiness, never to act on.
    public var socketDescriptor: Int32? {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return nil }
        let fd = mysql_get_socket(handle)
        return fd >= 0 ? Int32(fd) : nil
    }

    /// The client side's local TCP port (the ephemeral port the kernel picked), or nil.
    public var localPort: Int? {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return nil }
        let fd = mysql_get_socket(handle)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(Int32(fd), $0, &length) }
        }
        guard rc == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Closes the connection (sends COM_QUIT when the socket still works); idempotent.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return }
        isClosed = true
        mysql_close(handle)
    }

    /// Drops the socket without COM_QUIT: for connections known to be dead, so closing never blocks.
    public func abandon() {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return }
        isClosed = true
        let fd = mysql_get_socket(handle)
        if fd >= 0 { shutdown(Int32(fd), Int32(SHUT_RDWR)) }
        mysql_close(handle)
    }

    private var closedFlag: Bool {
        lock.lock()
        defer { lock.unlock() }
        return isClosed
    }

    private func checkOpen() throws(DatabaseError) {
        if closedFlag {
            throw DatabaseError(
                code: .serverGone, sqlState: "HY000",
                message: "connection already closed by this client")
        }
    }

    private static func error(of handle: UnsafeMutablePointer<MYSQL>) -> DatabaseError {
        let code = Int(mysql_errno(handle))
        let state = String(cString: mysql_sqlstate(handle))
        let message = String(cString: mysql_error(handle))
        return DatabaseError(
            code: DatabaseError.Code(code == 0 ? 2000 : code), sqlState: state,
            message: message.isEmpty ? "unknown error" : message)
    }
}
