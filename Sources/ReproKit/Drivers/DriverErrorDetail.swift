/// An error exactly as a real driver handed it to the application: nothing here is rewritten.
public struct DriverErrorDetail: Sendable, Equatable, Codable {
    /// The error's type: `Error`, `*mysql.MySQLError`, `java.sql.SQLNonTransientConnectionException`, ...
    public var errorClass: String
    /// The library's symbolic code (`ECONNRESET`, `PROTOCOL_CONNECTION_LOST`), if it has one.
    public var code: String?
    /// The numeric code (MySQL error number, Node's negative errno, Connector/J's error code), if any.
    public var errno: Int?
    public var sqlState: String?
    /// The message as `err.message` / `err.Error()` / `getMessage()` / `str(e)` gives it.
    public var message: String
    /// The library's own "this connection is unusable" flag, when it has one.
    public var fatal: Bool?
    /// The wrapped error's message (Java `getCause()`, Python `e.orig`), if any.
    public var cause: String?

    public init(
        errorClass: String, code: String? = nil, errno: Int? = nil, sqlState: String? = nil, message: String,
        fatal: Bool? = nil, cause: String? = nil
    ) {
        self.errorClass = errorClass
        self.code = code
        self.errno = errno
        self.sqlState = sqlState
        self.message = message
        self.fatal = fatal
        self.cause = cause
    }

    enum CodingKeys: String, CodingKey {
        case errorClass = "class", code, errno, sqlState, message, fatal, cause
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(errorClass, forKey: .errorClass)
        try c.encode(code, forKey: .code)
        try c.encode(errno, forKey: .errno)
        try c.encode(sqlState, forKey: .sqlState)
        try c.encode(message, forKey: .message)
        try c.encode(fatal, forKey: .fatal)
        try c.encode(cause, forKey: .cause)
    }

    /// The error as one line: class, code, message.
    public var summary: String {
        var parts = [errorClass]
        if let code { parts.append(code) }
        if let errno, code != String(errno) { parts.append("errno \(errno)") }
        if let sqlState { parts.append("SQLSTATE \(sqlState)") }
        return "\(parts.joined(separator: " ")): \(message)"
    }
}

/// A driver-independent name for what went wrong, so errors compare across stacks.
public enum ErrorKind: String, Sendable, Codable, CaseIterable {
    /// "MySQL server has gone away" (2006): the client found the connection closed before sending.
    case goneAway = "gone-away"
    /// The connection broke during the exchange: 2013, EOF, "invalid connection", "connection lost".
    case lost
    /// The peer answered with RST: ECONNRESET, "connection reset by peer".
    case reset
    /// A timeout fired: read/socket/acquire timeout.
    case timeout
    /// No answer within repro's deadline: the driver had no timeout that fired.
    case hung
    /// A new connection was refused: 2002/2003, ECONNREFUSED.
    case refused
    /// The application used a connection object the driver had already marked dead.
    case usedAfterFatal = "used-after-fatal"
    /// The server reported the connection killed (1927).
    case killed
    case other

    /// Classifies an error by its number, symbolic code and message (the cause included).
    public static func classify(errno: Int?, code: String?, message: String, cause: String? = nil) -> ErrorKind {
        let text = ([message, cause ?? "", code ?? ""]).joined(separator: " ").lowercased()
        func has(_ words: String...) -> Bool { words.contains { text.contains($0.lowercased()) } }
        switch errno {
        case -4: return .hung
        default: break
        }
        if has(
            "cannot enqueue", "can't add new command", "enqueue_after", "connection is closed",
            "connection has been closed", "can't reconnect until invalid", "already closed", "closed connection",
            "client is not connected")
        {
            return .usedAfterFatal
        }
        if has("econnrefused", "connection refused") || errno == 2002 || errno == 2003 { return .refused }
        if has("reset by peer", "econnreset", "connection reset") || errno == -104 || errno == 104 {
            return .reset
        }
        if has("timeout", "timed out", "deadline exceeded", "etimedout") || errno == -2 || errno == 1969 {
            return .timeout
        }
        if errno == 1927 || has("connection was killed", "er_connection_killed") { return .killed }
        if errno == 2006 || has("gone away") { return .goneAway }
        if [2013, 2055, -1].contains(errno ?? 0)
            || has(
                "lost connection", "connection lost", "protocol_connection_lost", "unexpected end of stream",
                "invalid connection", "unexpected eof", "bad connection", "broken pipe", "epipe",
                "communications link failure", "server closed the connection")
        {
            return .lost
        }
        return .other
    }
}
