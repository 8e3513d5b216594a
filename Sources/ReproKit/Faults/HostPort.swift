/// A `host:port` pair as the proxy command takes it (`[::1]:3307` for IPv6).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; `allowZero` accepts port 0 (pick a free one). The usage error names the problem
    /// and the fix, not the option: the command line says which option it was.
    public init(parsing text: String, allowZero: Bool = false) throws(RunError) {
        let bad = RunError.usage("'\(text)' is not host:port: use e.g. 127.0.0.1:3307")
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
            throw .usage("port \(port) is out of range: use \(allowZero ? 0 : 1) to 65535")
        }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
