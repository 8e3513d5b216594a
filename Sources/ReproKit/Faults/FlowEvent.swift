import Foundation

/// One thing that happened to a proxied flow: it opened, was cut, or closed.
public struct FlowEvent: Sendable {
    /// What happened.
    public enum Kind: String, Sendable {
        /// A client connected.
        case open
        /// The proxy cut the flow on purpose (`cutAll` or the idle timeout).
        case cut
        /// Both sides of the flow are gone.
        case close
    }

    /// What happened.
    public var kind: Kind
    /// Sequence number of the flow within its proxy, starting at 1.
    public var flowID: Int
    /// The client's address as "host:port".
    public var clientAddress: String
    /// Bytes forwarded from client to upstream so far.
    public var bytesUp: Int
    /// Bytes forwarded from upstream to client so far.
    public var bytesDown: Int
    /// The cut mode, for `.cut` events and for closes of a flow that had been cut.
    public var mode: CutMode?
    /// What the client received (`.cut` and `.close` events); nil when the proxy sent it nothing to speak of.
    public var signal: ClientSignal?
    /// Why the proxy could not reach the upstream for this flow (`.close` of a flow whose dial failed), e.g.
    /// "Connection refused"; nil when it connected.
    public var upstreamError: String?
    /// An idle cut (`--after-idle`) of a flow whose server had not answered the client's last bytes: a query in
    /// progress, cut as a middlebox's idle timeout cuts it.
    public var midQuery = false
    /// The toxic of `repro proxy --api` that made the cut or close, if one did.
    public var toxic: String?
    /// When it happened.
    public var at: ContinuousClock.Instant

    /// Creates an event.
    public init(
        kind: Kind,
        flowID: Int,
        clientAddress: String,
        bytesUp: Int,
        bytesDown: Int,
        mode: CutMode?,
        signal: ClientSignal?,
        upstreamError: String? = nil,
        at: ContinuousClock.Instant = .now
    ) {
        self.kind = kind
        self.flowID = flowID
        self.clientAddress = clientAddress
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
        self.mode = mode
        self.signal = signal
        self.upstreamError = upstreamError
        self.at = at
    }
}

extension FlowEvent {
    /// The one log line `repro proxy` prints for this event.
    public func logLine(since start: ContinuousClock.Instant) -> String {
        let t = EventLog.milliseconds(at - start) / 1000
        var line = String(format: "%9.3f", t) + " flow \(flowID) \(kind.rawValue)"
        switch kind {
        case .open:
            line += " from \(clientAddress)"
        case .cut:
            line += " \(mode?.rawValue ?? "")"
            if midQuery { line += " mid-query (the server had not answered the client's last bytes)" }
            if let toxic { line += " by toxic \(toxic)" }
            if let signal { line += ": client got \(signal.rawValue)" }
            line += " (\(bytesUp) B up, \(bytesDown) B down)"
        case .close:
            if let signal { line += ": client got \(signal.rawValue)" }
            if let upstreamError { line += ", upstream unreachable: \(upstreamError)" }
            line += " (\(bytesUp) B up, \(bytesDown) B down)"
        }
        return line
    }
}
