/// A `host:port` pair as the proxy command takes it (`[::1]:3307` for IPv6).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; `allowZero` accepts port 0 (pick a free one).
    public init(parsing text: String, option: String, allowZero: Bool = false) throws(PolicyError) {
        let bad = PolicyError("\(option) '\(text)' is not host:port: use e.g. 127.0.0.1:3307")
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw bad
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw bad }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText) else { throw bad }
        guard (allowZero ? 0 : 1)...65535 ~= port else {
            throw PolicyError("\(option) port \(port) is out of range: use \(allowZero ? 0 : 1) to 65535")
        }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
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
