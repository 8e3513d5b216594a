import Foundation

/// Where to reach a MySQL/MariaDB server: the sandbox `ManagedServer` started, or one named by a DSN.
public struct ServerEndpoint: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Host name or IP address, IPv6 without brackets.
    public var host: String
    /// TCP port.
    public var port: Int
    /// User name, already percent-decoded.
    public var user: String
    /// Password, already percent-decoded; empty when none was given.
    public var password: String
    /// Default database, or nil for none.
    public var database: String?
    /// Path of the server's Unix socket, when known.
    public var unixSocket: String?
    /// True when this tool started the server and will tear it down.
    public var managed: Bool

    /// The format every DSN error points the user to.
    static let expectedForm = "DSN must look like mysql://user:password@host:port/database"

    /// Creates an endpoint from its parts.
    public init(
        host: String,
        port: Int = 3306,
        user: String = "root",
        password: String = "",
        database: String? = nil,
        unixSocket: String? = nil,
        managed: Bool = false
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.unixSocket = unixSocket
        self.managed = managed
    }

    /// Parses `mysql://user:password@host:port/database` (or `mariadb://`); port defaults to 3306, user to root.
    public init(dsn: String) throws(DSNError) {
        // Parsed by hand rather than with URLComponents: we need to know exactly which part failed,
        // and bracketed IPv6 plus percent-encoded passwords must round-trip without surprises.
        guard let schemeEnd = dsn.range(of: "://") else {
            throw DSNError(.unsupportedScheme, "\(Self.expectedForm) (missing mysql://)")
        }
        let scheme = dsn[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "mysql" || scheme == "mariadb" else {
            throw DSNError(.unsupportedScheme, "DSN scheme must be mysql:// or mariadb://; \(Self.expectedForm)")
        }
        var rest = dsn[schemeEnd.upperBound...]

        // The userinfo ends at the last "@": "?", "/" and "#" in an unencoded password belong to it, so the
        // query and the path are looked for only after it, and no message can echo a piece of the password.
        let atIndex = rest.lastIndex(of: "@")
        let searchFrom = atIndex.map { rest.index(after: $0) } ?? rest.startIndex
        var query: Substring = ""
        if let q = rest[searchFrom...].firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var path: Substring = ""
        if let slash = rest[searchFrom...].firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }

        var user = "root"
        var password = ""
        var hostPort = rest
        if let atIndex {
            let userInfo = rest[..<atIndex]
            hostPort = rest[rest.index(after: atIndex)...]
            let rawUser: Substring
            let rawPassword: Substring
            if let colon = userInfo.firstIndex(of: ":") {
                rawUser = userInfo[..<colon]
                rawPassword = userInfo[userInfo.index(after: colon)...]
            } else {
                rawUser = userInfo
                rawPassword = ""
            }
            // Never echo the raw text: a broken escape is most likely inside the password.
            guard let decodedUser = String(rawUser).removingPercentEncoding,
                let decodedPassword = String(rawPassword).removingPercentEncoding
            else {
                throw DSNError(
                    .invalidPercentEncoding,
                    "DSN user or password has a broken %-escape; write reserved characters as %XX (e.g. @ as %40)")
            }
            if !decodedUser.isEmpty { user = decodedUser }
            password = decodedPassword
        }

        let host: String
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw DSNError(.invalidIPv6, "DSN IPv6 host has no closing ]; write it as mysql://user@[::1]:3306/db")
            }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw DSNError(
                    .invalidIPv6, "DSN IPv6 host must be followed by :port or /; write it as mysql://user@[::1]:3306/db"
                )
            }
        } else {
            let colons = hostPort.filter { $0 == ":" }.count
            if colons > 1 {
                throw DSNError(.invalidIPv6, "DSN IPv6 host must be in brackets, e.g. mysql://user@[::1]:3306/db")
            }
            if let colon = hostPort.firstIndex(of: ":") {
                host = String(hostPort[..<colon])
                portText = hostPort[hostPort.index(after: colon)...]
            } else {
                host = String(hostPort)
            }
        }
        guard !host.isEmpty else {
            throw DSNError(.missingHost, "DSN has no host; \(Self.expectedForm)")
        }

        var port = 3306
        if let portText {
            // The text is not echoed: when the "@" is missing, this is where a password lands.
            guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
                let value = Int(portText), (1...65535).contains(value)
            else {
                throw DSNError(.invalidPort, "DSN port must be a number from 1 to 65535; \(Self.expectedForm)")
            }
            port = value
        }

        var database: String?
        if !path.isEmpty {
            guard !path.contains("/") else {
                throw DSNError(.invalidDatabase, "DSN path must be a single database name; \(Self.expectedForm)")
            }
            guard let decoded = String(path).removingPercentEncoding else {
                throw DSNError(
                    .invalidPercentEncoding, "DSN database name has a broken %-escape; write reserved characters as %XX"
                )
            }
            database = decoded
        }

        var unixSocket: String?
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0]
            guard key == "socket", parts.count == 2 else {
                // Keys are safe to name; values could be secrets, so they are not.
                throw DSNError(
                    .unsupportedParameter,
                    "DSN parameter '\(key.removingPercentEncoding ?? "?")' is not supported; the only parameter is ?socket=/path/to/mysqld.sock"
                )
            }
            guard let path = String(parts[1]).removingPercentEncoding else {
                throw DSNError(
                    .invalidPercentEncoding, "DSN socket path has a broken %-escape; write reserved characters as %XX")
            }
            unixSocket = path
        }

        self.init(
            host: host, port: port, user: user, password: password, database: database,
            unixSocket: unixSocket, managed: false)
    }

    /// The DSN with the password replaced by `***` (and no `***` when there is no password), safe for logs and reports.
    public var redactedDSN: String {
        var userInfo = Self.encode(user)
        if !password.isEmpty { userInfo += ":***" }
        var dsn = "mysql://\(userInfo)@\(hostPort)"
        if let database { dsn += "/" + Self.encode(database) }
        return dsn
    }

    /// `host:port`, with IPv6 hosts in brackets so the port stays unambiguous.
    public var hostPort: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(shownHost):\(port)"
    }

    /// Where repro connects, for messages and reports: `socket /path` when the DSN asks for a Unix socket on a
    /// server repro did not start, else host:port.
    public var address: String {
        if let unixSocket, !managed { return "socket \(unixSocket)" }
        return hostPort
    }

    /// The redacted DSN, so string interpolation can never leak the password.
    public var description: String { redactedDSN }

    /// The redacted DSN plus flags, so `debugPrint` and test failures never leak the password either.
    public var debugDescription: String {
        var parts = ["ServerEndpoint(\(redactedDSN)"]
        if let unixSocket { parts.append("socket: \(unixSocket)") }
        parts.append("managed: \(managed))")
        return parts.joined(separator: ", ")
    }

    private static func encode(_ text: String) -> String {
        // RFC 3986 unreserved characters only, so any reader can parse the redacted DSN back.
        let allowed = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
