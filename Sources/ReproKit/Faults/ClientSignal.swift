/// What the client side of a flow actually received from the proxy.
public enum ClientSignal: String, Sendable, Codable {
    /// A TCP reset: the client's next recv fails with ECONNRESET.
    case rst
    /// An orderly close: the client's next recv returns 0 (EOF).
    case fin
    /// Nothing at all: the client only notices through its own timeout.
    case none
}
