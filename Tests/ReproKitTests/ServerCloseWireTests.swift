#if os(Linux)
    import CMariaDB
    import Foundation
    import Glibc
    import ReproKit
    import ReproTestSupport
    import Testing

    // What MariaDB puts on the wire when it ends a connection, measured against a real mariadbd. The error
    // catalog's server-side statements (entries `server-closed-idle` and `thread-killed`) rest on these tests.
    //
    // Measured on MariaDB 10.11.19 (Debian 12 package, one-thread-per-connection), Linux 6.18, loopback:
    //
    // - wait_timeout: no bytes at all (no error packet; MySQL 8.0.24+ would send 4031 first), then an RST with no
    //   FIN before it. The client's next recv fails with ECONNRESET, its next send too. The same whether the
    //   connection sat idle right after the handshake and init command or after a query whose result it read
    //   completely: nothing was left unread in the server's receive buffer, so the RST is not the kernel's
    //   "closed with unread data" reset. Why (read in MariaDB's vio/viosocket.c and confirmed with strace): when
    //   the wait for the next command times out, `vio_socket_io_wait` calls `vio_set_linger(fd, 0)`, i.e.
    //   SO_LINGER {on, 0}; the thread then logs "Aborted connection ... (Got timeout reading communication
    //   packets)" and close()s the socket, and a close with a zero linger is an abortive close (RST). strace shows
    //   no write attempt at all on that path: the timeout error is logged, never sent.
    // - KILL CONNECTION on an idle connection, and KILL while the connection runs SELECT SLEEP(5): no bytes (no
    //   1927 ER_CONNECTION_KILLED, no result), then a FIN. The client's recv returns 0 (EOF) and its TCP state is
    //   CLOSE_WAIT; a query sent afterwards is accepted by the client's kernel and answered with an RST by the
    //   server's. Why (strace): the killing thread calls shutdown(SHUT_RDWR) on the victim's socket first, which
    //   sends the FIN and wakes the victim; the victim then tries to write 1927 (idle) or the SLEEP result (busy)
    //   and gets EPIPE, so the packet never leaves the server; its close() is an ordinary one.
    // - KILL QUERY (the control case that proves the error-packet decoding works): the result-set header, then
    //   the error packet 1317 ER_QUERY_INTERRUPTED, and the connection stays open.
    //
    // What a client makes of it: after the RST the next send already fails (ECONNRESET), so Connector/C reports
    // 2006 CR_SERVER_GONE_ERROR, and drivers that peek or read first see "connection reset by peer" / "read
    // ECONNRESET" (what go-sql-driver and mysql2 report after a wait_timeout); after the FIN the send succeeds
    // and the read finds EOF, so Connector/C reports 2013 CR_SERVER_LOST and Go sees EOF.
    @Suite("What MariaDB puts on the wire when it closes a connection", .ownThreads, .requiresServer)
    struct ServerCloseWireTests {
        @Test("wait_timeout: no error packet, then RST (not FIN), idle after the handshake or after a read result")
        func waitTimeoutSendsReset() throws {
            let server = try ManagedServer.start()
            defer { server.stop() }
            let setTimeout = "SET SESSION wait_timeout=1"
            // (a) nothing after the handshake and the init command; (b) a query whose result was read completely.
            let idle = try WireClient(server.endpoint, initCommand: setTimeout)
            let afterQuery = try WireClient(server.endpoint, initCommand: setTimeout)
            try afterQuery.selectOne()
            // What a pool without a check does next: send a query on the dead connection.
            let sender = try WireClient(server.endpoint, initCommand: setTimeout)
            let driver = try MariaDBConnection(options: options(server.endpoint, initCommands: [setTimeout]))
            let admin = try MariaDBConnection(options: options(server.endpoint))
            let capture = startCapture(server)

            sleepSeconds(2)
            // Asks the server, not the clients' sockets: once the four threads are gone their sockets are closed.
            let threads = [idle.threadID, afterQuery.threadID, sender.threadID, driver.threadID]
            try waitUntilGone(threads, admin: admin)
            let observations = [("idle", idle.observe()), ("after a query", afterQuery.observe())]
            let sent = sender.sendQuery("SELECT 1")
            let afterSend = sender.observe(wait: .seconds(1))
            let driverError = #expect(throws: DatabaseError.self) { try driver.query("SELECT 1") }
            let segments = capture?.drain() ?? []

            let version = server.version
            for (label, seen) in observations {
                #expect(seen.peek == -1 && seen.peekErrno == ECONNRESET, "\(label): the peek meets the RST (\(seen))")
                #expect(seen.received.isEmpty, "\(label): no bytes, no error packet (\(seen)) on \(version)")
                #expect(seen.errorPackets.isEmpty, "\(label): \(seen)")
                #expect(seen.end == .error(ECONNRESET), "\(label): the end is an RST (\(seen)) on \(version)")
                #expect(seen.tcpState == .close, "\(label): an RST leaves the socket CLOSED (\(seen))")
            }
            #expect(sent == .error(ECONNRESET), "the next query's send fails: \(sent)")
            #expect(afterSend.received.isEmpty, "\(afterSend)")
            #expect(driverError?.code == .serverGone, "Connector/C: \(String(describing: driverError))")
            if capture != nil {
                for (label, client) in [("idle", idle), ("after a query", afterQuery), ("sender", sender)] {
                    let wire = segments.filter { $0.clientPort == client.localPort }
                    #expect(wire.contains { $0.isReset }, "\(label): RST on the wire: \(wire)")
                    #expect(!wire.contains { $0.isFin }, "\(label): no FIN on the wire: \(wire)")
                    #expect(wire.allSatisfy { $0.payload == 0 }, "\(label): no bytes on the wire: \(wire)")
                }
            }
        }

        @Test("KILL CONNECTION on an idle connection: no error packet, then FIN; a query sent after it draws an RST")
        func killIdleSendsFin() throws {
            let server = try ManagedServer.start()
            defer { server.stop() }
            let admin = try MariaDBConnection(options: options(server.endpoint))
            let victim = try WireClient(server.endpoint)
            let sender = try WireClient(server.endpoint)
            let driver = try MariaDBConnection(options: options(server.endpoint))
            let capture = startCapture(server)

            let threads = [victim.threadID, sender.threadID, driver.threadID]
            for id in threads {
                try admin.query("KILL CONNECTION \(id)")
            }
            // The killed threads have closed their sockets: what the late query meets is settled.
            try waitUntilGone(threads, admin: admin)
            let seen = victim.observe()
            let sent = sender.sendQuery("SELECT 1")
            let afterSend = sender.observe(wait: .seconds(1))
            let driverError = #expect(throws: DatabaseError.self) { try driver.query("SELECT 1") }
            let segments = capture?.drain() ?? []

            let version = server.version
            #expect(seen.peek == 0, "the peek meets the FIN, no bytes wait (\(seen))")
            #expect(seen.received.isEmpty, "no bytes, no 1927 error packet (\(seen)) on \(version)")
            #expect(seen.end == .eof, "the end is a FIN (\(seen)) on \(version)")
            #expect(seen.tcpState == .closeWait, "a FIN leaves the socket in CLOSE_WAIT (\(seen))")
            #expect(sent == .sent(13), "the client's kernel accepts the next query (\(sent))")
            #expect(afterSend.received.isEmpty && afterSend.end == .eof, "then reads EOF (\(afterSend))")
            #expect(afterSend.tcpState == .close, "the server answered the query with an RST (\(afterSend))")
            #expect(driverError?.code == .serverLost, "Connector/C: \(String(describing: driverError))")
            if capture != nil {
                expectFinOnly(segments.filter { $0.clientPort == victim.localPort })
                let toSender = segments.filter { $0.clientPort == sender.localPort }
                let fin = toSender.firstIndex { $0.isFin }
                let reset = toSender.firstIndex { $0.isReset }
                #expect(fin != nil && reset != nil && fin! < reset!, "FIN, then RST for the late query: \(toSender)")
            }
        }

        @Test("KILL while SELECT SLEEP(5) runs: neither the result nor 1927 reaches the client, then FIN")
        func killBusySendsFin() throws {
            let server = try ManagedServer.start()
            defer { server.stop() }
            let admin = try MariaDBConnection(options: options(server.endpoint))
            let victim = try WireClient(server.endpoint)
            let capture = startCapture(server)
            #expect(victim.sendQuery("SELECT SLEEP(5)") == .sent(20))
            try waitUntilSleeping(victim.threadID, admin: admin)

            try admin.query("KILL \(victim.threadID)")
            let seen = victim.observe()
            let segments = capture?.drain() ?? []

            let version = server.version
            #expect(seen.received.isEmpty, "no result, no 1927 error packet (\(seen)) on \(version)")
            #expect(seen.end == .eof, "the end is a FIN (\(seen)) on \(version)")
            #expect(seen.tcpState == .closeWait, "\(seen)")
            if capture != nil {
                expectFinOnly(segments.filter { $0.clientPort == victim.localPort })
            }
        }

        /// The server ended the flow with a FIN alone: no RST, not one byte (no error packet).
        func expectFinOnly(_ wire: [LoopbackCapture.Segment], sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(wire.contains { $0.isFin }, "FIN on the wire: \(wire)", sourceLocation: sourceLocation)
            #expect(!wire.contains { $0.isReset }, "no RST on the wire: \(wire)", sourceLocation: sourceLocation)
            #expect(
                wire.allSatisfy { $0.payload == 0 }, "no bytes on the wire: \(wire)", sourceLocation: sourceLocation)
        }

        @Test("control: KILL QUERY puts the error packet 1317 on the wire and keeps the connection")
        func killQuerySendsErrorPacket() throws {
            let server = try ManagedServer.start()
            defer { server.stop() }
            let admin = try MariaDBConnection(options: options(server.endpoint))
            let victim = try WireClient(server.endpoint)
            let capture = startCapture(server)
            #expect(victim.sendQuery("SELECT SLEEP(5)") == .sent(20))
            try waitUntilSleeping(victim.threadID, admin: admin)

            try admin.query("KILL QUERY \(victim.threadID)")
            let seen = victim.observe(wait: .seconds(1))
            let segments = capture?.drain() ?? []

            #expect(
                seen.errorPackets == [ErrorPacket(code: 1317, message: "Query execution was interrupted")], "\(seen)")
            #expect(seen.end == .open, "the connection stays open (\(seen))")
            #expect(seen.tcpState == .established, "\(seen)")
            if capture != nil {
                let wire = segments.filter { $0.clientPort == victim.localPort }
                #expect(wire.reduce(0) { $0 + $1.payload } == seen.received.count, "\(wire)")
                #expect(!wire.contains { $0.isFin || $0.isReset }, "\(wire)")
            }
        }
    }

    // MARK: - Helpers

    private func options(_ endpoint: ServerEndpoint, initCommands: [String] = []) -> ConnectionOptions {
        ConnectionOptions(
            host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password,
            readTimeout: 10, writeTimeout: 10, initCommands: initCommands)
    }

    private func sleepSeconds(_ seconds: Double) {
        usleep(UInt32(seconds * 1_000_000))
    }

    /// The loopback capture; as root it must work (without root there is none and recv's evidence stands alone).
    private func startCapture(_ server: ManagedServer) -> LoopbackCapture? {
        let capture = LoopbackCapture(serverPort: server.endpoint.port)
        if capture == nil && geteuid() == 0 { Issue.record("no AF_PACKET capture on lo although running as root") }
        return capture
    }

    /// Waits (up to 5 s) until the thread sits inside SLEEP(), so the kill hits a running query.
    private func waitUntilSleeping(_ threadID: UInt64, admin: MariaDBConnection) throws {
        let sql = "SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = \(threadID)"
        for _ in 0..<250 {
            if try admin.query(sql).first?.first == "User sleep" { return }
            usleep(20_000)
        }
        Issue.record("thread \(threadID) never reached SLEEP()")
    }

    /// Waits (up to 5 s) until the server has ended these threads.
    private func waitUntilGone(_ threadIDs: [UInt64], admin: MariaDBConnection) throws {
        let ids = threadIDs.map(String.init).joined(separator: ",")
        let sql = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (\(ids))"
        for _ in 0..<250 {
            if try admin.query(sql).first?.first == "0" { return }
            usleep(20_000)
        }
        Issue.record("threads \(ids) still exist 5 s later")
    }

    struct WireError: Error, CustomStringConvertible {
        var description: String
    }

    /// The client's TCP state (`tcpi_state` from TCP_INFO): what the kernel made of the server's segments.
    enum TCPState: UInt8, CustomStringConvertible {
        case established = 1
        case close = 7
        case closeWait = 8
        case other = 0

        var description: String {
            switch self {
            case .established: "ESTABLISHED"
            case .close: "CLOSE"
            case .closeWait: "CLOSE_WAIT"
            case .other: "other"
            }
        }
    }

    /// How reading the socket ended.
    enum SocketEnd: Equatable, CustomStringConvertible {
        /// recv returned 0: the peer's FIN.
        case eof
        /// recv failed; ECONNRESET is the peer's RST.
        case error(Int32)
        /// Nothing more within the wait: the connection is still up.
        case open

        var description: String {
            switch self {
            case .eof: "EOF (FIN)"
            case .error(let code): code == ECONNRESET ? "ECONNRESET (RST)" : "errno \(code)"
            case .open: "still open"
            }
        }
    }

    enum SendResult: Equatable {
        case sent(Int)
        case error(Int32)
    }

    /// A MySQL error packet (0xFF, code, optional #SQLSTATE, message).
    struct ErrorPacket: Equatable {
        var code: Int
        var message: String
    }

    /// What the client's socket showed once the server had acted.
    struct Observation: CustomStringConvertible {
        /// The non-blocking MSG_PEEK before any read: byte count, 0 for FIN, or the errno (an RST).
        var peek: Int
        var peekErrno: Int32
        var received: [UInt8]
        var end: SocketEnd
        /// After the end was read.
        var tcpState: TCPState

        /// The MySQL packets in `received` that are error packets.
        var errorPackets: [ErrorPacket] {
            var packets: [ErrorPacket] = []
            var at = 0
            while at + 4 <= received.count {
                let length = Int(received[at]) | Int(received[at + 1]) << 8 | Int(received[at + 2]) << 16
                let start = at + 4
                guard start + length <= received.count else { break }
                let payload = Array(received[start..<start + length])
                if length >= 3, payload[0] == 0xFF {
                    let code = Int(payload[1]) | Int(payload[2]) << 8
                    var text = payload.dropFirst(3)
                    if text.first == UInt8(ascii: "#") { text = text.dropFirst(6) }
                    packets.append(ErrorPacket(code: code, message: String(decoding: text, as: UTF8.self)))
                }
                at = start + length
            }
            return packets
        }

        var description: String {
            let peeked = peek >= 0 ? "\(peek) bytes" : "errno \(peekErrno)"
            return
                "peek \(peeked), received \(received.count) bytes \(errorPackets), end \(end), TCP state \(tcpState)"
        }
    }

    /// A Connector/C connection (TCP, no reconnect) whose socket this test then reads with plain syscalls.
    final class WireClient {
        private let handle: UnsafeMutablePointer<MYSQL>
        let fd: Int32
        let threadID: UInt64
        let localPort: UInt16

        init(_ endpoint: ServerEndpoint, initCommand: String? = nil) throws {
            guard let h = mysql_init(nil) else { throw WireError(description: "mysql_init failed") }
            _ = repro_mysql_option_uint(h, MYSQL_OPT_CONNECT_TIMEOUT, 5)
            _ = repro_mysql_option_uint(h, MYSQL_OPT_READ_TIMEOUT, 10)
            _ = repro_mysql_option_bool(h, MYSQL_OPT_RECONNECT, 0)
            _ = repro_mysql_option_uint(h, MYSQL_OPT_PROTOCOL, UInt32(MYSQL_PROTOCOL_TCP.rawValue))
            if let initCommand { _ = repro_mysql_option_string(h, MYSQL_INIT_COMMAND, initCommand) }
            guard
                mysql_real_connect(
                    h, endpoint.host, endpoint.user, endpoint.password, nil, UInt32(endpoint.port), nil, 0) != nil
            else {
                let message = String(cString: mysql_error(h))
                mysql_close(h)
                throw WireError(description: "connect failed: \(message)")
            }
            let socket = Int32(mysql_get_socket(h))
            handle = h
            fd = socket
            threadID = UInt64(mysql_thread_id(h))
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
            }
            localPort = UInt16(bigEndian: address.sin_port)
        }

        deinit {
            // The socket is dead or was read behind Connector/C's back: no COM_QUIT that could block.
            shutdown(fd, Int32(SHUT_RDWR))
            mysql_close(handle)
        }

        /// `SELECT 1` through Connector/C, its result read completely.
        func selectOne() throws {
            guard mysql_query(handle, "SELECT 1") == 0, let result = mysql_store_result(handle) else {
                throw WireError(description: String(cString: mysql_error(handle)))
            }
            mysql_free_result(result)
        }

        /// Writes one COM_QUERY packet with send(2), as a driver does, and reads nothing.
        func sendQuery(_ sql: String) -> SendResult {
            let body = [UInt8(0x03)] + Array(sql.utf8)
            let packet = [UInt8(body.count & 0xFF), UInt8(body.count >> 8 & 0xFF), UInt8(body.count >> 16), 0] + body
            let n = packet.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            return n < 0 ? .error(errno) : .sent(n)
        }

        /// Peeks without blocking, then reads until EOF, an error, or `wait` without anything new.
        func observe(wait: Duration = .seconds(3)) -> Observation {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let peek = recv(fd, &buffer, buffer.count, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
            let peekErrno = peek < 0 ? errno : 0
            var received: [UInt8] = []
            // A peek that fails has consumed the socket's pending error: that error is the end.
            var end: SocketEnd? = peek < 0 && peekErrno != EAGAIN ? .error(peekErrno) : nil
            let deadline = ContinuousClock.now + wait
            while end == nil {
                let remaining = deadline - .now
                guard remaining > .zero else {
                    end = .open
                    break
                }
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, Int32(remaining / .milliseconds(1)) + 1)
                if ready < 0 && errno == EINTR { continue }
                if ready <= 0 { continue }
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n > 0 {
                    received += buffer[0..<n]
                } else if n == 0 {
                    end = .eof
                } else if errno != EAGAIN && errno != EINTR {
                    end = .error(errno)
                }
            }
            return Observation(
                peek: peek, peekErrno: peekErrno, received: received, end: end ?? .open, tcpState: tcpState())
        }

        private func tcpState() -> TCPState {
            // struct tcp_info starts with tcpi_state; TCP_INFO is 11 on Linux.
            var info = [UInt8](repeating: 0, count: 256)
            var length = socklen_t(info.count)
            guard getsockopt(fd, Int32(IPPROTO_TCP), 11, &info, &length) == 0 else { return .other }
            return TCPState(rawValue: info[0]) ?? .other
        }
    }

    /// TCP segments from the server's port seen arriving on the loopback interface: an AF_PACKET socket
    /// (root only; without the privilege there is no capture and the tests rely on what recv saw).
    final class LoopbackCapture {
        struct Segment: CustomStringConvertible {
            var clientPort: UInt16
            var flags: UInt8
            var payload: Int

            var isFin: Bool { flags & 0x01 != 0 }
            var isReset: Bool { flags & 0x04 != 0 }
            var description: String {
                let names = [(0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, ".")]
                return "[" + names.filter { Int(flags) & $0.0 != 0 }.map(\.1).joined() + "] \(payload)"
            }
        }

        private let fd: Int32
        private let serverPort: UInt16

        init?(serverPort: Int) {
            self.serverPort = UInt16(serverPort)
            let ethernetIPv4 = UInt16(0x0800)  // ETH_P_IP
            // SOCK_DGRAM: the link header is stripped, every frame starts at the IPv4 header.
            let fd = socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue), Int32(ethernetIPv4.bigEndian))
            guard fd >= 0 else { return nil }
            self.fd = fd
            // The kernel keeps only TCP from the server's port: ldb [9]; jeq 6; ldxb 4*([0]&0xf); ldh [x+0];
            // jeq port; ret all; ret 0.
            let program: [(UInt16, UInt8, UInt8, UInt32)] = [
                (0x30, 0, 0, 9), (0x15, 0, 4, 6), (0xB1, 0, 0, 0), (0x48, 0, 0, 0),
                (0x15, 0, 1, UInt32(serverPort)), (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0),
            ]
            var instructions = [UInt8]()
            for (code, jt, jf, k) in program {
                instructions += withUnsafeBytes(of: code.littleEndian, Array.init)
                instructions += [jt, jf] + withUnsafeBytes(of: k.littleEndian, Array.init)
            }
            let attached = instructions.withUnsafeBytes { filter -> Int32 in
                // struct sock_fprog { unsigned short len; struct sock_filter *filter; } on LP64.
                var fprog = [UInt8](repeating: 0, count: 16)
                fprog.withUnsafeMutableBytes {
                    $0.storeBytes(of: UInt16(program.count), toByteOffset: 0, as: UInt16.self)
                    $0.storeBytes(of: UInt(bitPattern: filter.baseAddress), toByteOffset: 8, as: UInt.self)
                }
                return setsockopt(fd, SOL_SOCKET, 26, fprog, socklen_t(fprog.count))  // SO_ATTACH_FILTER
            }
            // struct sockaddr_ll: family, protocol, ifindex; bound to lo only.
            var address = [UInt8](repeating: 0, count: 20)
            address.withUnsafeMutableBytes {
                $0.storeBytes(of: UInt16(AF_PACKET), toByteOffset: 0, as: UInt16.self)
                $0.storeBytes(of: ethernetIPv4.bigEndian, toByteOffset: 2, as: UInt16.self)
                $0.storeBytes(of: Int32(if_nametoindex("lo")), toByteOffset: 4, as: Int32.self)
            }
            let bound = address.withUnsafeBytes {
                bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
            }
            guard attached == 0, bound == 0 else {
                close(fd)
                return nil
            }
        }

        deinit { close(fd) }

        /// Everything captured so far, in arrival order; loopback's outgoing copies are skipped.
        func drain() -> [Segment] {
            var segments: [Segment] = []
            var frame = [UInt8](repeating: 0, count: 65536)
            while true {
                var from = [UInt8](repeating: 0, count: 32)
                var fromLength = socklen_t(from.count)
                let n = frame.withUnsafeMutableBytes { buffer in
                    from.withUnsafeMutableBytes {
                        recvfrom(
                            fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT),
                            $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &fromLength)
                    }
                }
                guard n > 0 else { break }
                // sockaddr_ll.sll_pkttype at offset 10; PACKET_OUTGOING (4) is the sending side's copy.
                if from[10] == 4 { continue }
                if let segment = parse(frame[0..<n]) { segments.append(segment) }
            }
            return segments
        }

        private func parse(_ ip: ArraySlice<UInt8>) -> Segment? {
            let ip = Array(ip)
            guard ip.count >= 20, ip[0] >> 4 == 4, ip[9] == 6 else { return nil }
            let headerLength = Int(ip[0] & 0x0F) * 4
            let totalLength = Int(ip[2]) << 8 | Int(ip[3])
            guard ip.count >= headerLength + 20 else { return nil }
            let tcp = headerLength
            let source = UInt16(ip[tcp]) << 8 | UInt16(ip[tcp + 1])
            let destination = UInt16(ip[tcp + 2]) << 8 | UInt16(ip[tcp + 3])
            guard source == serverPort else { return nil }
            let tcpLength = Int(ip[tcp + 12] >> 4) * 4
            return Segment(
                clientPort: destination, flags: ip[tcp + 13], payload: totalLength - headerLength - tcpLength)
        }
    }
#endif
