/// A DSN that could not be parsed; the message names the problem and the fix, never the password.
public struct DSNError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which part of the DSN was wrong, for callers that branch on it.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Not `mysql://` or `mariadb://`, or no `://` at all.
        public static let unsupportedScheme = Code(rawValue: "unsupported-scheme")
        /// No host between `@` and the port or path.
        public static let missingHost = Code(rawValue: "missing-host")
        /// Port is not a number from 1 to 65535.
        public static let invalidPort = Code(rawValue: "invalid-port")
        /// An IPv6 address without brackets, or an unclosed bracket.
        public static let invalidIPv6 = Code(rawValue: "invalid-ipv6")
        /// A `%` escape that does not decode to UTF-8.
        public static let invalidPercentEncoding = Code(rawValue: "invalid-percent-encoding")
        /// A database path with more than one segment.
        public static let invalidDatabase = Code(rawValue: "invalid-database")
        /// A query parameter other than `socket`.
        public static let unsupportedParameter = Code(rawValue: "unsupported-parameter")
    }

    /// Which part of the DSN was wrong.
    public let code: Code
    /// One line: what is wrong and how to write it instead.
    public let message: String

    /// Creates an error; `message` must never include any part of the password.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
