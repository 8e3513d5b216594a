import Foundation
import Synchronization

/// The network between the pool and the server is cut after the pool idled: through repro's in-process
/// proxy (`FaultProxy`: RST, FIN, blackhole or half-open at once, no root) or with iptables rules on this
/// run's own loopback flows (`KernelCut`: root; TCP keepalive meets a real cut).
public struct NetworkCutFault: FaultKind, Equatable {
    public static let kind = "network-cut"
    public static let fileKeys = ["mode", "via", "idle"]
    /// Read timeout (s) network-cut scenarios get when they do not set one: a blackhole costs one per connection.
    public static let defaultReadTimeout = 5

    public var mode: CutMode
    public var via: CutVia

    public init(mode: CutMode, via: CutVia = .proxy) {
        self.mode = mode
        self.via = via
    }

    public static func read<Fields: FaultFields>(_ fields: inout Fields) -> Self? {
        let mode = fields.choice("mode", CutMode.self, fallback: nil, hint: "use reset, close, blackhole or half-open")
        let via = fields.choice("via", CutVia.self, fallback: .proxy, hint: "")
        guard let mode, let via else { return nil }
        if mode == .close && via == .kernel {
            fields.problem(
                at: "mode", "fault.mode close needs via: proxy (a packet filter cannot make the peer send FIN)")
            return nil
        }
        return Self(mode: mode, via: via)
    }

    public init?(parameters p: [String: String]) {
        guard let mode = p["mode"].flatMap({ CutMode(rawValue: $0) }) else { return nil }
        self.init(mode: mode, via: p["via"].flatMap { CutVia(rawValue: $0) } ?? .proxy)
    }

    public var parameters: [String: String] { ["mode": mode.rawValue, "via": via.rawValue] }
    public var defaultReadTimeout: Int? { Self.defaultReadTimeout }
    public var label: String { "network-cut \(mode.rawValue) via \(via.rawValue)" }

    public var catalogEntryID: String {
        switch mode {
        case .blackhole: "blackhole"
        case .close: "server-closed-idle"
        case .reset, .halfOpen: "connection-reset"
        }
    }

    public func driverColumn(pattern: WorkloadPattern) -> DriverColumn? {
        switch mode {
        case .reset: .networkCutReset
        case .close: .networkCutClose
        case .halfOpen: .networkCutHalfOpen
        case .blackhole: .networkCutBlackhole
        }
    }

    public func sentence(_ s: ScenarioResult) -> String {
        "The network path of every pooled connection was cut (mode \(mode.rawValue) via \(via.rawValue)); the client side received \(s.tcpSignal ?? "unknown")."
    }

    public func unavoidableWait(_ scenario: Scenario) -> Double {
        let settle = scenario.idle + (via == .proxy ? Settle.afterProxyCut : Settle.afterKernelCut)
        guard mode == .blackhole, scenario.driver == nil else { return settle }
        // Every pooled connection that is tried waits one read timeout (validation pings included); a
        // fresh-connection retry does not.
        let dead = min(scenario.poolSize, scenario.operationCount)
        return settle + Double(dead * scenario.policy.readTimeout)
    }

    public func preflight(_ scenario: Scenario, external: Bool, at: String) throws(RunError) {
        if via == .kernel {
            do { _ = try KernelCutMode(mode) } catch { throw .usage(at + error.message) }
        }
    }

    public func start(_ context: FaultContext) throws(RunError) -> any InjectedFault {
        let endpoint = context.endpoint
        if !endpoint.managed && endpoint.unixSocket != nil {
            throw .usage("network-cut cuts TCP flows: drop ?socket= from the DSN and give the server's host:port")
        }
        switch via {
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
            let atCut = cuts.first?.signal ?? ClientSignal.none
            context.log.record(
                .scenario,
                detail:
                    "fault: \(mode.rawValue) cut of \(cuts.count) flow(s) via proxy; client side received \(atCut.rawValue) at the cut"
            )
            return faultAt
        }

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
            let threads: [ServerThread]
            do {
                let admin = try runner.adminConnection()
                defer { admin.close() }
                threads = try runner.serverThreads(pool, context, admin: admin)
            }
            // The rules fool only the client side: the server never hears of the cut, so its ends of these
            // flows would sleep until wait_timeout. `finish` kills them (only this pool's threads).
            poolThreads = threads.map(\.id)
            let ports = threads.compactMap(\.clientPort)
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

extension Fault {
    /// The network between pool and server is cut.
    public static func networkCut(mode: CutMode, via: CutVia = .proxy) -> Fault {
        Fault(NetworkCutFault(mode: mode, via: via))
    }
}
