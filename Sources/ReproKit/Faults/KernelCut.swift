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

    /// Maps the user's `--mode`; `close` is refused because only the peer's own stack can send a FIN. The one
    /// mapping: the CLI, `NetworkCutFault.preflight` and the injection all go through it.
    public init(_ mode: CutMode) throws(KernelCutError) {
        switch mode {
        case .reset: self = .reset
        case .blackhole: self = .blackhole
        case .halfOpen: self = .halfOpen
        case .close:
            throw KernelCutError("--mode close needs --via proxy: a packet filter cannot make the peer send FIN")
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
    /// Name of the chain, `REPRO-<pid>-<n>`. Whether its run is alive is told by its lock file (`lockPath(for:)`);
    /// the pid only for chains of versions without one.
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
        // Held from before the chain exists until after it is deleted: the chain's liveness for other runs' sweeps.
        var lock: OwnerLock?
    }

    /// Where kernel-cut runs keep one lock file per chain, `<chain>.lock`, held with `flock` by the run while the
    /// chain exists. Fixed (not TMPDIR): every run on the machine, in any PID namespace, must look in the same place.
    public static let stateDirectory = "/tmp/repro-state"

    /// The lock file of `chain`.
    public static func lockPath(for chain: String) -> String {
        stateDirectory + "/" + chain + ".lock"
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

    /// Installs the chain, its rules and both jumps in one `iptables-restore` transaction (all or nothing), after
    /// taking the chain's lock file.
    public func apply(_ mode: KernelCutMode) throws(KernelCutError) {
        try Self.checkAvailable()
        let tools = try Self.tools()
        // Registered before the lock file and the rules exist, and outside `state`'s lock (a registration made
        // after a Ctrl-C runs its action at once): a Ctrl-C that lands mid-install waits for the install, then
        // removes whatever got in.
        let token = cleanup.register("iptables chain \(chain)") { [self] in remove() }
        do throws(KernelCutError) {
            try state.withLock { (state: inout State) throws(KernelCutError) in
                guard !state.installed else {
                    throw KernelCutError(
                        "--via kernel: chain \(chain) is already applied (\(state.mode?.rawValue ?? "?"))")
                }
                let lock = try Self.claim(chain, tools: tools)
                let rules = rules(for: mode)
                let jumps = ["-I INPUT 1 -j \(chain)", "-I OUTPUT 1 -j \(chain)"]
                let script = (["*filter", ":\(chain) - [0:0]"] + rules + jumps + ["COMMIT", ""]).joined(separator: "\n")
                state.token = token
                state.lock = lock
                state.installed = true
                let output = FirewallCommand.run(tools.restore, ["-w", "5", "--noflush"], input: script)
                guard output.succeeded else {
                    // iptables-restore commits all or nothing, so there is nothing to delete here.
                    state.installed = false
                    state.token = nil
                    state.lock = nil
                    lock.release(removingFile: true)
                    throw KernelCutError(
                        "--via kernel: iptables-restore could not install chain \(chain): \(output.problem); "
                            + "use --via proxy if this kernel has no packet filtering")
                }
                state.mode = mode
                state.rules = jumps + rules
            }
        } catch {
            cleanup.unregister(token)
            throw error
        }
    }

    /// Deletes the jumps and the chain, then its lock file; safe to call again, and from the cleanup registry on Ctrl-C.
    public func remove() {
        state.withLock { state in
            guard state.installed else { return }
            state.installed = false
            if let token = state.token { cleanup.unregister(token) }
            state.token = nil
            let lock = state.lock
            state.lock = nil
            guard let tools = try? Self.tools() else {
                lock?.release(removingFile: false)
                return
            }
            if let leftover = Self.deleteChain(chain, iptables: tools.iptables, restore: tools.restore) {
                // The lock file stays, unlocked: the next run's sweep takes it and retries.
                lock?.release(removingFile: false)
                let hint =
                    "repro: could not remove iptables chain \(chain) (\(leftover)); remove it by hand: "
                    + "iptables -D INPUT -j \(chain); iptables -D OUTPUT -j \(chain); "
                    + "iptables -F \(chain); iptables -X \(chain)\n"
                Console.err(hint)
            } else {
                lock?.release(removingFile: true)
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

    /// Deletes `REPRO-<pid>-<n>` chains whose run is gone (killed with SIGKILL, crashed); returns their names.
    ///
    /// A chain is stale only when this call can take its lock file (`OwnerLock.probe`): that works across PID
    /// namespaces, where the owner's pid is invisible, and never touches a live run's chain (this process's
    /// included). Chains without a lock file (older versions) are judged by their pid, as before. Lock files
    /// whose run is gone and whose chain no longer exists are removed too.
    @discardableResult
    public static func removeStale() -> [String] {
        guard geteuid() == 0, let tools = try? tools() else { return [] }
        let listing = FirewallCommand.run(tools.iptables, ["-w", "5", "-S"])
        guard listing.succeeded else { return [] }
        var removed: [String] = []
        var chains: Set<String> = []
        for line in listing.stdout.split(separator: "\n") where line.hasPrefix("-N REPRO-") {
            let name = String(line.dropFirst(3))
            let parts = name.split(separator: "-")
            guard parts.count == 3, let pid = pid_t(parts[1]) else { continue }
            chains.insert(name)
            let lock: OwnerLock?
            switch OwnerLock.probe(lockPath(for: name)) {
            case .held:
                continue
            case .stale(let stale):
                lock = stale
            case .absent:
                // ESRCH: no such process. EPERM means it exists under another user, so it is not ours to judge.
                guard kill(pid, 0) == -1 && errno == ESRCH else { continue }
                lock = nil
            }
            if deleteChain(name, iptables: tools.iptables, restore: tools.restore) == nil {
                removed.append(name)
                lock?.release(removingFile: true)
            } else {
                lock?.release(removingFile: false)
            }
        }
        removeStaleLockFiles(keeping: chains)
        return removed
    }

    /// Lock files of runs that are gone, whose chain is gone too (killed between taking the lock and installing,
    /// or between deleting and unlinking), and temporary files of `OwnerLock.create` abandoned the same way.
    private static func removeStaleLockFiles(keeping chains: Set<String>) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []
        for name in names where name.hasPrefix("REPRO-") {
            let path = stateDirectory + "/" + name
            if name.hasSuffix(".lock") {
                guard !chains.contains(String(name.dropLast(5))) else { continue }
            } else {
                // A temporary file is locked an instant after it is created: only an old one can be abandoned.
                var info = stat()
                guard name.contains(".lock.tmp-"), lstat(path, &info) == 0,
                    Date().timeIntervalSince1970 - TimeInterval(info.st_mtim.tv_sec) > 60
                else { continue }
            }
            if case .stale(let lock) = OwnerLock.probe(path) {
                if name.hasSuffix(".lock") {
                    lock.release(removingFile: true)
                } else {
                    unlink(path); lock.release(removingFile: false)
                }
            }
        }
    }

    /// Creates and locks the chain's lock file, before the chain exists. A stale file of the same name (a killed
    /// run whose pid is reused here, e.g. in another PID namespace) is swept with its chain first.
    private static func claim(
        _ chain: String, tools: (iptables: String, restore: String)
    ) throws(KernelCutError) -> OwnerLock {
        try prepareStateDirectory()
        let path = lockPath(for: chain)
        var failure = "no attempt"
        for _ in 0..<2 {
            do throws(OwnerLock.Failure) {
                return try OwnerLock.create(at: path)
            } catch {
                guard error.exists else {
                    throw KernelCutError(
                        "--via kernel: cannot create the lock file \(path): \(error.reason); check that \(stateDirectory) is writable by root"
                    )
                }
                failure = error.reason
            }
            guard case .stale(let stale) = OwnerLock.probe(path) else {
                throw KernelCutError(
                    "--via kernel: chain \(chain) belongs to another live repro run (its lock file \(path) is held); run again"
                )
            }
            _ = deleteChain(chain, iptables: tools.iptables, restore: tools.restore)
            stale.release(removingFile: true)
        }
        throw KernelCutError("--via kernel: cannot create the lock file \(path): \(failure); remove it by hand")
    }

    /// Creates `stateDirectory` if needed, and refuses one that someone else could have planted in the shared /tmp.
    static func prepareStateDirectory() throws(KernelCutError) {
        if mkdir(stateDirectory, 0o755) != 0 && errno != EEXIST {
            throw KernelCutError(
                "--via kernel: cannot create \(stateDirectory): \(String(cString: strerror(errno))); check that /tmp is writable"
            )
        }
        var info = stat()
        guard lstat(stateDirectory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(),
            info.st_mode & 0o022 == 0
        else {
            throw KernelCutError(
                "--via kernel: \(stateDirectory) is not a directory owned by this user and writable only by it; remove it and run again"
            )
        }
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
