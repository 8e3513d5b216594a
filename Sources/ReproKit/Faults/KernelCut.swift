import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The network cuts a packet filter can make; `CutMode.close` has no equivalent (see `init(_:)`).
public enum KernelCutMode: String, Sendable, Codable, CaseIterable {
    case reset
    case blackhole
    case halfOpen = "half-open"

    /// Maps the user's `--mode`; `close` is refused because only the peer's own stack can send a FIN.
    public init(_ mode: CutMode) throws(KernelCutError) {
        switch mode {
        case .reset: self = .reset
        case .blackhole: self = .blackhole
        case .halfOpen: self = .halfOpen
        case .close:
            throw KernelCutError(
                "--mode close cannot be done with --via kernel: a packet filter can drop or reset packets but "
                    + "cannot make the server send FIN; use --via proxy for close")
        }
    }

    /// What the client's socket gets: an RST answering its next packet, or nothing at all.
    public var clientSignal: ClientSignal {
        self == .blackhole ? .none : .rst
    }
}

/// Why a kernel cut could not be made, in words that say what to do next.
public struct KernelCutError: Error, Sendable, CustomStringConvertible {
    /// The whole explanation, ready for stderr or a report.
    public let message: String

    /// Wraps a message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Cuts this run's open TCP flows with iptables rules in a chain of its own, which `remove()` deletes again.
///
/// Rules match the whole flow identity we know — host, server port and each pooled connection's local
/// port — so other connections to the same server (a bystander, the admin session) keep working.
///
/// One chain, jumped to from both INPUT and OUTPUT, with rules that match on direction (ports) rather than hook.
/// On loopback each packet meets the chain first in OUTPUT (sender side) and then in INPUT, so OUTPUT does the work;
/// the INPUT jump matters when the flows come from another host. Dropping in OUTPUT does not surface EPERM to an
/// established TCP socket (its data is queued and later retransmitted), so the client sees what a real network
/// loss looks like: writes succeed, reads time out.
public final class KernelCut: Sendable {
    /// Name of the chain, `REPRO-<pid>-<n>`; the pid lets `removeStale()` tell abandoned chains from live ones.
    public let chain: String
    /// Port the server listens on.
    public let serverPort: Int
    /// Local (ephemeral) ports of the client connections to cut.
    public let clientPorts: [Int]
    /// IPv4 address both ends use.
    public let host: String

    private struct State {
        var mode: KernelCutMode?
        var rules: [String] = []
        var installed = false
        var token: CleanupRegistry.Token?
    }

    // Held across the iptables runs, so an `apply` and a Ctrl-C `remove` on another thread happen one after the
    // other: a remove cannot slip in between "rules committed" and "installed = true" and miss the chain.
    private let state = Mutex(State())
    private let cleanup: CleanupRegistry
    private static let counter = Atomic<Int>(0)

    /// Refuses early, with the fix in the message: root is needed, and the iptables tools must be installed.
    public static func checkAvailable() throws(KernelCutError) {
        guard geteuid() == 0 else {
            throw KernelCutError("--via kernel needs root (iptables); run as root or use --via proxy")
        }
        let tools = try tools()
        // Root is not enough in a container without CAP_NET_ADMIN, or on a kernel without netfilter: ask once.
        let probe = FirewallCommand.run(tools.iptables, ["-w", "5", "-S", "OUTPUT"])
        guard probe.succeeded else {
            throw KernelCutError(
                "--via kernel: iptables does not work here (\(probe.problem)); "
                    + "a container needs CAP_NET_ADMIN; use --via proxy")
        }
    }

    /// Describes the flows to cut; nothing is installed until `apply`.
    public init(
        serverPort: Int, clientPorts: [Int], host: String = "127.0.0.1", cleanup: CleanupRegistry = .shared
    ) throws(KernelCutError) {
        let address = host == "localhost" ? "127.0.0.1" : host
        var parsed = in_addr()
        guard inet_pton(AF_INET, address, &parsed) == 1 else {
            throw KernelCutError(
                "--via kernel needs an IPv4 address for the server, not \(host); use --via proxy for other hosts")
        }
        let ports = Set(clientPorts).sorted()
        guard (1...65535).contains(serverPort) else {
            throw KernelCutError("--via kernel: server port \(serverPort) is not a TCP port")
        }
        guard !ports.isEmpty else {
            throw KernelCutError("--via kernel: no client connections to cut (the pool has no open connection)")
        }
        if let bad = ports.first(where: { !(1...65535).contains($0) }) {
            throw KernelCutError("--via kernel: client port \(bad) is not a TCP port")
        }
        guard !ports.contains(serverPort) else {
            throw KernelCutError("--via kernel: client port \(serverPort) is the server port")
        }
        self.serverPort = serverPort
        self.clientPorts = ports
        self.host = address
        self.cleanup = cleanup
        let number = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
        self.chain = "REPRO-\(getpid())-\(number)"
    }

    /// Installs the chain, its rules and both jumps in one `iptables-restore` transaction (all or nothing).
    public func apply(_ mode: KernelCutMode) throws(KernelCutError) {
        try Self.checkAvailable()
        let tools = try Self.tools()
        try state.withLock { (state: inout State) throws(KernelCutError) in
            guard !state.installed else {
                throw KernelCutError("--via kernel: chain \(chain) is already applied (\(state.mode?.rawValue ?? "?"))")
            }
            let rules = rules(for: mode)
            let jumps = ["-I INPUT 1 -j \(chain)", "-I OUTPUT 1 -j \(chain)"]
            let script = (["*filter", ":\(chain) - [0:0]"] + rules + jumps + ["COMMIT", ""]).joined(separator: "\n")
            // Registered before the rules exist: a Ctrl-C that lands mid-install still removes whatever got in.
            state.token = cleanup.register("iptables chain \(chain)") { [self] in remove() }
            state.installed = true
            let output = FirewallCommand.run(tools.restore, ["-w", "5", "--noflush"], input: script)
            guard output.succeeded else {
                // iptables-restore commits all or nothing, so there is nothing to delete here.
                state.installed = false
                if let token = state.token { cleanup.unregister(token) }
                state.token = nil
                throw KernelCutError(
                    "--via kernel: iptables-restore could not install chain \(chain): \(output.problem); "
                        + "use --via proxy if this kernel has no packet filtering")
            }
            state.mode = mode
            state.rules = jumps + rules
        }
    }

    /// Deletes the jumps and the chain; safe to call again, and from the cleanup registry on Ctrl-C.
    public func remove() {
        state.withLock { state in
            guard state.installed else { return }
            state.installed = false
            if let token = state.token { cleanup.unregister(token) }
            state.token = nil
            guard let tools = try? Self.tools() else { return }
            if let leftover = Self.deleteChain(chain, iptables: tools.iptables, restore: tools.restore) {
                let hint =
                    "repro: could not remove iptables chain \(chain) (\(leftover)); remove it by hand: "
                    + "iptables -D INPUT -j \(chain); iptables -D OUTPUT -j \(chain); "
                    + "iptables -F \(chain); iptables -X \(chain)\n"
                Console.err(hint)
            }
        }
    }

    /// True between a successful `apply` and `remove`.
    public var isApplied: Bool { state.withLock { $0.installed } }

    /// The mode last applied, or nil.
    public var mode: KernelCutMode? { state.withLock { $0.mode } }

    /// What the client side will get once it sends: `.rst` (reset, half-open) or `.none` (blackhole); nil before apply.
    public var expectedClientSignal: ClientSignal? { mode?.clientSignal }

    /// The rules installed, in `iptables-save` syntax (jumps first), for the report timeline.
    public var ruleSummary: [String] { state.withLock { $0.rules } }

    /// Deletes `REPRO-<pid>-<n>` chains whose process is gone (a run killed with SIGKILL); returns their names.
    @discardableResult
    public static func removeStale() -> [String] {
        guard geteuid() == 0, let tools = try? tools() else { return [] }
        let listing = FirewallCommand.run(tools.iptables, ["-w", "5", "-S"])
        guard listing.succeeded else { return [] }
        var removed: [String] = []
        for line in listing.stdout.split(separator: "\n") where line.hasPrefix("-N REPRO-") {
            let name = String(line.dropFirst(3))
            let parts = name.split(separator: "-")
            guard parts.count == 3, let pid = pid_t(parts[1]) else { continue }
            // ESRCH: no such process. EPERM means it exists under another user, so it is not ours to judge.
            guard kill(pid, 0) == -1 && errno == ESRCH else { continue }
            if deleteChain(name, iptables: tools.iptables, restore: tools.restore) == nil { removed.append(name) }
        }
        return removed
    }

    /// Rules for one mode, in `iptables-save` syntax so the summary reads exactly like `iptables -S`.
    ///
    /// - reset: client→server packets are answered with a forged RST (REJECT), server→client packets vanish.
    /// - halfOpen: a NAT or firewall that forgot the flow. With a packet filter this is the SAME rule set as reset:
    ///   we cannot send an RST proactively (the proxy's reset does, at cut time), so in both modes the client learns
    ///   on its next send, and the server's socket stays open (its FIN on wait_timeout never arrives). The two
    ///   names are kept so scenarios mean the same thing with --via proxy and --via kernel.
    /// - blackhole: everything is dropped both ways, RSTs included; the client waits for its own timeout.
    ///
    /// The server→client DROP in reset/halfOpen exempts RST packets on purpose: REJECT's forged RST travels
    /// server→client through this very chain (OUTPUT, then INPUT on loopback), and dropping it would silently turn
    /// reset into blackhole.
    func rules(for mode: KernelCutMode) -> [String] {
        let ends = "-s \(host)/32 -d \(host)/32 -p tcp -m tcp"
        return clientPorts.flatMap { port -> [String] in
            let up = "-A \(chain) \(ends) --sport \(port) --dport \(serverPort)"
            let down = "-A \(chain) \(ends) --sport \(serverPort) --dport \(port)"
            switch mode {
            case .reset, .halfOpen:
                return [up + " -j REJECT --reject-with tcp-reset", down + " ! --tcp-flags RST RST -j DROP"]
            case .blackhole:
                return [up + " -j DROP", down + " -j DROP"]
            }
        }
    }

    private static func tools() throws(KernelCutError) -> (iptables: String, restore: String) {
        guard let iptables = FirewallCommand.locate("iptables"),
            let restore = FirewallCommand.locate("iptables-restore")
        else {
            throw KernelCutError(
                "--via kernel needs iptables, which is not installed; run `make setup` or use --via proxy")
        }
        return (iptables, restore)
    }

    /// Removes both jumps and the chain; nil when the chain is gone afterwards, else what went wrong.
    private static func deleteChain(_ chain: String, iptables: String, restore: String? = nil) -> String? {
        // One transaction first; it fails as a whole when any piece is already missing, hence the piecewise fallback.
        if let restore {
            let script = "*filter\n-D INPUT -j \(chain)\n-D OUTPUT -j \(chain)\n-F \(chain)\n-X \(chain)\nCOMMIT\n"
            if FirewallCommand.run(restore, ["-w", "5", "--noflush"], input: script).succeeded { return nil }
        }
        for hook in ["INPUT", "OUTPUT"] {
            // Bounded: a jump someone added twice by hand goes too, a broken iptables cannot loop us forever.
            var attempts = 0
            while attempts < 8, FirewallCommand.run(iptables, ["-w", "5", "-D", hook, "-j", chain]).succeeded {
                attempts += 1
            }
        }
        _ = FirewallCommand.run(iptables, ["-w", "5", "-F", chain])
        let deleted = FirewallCommand.run(iptables, ["-w", "5", "-X", chain])
        if deleted.succeeded { return nil }
        let check = FirewallCommand.run(iptables, ["-w", "5", "-S", chain])
        return check.succeeded ? deleted.problem : nil
    }
}
