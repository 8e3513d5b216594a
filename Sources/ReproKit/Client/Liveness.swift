/// What a non-blocking peek at a connection's socket found, without a round trip.
public enum Liveness: String, Sendable, Codable, Equatable {
    /// Nothing to read and no error: the peer has not closed (as far as this host knows).
    case alive
    /// The peer sent FIN: recv returned 0.
    case closed
    /// The peer sent RST or the socket is in error.
    case reset
    /// Bytes are waiting although no command was sent: the stream is out of sync (e.g. a server error packet).
    case unexpectedData = "unexpected-data"

    public var isAlive: Bool { self == .alive }
}
