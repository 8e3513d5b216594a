/// The sandboxed server could not be found, started or stopped; the message names the problem and the fix.
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, for callers that map it to an exit code or a report field.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// `mariadbd` or `mariadb-install-db` is not installed.
        public static let binaryNotFound = Code(rawValue: "binary-not-found")
        /// The temporary directory or a free port could not be obtained.
        public static let sandboxFailed = Code(rawValue: "sandbox-failed")
        /// `mariadb-install-db` failed.
        public static let installFailed = Code(rawValue: "install-failed")
        /// `mariadbd` could not be spawned or exited during startup.
        public static let startFailed = Code(rawValue: "start-failed")
        /// `mariadbd` did not answer within the timeout.
        public static let startTimedOut = Code(rawValue: "start-timed-out")
    }

    /// What went wrong.
    public let code: Code
    /// One line: the problem, and what to do about it.
    public let message: String

    /// Creates an error; newlines in `message` are folded so it stays one line in logs and reports.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message.split(whereSeparator: \.isNewline).joined(separator: " | ")
    }

    public var description: String { message }
}
