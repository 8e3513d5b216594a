/// An error from MariaDB Connector/C or the server, with the data a user searches for.
public struct DatabaseError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// A client (CR_*) or server (ER_*) error number.
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        public let rawValue: Int

        public init(rawValue: Int) { self.rawValue = rawValue }
        public init(_ rawValue: Int) { self.rawValue = rawValue }

        // Server errors.
        public static let databaseAccessDenied = Code(1044)
        public static let accessDenied = Code(1045)
        public static let badDatabase = Code(1049)
        public static let serverShutdown = Code(1053)
        public static let abortingConnection = Code(1152)
        public static let netReadInterrupted = Code(1159)
        public static let queryInterrupted = Code(1317)
        public static let connectionKilled = Code(1927)
        public static let statementTimeout = Code(1969)
        public static let clientInteractionTimeout = Code(4031)
        // Client errors.
        public static let unknownError = Code(2000)
        public static let socketCreateError = Code(2001)
        public static let connectionError = Code(2002)
        public static let connHostError = Code(2003)
        public static let unknownHost = Code(2005)
        public static let serverGone = Code(2006)
        public static let serverLost = Code(2013)
        public static let commandsOutOfSync = Code(2014)
        public static let serverLostExtended = Code(2055)
        public static let sslConnectionError = Code(2026)
        public static let malformedPacket = Code(2027)
        public static let netRead = Code(5013)
        public static let netWrite = Code(5014)
        public static let outOfMemory = Code(2008)
        /// Not from the library: this tool's liveness check found the socket closed.
        public static let livenessClosed = Code(-1)
        /// Not from the library: the pool could not hand out a connection in time.
        public static let poolTimeout = Code(-2)
        /// Not from the library: a real driver's error without a MySQL error number (see the verbatim detail).
        public static let driverError = Code(-3)
        /// Not from the library: a real driver gave no answer within repro's deadline.
        public static let hung = Code(-4)

        static let names: [Int: String] = [
            1044: "ER_DBACCESS_DENIED_ERROR",
            1045: "ER_ACCESS_DENIED_ERROR",
            1049: "ER_BAD_DB_ERROR",
            1053: "ER_SERVER_SHUTDOWN",
            1152: "ER_ABORTING_CONNECTION",
            1158: "ER_NET_READ_ERROR",
            1159: "ER_NET_READ_INTERRUPTED",
            1160: "ER_NET_ERROR_ON_WRITE",
            1161: "ER_NET_WRITE_INTERRUPTED",
            1064: "ER_PARSE_ERROR",
            1146: "ER_NO_SUCH_TABLE",
            1227: "ER_SPECIFIC_ACCESS_DENIED_ERROR",
            1317: "ER_QUERY_INTERRUPTED",
            1927: "ER_CONNECTION_KILLED",
            1969: "ER_STATEMENT_TIMEOUT",
            // MySQL 8.0.24+ sends 4031 before closing an idle connection; MariaDB does not.
            4031: "ER_CLIENT_INTERACTION_TIMEOUT",
            2000: "CR_UNKNOWN_ERROR",
            2001: "CR_SOCKET_CREATE_ERROR",
            2002: "CR_CONNECTION_ERROR",
            2003: "CR_CONN_HOST_ERROR",
            2005: "CR_UNKNOWN_HOST",
            2006: "CR_SERVER_GONE_ERROR",
            2008: "CR_OUT_OF_MEMORY",
            2013: "CR_SERVER_LOST",
            2014: "CR_COMMANDS_OUT_OF_SYNC",
            2026: "CR_SSL_CONNECTION_ERROR",
            2027: "CR_MALFORMED_PACKET",
            2055: "CR_SERVER_LOST_EXTENDED",
            5013: "CR_ERR_NET_READ",
            5014: "CR_ERR_NET_WRITE",
            -1: "REPRO_LIVENESS_CLOSED",
            -2: "REPRO_POOL_TIMEOUT",
            -3: "REPRO_DRIVER_ERROR",
            -4: "REPRO_HUNG",
        ]

        /// The symbolic name from errmsg.h / mysqld_error.h, or `ERROR_<n>` when unknown.
        public var name: String { Self.names[rawValue] ?? "ERROR_\(rawValue)" }

        /// Accepts a number ("2006") or a symbolic name ("CR_SERVER_GONE_ERROR", case-insensitive).
        public init?(parsing text: String) {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if let n = Int(trimmed) {
                self.init(n)
                return
            }
            let upper = trimmed.uppercased()
            guard let hit = Self.names.first(where: { $0.value == upper }) else { return nil }
            self.init(hit.key)
        }

        /// "2013 CR_SERVER_LOST": how every report, message and table writes a code.
        public var description: String { "\(rawValue) \(name)" }

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(Int.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(rawValue)
        }
    }

    public let code: Code
    public let sqlState: String
    public let message: String

    public init(code: Code, sqlState: String, message: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
    }

    /// The connection cannot be used after this error: a pool must destroy it, never reuse it.
    public var isConnectionLevel: Bool {
        switch code {
        case .serverGone, .serverLost, .serverLostExtended, .connectionKilled,
            .clientInteractionTimeout, .serverShutdown, .abortingConnection,
            .connectionError, .connHostError, .unknownHost, .socketCreateError,
            .commandsOutOfSync, .malformedPacket, .netRead, .netWrite, .livenessClosed,
            .sslConnectionError, .netReadInterrupted, .outOfMemory:
            return true
        default:
            return sqlState.hasPrefix("08")
        }
    }

    public var description: String { "\(code) (\(sqlState)): \(message)" }
}

extension DatabaseError {
    enum CodingKeys: String, CodingKey { case code, name, sqlstate, message }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        code = try c.decode(Code.self, forKey: .code)
        sqlState = try c.decode(String.self, forKey: .sqlstate)
        message = try c.decode(String.self, forKey: .message)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(code, forKey: .code)
        try c.encode(code.name, forKey: .name)
        try c.encode(sqlState, forKey: .sqlstate)
        try c.encode(message, forKey: .message)
    }
}
