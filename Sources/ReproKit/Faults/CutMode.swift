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

/// Where a network cut happens: the in-process proxy or kernel packet filtering cut flows at a chosen moment;
/// a NAT or HAProxy between pool and server forgets or closes idle flows by itself, after its idle timeout.
public enum CutVia: String, Sendable, Codable, CaseIterable {
    case proxy, kernel
    /// A real Linux NAT in network namespaces of the run's own (`IdleTimeoutNAT`; root).
    case nat
    /// A real HAProxy in TCP mode (`HAProxyMiddlebox`).
    case haproxy

    /// True for the middleboxes whose own idle timeout is the fault (no cut at a chosen moment).
    public var isMiddlebox: Bool { self == .nat || self == .haproxy }
}
