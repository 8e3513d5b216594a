/// How a network cut treats a flow that is open and idle.
public enum CutMode: String, Sendable, Codable, CaseIterable {
    /// RST to both sides (SO_LINGER {on, 0} then close).
    case reset
    /// FIN to the client, upstream closed.
    case close
    /// Both sockets stay open; nothing is forwarded either way from now on.
    case blackhole
    /// Upstream silently dropped now; the client's next bytes are answered with RST.
    case halfOpen = "half-open"
}

/// Where a network cut happens: the in-process proxy or kernel packet filtering.
public enum CutVia: String, Sendable, Codable, CaseIterable {
    case proxy, kernel
}
