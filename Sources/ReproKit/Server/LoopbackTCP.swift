import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The two socket chores of starting a sandbox: finding a free port and reading the server's greeting.
public enum LoopbackTCP {
    /// Outcome of one attempt to read the MySQL handshake.
    enum Greeting: Sendable, Equatable {
        /// The server sent a protocol-10 handshake with this version string.
        case version(String)
        /// Nothing listens yet, or it closed or stalled before greeting.
        case notReady
        /// Something answered that is not a MySQL handshake (an error packet or garbage).
        case unexpected(String)
    }

    /// Asks the kernel for an unused port on 127.0.0.1; another process may still take it before we use it.
    public static func freePort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// True when something accepts a TCP connection on 127.0.0.1:`port` now (the connection is closed at once).
    public static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Connects to 127.0.0.1:`port` and reads the initial handshake packet, waiting at most `timeout` for it.
    static func readGreeting(port: Int, timeout: Duration) -> Greeting {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .notReady }
        defer { close(fd) }
        // On loopback connect fails or succeeds at once, so a blocking connect is fine; the read is what may stall
        // (the server listens a moment before it accepts), so it gets the timeout.
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return .notReady }
        let (seconds, attoseconds) = max(timeout, .milliseconds(10)).components
        var readTimeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &readTimeout, socklen_t(MemoryLayout<timeval>.size))

        guard let header = readExactly(fd, 4) else { return .notReady }
        let length = Int(header[0]) | Int(header[1]) << 8 | Int(header[2]) << 16
        guard length > 0, length <= 1 << 16, let payload = readExactly(fd, length) else {
            return .unexpected("handshake packet of \(length) bytes")
        }
        if payload[0] == 0xFF {
            // Error packet: 0xFF, 2-byte code, then '#' + 5-byte SQLSTATE (optional) and the message.
            var message = payload.dropFirst(3)
            if message.first == UInt8(ascii: "#") { message = message.dropFirst(6) }
            return .unexpected(String(decoding: message, as: UTF8.self))
        }
        guard payload[0] == 10, let end = payload.dropFirst().firstIndex(of: 0) else {
            return .unexpected("protocol version \(payload[0]) instead of 10")
        }
        return .version(String(decoding: payload[1..<end], as: UTF8.self))
    }

    private static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, count - filled) }
            if n > 0 {
                filled += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return nil
            }
        }
        return buffer
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
