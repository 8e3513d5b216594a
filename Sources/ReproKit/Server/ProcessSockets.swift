import Foundation

/// The TCP connections a process group holds, read from `/proc` (Linux).
///
/// An adapter's pool lives in another process, so the runner cannot ask it for its sockets. Before `--jobs`,
/// "threads of this user that appeared after the pool opened" named them; with several scenarios on one
/// server that also catches the neighbours' threads. The client ports of the adapter's own sockets (its
/// process group's descriptors, matched to `/proc/net/tcp{,6}` by inode) name them exactly; the server's
/// processlist `HOST` column carries the same port.
public enum ProcessSockets {
    /// Local ports of TCP sockets held by any process in `group` whose peer port is `remotePort`; nil when
    /// `/proc` cannot be read (not Linux, or hidden).
    public static func clientPorts(processGroup group: pid_t, remotePort: Int, proc: String = "/proc") -> Set<Int>? {
        clientEndpoints(processGroup: group, remotePort: remotePort, proc: proc).map { Set($0.map(\.port)) }
    }

    /// Local address and port of TCP sockets held by any process in `group` whose peer port is `remotePort`;
    /// nil when `/proc` cannot be read. The address is what a server that sees the flow untranslated shows in
    /// its processlist `HOST` column (IPv4-mapped IPv6 addresses as IPv4).
    public static func clientEndpoints(processGroup group: pid_t, remotePort: Int, proc: String = "/proc")
        -> [ClientEndpoint]?
    {
        clientEndpoints(remotePort: remotePort, proc: proc) { processGroup(of: $0, proc: proc) == group }
    }

    /// The same for this process alone (repro's own sockets: a proxy's upstream connections).
    /// How many sockets of this network namespace are ESTABLISHED to `remotePort` (any address); nil when the TCP
    /// tables cannot be read.
    public static func establishedCount(remotePort: Int, proc: String = "/proc") -> Int? {
        var count = 0
        var read = false
        for table in ["\(proc)/self/net/tcp", "\(proc)/self/net/tcp6"] {
            guard let text = readAll(table) else { continue }
            read = true
            for line in text.split(separator: "\n").dropFirst() {
                if let row = TCPRow(line), row.remotePort == remotePort, row.state == 1 { count += 1 }
            }
        }
        return read ? count : nil
    }

    public static func ownClientEndpoints(remotePort: Int, proc: String = "/proc") -> [ClientEndpoint]? {
        let me = getpid()
        return clientEndpoints(remotePort: remotePort, proc: proc) { $0 == me }
    }

    static func clientEndpoints(remotePort: Int, proc: String, includes: (pid_t) -> Bool) -> [ClientEndpoint]? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else { return nil }
        var inodes = Set<UInt64>()
        // The TCP tables of each network namespace the group's processes live in (one behind a NAT, in a
        // namespace of the run's own, sees tables that are not ours), read through one process in each.
        var tableRoots: [String: String] = [:]
        for entry in entries {
            guard let pid = Int32(entry), includes(pid) else { continue }
            let fdDir = "\(proc)/\(pid)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: fdDir)) ?? [] {
                guard let inode = link("\(fdDir)/\(fd)").flatMap(socketInode) else { continue }
                inodes.insert(inode)
            }
            // A process whose namespace cannot be read is taken to share ours.
            if let namespace = link("\(proc)/\(pid)/ns/net") {
                if tableRoots[namespace] == nil { tableRoots[namespace] = "\(proc)/\(pid)" }
            } else {
                tableRoots["own"] = proc
            }
        }
        var endpoints = Set<ClientEndpoint>()
        let roots = tableRoots.isEmpty ? [proc] : Array(tableRoots.values)
        for table in roots.flatMap({ ["\($0)/net/tcp", "\($0)/net/tcp6"] }) {
            guard let text = readAll(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                guard let row = TCPRow(line), row.remotePort == remotePort, inodes.contains(row.inode) else { continue }
                endpoints.insert(ClientEndpoint(address: row.localAddress, port: row.localPort))
            }
        }
        return endpoints.sorted { ($0.port, $0.address) < ($1.port, $1.address) }
    }

    /// Every process descended from `root` now (children, theirs, …), by the parent links in `/proc/<pid>/stat`:
    /// a grandchild that called `setsid` left the process group but is still found here while its parent lives.
    public static func descendants(of root: pid_t, proc: String = "/proc") -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else { return [] }
        var children: [pid_t: [pid_t]] = [:]
        for entry in entries {
            guard let pid = Int32(entry), let parent = parent(of: pid, proc: proc) else { continue }
            children[parent, default: []].append(pid)
        }
        var out: [pid_t] = []
        var queue = children[root] ?? []
        // Bounded by the number of processes: each is visited once.
        while let next = queue.popLast(), out.count < entries.count {
            out.append(next)
            queue += children[next] ?? []
        }
        return out
    }

    /// The parent of `pid` from `/proc/<pid>/stat` (field 4).
    static func parent(of pid: pid_t, proc: String = "/proc") -> pid_t? {
        guard let stat = readAll("\(proc)/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }

    /// The process group of `pid` from `/proc/<pid>/stat` (field 5, after the parenthesised command name).
    static func processGroup(of pid: pid_t, proc: String = "/proc") -> pid_t? {
        guard let stat = readAll("\(proc)/\(pid)/stat"),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields: state, ppid, pgrp, ...
        return fields.count > 2 ? pid_t(fields[2]) : nil
    }

    /// The whole of a `/proc` file. Foundation's `String(contentsOfFile:)` trusts the size `stat` gives, and
    /// procfs files give 0 or a page: with many connections `/proc/net/tcp` was cut at 4 KiB.
    static func readAll(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        // Bounded: /proc/net/tcp is about 150 bytes per socket; 64 MiB is far above any real table.
        while bytes.count < 64 << 20 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// What a `/proc/<pid>/fd/<n>` link says, verbatim (`socket:[12345]`); nil when it cannot be read.
    static func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `socket:[12345]` → 12345.
    static func socketInode(_ link: String) -> UInt64? {
        guard link.hasPrefix("socket:["), link.hasSuffix("]") else { return nil }
        return UInt64(link.dropFirst(8).dropLast())
    }

    /// One row of `/proc/net/tcp`: `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode`.
    struct TCPRow {
        let localAddress: String
        let localPort: Int
        let remotePort: Int
        let inode: UInt64
        /// The kernel's TCP state number (`01` ESTABLISHED, `08` CLOSE_WAIT, …).
        let state: Int

        init?(_ line: Substring) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, let local = Self.port(fields[1]), let remote = Self.port(fields[2]),
                let address = Self.address(fields[1]), let inode = UInt64(fields[9]),
                let state = Int(fields[3], radix: 16)
            else { return nil }
            localAddress = address
            localPort = local
            remotePort = remote
            self.inode = inode
            self.state = state
        }

        /// `0100007F:0CEA` → `127.0.0.1`; a tcp6 address (four 32-bit words, each in host byte order) → its
        /// text, IPv4-mapped ones as IPv4.
        static func address(_ field: Substring) -> String? {
            guard let colon = field.lastIndex(of: ":") else { return nil }
            let hex = field[..<colon]
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 8, limitedBy: hex.endIndex) ?? hex.endIndex
                guard let word = UInt32(hex[index..<next], radix: 16), hex.distance(from: index, to: next) == 8 else {
                    return nil
                }
                // The kernel prints each 4-byte word of the network-order address as a number in the host's byte
                // order (little-endian here): 127.0.0.1 is `0100007F`.
                bytes += [UInt8(word & 0xff), UInt8((word >> 8) & 0xff), UInt8((word >> 16) & 0xff), UInt8(word >> 24)]
                index = next
            }
            return ClientEndpoint.text(of: bytes)
        }

        /// `0100007F:0CEA` → 3306.
        static func port(_ address: Substring) -> Int? {
            guard let colon = address.lastIndex(of: ":") else { return nil }
            return Int(address[address.index(after: colon)...], radix: 16)
        }
    }
}

/// One end of a TCP connection as the client sees it: its local address and port.
public struct ClientEndpoint: Sendable, Hashable {
    /// Dotted IPv4 or compressed IPv6 text (`127.0.0.1`, `::1`); IPv4-mapped IPv6 addresses are given as IPv4.
    public var address: String
    public var port: Int

    public init(address: String, port: Int) {
        self.address = Self.normalized(address) ?? address
        self.port = port
    }

    /// The canonical text of a numeric address (`::ffff:10.0.0.1` → `10.0.0.1`, `0:0::1` → `::1`); nil when
    /// `text` is not a numeric address (a host name).
    public static func normalized(_ address: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Self.text(of: Array($0)) }
        }
        var v6 = in6_addr()
        let bare =
            address.hasPrefix("[") && address.hasSuffix("]") ? String(address.dropFirst().dropLast()) : address
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Self.text(of: Array($0)) }
        }
        return nil
    }

    /// The text of a 4- or 16-byte network-order address; IPv4-mapped IPv6 as IPv4.
    static func text(of bytes: [UInt8]) -> String? {
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return text(of: Array(bytes[12...]))
        }
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }
}
