#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A plain blocking POSIX TCP client, so tests see exactly what the kernel reports (ECONNRESET vs EOF vs EAGAIN).
final class ProxyTestSocket {
    enum Received: Equatable {
        case data([UInt8])
        case eof
        case failure(Int32)
    }

    let fd: Int32

    /// Connects to 127.0.0.1:`port`; returns nil with errno on failure.
    static func connect(port: Int, errnoOut: UnsafeMutablePointer<Int32>? = nil) -> ProxyTestSocket? {
        let fd = tcpSocket()
        guard fd >= 0 else { return nil }
        if !onLoopback(port: port, { Glibc.connect(fd, $0, $1) == 0 }) {
            errnoOut?.pointee = errno
            Glibc.close(fd)
            return nil
        }
        let socket = ProxyTestSocket(fd: fd)
        socket.setReceiveTimeout(milliseconds: 5_000)
        return socket
    }

    /// A port nothing listens on, below the kernel's ephemeral range (32768 and up here): a test that frees it and
    /// checks it refuses cannot see it handed to another test's listen on port 0 meanwhile.
    static func unusedPortBelowEphemeralRange() -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<32_000)
            let fd = tcpSocket()
            guard fd >= 0 else { continue }
            defer { Glibc.close(fd) }
            if onLoopback(port: port, { bind(fd, $0, $1) == 0 }) { return port }
        }
        return 0
    }

    private static func tcpSocket() -> Int32 {
        #if canImport(Glibc)
            socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            socket(AF_INET, SOCK_STREAM, 0)
        #endif
    }

    /// Calls `body` with 127.0.0.1:`port` as a `sockaddr` and its length.
    private static func onLoopback(
        port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Bool
    ) -> Bool {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    private init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        Glibc.close(fd)
    }

    func setReceiveTimeout(milliseconds: Int) {
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func setNoDelay() {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sends everything; returns 0 or the errno of the failing send.
    @discardableResult
    func sendAll(_ bytes: [UInt8]) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return 0
    }

    func sendAll(_ text: String) -> Int32 {
        sendAll(Array(text.utf8))
    }

    /// One recv of at most `max` bytes.
    func receive(max: Int = 65_536) -> Received {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
            if n > 0 { return .data(Array(buffer[0..<n])) }
            if n == 0 { return .eof }
            if errno == EINTR { continue }
            return .failure(errno)
        }
    }

    /// Reads exactly `count` bytes, or returns what ended the read early.
    func receiveExactly(_ count: Int) -> Result<[UInt8], ReceiveFailure> {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            switch receive(max: min(65_536, count - result.count)) {
            case .data(let bytes): result += bytes
            case .eof: return .failure(ReceiveFailure(received: result.count, outcome: .eof))
            case .failure(let code):
                return .failure(ReceiveFailure(received: result.count, outcome: .failure(code)))
            }
        }
        return .success(result)
    }

    struct ReceiveFailure: Error {
        var received: Int
        var outcome: Received
    }

    /// Sends `text` and expects it back verbatim from an echo upstream.
    func roundTrip(_ text: String) -> Bool {
        guard sendAll(text) == 0 else { return false }
        guard case .success(let bytes) = receiveExactly(text.utf8.count) else { return false }
        return bytes == Array(text.utf8)
    }

    /// Makes the coming close() send RST instead of FIN.
    func setLingerZero() {
        var value = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
    }

    func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }
}
