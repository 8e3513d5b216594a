import NIOCore
import NIOPosix
import Synchronization

/// An in-process TCP proxy between a connection pool and its server that can cut open, idle flows.
///
/// All flows share one event loop group; each flow's two channels live on one loop. `onEvent`
/// is called on that loop, so it must return quickly and must not call back into the proxy
/// synchronously (`cutAll`, `stop`).
public final class FaultProxy: Sendable {
    /// The longest `repro proxy --after-idle` / `--cut-after`, seconds (a day).
    public static let maxTimerSeconds = 86_400.0
    private struct State {
        var group: MultiThreadedEventLoopGroup?
        var listener: Channel?
        var flows: [Int: NIOLoopBound<ProxyFlow>] = [:]
        var lastFlowID = 0
        var port = 0
        /// The toxics in force (`repro proxy --api`), in order; every flow gets them, new ones when accepted.
        var toxics: [Toxic] = []
        var stopped = false
    }

    private let upstreamHost: String
    private let upstreamPort: Int
    private let listenHost: String
    private let listenPort: Int
    private let afterIdle: TimeAmount?
    private let idleMode: CutMode?
    private let onEvent: (@Sendable (FlowEvent) -> Void)?
    private let state = Mutex(State())

    /// Creates a proxy to `upstreamHost:upstreamPort`; `afterIdle` with `idleMode` cuts flows silent that long.
    public init(
        upstreamHost: String,
        upstreamPort: Int,
        listenHost: String = "127.0.0.1",
        listenPort: Int = 0,
        afterIdle: Duration? = nil,
        idleMode: CutMode? = nil,
        onEvent: (@Sendable (FlowEvent) -> Void)? = nil
    ) {
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.afterIdle = afterIdle.map(Self.timeAmount)
        self.idleMode = idleMode
        self.onEvent = onEvent
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Binds the listener and returns its port; a second call returns the same port, a call after `stop` throws.
    public func start() throws -> Int {
        let group: MultiThreadedEventLoopGroup
        do {
            let existing: Int? = try state.withLock { state in
                if state.stopped { throw ChannelError.ioOnClosedChannel }
                return state.listener == nil ? nil : state.port
            }
            if let existing { return existing }
            // One loop thread carries every flow; proxying is cheap and the pool's
            // own threads need the cores.
            group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        }
        let listener: Channel
        do {
            listener = try ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.autoRead, value: false)
                .childChannelInitializer { [weak self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        guard let self else { throw ChannelError.ioOnClosedChannel }
                        try self.accept(channel)
                    }
                }
                .bind(host: listenHost, port: listenPort)
                .wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        let port = listener.localAddress?.port ?? 0
        // A concurrent start or stop may have won meanwhile; the loser's listener goes away.
        let outcome: Result<Int, ChannelError> = state.withLock { state in
            if state.stopped { return .failure(.ioOnClosedChannel) }
            if state.listener != nil { return .success(state.port) }
            state.group = group
            state.listener = listener
            state.port = port
            return .success(port)
        }
        if case .success(port) = outcome { return port }
        try? listener.close().wait()
        try? group.syncShutdownGracefully()
        return try outcome.get()
    }

    /// Runs on the new client channel's loop, inside its initializer.
    private func accept(_ channel: Channel) throws {
        let id = state.withLock { state in
            state.lastFlowID += 1
            return state.lastFlowID
        }
        let address = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let flow = ProxyFlow(
            id: id, clientAddress: address, eventLoop: channel.eventLoop,
            afterIdle: afterIdle, idleMode: idleMode,
            emit: { [weak self] event in self?.record(event) })
        try channel.pipeline.syncOperations.addHandler(FlowSideHandler(side: .client, flow: flow))
        // Registered and given the toxics in one step: a `setToxics` either sees this flow or came before it.
        let toxics = state.withLock { state in
            state.flows[id] = NIOLoopBound(flow, eventLoop: channel.eventLoop)
            return state.toxics
        }
        if !toxics.isEmpty { flow.setToxics(toxics, atCreation: true) }
        flow.start(upstreamHost: upstreamHost, upstreamPort: upstreamPort)
    }

    private func record(_ event: FlowEvent) {
        if event.kind == .close {
            _ = state.withLock { $0.flows.removeValue(forKey: event.flowID) }
        }
        onEvent?(event)
    }

    /// The bound port (0 before `start`).
    public var port: Int {
        state.withLock { $0.port }
    }

    /// Flows accepted since start, closed ones included (the last flow id given).
    public var flowsAccepted: Int {
        state.withLock { $0.lastFlowID }
    }

    /// Flows accepted and not yet fully closed, blackholed and half-open ones included.
    public var openFlowCount: Int {
        state.withLock { $0.flows.count }
    }

    /// Cuts every open flow now and returns one `.cut` event per flow that changed.
    ///
    /// Blocks until every flow's loop has applied the cut; call it from your own thread, not from a loop.
    @discardableResult
    public func cutAll(_ mode: CutMode) -> [FlowEvent] {
        let flows = state.withLock { state in
            state.stopped ? [] : state.flows.sorted { $0.key < $1.key }.map(\.value)
        }
        let futures = flows.map { flow in
            flow.eventLoop.submit { flow.value.cut(mode) }
        }
        return futures.compactMap { try? $0.wait() }
    }

    /// Puts `toxics` in force on every open flow and on every flow accepted from now on; returns once every open
    /// flow's loop has applied them. Call it from your own thread, not from a loop.
    public func setToxics(_ toxics: [Toxic]) {
        let flows = state.withLock { state in
            state.toxics = toxics
            return state.stopped ? [] : state.flows.sorted { $0.key < $1.key }.map(\.value)
        }
        let futures = flows.map { flow in
            flow.eventLoop.submit { flow.value.setToxics(toxics) }
        }
        for future in futures { try? future.wait() }
    }

    /// Closes the listener and every flow and shuts the event loop group down; idempotent.
    public func stop() {
        let (group, listener, flows): (MultiThreadedEventLoopGroup?, Channel?, [NIOLoopBound<ProxyFlow>]) =
            state.withLock { state in
                if state.stopped { return (nil, nil, []) }
                state.stopped = true
                defer {
                    state.group = nil
                    state.listener = nil
                }
                return (state.group, state.listener, Array(state.flows.values))
            }
        guard let group else { return }
        listener?.close(promise: nil)
        for flow in flows {
            flow.eventLoop.execute { flow.value.shutdown() }
        }
        if MultiThreadedEventLoopGroup.currentEventLoop != nil {
            // Called from a loop thread (say, from onEvent): it cannot wait for itself.
            group.shutdownGracefully { _ in }
        } else {
            // Shutting the group down closes whatever channel is still registered, so this is bounded.
            try? listener?.closeFuture.wait()
            try? group.syncShutdownGracefully()
        }
    }

    deinit {
        state.withLock { state in
            if !state.stopped, let group = state.group {
                state.listener?.close(promise: nil)
                group.shutdownGracefully { _ in }
            }
        }
    }
}

extension FaultProxy {
    /// The system's words for why `start()` failed ("Address already in use"), without NIO's call-site detail.
    public static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        if let connect = error as? NIOConnectionError {
            if let first = connect.connectionErrors.first { return reason(first.error) }
            if let dns = connect.dnsAError ?? connect.dnsAAAAError { return "cannot resolve \(connect.host): \(dns)" }
        }
        if case ChannelError.connectTimeout = error { return "no answer to the connect (timed out)" }
        return "\(error)"
    }
}
