import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What an idle-timeout NAT does with a packet of a flow it has forgotten.
public enum NATExpiry: String, Sendable, Codable, CaseIterable {
    /// Dropped silently (Azure Load Balancer and NAT gateway by default, GCP Cloud NAT, conntrack on a node).
    case drop
    /// Answered with RST (AWS NAT gateway, Azure with TCP reset enabled).
    case reset
}

/// A real Linux NAT between the application and a server on loopback, in network namespaces of this run's own,
/// which forgets a flow once it has been idle `idleTimeout` seconds — by itself, as a cloud NAT gateway does.
///
/// ```
///   repro-app<N>                repro-nat<N>                          this host
///   application ── veth ── in0 10.254.x.1 ─ DNAT, MASQUERADE ─ out0 ── veth rnat<N> ── DNAT+SNAT ── 127.0.0.1:port
///   10.254.x.2                 conntrack: established timeout = idleTimeout, no loose pick-up
/// ```
///
/// The application (an adapter, or repro's own pool in `repro serve-pool`) runs in `repro-app<N>` and connects to
/// the NAT's inside address. The NAT namespace forwards only flows it tracks (conntrack state ESTABLISHED after a
/// SYN it saw), translates them towards the host, and has `nf_conntrack_tcp_loose` off, so a packet of a flow
/// whose entry expired is not picked up again: it is addressed to the NAT itself, where `onExpiry` drops it or
/// answers RST. Every packet the application's kernel sends refreshes the entry, TCP keepalive probes included:
/// that is what makes a keepalive setting measurable here and not through a user-space proxy. The host side
/// translates the NAT's outside address to 127.0.0.1 (`route_localnet` on this run's veth only), so the server
/// sees the pool's connections as loopback ones and its accounts for `localhost` apply.
///
/// Everything is named after the block `N` (a /29 of 10.254.0.0/16), claimed with the lock file
/// `NAT-<N>.lock` in `KernelCut.stateDirectory`, held while anything of it exists: `remove()` undoes it all (on
/// success, failure and Ctrl-C, through the cleanup registry), and `removeStale()` sweeps the blocks of runs that
/// were killed.
public final class IdleTimeoutNAT: Sendable {
    /// The block's number; names and addresses derive from it.
    public let block: Int
    /// The namespace the application runs in.
    public let appNamespace: String
    /// The namespace that is the NAT.
    public let natNamespace: String
    /// The NAT's inside address: where the application connects.
    public let address: String
    /// The client address the server sees for flows through this NAT (the host's SNAT rule writes 127.0.0.1).
    public let serverSeesClientsAs = "127.0.0.1"
    /// The server's port (on 127.0.0.1), which the NAT forwards unchanged.
    public let serverPort: Int
    /// Seconds an established flow may idle before the NAT forgets it.
    public let idleTimeout: Int
    public let onExpiry: NATExpiry
    /// `net.ipv4.tcp_keepalive_time` and `tcp_keepalive_intvl` of the application's namespace (s), when set: the
    /// idle time before the kernel's first keepalive probe, and between probes, on a socket that enables
    /// SO_KEEPALIVE without choosing its own.
    public let keepaliveTime: Int?

    /// Blocks of 8 addresses in 10.254.0.0/16.
    static let blockCount = 8192
    /// The host's end of the outside link.
    var hostInterface: String { "rnat\(block)" }
    var hostAddress: String { Self.address(block, 6) }
    var natOutsideAddress: String { Self.address(block, 5) }
    var appAddress: String { Self.address(block, 2) }
    /// The host's nat-table chains: DNAT in PREROUTING, SNAT in INPUT.
    var preroutingChain: String { "RNAT\(block)-PRE" }
    var inputChain: String { "RNAT\(block)-IN" }

    private struct State {
        var lock: OwnerLock?
        var token: CleanupRegistry.Token?
        var removed = false
    }
    private let state = Mutex(State())
    private let cleanup: CleanupRegistry
    private let tools: Tools
    private static let counter = Atomic<Int>(0)

    struct Tools: Sendable {
        var ip: String
        var iptables: String
        var restore: String
        var sysctl: String
        var conntrack: String
    }

    /// The lock file of block `n`.
    static func lockPath(_ n: Int) -> String { KernelCut.stateDirectory + "/NAT-\(n).lock" }

    /// `10.254.x.y` for offset `offset` in block `n`.
    static func address(_ n: Int, _ offset: Int) -> String {
        let value = n * 8 + offset
        return "10.254.\(value / 256).\(value % 256)"
    }

    /// Refuses early, with the fix in the message: root, and ip, iptables, sysctl and conntrack installed.
    public static func checkAvailable() throws(KernelCutError) {
        guard geteuid() == 0 else {
            throw KernelCutError(
                "--via nat needs root (network namespaces, iptables); run as root or use --via haproxy or --via proxy")
        }
        _ = try locateTools()
    }

    static func locateTools() throws(KernelCutError) -> Tools {
        var missing: [String] = []
        func find(_ name: String, package: String) -> String {
            if let path = FirewallCommand.locate(name) { return path }
            missing.append("\(name) (\(package))")
            return name
        }
        let tools = Tools(
            ip: find("ip", package: "iproute2"), iptables: find("iptables", package: "iptables"),
            restore: find("iptables-restore", package: "iptables"), sysctl: find("sysctl", package: "procps"),
            conntrack: find("conntrack", package: "conntrack"))
        guard missing.isEmpty else {
            throw KernelCutError(
                "--via nat needs \(missing.joined(separator: ", ")), not installed; run `make setup` or use --via haproxy"
            )
        }
        return tools
    }

    /// Builds the namespaces, links, addresses, sysctls and rules; on any failure removes what it made and throws.
    public init(
        serverPort: Int, idleTimeout: Int, onExpiry: NATExpiry, keepaliveTime: Int? = nil,
        cleanup: CleanupRegistry = .shared
    ) throws(KernelCutError) {
        try Self.checkAvailable()
        guard (1...65535).contains(serverPort) else {
            throw KernelCutError("--via nat: server port \(serverPort) is not a TCP port")
        }
        let tools = try Self.locateTools()
        try KernelCut.prepareStateDirectory()
        let (block, lock) = try Self.claimBlock(tools: tools)
        self.block = block
        self.tools = tools
        self.cleanup = cleanup
        appNamespace = "repro-app\(block)"
        natNamespace = "repro-nat\(block)"
        address = Self.address(block, 1)
        self.serverPort = serverPort
        self.idleTimeout = idleTimeout
        self.onExpiry = onExpiry
        self.keepaliveTime = keepaliveTime
        // Registered before anything exists: a Ctrl-C from here on removes whatever got made.
        let token = cleanup.register("NAT namespaces \(natNamespace), \(appNamespace)") { [self] in remove() }
        state.withLock {
            $0.lock = lock
            $0.token = token
        }
        do {
            try build()
        } catch {
            remove()
            throw error
        }
    }

    /// `ip netns exec <app namespace>`: what a child process is started with to run inside the application's
    /// namespace (it execs the command, so the process keeps its pid and process group).
    public var launcher: [String] { [tools.ip, "netns", "exec", appNamespace] }

    private func build() throws(KernelCutError) {
        let ip = tools.ip
        let (app, nat) = (appNamespace, natNamespace)
        let steps: [[String]] = [
            ["netns", "add", app],
            ["netns", "add", nat],
            ["link", "add", "app0", "netns", app, "type", "veth", "peer", "name", "in0", "netns", nat],
            ["link", "add", hostInterface, "type", "veth", "peer", "name", "out0", "netns", nat],
            ["-n", app, "addr", "add", appAddress + "/30", "dev", "app0"],
            ["-n", app, "link", "set", "lo", "up"],
            ["-n", app, "link", "set", "app0", "up"],
            ["-n", app, "route", "add", "default", "via", address],
            ["-n", nat, "addr", "add", address + "/30", "dev", "in0"],
            ["-n", nat, "addr", "add", natOutsideAddress + "/30", "dev", "out0"],
            ["-n", nat, "link", "set", "lo", "up"],
            ["-n", nat, "link", "set", "in0", "up"],
            ["-n", nat, "link", "set", "out0", "up"],
            ["addr", "add", hostAddress + "/30", "dev", hostInterface],
            ["link", "set", hostInterface, "up"],
        ]
        for step in steps {
            let output = FirewallCommand.run(ip, step)
            guard output.succeeded else {
                throw KernelCutError("--via nat: `ip \(step.joined(separator: " "))` failed: \(output.problem)")
            }
        }
        // The NAT's rules first: they load conntrack in its namespace, whose sysctls exist only then.
        let natRules = natRuleScript()
        let natOutput = FirewallCommand.run(ip, ["netns", "exec", nat, tools.restore, "-w", "5"], input: natRules)
        guard natOutput.succeeded else {
            throw KernelCutError("--via nat: the NAT's rules could not be installed: \(natOutput.problem)")
        }
        var natSettings = [
            "net.ipv4.ip_forward=1",
            // A packet of a forgotten flow must not be picked up as a new one: a real NAT has lost its mapping.
            "net.netfilter.nf_conntrack_tcp_loose=0",
            "net.netfilter.nf_conntrack_tcp_timeout_established=\(idleTimeout)",
        ]
        // Strict reverse-path filtering would be pointless between two links of our own.
        natSettings.append("net.ipv4.conf.all.rp_filter=0")
        try sysctl(in: nat, natSettings)
        if let keepaliveTime {
            // Both, as keepalive tuning guides say: with the time alone, the probes after the first one come every
            // tcp_keepalive_intvl (75 s), and a NAT shorter than that forgets the flow after the first probe
            // (measured: HikariCP over Connector/J's tcpKeepAlive, time 2 s, NAT 3 s).
            try sysctl(
                in: app,
                ["net.ipv4.tcp_keepalive_time=\(keepaliveTime)", "net.ipv4.tcp_keepalive_intvl=\(keepaliveTime)"])
        }
        // The host delivers the NAT's packets to 127.0.0.1: allowed on this run's veth only.
        let localnet = "/proc/sys/net/ipv4/conf/\(hostInterface)/route_localnet"
        guard (try? "1\n".write(toFile: localnet, atomically: false, encoding: .utf8)) != nil else {
            throw KernelCutError("--via nat: cannot write \(localnet); /proc/sys must be writable (root on the host)")
        }
        let hostOutput = FirewallCommand.run(tools.restore, ["-w", "5", "--noflush"], input: hostRuleScript())
        guard hostOutput.succeeded else {
            throw KernelCutError("--via nat: the host's nat rules could not be installed: \(hostOutput.problem)")
        }
    }

    private func sysctl(in namespace: String, _ settings: [String]) throws(KernelCutError) {
        let output = FirewallCommand.run(tools.ip, ["netns", "exec", namespace, tools.sysctl, "-q", "-w"] + settings)
        guard output.succeeded else {
            throw KernelCutError(
                "--via nat: cannot set \(settings.joined(separator: " ")) in \(namespace): \(output.problem)")
        }
    }

    /// The NAT namespace's own tables (it has nothing else): forward what it tracks, forget what expired.
    func natRuleScript() -> String {
        let expired =
            onExpiry == .reset ? "-j REJECT --reject-with tcp-reset" : "-j DROP"
        return [
            "*nat",
            ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
            "-A PREROUTING -i in0 -d \(address)/32 -p tcp -m tcp --dport \(serverPort) -j DNAT --to-destination \(hostAddress):\(serverPort)",
            "-A POSTROUTING -o out0 -j MASQUERADE",
            "COMMIT",
            "*filter",
            ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
            // A packet of a flow the NAT forgot is addressed to the NAT itself (nothing translates it any more).
            "-A INPUT -i in0 -p tcp \(expired)",
            // The server's side of a forgotten flow is never answered: the server does not learn of it.
            "-A INPUT -i out0 -p tcp -j DROP",
            "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A FORWARD -i in0 -o out0 -p tcp -m tcp --syn -m conntrack --ctstate NEW -j ACCEPT",
            "COMMIT", "",
        ].joined(separator: "\n")
    }

    /// The host's side: the NAT's outside flows to the server port become loopback flows from 127.0.0.1.
    func hostRuleScript() -> String {
        [
            "*nat",
            ":\(preroutingChain) - [0:0]",
            ":\(inputChain) - [0:0]",
            "-A \(preroutingChain) -i \(hostInterface) -s \(natOutsideAddress)/32 -d \(hostAddress)/32 -p tcp -m tcp --dport \(serverPort) -j DNAT --to-destination 127.0.0.1:\(serverPort)",
            "-A \(inputChain) -s \(natOutsideAddress)/32 -d 127.0.0.1/32 -p tcp -m tcp --dport \(serverPort) -j SNAT --to-source \(serverSeesClientsAs)",
            "-I PREROUTING 1 -j \(preroutingChain)",
            "-I INPUT 1 -j \(inputChain)",
            "COMMIT", "",
        ].joined(separator: "\n")
    }

    /// Removes everything of the block, then its lock file; safe to call again, and from the cleanup registry.
    public func remove() {
        state.withLock { state in
            guard !state.removed else { return }
            state.removed = true
            if let token = state.token { cleanup.unregister(token) }
            state.token = nil
            let leftovers = Self.removeBlock(block, tools: tools)
            if leftovers.isEmpty {
                state.lock?.release(removingFile: true)
            } else {
                // The lock file stays, unlocked: the next run's sweep takes it and retries.
                state.lock?.release(removingFile: false)
                Console.err(
                    "repro: could not remove all of NAT block \(block) (\(leftovers.joined(separator: "; "))); the next run removes it, or by hand: ip netns del repro-nat\(block); ip netns del repro-app\(block); ip link del rnat\(block)\n"
                )
            }
            state.lock = nil
        }
    }

    /// Tears down block `n`: its namespaces (with the links inside; deleting one end of a veth deletes the other),
    /// the host's link if it is left, and its host chains. Returns what could not be removed.
    static func removeBlock(_ n: Int, tools: Tools) -> [String] {
        var problems: [String] = []
        for namespace in ["repro-app\(n)", "repro-nat\(n)"]
        where FileManager.default.fileExists(atPath: "/run/netns/" + namespace) {
            let output = FirewallCommand.run(tools.ip, ["netns", "del", namespace])
            if !output.succeeded { problems.append("netns \(namespace): \(output.problem)") }
        }
        if FileManager.default.fileExists(atPath: "/sys/class/net/rnat\(n)") {
            let output = FirewallCommand.run(tools.ip, ["link", "del", "rnat\(n)"])
            if !output.succeeded && FileManager.default.fileExists(atPath: "/sys/class/net/rnat\(n)") {
                problems.append("link rnat\(n): \(output.problem)")
            }
        }
        for (hook, chain) in [("PREROUTING", "RNAT\(n)-PRE"), ("INPUT", "RNAT\(n)-IN")] {
            guard FirewallCommand.run(tools.iptables, ["-w", "5", "-t", "nat", "-S", chain]).succeeded else { continue }
            var attempts = 0
            while attempts < 8,
                FirewallCommand.run(tools.iptables, ["-w", "5", "-t", "nat", "-D", hook, "-j", chain]).succeeded
            {
                attempts += 1
            }
            _ = FirewallCommand.run(tools.iptables, ["-w", "5", "-t", "nat", "-F", chain])
            let deleted = FirewallCommand.run(tools.iptables, ["-w", "5", "-t", "nat", "-X", chain])
            if !deleted.succeeded { problems.append("chain \(chain): \(deleted.problem)") }
        }
        return problems
    }

    /// Takes the lock of a free block whose addresses no route of this host covers (another network of the
    /// machine's own in 10.254/16 wins). A stale block (its run is gone) is swept and taken.
    private static func claimBlock(tools: Tools) throws(KernelCutError) -> (Int, OwnerLock) {
        let routes = FirewallCommand.run(tools.ip, ["-4", "-o", "route", "show", "table", "all"]).stdout
        let taken = Set(
            routes.split(separator: "\n").compactMap { line -> String? in
                line.split(separator: " ").first.map(String.init)
            })
        let start =
            (Int(getpid()) &* 31 &+ counter.wrappingAdd(1, ordering: .relaxed).newValue &* 7) % blockCount
        for attempt in 0..<64 {
            let n = (start + attempt * 97) % blockCount
            guard !coveredByRoute(n, routes: taken) else { continue }
            let path = lockPath(n)
            do throws(OwnerLock.Failure) {
                let lock = try OwnerLock.create(at: path)
                // A block whose lock file was lost but whose pieces are there is not ours to reuse blindly.
                if !removeBlock(n, tools: tools).isEmpty {
                    lock.release(removingFile: false)
                    continue
                }
                return (n, lock)
            } catch {
                guard error.exists else {
                    throw KernelCutError(
                        "--via nat: cannot create the lock file \(path): \(error.reason); check that \(KernelCut.stateDirectory) is writable by root"
                    )
                }
            }
            guard case .stale(let stale) = OwnerLock.probe(path) else { continue }
            if removeBlock(n, tools: tools).isEmpty {
                stale.release(removingFile: true)
            } else {
                stale.release(removingFile: false)
            }
        }
        throw KernelCutError(
            "--via nat: no free address block in 10.254.0.0/16 after 64 tries (other runs, or this host's own routes there); run again"
        )
    }

    /// True when a route of the host (other than this tool's links) covers block `n`'s addresses.
    static func coveredByRoute(_ n: Int, routes: Set<String>) -> Bool {
        let first = n * 8
        for route in routes where route != "default" {
            let parts = route.split(separator: "/")
            let bits = parts.count == 2 ? Int(parts[1]) ?? 32 : 32
            let octets = parts[0].split(separator: ".").compactMap { Int($0) }
            guard octets.count == 4, (0...32).contains(bits) else { continue }
            let network = octets.reduce(0) { $0 << 8 | $1 }
            let mask = bits == 0 ? 0 : (0xFFFF_FFFF << (32 - bits)) & 0xFFFF_FFFF
            let low = (10 << 24) | (254 << 16) | first
            let high = low + 7
            let routeLow = network & mask
            let routeHigh = routeLow | (~mask & 0xFFFF_FFFF)
            if routeLow <= high && low <= routeHigh { return true }
        }
        return false
    }

    /// The flows the NAT tracks to the server right now, from its conntrack table.
    public func trackedFlows() -> [TrackedFlow] {
        let output = FirewallCommand.run(
            tools.ip,
            ["netns", "exec", natNamespace, tools.conntrack, "-L", "-p", "tcp", "--dport", "\(serverPort)"])
        guard output.succeeded else { return [] }
        return output.stdout.split(separator: "\n").compactMap { TrackedFlow(conntrackLine: String($0)) }
    }

    /// The kernel timer of each of the application's TCP sockets to the NAT (local port → `keepalive,1.2sec,0`,
    /// or `none`), read with `ss -o` inside its namespace: whether, and when, a keepalive probe is due.
    public func socketTimers() -> [Int: String] {
        guard let ss = FirewallCommand.locate("ss") else { return [:] }
        let output = FirewallCommand.run(
            tools.ip, ["netns", "exec", appNamespace, ss, "-tnoH", "state", "established", "dst", address])
        guard output.succeeded else { return [:] }
        var timers: [Int: String] = [:]
        for line in output.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // Recv-Q Send-Q Local:Port Peer:Port [timer:(keepalive,508ms,0)]
            guard fields.count >= 4, let port = fields[2].split(separator: ":").last.flatMap({ Int($0) }) else {
                continue
            }
            let timer = fields.first { $0.hasPrefix("timer:(") }
            timers[port] = timer.map { String($0.dropFirst(7).dropLast()) } ?? "none"
        }
        return timers
    }

    /// Everything of NAT block `n` (nil: of any block) on this host now — namespaces, host links, lock files, host
    /// chains — by name: empty when no such `--via nat` run is live and none left anything behind.
    public static func traces(block n: Int? = nil) -> [String] {
        var found: [(Int?, String)] = []
        func number(_ text: Substring) -> Int? { Int(text.prefix { $0.isNumber }) }
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        for name in namespaces where name.hasPrefix("repro-app") || name.hasPrefix("repro-nat") {
            found.append((number(name.dropFirst(9)), "netns " + name))
        }
        let links = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []
        for name in links where name.hasPrefix("rnat") { found.append((number(name.dropFirst(4)), "link " + name)) }
        let locks = (try? FileManager.default.contentsOfDirectory(atPath: KernelCut.stateDirectory)) ?? []
        for name in locks where name.hasPrefix("NAT-") { found.append((number(name.dropFirst(4)), "lock " + name)) }
        if let save = FirewallCommand.locate("iptables-save") {
            let text = FirewallCommand.run(save, ["-t", "nat"]).stdout
            for line in text.split(separator: "\n") where FirewallSnapshot.namesNATBlock(String(line)) {
                let chain = line.range(of: "RNAT").map { line[$0.upperBound...] }
                found.append((chain.flatMap(number), String(line)))
            }
        }
        return found.filter { n == nil || $0.0 == n }.map(\.1)
    }

    /// Sweeps blocks of runs that are gone (SIGKILL, crash): everything of a block whose lock file this call can
    /// take, and namespaces or host links of blocks that have no lock file at all. Returns what it removed.
    @discardableResult
    public static func removeStale() -> [String] {
        guard geteuid() == 0 else { return [] }
        var blocks = Set<Int>()
        let files = (try? FileManager.default.contentsOfDirectory(atPath: KernelCut.stateDirectory)) ?? []
        for name in files where name.hasPrefix("NAT-") && name.hasSuffix(".lock") {
            if let n = Int(name.dropFirst(4).dropLast(5)) { blocks.insert(n) }
        }
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        for name in namespaces {
            for prefix in ["repro-app", "repro-nat"] where name.hasPrefix(prefix) {
                if let n = Int(name.dropFirst(prefix.count)) { blocks.insert(n) }
            }
        }
        let links = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []
        for name in links where name.hasPrefix("rnat") {
            if let n = Int(name.dropFirst(4)) { blocks.insert(n) }
        }
        guard !blocks.isEmpty, let tools = try? locateTools() else { return [] }
        var removed: [String] = []
        for n in blocks.sorted() {
            let lock: OwnerLock?
            switch OwnerLock.probe(lockPath(n)) {
            case .held: continue
            case .stale(let stale): lock = stale
            case .absent: lock = nil
            }
            let problems = removeBlock(n, tools: tools)
            lock?.release(removingFile: problems.isEmpty)
            if problems.isEmpty { removed.append("NAT block \(n) (repro-nat\(n), repro-app\(n))") }
        }
        return removed
    }
}

/// One flow in the NAT's conntrack table.
public struct TrackedFlow: Sendable, Equatable {
    /// TCP state (`ESTABLISHED`, `TIME_WAIT`…).
    public var state: String
    /// Seconds left before the NAT forgets it.
    public var secondsLeft: Int
    /// The application's local port.
    public var clientPort: Int

    /// Parses `tcp 6 1 ESTABLISHED src=10.254.0.2 dst=10.254.0.1 sport=40000 dport=3306 …`.
    public init?(conntrackLine line: String) {
        let fields = line.split(separator: " ")
        guard fields.count > 4, fields[0] == "tcp", let left = Int(fields[2]) else { return nil }
        guard let sport = fields.first(where: { $0.hasPrefix("sport=") }).flatMap({ Int($0.dropFirst(6)) })
        else { return nil }
        state = String(fields[3])
        secondsLeft = left
        clientPort = sport
    }
}
