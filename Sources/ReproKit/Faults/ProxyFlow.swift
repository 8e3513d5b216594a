import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One client↔upstream flow of a `FaultProxy`: its state, forwarding and cut logic.
///
/// Both channels live on the same event loop and every method runs there (the proxy reaches
/// it through `NIOLoopBound`), so the state needs no lock of its own.
final class ProxyFlow {
    /// Which socket of the flow.
    enum Side {
        case client, upstream
    }

    private enum Phase {
        case passing, blackholed, halfOpen, closing
    }

    private enum UpstreamState {
        case connecting, open, gone
    }

    let id: Int
    let clientAddress: String
    let eventLoop: EventLoop
    private let afterIdle: TimeAmount?
    private let idleMode: CutMode?
    private let emit: (FlowEvent) -> Void

    private var phase = Phase.passing
    private var upstreamState = UpstreamState.connecting
    private var clientOpen = true
    private weak var client: FlowSideHandler?
    private weak var upstream: FlowSideHandler?
    private var cutMode: CutMode?
    private var clientSignal: ClientSignal?
    private var bytesUp = 0
    private var bytesDown = 0
    private var lastActivity = NIODeadline.now()
    private var idleTask: Scheduled<Void>?
    private var finished = false
    // What the client sent (and whether it half-closed) before upstream was connected. NIO drains
    // a socket when it sees EPOLLRDHUP even while reads are held back, so this can be non-empty;
    // it is bounded by the client socket's receive buffer.
    private var earlyBytes: [ByteBuffer] = []
    private var earlyEOF = false
    /// Why dialling the upstream failed, for the close event.
    private var upstreamError: String?
    /// The last bytes forwarded came from the client: the server owes an answer (a query is running).
    private var lastFromClient = false

    init(
        id: Int,
        clientAddress: String,
        eventLoop: EventLoop,
        afterIdle: TimeAmount?,
        idleMode: CutMode?,
        emit: @escaping (FlowEvent) -> Void
    ) {
        self.id = id
        self.clientAddress = clientAddress
        self.eventLoop = eventLoop
        self.afterIdle = afterIdle
        self.idleMode = idleMode
        self.emit = emit
    }

    private func event(_ kind: FlowEvent.Kind, mode: CutMode?, signal: ClientSignal?) -> FlowEvent {
        FlowEvent(
            kind: kind, flowID: id, clientAddress: clientAddress,
            bytesUp: bytesUp, bytesDown: bytesDown, mode: mode, signal: signal, upstreamError: upstreamError)
    }

    private func handler(_ side: Side) -> FlowSideHandler? {
        side == .client ? client : upstream
    }

    private func other(_ side: Side) -> FlowSideHandler? {
        side == .client ? upstream : client
    }

    // MARK: Lifecycle

    /// Announces the flow and dials upstream on the client's own event loop.
    func start(upstreamHost: String, upstreamPort: Int) {
        emit(event(.open, mode: nil, signal: nil))
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(10))
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        FlowSideHandler(side: .upstream, flow: bound.value))
                }
            }
            .connect(host: upstreamHost, port: upstreamPort)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success: self.upstreamConnected()
                case .failure(let error): self.upstreamFailed(FaultProxy.reason(error))
                }
            }
    }

    func attach(_ handler: FlowSideHandler) {
        switch handler.side {
        case .client:
            client = handler
        case .upstream:
            upstream = handler
            // Cut while still dialling: the upstream never gets to carry anything.
            switch phase {
            case .closing: cutMode == .reset ? handler.reset() : handler.close()
            case .halfOpen: handler.close()
            case .passing, .blackholed: break
            }
        }
    }

    private func upstreamConnected() {
        guard upstreamState == .connecting else { return }
        upstreamState = .open
        // The client side was accepted with autoRead off, and `mayRead` held back any read
        // requested meanwhile.
        if let channel = client?.channel {
            channel.setOption(.autoRead, value: true).whenFailure { _ in }
        }
        if phase == .passing, let upstream {
            for buffer in earlyBytes {
                bytesUp += buffer.readableBytes
                upstream.send(buffer)
            }
            upstream.flush()
            if earlyEOF { upstream.shutdownOutput() }
        }
        earlyBytes = []
        client?.resumeReading()
        lastActivity = .now()
        armIdleTimer()
    }

    private func upstreamFailed(_ reason: String) {
        guard upstreamState != .gone else { return }
        upstreamState = .gone
        upstreamError = reason
        upstream = nil
        if clientOpen, phase != .closing {
            phase = .closing
            resetClient()
        }
        finishIfDone()
    }

    /// `aborted`: the channel closed without the proxy closing or half-closing it, which with
    /// half-closure enabled only happens on an error, in practice the peer's RST. NIO reports an
    /// RST seen through EPOLLERR/EPOLLHUP by closing the channel, without any `errorCaught`.
    func inactive(_ side: Side, aborted: Bool) {
        switch side {
        case .client:
            guard clientOpen else { return }
            clientOpen = false
            switch phase {
            case .passing where upstreamState == .connecting:
                phase = .closing
                upstream?.close()
            case .passing:
                // The client hung up: pass its reset on as a reset, anything else as a FIN
                // (the upstream then closes its end, which finishes the flow).
                if aborted { upstream?.reset() } else { upstream?.shutdownOutput() }
            case .blackholed, .halfOpen:
                upstream?.close()
            case .closing:
                break
            }
        case .upstream:
            guard upstreamState != .gone else { return }
            upstreamState = .gone
            if phase == .passing, clientOpen {
                if aborted {
                    resetClient()
                } else {
                    clientSignal = .fin
                    client?.shutdownOutput()
                }
            }
        }
        finishIfDone()
    }

    private func finishIfDone() {
        guard !finished, !clientOpen, upstreamState == .gone else { return }
        finished = true
        phase = .closing
        idleTask?.cancel()
        idleTask = nil
        emit(event(.close, mode: cutMode, signal: clientSignal))
    }

    private func resetClient() {
        clientSignal = .rst
        client?.reset()
    }

    // MARK: Forwarding

    func received(_ buffer: ByteBuffer, from side: Side) {
        switch phase {
        case .passing:
            lastActivity = .now()
            lastFromClient = side == .client
            switch side {
            case .client:
                if upstreamState == .open, let upstream {
                    bytesUp += buffer.readableBytes
                    upstream.send(buffer)
                } else if upstreamState == .connecting {
                    earlyBytes.append(buffer)
                } else if upstreamState == .gone {
                    // What the server's kernel would do with bytes for a socket it closed.
                    phase = .closing
                    resetClient()
                }
            case .upstream:
                if clientOpen, let client {
                    bytesDown += buffer.readableBytes
                    client.send(buffer)
                }
            }
        case .halfOpen:
            // The middlebox has forgotten the flow: the client's next packet is answered with RST.
            if side == .client {
                phase = .closing
                resetClient()
            }
        case .blackholed, .closing:
            break
        }
    }

    func readComplete(from side: Side) {
        if phase == .passing { other(side)?.flush() }
    }

    func mayRead(_ side: Side) -> Bool {
        guard phase == .passing else { return true }
        // Nothing is read from the client before there is an upstream to send it to.
        if side == .client, upstreamState == .connecting { return false }
        guard let target = other(side) else { return true }
        return target.isWritable
    }

    func writabilityChanged(of side: Side) {
        guard let target = handler(side), target.isWritable else { return }
        other(side)?.resumeReading()
    }

    func inputClosed(on side: Side) {
        switch (phase, side) {
        case (.passing, .client):
            switch upstreamState {
            case .connecting: earlyEOF = true
            case .open: upstream?.shutdownOutput()
            case .gone: client?.close()
            }
        case (.passing, .upstream):
            if clientOpen {
                clientSignal = .fin
                client?.shutdownOutput()
            }
        case (.blackholed, .client):
            // The client has hung up; nothing it could observe is left to emulate.
            client?.close()
            upstream?.close()
        case (.blackholed, .upstream):
            upstream?.close()
        case (.halfOpen, .client):
            phase = .closing
            resetClient()
        case (.halfOpen, .upstream), (.closing, _):
            break
        }
    }

    // MARK: Cuts

    /// Applies `mode` now; nil when the flow is already closing or already in that state. `midQuery` marks an
    /// idle cut of a flow waiting for the server's answer.
    func cut(_ mode: CutMode, midQuery: Bool = false) -> FlowEvent? {
        guard !finished else { return nil }
        switch (phase, mode) {
        case (.closing, _), (.blackholed, .blackhole), (.halfOpen, .halfOpen):
            return nil
        default:
            break
        }
        idleTask?.cancel()
        idleTask = nil
        cutMode = mode
        let signal: ClientSignal
        switch mode {
        case .reset: signal = .rst
        case .close: signal = .fin
        case .blackhole, .halfOpen: signal = .none
        }
        var cutEvent = event(.cut, mode: mode, signal: signal)
        cutEvent.midQuery = midQuery
        // Emitted before acting: closing a channel can finish the flow synchronously,
        // and the close event must come after the cut.
        emit(cutEvent)
        switch mode {
        case .reset:
            phase = .closing
            clientSignal = .rst
            client?.reset()
            upstream?.reset()
        case .close:
            phase = .closing
            clientSignal = .fin
            client?.close()
            upstream?.close()
        case .blackhole:
            phase = .blackholed
        case .halfOpen:
            phase = .halfOpen
            upstream?.close()
        }
        // Held-back reads would otherwise stay held forever; from now on arrivals are discarded.
        client?.resumeReading()
        upstream?.resumeReading()
        return cutEvent
    }

    /// Orderly close of both sides because the proxy stops; not a cut, so no `.cut` event.
    func shutdown() {
        guard !finished else { return }
        idleTask?.cancel()
        idleTask = nil
        if phase != .closing, clientOpen { clientSignal = .fin }
        phase = .closing
        client?.close()
        upstream?.close()
    }

    private func armIdleTimer() {
        guard let afterIdle, idleMode != nil, phase == .passing else { return }
        idleTask = eventLoop.assumeIsolated().scheduleTask(deadline: lastActivity + afterIdle) {
            self.idleTimerFired()
        }
    }

    // One timer per flow, re-armed lazily: traffic only moves `lastActivity`, and the timer,
    // when it fires early, sleeps again until the new deadline.
    private func idleTimerFired() {
        idleTask = nil
        guard let afterIdle, let idleMode, phase == .passing, upstreamState == .open else { return }
        if NIODeadline.now() >= lastActivity + afterIdle {
            // Silence is silence, as for a NAT or load balancer: a flow waiting for a long query is cut too; the
            // event says so.
            _ = cut(idleMode, midQuery: lastFromClient)
        } else {
            armIdleTimer()
        }
    }
}
