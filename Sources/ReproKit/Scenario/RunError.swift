/// Why a run could not happen: bad input (exit 2) or a broken environment (exit 3).
public struct RunError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case usage, environment }

    public let kind: Kind
    public let message: String

    public static func usage(_ message: String) -> RunError { RunError(kind: .usage, message: message) }
    public static func environment(_ message: String) -> RunError { RunError(kind: .environment, message: message) }

    /// The documented exit code.
    public var exitCode: Int32 { kind == .usage ? 2 : 3 }
    public var description: String { message }
}
