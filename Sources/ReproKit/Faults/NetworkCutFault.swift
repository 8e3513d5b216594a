import Foundation
import Synchronization

/// The network between the pool and the server is cut after the pool idled: through repro's in-process
/// proxy (`FaultProxy`: RST, FIN, blackhole or half-open at once, no root) or with iptables rules on this
/// run's own loopback flows (`KernelCut`: root; TCP keepalive meets a real cut). Or a middlebox between them
/// forgets idle flows by itself: a real Linux NAT in network namespaces of the run's own (`IdleTimeoutNAT`:
/// root), which TCP keepalive probes keep alive, or a real HAProxy (`HAProxyMiddlebox`), which they do not.
public struct NetworkCutFault: FaultKind, Equatable {
    public static let kind = "network-cut"
    public static let fileKeys = ["mode", "via", "idle", "idle-timeout", "on-expiry", "keepalive-time"]
    /// Read timeout (s) network-cut scenarios get when they do not set one: a blackhole costs one per connection.
    public static let defaultReadTimeout = 5
    /// `--idle-timeout` / `fault.idle-timeout`: seconds a middlebox lets a flow idle (a cloud NAT's 350 s, scaled).
    public static let defaultIdleTimeout = 2
    public static let idleTimeoutRange = 1...86400
    /// `--keepalive-time` / `fault.keepalive-time`: the application host's `net.ipv4.tcp_keepalive_time` and `tcp_keepalive_intvl` (s).
    public static let keepaliveTimeRange = 1...7200

    public var mode: CutMode
    public var via: CutVia
    /// nat and haproxy: seconds of idle after which the middlebox forgets (NAT) or closes (HAProxy) a flow.
    public var idleTimeout: Int
    /// nat: what the NAT does with packets of a flow it forgot.
    public var onExpiry: NATExpiry
    /// nat: `net.ipv4.tcp_keepalive_time` and `tcp_keepalive_intvl` in the application's namespace; nil: the kernel's (7200, 75).
    public var keepaliveTime: Int?

    public init(mode: CutMode, via: CutVia = .proxy) {
        self.mode = mode
        self.via = via
        idleTimeout = Self.defaultIdleTimeout
        onExpiry = .drop
        keepaliveTime = nil
    }

    /// A middlebox whose idle timeout is the fault: `via` is `.nat` or `.haproxy`.
    public init(middlebox via: CutVia, idleTimeout: Int, onExpiry: NATExpiry = .drop, keepaliveTime: Int? = nil) {
        self.via = via
        self.idleTimeout = idleTimeout
        self.onExpiry = via == .nat ? onExpiry : .drop
        self.keepaliveTime = via == .nat ? keepaliveTime : nil
        mode = Self.mode(middlebox: via, onExpiry: onExpiry)
    }

    /// What a middlebox's expiry amounts to, in cut modes: a NAT that drops is a blackhole, one that resets is a
    /// half-open flow, HAProxy closes (its FIN is measured: `tcpSignal`).
    static func mode(middlebox via: CutVia, onExpiry: NATExpiry) -> CutMode {
        switch via {
        case .nat: onExpiry == .drop ? .blackhole : .halfOpen
        default: .close
        }
    }

    public static func read<Fields: FaultFields>(_ fields: inout Fields) -> Self? {
        let via = fields.choice("via", CutVia.self, fallback: .proxy, hint: "")
        guard let via else { return nil }
        if via.isMiddlebox {
            if fields.text("mode") != nil {
                fields.problem(
                    at: "mode",
                    "fault.mode does not apply to via: \(via.rawValue): its own idle timeout is the fault; drop mode and set idle-timeout\(via == .nat ? " (and on-expiry drop or reset)" : "")"
                )
                return nil
            }
            let timeout = fields.int("idle-timeout", range: idleTimeoutRange, fallback: defaultIdleTimeout, hint: "")
            var onExpiry: NATExpiry? = .drop
            var keepalive: Int?
            if via == .nat {
                onExpiry = fields.choice("on-expiry", NATExpiry.self, fallback: .drop, hint: "")
                if fields.text("keepalive-time") != nil {
                    keepalive = fields.int("keepalive-time", range: keepaliveTimeRange, fallback: nil, hint: "")
                    if keepalive == nil { return nil }
                }
            } else {
                for key in ["on-expiry", "keepalive-time"] where fields.text(key) != nil {
                    fields.problem(at: key, "fault.\(key) applies to via: nat only")
                    return nil
                }
            }
            guard let timeout, let onExpiry else { return nil }
            return Self(middlebox: via, idleTimeout: timeout, onExpiry: onExpiry, keepaliveTime: keepalive)
        }
        for key in ["idle-timeout", "on-expiry", "keepalive-time"] where fields.text(key) != nil {
            fields.problem(
                at: key, "fault.\(key) applies to via: nat or haproxy, whose idle timeout is the fault, not to a cut")
            return nil
        }
        let mode = fields.choice("mode", CutMode.self, fallback: nil, hint: "use reset, close, blackhole or half-open")
        guard let mode else { return nil }
        if mode == .close && via == .kernel {
            fields.problem(
                at: "mode", "fault.mode close needs via: proxy (a packet filter cannot make the peer send FIN)")
            return nil
        }
        return Self(mode: mode, via: via)
    }

    public init?(parameters p: [String: String]) {
        let via = p["via"].flatMap { CutVia(rawValue: $0) } ?? .proxy
        if via.isMiddlebox {
            self.init(
                middlebox: via, idleTimeout: p["idleTimeout"].flatMap { Int($0) } ?? Self.defaultIdleTimeout,
                onExpiry: p["onExpiry"].flatMap { NATExpiry(rawValue: $0) } ?? .drop,
                keepaliveTime: p["keepaliveTime"].flatMap { Int($0) })
            return
        }
        guard let mode = p["mode"].flatMap({ CutMode(rawValue: $0) }) else { return nil }
        self.init(mode: mode, via: via)
    }

    public var parameters: [String: String] {
        var p = ["mode": mode.rawValue, "via": via.rawValue]
        if via.isMiddlebox { p["idleTimeout"] = "\(idleTimeout)" }
        if via == .nat {
            p["onExpiry"] = onExpiry.rawValue
            if let keepaliveTime { p["keepaliveTime"] = "\(keepaliveTime)" }
        }
        return p
    }

    public var defaultReadTimeout: Int? { Self.defaultReadTimeout }
    public var label: String {
        switch via {
        case .nat: "network-cut via nat (idle timeout \(idleTimeout) s, \(onExpiry.rawValue))"
        case .haproxy: "network-cut via haproxy (timeout \(idleTimeout) s)"
        default: "network-cut \(mode.rawValue) via \(via.rawValue)"
        }
    }

    public var catalogEntryID: String {
        switch mode {
        case .blackhole: "blackhole"
        case .close: "server-closed-idle"
        case .reset, .halfOpen: "connection-reset"
        }
    }

    public var fileValues: [(key: String, value: String)] {
        guard via.isMiddlebox else { return [("mode", mode.rawValue), ("via", via.rawValue)] }
        var out: [(key: String, value: String)] = [("via", via.rawValue), ("idle-timeout", "\(idleTimeout)")]
        if via == .nat {
            out.append(("on-expiry", onExpiry.rawValue))
            if let keepaliveTime { out.append(("keepalive-time", "\(keepaliveTime)")) }
        }
        return out
    }
    /// A middlebox's idle timeout and the host's keepalive time are timing.
    public static var timingKeys: Set<String> { ["idle-timeout", "keepalive-time"] }

    public func sentence(_ s: ScenarioResult) -> String {
        let received = s.tcpSignal ?? "unknown"
        let idled = Double(s.parameters["idle"] ?? "").map(DriversMatrix.format) ?? "?"
        switch via {
        case .nat:
            let expiry = onExpiry == .drop ? "drops their packets silently" : "answers their packets with RST"
            let keepalive =
                keepaliveTime.map {
                    "; the application's host sends TCP keepalive probes every \($0) s of idle (net.ipv4.tcp_keepalive_time and _intvl)"
                } ?? ""
            return
                "The pool reached the server through a NAT (network namespaces of this run's own) that forgets a flow idle for \(idleTimeout) s and then \(expiry)\(keepalive); the pool idled \(idled) s and the client side received \(received)."
        case .haproxy:
            return
                "The pool reached the server through HAProxy in TCP mode (timeout client and server \(idleTimeout) s), which closes a flow with no payload for that long; the pool idled \(idled) s and the client side received \(received)."
        default: break
        }
        if s.reached == 0 {
            return
                "Nothing was cut: after \(idled) s idle the pool had no open connection (it had closed its idle connections itself), so there was no flow for a middlebox to forget."
        }
        let flows = s.reached.map { "of \($0) pooled connection(s)" } ?? "of every pooled connection"
        return
            "The network path \(flows) was cut (mode \(mode.rawValue) via \(via.rawValue)); the client side received \(s.tcpSignal ?? "unknown")."
    }

    public func unavoidableWait(_ scenario: Scenario) -> Double {
        let settle = scenario.idle + (via == .proxy ? Settle.afterProxyCut : Settle.afterKernelCut)
        guard !via.isMiddlebox || mode == .blackhole else { return settle }
        guard mode == .blackhole, scenario.driver == nil else { return settle }
        // Every pooled connection that is tried waits one read timeout (validation pings included); a
        // fresh-connection retry does not.
        let dead = min(scenario.poolSize, scenario.operationCount)
        return settle + Double(dead * scenario.policy.readTimeout)
    }

    public func preflight(_ scenario: Scenario, external: Bool, at: String) throws(RunError) {
        switch via {
        case .kernel:
            do { _ = try KernelCutMode(mode) } catch { throw .usage(at + error.message) }
        case .nat:
            do { try IdleTimeoutNAT.checkAvailable() } catch { throw .environment(at + error.message) }
        case .haproxy:
            _ = try HAProxyMiddlebox.locate()
        case .proxy: break
        }
        if via.isMiddlebox && !Self.idleTimeoutRange.contains(idleTimeout) {
            throw .usage(
                "\(at)--idle-timeout \(idleTimeout) is out of range: use seconds from \(Self.idleTimeoutRange.lowerBound) to \(Self.idleTimeoutRange.upperBound)"
            )
        }
    }

    public func start(_ context: FaultContext) throws(RunError) -> any InjectedFault {
        let endpoint = context.endpoint
        if !endpoint.managed && endpoint.unixSocket != nil {
            throw .usage("network-cut cuts TCP flows: drop ?socket= from the DSN and give the server's host:port")
        }
        switch via {
        case .nat:
            guard ["127.0.0.1", "localhost"].contains(endpoint.host) else {
                throw .usage(
                    "--via nat puts a NAT in front of a server on this host's loopback only (server at \(endpoint.hostPort)): use --via haproxy or --via proxy"
                )
            }
            for block in IdleTimeoutNAT.removeStale() {
                context.log.record(.scenario, detail: "removed stale \(block) left by a killed run")
            }
            return try NATInjected(fault: self, context: context)
        case .haproxy: return try HAProxyInjected(fault: self, context: context)
        case .proxy: return try ProxyCut(mode: mode, context: context)
        case .kernel:
            let kernelMode: KernelCutMode
            do { kernelMode = try KernelCutMode(mode) } catch { throw .usage(error.message) }
            do { try KernelCut.checkAvailable() } catch { throw .environment(error.message) }
            // Chains of earlier runs that were SIGKILLed would still cut flows: remove them.
            for chain in KernelCut.removeStale() {
                context.log.record(.scenario, detail: "removed stale firewall chain \(chain) left by a killed run")
            }
            guard ["127.0.0.1", "localhost"].contains(endpoint.host) else {
                throw .usage(
                    "--via kernel cuts loopback flows only (server at \(endpoint.hostPort)): use --via proxy")
            }
            return KernelCutInjected(mode: mode, kernelMode: kernelMode, context: context)
        }
    }

    /// The pool reaches the server through `FaultProxy`; after the pool is warm and idle, every open flow is cut.
    final class ProxyCut: InjectedFault {
        let mode: CutMode
        let proxy: FaultProxy
        let port: Int?
        let idleSeconds: Double
        /// What each client socket finally received: half-open sends nothing at cut time, RST on the next packet.
        final class Signals: Sendable {
            let byFlow = Mutex<[Int: ClientSignal]>([:])
        }
        let signals = Signals()
        var cuts: [FlowEvent] = []
        var injected = false

        init(mode: CutMode, context: FaultContext) throws(RunError) {
            self.mode = mode
            idleSeconds = context.scenario.idle
            let log = context.log
            let signals = self.signals
            proxy = FaultProxy(upstreamHost: context.endpoint.host, upstreamPort: context.endpoint.port) { event in
                guard event.kind != .open else { return }
                if event.kind == .close, let signal = event.signal {
                    signals.byFlow.withLock { $0[event.flowID] = signal }
                }
                log.record(
                    .scenario,
                    detail:
                        "proxy flow \(event.flowID) \(event.kind.rawValue)\(event.signal.map { ": client got \($0.rawValue)" } ?? "") (\(event.bytesUp) B up, \(event.bytesDown) B down)"
                )
            }
            do {
                port = try proxy.start()
            } catch {
                throw .environment("cannot start the fault proxy on 127.0.0.1: \(FaultProxy.reason(error))")
            }
        }

        var idle: IdlePeriod? {
            // A middlebox forgets a flow after it has been idle a while; so does this cut.
            IdlePeriod(seconds: idleSeconds, reason: "pool idle before the cut")
        }

        var settle: Double { Settle.afterProxyCut }

        func inject(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> Double {
            context.step("cutting \(proxy.openFlowCount) open flow(s): \(mode.rawValue) via proxy")
            let faultAt = context.log.ms()
            cuts = proxy.cutAll(mode)
            injected = true
            if mode == .reset || mode == .close {
                // Sent is not yet received: on a loaded machine the kernel can process the RST or FIN on loopback
                // (softirq, ksoftirqd) after the pool's next borrow has peeked its socket. Every client socket
                // leaves ESTABLISHED once it has, as it would within microseconds on an idle host; bounded at 1 s.
                let deadline = ContinuousClock.now + .seconds(1)
                while ContinuousClock.now < deadline, (ProcessSockets.establishedCount(remotePort: proxy.port) ?? 0) > 0
                {
                    usleep(2_000)
                }
            }
            let atCut = cuts.first?.signal ?? ClientSignal.none
            context.log.record(
                .scenario,
                detail:
                    "fault: \(mode.rawValue) cut of \(cuts.count) flow(s) via proxy; client side received \(atCut.rawValue) at the cut"
            )
            return faultAt
        }

        func reached() -> Int? { injected ? cuts.count : nil }

        func tcpSignal() -> String? {
            let atCut = cuts.first?.signal ?? ClientSignal.none
            guard mode == .halfOpen else { return atCut.rawValue }
            let later = signals.byFlow.withLock { signals in cuts.compactMap { signals[$0.flowID] } }
            return (later.contains(.rst) ? ClientSignal.rst : atCut).rawValue
        }

        func close() { proxy.stop() }
    }

    /// The same cut with iptables rules on this run's own flows (root only); every rule is removed afterwards,
    /// and the server threads the cut left behind are killed.
    final class KernelCutInjected: InjectedFault {
        let mode: CutMode
        let kernelMode: KernelCutMode
        let idleSeconds: Double
        let runner: ScenarioRunner
        let log: EventLog
        var cut: KernelCut?
        var poolThreads: [UInt64] = []
        var cutPorts: Int?

        func reached() -> Int? { cutPorts }

        init(mode: CutMode, kernelMode: KernelCutMode, context: FaultContext) {
            self.mode = mode
            self.kernelMode = kernelMode
            idleSeconds = context.scenario.idle
            runner = context.runner
            log = context.log
        }

        var idle: IdlePeriod? { IdlePeriod(seconds: idleSeconds, reason: "pool idle before the cut") }
        var settle: Double { cut == nil ? 0 : Settle.afterKernelCut }

        func inject(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> Double {
            let threads = try runner.serverThreads(pool, context)
            // The rules fool only the client side: the server never hears of the cut, so its ends of these
            // flows would sleep until wait_timeout. `finish` kills them (only this pool's threads).
            poolThreads = threads.map(\.id)
            let ports = threads.compactMap(\.clientPort)
            cutPorts = ports.count
            guard !ports.isEmpty else {
                // A pool that closed its idle connections itself (a max idle time below the idle period) has
                // no flow a middlebox could forget: that is the pool's result, not a failure of the run.
                log.record(
                    .scenario,
                    detail:
                        "fault: nothing to cut: the pool had no open connection after \(idleSeconds) s idle (it closed its idle connections itself)"
                )
                return log.ms()
            }
            let cut: KernelCut
            do {
                cut = try KernelCut(serverPort: context.endpoint.port, clientPorts: ports)
            } catch {
                throw .environment(error.message)
            }
            self.cut = cut
            context.step("cutting \(ports.count) flow(s): \(mode.rawValue) via kernel")
            let faultAt = log.ms()
            do {
                try cut.apply(kernelMode)
            } catch {
                throw .environment(error.message)
            }
            log.record(
                .scenario,
                detail:
                    "fault: \(mode.rawValue) via kernel on client ports \(ports.map(String.init).joined(separator: ",")): \(cut.ruleSummary.joined(separator: "; "))"
            )
            return faultAt
        }

        func tcpSignal() -> String? {
            guard cut != nil else { return nil }
            return kernelMode == .blackhole ? ClientSignal.none.rawValue : ClientSignal.rst.rawValue
        }

        func finish() {
            if let cut {
                cut.remove()
                log.record(.scenario, detail: "kernel rules removed")
            }
            runner.killLeftovers(poolThreads, log: log)
        }
    }
}

extension NetworkCutFault {
    /// The pool reaches the server only through a NAT in network namespaces of the run's own (it runs in a child
    /// process started inside the application's namespace); nothing is cut: after the idle period the NAT's
    /// conntrack table says which of the pool's flows it still tracks.
    final class NATInjected: InjectedFault {
        let nat: IdleTimeoutNAT
        let idleSeconds: Double
        let runner: ScenarioRunner
        let log: EventLog
        var poolThreads: [UInt64] = []
        var poolFlows = 0
        var tracked = 0

        init(fault: NetworkCutFault, context: FaultContext) throws(RunError) {
            do {
                nat = try IdleTimeoutNAT(
                    serverPort: context.endpoint.port, idleTimeout: fault.idleTimeout, onExpiry: fault.onExpiry,
                    keepaliveTime: fault.keepaliveTime)
            } catch {
                throw .environment(error.message)
            }
            idleSeconds = context.scenario.idle
            runner = context.runner
            log = context.log
            log.record(
                .scenario,
                detail:
                    "NAT \(nat.natNamespace) up: the pool in \(nat.appNamespace) connects to \(nat.address):\(nat.serverPort); conntrack forgets an established flow after \(nat.idleTimeout) s idle, then \(nat.onExpiry == .drop ? "drops" : "answers with RST") its packets\(nat.keepaliveTime.map { "; tcp_keepalive_time and tcp_keepalive_intvl \($0) s in the application's namespace" } ?? "")"
            )
        }

        var host: String? { nat.address }
        var launcher: [String]? { nat.launcher }

        var idle: IdlePeriod? {
            IdlePeriod(
                seconds: idleSeconds, reason: "pool idle behind a NAT that forgets flows idle \(nat.idleTimeout) s")
        }

        func inject(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> Double {
            let threads = try runner.serverThreads(pool, context, seenAs: nat.serverSeesClientsAs)
            // The server never hears that the NAT forgot a flow: `finish` kills the threads left behind.
            poolThreads = threads.map(\.id)
            let ports = pool.clientPorts(serverPort: nat.serverPort) ?? Set(threads.compactMap(\.clientPort))
            let flows = nat.trackedFlows().filter { $0.state == "ESTABLISHED" && ports.contains($0.clientPort) }
            // Whether the application's kernel was going to send keepalive probes, and when: the why of the result.
            let timers = nat.socketTimers().filter { ports.contains($0.key) }
            let timerText = Dictionary(grouping: timers.values, by: { Self.timerKind($0) })
                .map { "\($0.key) ×\($0.value.count)" }.sorted().joined(separator: ", ")
            poolFlows = ports.count
            tracked = flows.count
            let at = log.ms()
            let detail: String
            if ports.isEmpty {
                detail =
                    "fault: nothing for the NAT to forget: the pool had no open connection after \(DriversMatrix.format(idleSeconds)) s idle (it closed its idle connections itself)"
            } else {
                let left = flows.map { "port \($0.clientPort): \($0.secondsLeft) s left" }.joined(separator: ", ")
                detail =
                    "fault: after \(DriversMatrix.format(idleSeconds)) s idle the NAT still tracks \(flows.count) of the pool's \(ports.count) flow(s)\(left.isEmpty ? "" : " (\(left))"); it forgot \(ports.count - flows.count); the pool's sockets' kernel timers: \(timerText.isEmpty ? "unknown" : timerText)"
            }
            log.record(.scenario, detail: detail)
            return at
        }

        /// `keepalive,508ms,0` → `keepalive due in 508ms`; `keepalive,119min,0` → `keepalive due in 119min`.
        static func timerKind(_ timer: String) -> String {
            let parts = timer.split(separator: ",")
            guard parts.count >= 2 else { return timer == "none" ? "no timer (no keepalive)" : timer }
            return parts[0] == "keepalive" ? "keepalive probe due in \(parts[1])" : "\(parts[0]) timer \(parts[1])"
        }

        func tcpSignal() -> String? {
            guard poolFlows > 0 else { return nil }
            // Flows the NAT still tracks got nothing; forgotten ones get what the NAT does on expiry.
            guard tracked < poolFlows else { return ClientSignal.none.rawValue }
            return (nat.onExpiry == .reset ? ClientSignal.rst : ClientSignal.none).rawValue
        }

        func finish() { runner.killLeftovers(poolThreads, log: log) }

        func close() {
            nat.remove()
            log.record(.scenario, detail: "NAT namespaces \(nat.natNamespace) and \(nat.appNamespace) removed")
        }
    }

    /// The pool connects through HAProxy (TCP mode) with the idle timeout on both sides; a probe connection of
    /// repro's own, through the same HAProxy and idle as long as the pool, tells what a client receives when it
    /// times out.
    final class HAProxyInjected: InjectedFault {
        let proxy: HAProxyMiddlebox
        let idleSeconds: Double
        let log: EventLog
        let probe: MariaDBConnection?
        var signal: ClientSignal?

        init(fault: NetworkCutFault, context: FaultContext) throws(RunError) {
            let endpoint = context.endpoint
            if !endpoint.managed && endpoint.unixSocket != nil {
                throw .usage("--via haproxy forwards TCP: drop ?socket= from the DSN and give the server's host:port")
            }
            let upstream = endpoint.host == "localhost" ? "127.0.0.1" : endpoint.host
            proxy = try HAProxyMiddlebox(
                upstreamHost: upstream, upstreamPort: endpoint.port, idleTimeout: fault.idleTimeout)
            idleSeconds = context.scenario.idle
            log = context.log
            var options = context.runner.connectionOptions(policy: PoolPolicy())
            options.host = "127.0.0.1"
            options.port = proxy.port
            options.unixSocket = nil
            probe = try? MariaDBConnection(options: options)
            log.record(
                .scenario,
                detail:
                    "\(proxy.version) up on 127.0.0.1:\(proxy.port) (mode tcp, timeout client/server \(fault.idleTimeout) s) in front of \(endpoint.hostPort)"
            )
        }

        var port: Int? { proxy.port }

        var idle: IdlePeriod? {
            IdlePeriod(
                seconds: idleSeconds, reason: "pool idle behind HAProxy (timeout \(proxy.idleTimeout) s)")
        }

        func inject(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> Double {
            let at = log.ms()
            let liveness = probe?.liveness()
            signal =
                switch liveness {
                case .closed: .fin
                case .reset: .rst
                case .alive, .unexpectedData: ClientSignal.none
                case nil: nil
                }
            let seen =
                switch liveness {
                case .closed: "received FIN (HAProxy closed it)"
                case .reset: "received RST"
                case .alive: "is still open"
                case .unexpectedData: "has unread bytes"
                case nil: "could not be opened"
                }
            log.record(
                .scenario,
                detail:
                    "fault: after \(DriversMatrix.format(idleSeconds)) s idle behind HAProxy (timeout \(proxy.idleTimeout) s), repro's probe connection through it \(seen)"
            )
            return at
        }

        func tcpSignal() -> String? { signal?.rawValue }

        func close() {
            probe?.close()
            proxy.stop()
            log.record(.scenario, detail: "HAProxy stopped")
        }
    }
}

extension Fault {
    /// The network between pool and server is cut.
    public static func networkCut(mode: CutMode, via: CutVia = .proxy) -> Fault {
        Fault(NetworkCutFault(mode: mode, via: via))
    }

    /// The pool reaches the server through a middlebox (`.nat`, `.haproxy`) that forgets idle flows by itself.
    public static func middlebox(
        _ via: CutVia, idleTimeout: Int, onExpiry: NATExpiry = .drop, keepaliveTime: Int? = nil
    ) -> Fault {
        Fault(
            NetworkCutFault(middlebox: via, idleTimeout: idleTimeout, onExpiry: onExpiry, keepaliveTime: keepaliveTime))
    }
}
