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
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else { return nil }
        var inodes = Set<UInt64>()
        // The TCP tables of each network namespace the group's processes live in (one behind a NAT, in a
        // namespace of the run's own, sees tables that are not ours), read through one process in each.
        var tableRoots: [String: String] = [:]
        for entry in entries {
            guard let pid = Int32(entry), processGroup(of: pid, proc: proc) == group else { continue }
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
        var ports = Set<Int>()
        let roots = tableRoots.isEmpty ? [proc] : Array(tableRoots.values)
        for table in roots.flatMap({ ["\($0)/net/tcp", "\($0)/net/tcp6"] }) {
            guard let text = readAll(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                guard let row = TCPRow(line), row.remotePort == remotePort, inodes.contains(row.inode) else { continue }
                ports.insert(row.localPort)
            }
        }
        return ports
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
        let localPort: Int
        let remotePort: Int
        let inode: UInt64

        init?(_ line: Substring) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, let local = Self.port(fields[1]), let remote = Self.port(fields[2]),
                let inode = UInt64(fields[9])
            else { return nil }
            localPort = local
            remotePort = remote
            self.inode = inode
        }

        /// `0100007F:0CEA` → 3306.
        static func port(_ address: Substring) -> Int? {
            guard let colon = address.lastIndex(of: ":") else { return nil }
            return Int(address[address.index(after: colon)...], radix: 16)
        }
    }
}
