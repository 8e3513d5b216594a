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

    /// How far the upstream socket got.
    enum Leg: Equatable {
        case dialling, open, gone
    }

    /// A cut that leaves the still-open sockets standing.
    enum Hold: Equatable {
        /// Nothing is forwarded either way.
        case blackhole
        /// The upstream is closed; the client's next bytes are answered with RST.
        case halfOpen
    }

    /// What the flow forwards and when it last did.
    struct Traffic {
        var lastActivity: NIODeadline
        /// The last bytes forwarded came from the client: the server owes an answer (a query is running).
        var lastFromClient = false
        /// The idle cut's timer, re-armed lazily.
        var idleTimer: Scheduled<Void>?
    }

    /// Where the flow is, in one value: no field can disagree with another.
    enum State {
        /// Dialling the upstream, nothing cut yet. What the client sent meanwhile (and whether it half-closed) waits
        /// here: NIO drains a socket when it sees EPOLLRDHUP even while reads are held back, so `early` can be
        /// non-empty; it is bounded by the client socket's receive buffer.
        case dialling(early: [ByteBuffer], clientHalfClosed: Bool)
        /// Both sockets open and bytes pass; a half-close is passed on as it comes.
        case passing(Traffic)
        /// One side has gone and its hang-up was passed on; `open` is the side whose close ends the flow.
        case draining(open: Side)
        /// A blackhole or half-open cut holds the sockets that are still open.
        case held(Hold, clientOpen: Bool, upstream: Leg)
        /// Both sockets are being closed (a reset or close cut, a reset sent to the client, the proxy stopping);
        /// the flow ends when neither is left.
        case closing(clientOpen: Bool, upstream: Leg)
        /// Both sockets are gone and the close event was sent.
        case finished

        /// Whether the client socket is open, and how far the upstream got; nil once finished.
        var sockets: (clientOpen: Bool, upstream: Leg)? {
            switch self {
            case .dialling: (true, .dialling)
            case .passing: (true, .open)
            case .draining(open: .client): (true, .gone)
            case .draining(open: .upstream): (false, .open)
            case .held(_, let clientOpen, let upstream), .closing(let clientOpen, let upstream): (clientOpen, upstream)
            case .finished: nil
            }
        }
    }

    /// What the close event will say: the flow's history, not its state.
    private struct Outcome {
        /// The cut applied, if any.
        var mode: CutMode?
        /// The last thing the client was sent: RST or FIN.
        var signal: ClientSignal?
        /// Why dialling the upstream failed.
        var upstreamError: String?
    }

    /// A toxic as this flow applies it (`repro proxy --api`).
    private struct AppliedToxic {
        var toxic: Toxic
        /// The toxicity draw: whether the toxic acts on this flow at all.
        var acts: Bool
        /// A timeout's close, a reset_peer's reset.
        var timer: Scheduled<Void>?
        /// What passed a limit_data toxic; kept when the toxic is updated.
        var bytesPassed = 0
        /// A reset_peer that saw its chunk, a limit_data that reached its limit.
        var triggered = false
    }

    /// What latency and slow_close toxics hold back in one direction, in order, and the timer of its head.
    private struct Lane {
        var queue = CircularBuffer<(at: NIODeadline, action: () -> Void)>()
        var timer: Scheduled<Void>?
    }

    let id: Int
    let clientAddress: String
    let eventLoop: EventLoop
    private let afterIdle: TimeAmount?
    private let idleMode: CutMode?
    private let emit: (FlowEvent) -> Void

    private(set) var state = State.dialling(early: [], clientHalfClosed: false) {
        didSet {
            // Leaving `passing` stops the idle timer; nothing else owns it.
            if case .passing(let traffic) = oldValue, !isPassing { traffic.idleTimer?.cancel() }
        }
    }
    private var outcome = Outcome()
    private weak var client: FlowSideHandler?
    private weak var upstream: FlowSideHandler?
    private var bytesUp = 0
    private var bytesDown = 0
    private var toxics: [AppliedToxic] = []
    private var upLane = Lane()
    private var downLane = Lane()

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

    private var isPassing: Bool {
        if case .passing = state { true } else { false }
    }

    private func event(_ kind: FlowEvent.Kind, mode: CutMode?, signal: ClientSignal?) -> FlowEvent {
        FlowEvent(
            kind: kind, flowID: id, clientAddress: clientAddress,
            bytesUp: bytesUp, bytesDown: bytesDown, mode: mode, signal: signal,
            upstreamError: outcome.upstreamError)
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
            // Cut, or left by the client, while still dialling: the upstream never gets to carry anything.
            switch state {
            case .closing: outcome.mode == .reset ? handler.reset() : handler.close()
            case .held(.halfOpen, _, _): handler.close()
            case .dialling, .passing, .draining, .held(.blackhole, _, _), .finished: break
            }
        }
    }

    /// The dial succeeded (internal for the state-machine tests, which have no sockets).
    func upstreamConnected() {
        switch state {
        case .dialling(let early, let clientHalfClosed):
            state = .passing(Traffic(lastActivity: .now()))
            enableClientReads()
            if let upstream {
                for buffer in early { forward(buffer, from: .client) }
                upstream.flush()
                if clientHalfClosed { passClose(from: .client) { self.upstream?.shutdownOutput() } }
            }
            armIdleTimer()
        case .held(let hold, let clientOpen, .dialling):
            state = .held(hold, clientOpen: clientOpen, upstream: .open)
            enableClientReads()
        case .closing(let clientOpen, .dialling):
            state = .closing(clientOpen: clientOpen, upstream: .open)
            enableClientReads()
        case .passing, .draining, .held, .closing, .finished:
            break
        }
    }

    /// The client side was accepted with autoRead off, and `mayRead` held back any read requested meanwhile.
    private func enableClientReads() {
        if let channel = client?.channel {
            channel.setOption(.autoRead, value: true).whenFailure { _ in }
        }
        client?.resumeReading()
    }

    /// The dial failed.
    func upstreamFailed(_ reason: String) {
        guard let sockets = state.sockets, sockets.upstream != .gone else { return }
        outcome.upstreamError = reason
        upstream = nil
        let resetsClient: Bool
        if case .closing = state { resetsClient = false } else { resetsClient = sockets.clientOpen }
        // State first, then act: closing a channel can re-enter the flow synchronously.
        closing(clientOpen: sockets.clientOpen, upstream: .gone)
        // What the client would see from a server that refused it.
        if resetsClient { resetClient() }
    }

    /// `aborted`: the channel closed without the proxy closing or half-closing it, which with
    /// half-closure enabled only happens on an error, in practice the peer's RST. NIO reports an
    /// RST seen through EPOLLERR/EPOLLHUP by closing the channel, without any `errorCaught`.
    func inactive(_ side: Side, aborted: Bool) {
        guard let sockets = state.sockets else { return }
        switch side {
        case .client:
            guard sockets.clientOpen else { return }
            switch state {
            case .passing:
                // The client hung up: pass its reset on as a reset, anything else as a FIN
                // (the upstream then closes its end, which finishes the flow).
                state = .draining(open: .upstream)
                passClose(from: .client) {
                    if aborted { self.upstream?.reset() } else { self.upstream?.shutdownOutput() }
                }
            case .dialling, .held:
                // Nothing is left to forward to or to emulate: the upstream goes too (now, or when it connects).
                closing(clientOpen: false, upstream: sockets.upstream)
                upstream?.close()
            case .draining, .closing, .finished:
                closing(clientOpen: false, upstream: sockets.upstream)
            }
        case .upstream:
            guard sockets.upstream != .gone else { return }
            switch state {
            case .dialling, .passing:
                if aborted {
                    closing(clientOpen: true, upstream: .gone)
                    passClose(from: .upstream) { self.resetClient() }
                } else {
                    state = .draining(open: .client)
                    passClose(from: .upstream) {
                        self.outcome.signal = .fin
                        self.client?.shutdownOutput()
                    }
                }
            case .held(let hold, let clientOpen, _):
                // The client is told nothing: that is the cut.
                if clientOpen {
                    state = .held(hold, clientOpen: true, upstream: .gone)
                } else {
                    finish()
                }
            case .draining, .closing, .finished:
                closing(clientOpen: sockets.clientOpen, upstream: .gone)
            }
        }
    }

    /// Both sockets are being closed: the flow ends when neither is left. Every transition sets the state before it
    /// acts on a channel, because closing one can re-enter the flow synchronously (`inactive`).
    private func closing(clientOpen: Bool, upstream leg: Leg) {
        if clientOpen || leg != .gone {
            state = .closing(clientOpen: clientOpen, upstream: leg)
        } else {
            finish()
        }
    }

    private func finish() {
        guard state.sockets != nil else { return }
        state = .finished
        emit(event(.close, mode: outcome.mode, signal: outcome.signal))
    }

    private func resetClient() {
        outcome.signal = .rst
        client?.reset()
    }

    /// The client sent bytes that nothing will answer but a reset, as the server's kernel, or a middlebox that
    /// forgot the flow, would.
    private func refuseClient(upstream leg: Leg) {
        state = .closing(clientOpen: true, upstream: leg)
        resetClient()
    }

    // MARK: Forwarding

    func received(_ buffer: ByteBuffer, from side: Side) {
        switch (state, side) {
        case (.passing(var traffic), _):
            traffic.lastActivity = .now()
            traffic.lastFromClient = side == .client
            state = .passing(traffic)
            forward(buffer, from: side)
        case (.dialling(let early, let clientHalfClosed), .client):
            state = .dialling(early: early + [buffer], clientHalfClosed: clientHalfClosed)
        case (.draining(open: .client), .client):
            // Bytes for a socket the server closed.
            refuseClient(upstream: .gone)
        case (.held(.halfOpen, true, let leg), .client):
            // The middlebox has forgotten the flow: the client's next packet is answered with RST.
            refuseClient(upstream: leg)
        case (.dialling, .upstream), (.draining, _), (.held, _), (.closing, _), (.finished, _):
            break
        }
    }

    func readComplete(from side: Side) {
        if isPassing { other(side)?.flush() }
    }

    func mayRead(_ side: Side) -> Bool {
        switch state {
        case .passing:
            // Read no faster than the other side writes.
            guard let target = other(side) else { return true }
            return target.isWritable
        case .dialling:
            // Nothing is read from the client before there is an upstream to send it to.
            return side != .client
        case .draining, .held, .closing, .finished:
            // Whatever arrives is discarded or answered with a reset: reading it is what notices it.
            return true
        }
    }

    func writabilityChanged(of side: Side) {
        guard let target = handler(side), target.isWritable else { return }
        other(side)?.resumeReading()
    }

    func inputClosed(on side: Side) {
        switch (state, side) {
        case (.dialling(let early, _), .client):
            state = .dialling(early: early, clientHalfClosed: true)
        case (.passing, .client):
            passClose(from: .client) { self.upstream?.shutdownOutput() }
        case (.passing, .upstream):
            passClose(from: .upstream) {
                self.outcome.signal = .fin
                self.client?.shutdownOutput()
            }
        case (.draining(open: .client), .client):
            client?.close()
        case (.held(.blackhole, _, _), .client):
            // The client has hung up; nothing it could observe is left to emulate.
            client?.close()
            upstream?.close()
        case (.held(.blackhole, _, _), .upstream):
            upstream?.close()
        case (.held(.halfOpen, true, let leg), .client):
            refuseClient(upstream: leg)
        case (.dialling, .upstream), (.draining, _), (.held(.halfOpen, _, _), _), (.closing, _), (.finished, _):
            break
        }
    }

    // MARK: Cuts

    /// Applies `mode` now; nil when the flow is already closing or already in that state. `midQuery` marks an
    /// idle cut of a flow waiting for the server's answer.
    func cut(_ mode: CutMode, midQuery: Bool = false, toxic: String? = nil) -> FlowEvent? {
        switch (state, mode) {
        case (.closing, _), (.finished, _), (.held(.blackhole, _, _), .blackhole), (.held(.halfOpen, _, _), .halfOpen):
            return nil
        default:
            break
        }
        guard let sockets = state.sockets else { return nil }
        outcome.mode = mode
        let signal: ClientSignal
        switch mode {
        case .reset: signal = .rst
        case .close: signal = .fin
        case .blackhole, .halfOpen: signal = .none
        }
        var cutEvent = event(.cut, mode: mode, signal: signal)
        cutEvent.midQuery = midQuery
        cutEvent.toxic = toxic
        // What toxics held back goes with the flow: nothing reaches a side after a cut.
        dropHeld()
        // Emitted before acting: closing a channel can finish the flow synchronously,
        // and the close event must come after the cut.
        emit(cutEvent)
        switch mode {
        case .reset:
            state = .closing(clientOpen: sockets.clientOpen, upstream: sockets.upstream)
            outcome.signal = .rst
            client?.reset()
            upstream?.reset()
        case .close:
            state = .closing(clientOpen: sockets.clientOpen, upstream: sockets.upstream)
            outcome.signal = .fin
            client?.close()
            upstream?.close()
        case .blackhole:
            state = .held(.blackhole, clientOpen: sockets.clientOpen, upstream: sockets.upstream)
        case .halfOpen:
            state = .held(.halfOpen, clientOpen: sockets.clientOpen, upstream: sockets.upstream)
            upstream?.close()
        }
        // Held-back reads would otherwise stay held forever; from now on arrivals are discarded.
        client?.resumeReading()
        upstream?.resumeReading()
        return cutEvent
    }

    /// Orderly close of both sides because the proxy stops; not a cut, so no `.cut` event.
    func shutdown() {
        guard let sockets = state.sockets else { return }
        switch state {
        case .closing: break
        default: if sockets.clientOpen { outcome.signal = .fin }
        }
        state = .closing(clientOpen: sockets.clientOpen, upstream: sockets.upstream)
        dropHeld()
        for index in toxics.indices { toxics[index].timer?.cancel() }
        client?.close()
        upstream?.close()
    }

    /// The idle cut in force: an `idle_cut` toxic's, else `repro proxy --after-idle`'s.
    private var idleRule: (after: TimeAmount, mode: CutMode)? {
        for applied in toxics where applied.acts {
            if case .idleCut(let milliseconds, let mode) = applied.toxic.kind {
                return (.milliseconds(Int64(milliseconds)), mode)
            }
        }
        if let afterIdle, let idleMode { return (afterIdle, idleMode) }
        return nil
    }

    private func armIdleTimer() {
        guard let afterIdle = idleRule?.after, case .passing(var traffic) = state else { return }
        traffic.idleTimer = eventLoop.assumeIsolated().scheduleTask(deadline: traffic.lastActivity + afterIdle) {
            self.idleTimerFired()
        }
        state = .passing(traffic)
    }

    // One timer per flow, re-armed lazily: traffic only moves `lastActivity`, and the timer,
    // when it fires early, sleeps again until the new deadline.
    private func idleTimerFired() {
        guard let (afterIdle, idleMode) = idleRule, case .passing(let traffic) = state else { return }
        if NIODeadline.now() >= traffic.lastActivity + afterIdle {
            // Silence is silence, as for a NAT or load balancer: a flow waiting for a long query is cut too; the
            // event says so.
            _ = cut(idleMode, midQuery: traffic.lastFromClient, toxic: idleCutToxicName)
        } else {
            armIdleTimer()
        }
    }
}

// MARK: Toxics

extension ProxyFlow {
    private var idleCutToxicName: String? {
        toxics.first { applied in
            guard applied.acts, case .idleCut = applied.toxic.kind else { return false }
            return true
        }?.toxic.name
    }

    /// Whether bytes a toxic held back may still be delivered: not after a cut, nor to a flow being torn down.
    private var carriesData: Bool {
        switch state {
        case .passing, .draining: true
        case .dialling, .held, .closing, .finished: false
        }
    }

    /// Puts `list` in force (the proxy's toxics, in their order). A toxic new to the flow draws its toxicity and
    /// starts (a timeout's timer; a half_open forgets the flow unless it is `atCreation`); one whose attributes changed
    /// starts again, as Toxiproxy restarts it; a timeout removed closes the flow it held, as Toxiproxy's cleanup does.
    func setToxics(_ list: [Toxic], atCreation: Bool = false) {
        guard state.sockets != nil else { return }
        var next: [AppliedToxic] = []
        var started: [Int] = []
        for toxic in list {
            if let old = toxics.first(where: { $0.toxic.name == toxic.name }) {
                if old.toxic == toxic {
                    next.append(old)
                    continue
                }
                old.timer?.cancel()
                var fresh = AppliedToxic(toxic: toxic, acts: Double.random(in: 0..<1) < toxic.toxicity)
                fresh.bytesPassed = old.bytesPassed
                next.append(fresh)
            } else {
                next.append(AppliedToxic(toxic: toxic, acts: Double.random(in: 0..<1) < toxic.toxicity))
            }
            started.append(next.count - 1)
        }
        let removed = toxics.filter { old in !list.contains { $0.name == old.toxic.name } }
        toxics = next
        for old in removed {
            old.timer?.cancel()
            if old.acts, case .timeout = old.toxic.kind { _ = cut(.close, toxic: old.toxic.name) }
        }
        for index in started where index < toxics.count && toxics[index].acts {
            let name = toxics[index].toxic.name
            switch toxics[index].toxic.kind {
            case .timeout(let milliseconds) where milliseconds > 0:
                toxics[index].timer = after(milliseconds) { _ = self.cut(.close, toxic: name) }
            case .halfOpen where !atCreation:
                _ = cut(.halfOpen, toxic: name)
            case .latency, .timeout, .resetPeer, .slowClose, .limitData, .halfOpen, .idleCut:
                break
            }
        }
        if case .passing(var traffic) = state {
            traffic.idleTimer?.cancel()
            traffic.idleTimer = nil
            state = .passing(traffic)
            armIdleTimer()
        }
    }

    private func after(_ milliseconds: Int, _ body: @escaping () -> Void) -> Scheduled<Void> {
        eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(milliseconds)), body)
    }

    /// Passes bytes through the toxics of their direction, then on to the other side (now, or when a latency says).
    private func forward(_ received: ByteBuffer, from side: Side) {
        let stream: Toxic.Stream = side == .client ? .upstream : .downstream
        var buffer = received
        var delay = 0
        var limitReached: String?
        for index in toxics.indices where toxics[index].acts && toxics[index].toxic.stream == stream {
            let name = toxics[index].toxic.name
            switch toxics[index].toxic.kind {
            case .timeout:
                return
            case .resetPeer(let milliseconds):
                // The chunk is swallowed, and so is all that follows until the reset.
                if !toxics[index].triggered {
                    toxics[index].triggered = true
                    toxics[index].timer = after(milliseconds) { _ = self.cut(.reset, toxic: name) }
                }
                return
            case .limitData(let bytes):
                if toxics[index].triggered { return }
                let allowed = min(buffer.readableBytes, max(0, bytes - toxics[index].bytesPassed))
                buffer = buffer.getSlice(at: buffer.readerIndex, length: allowed) ?? ByteBuffer()
                toxics[index].bytesPassed += allowed
                if toxics[index].bytesPassed >= bytes {
                    toxics[index].triggered = true
                    limitReached = name
                }
            case .latency(let milliseconds, let jitter):
                delay += max(0, milliseconds + (jitter > 0 ? Int.random(in: -jitter..<jitter) : 0))
            case .slowClose, .halfOpen, .idleCut:
                break
            }
        }
        if side == .client { bytesUp += buffer.readableBytes } else { bytesDown += buffer.readableBytes }
        let target: Side = side == .client ? .upstream : .client
        if buffer.readableBytes > 0 {
            deliver(on: stream, afterMilliseconds: delay) { deferred in
                guard self.carriesData, let handler = self.handler(target) else { return }
                handler.send(buffer)
                if deferred { handler.flush() }
            }
        }
        if let limitReached {
            // Closed once the bytes that fit are out: the peer reads them, then the close.
            deliver(on: stream, afterMilliseconds: delay) { _ in
                guard self.carriesData else { return }
                guard let handler = self.handler(target) else {
                    _ = self.cut(.close, toxic: limitReached)
                    return
                }
                handler.flushed { _ = self.cut(.close, toxic: limitReached) }
            }
        }
    }

    /// A peer's close (or reset) passed on in its direction's order: after the bytes held back, and as late as the
    /// slow_close toxics of that direction say.
    private func passClose(from side: Side, _ action: @escaping () -> Void) {
        let stream: Toxic.Stream = side == .client ? .upstream : .downstream
        var delay = 0
        for applied in toxics where applied.acts && applied.toxic.stream == stream {
            if case .slowClose(let milliseconds) = applied.toxic.kind { delay += milliseconds }
        }
        deliver(on: stream, afterMilliseconds: delay) { _ in action() }
    }

    /// Runs `action` now when nothing waits in that direction and no delay is asked, else in order once its time has
    /// come; `action` learns whether it was deferred (then it flushes what it wrote itself).
    private func deliver(on stream: Toxic.Stream, afterMilliseconds delay: Int, _ action: @escaping (Bool) -> Void) {
        var lane = stream == .upstream ? upLane : downLane
        if lane.queue.isEmpty && delay == 0 {
            action(false)
            return
        }
        var at = NIODeadline.now() + .milliseconds(Int64(delay))
        if let last = lane.queue.last, last.at > at { at = last.at }
        lane.queue.append((at: at, action: { action(true) }))
        if lane.timer == nil { lane.timer = laneTimer(stream, at: lane.queue.first?.at ?? at) }
        setLane(stream, lane)
    }

    private func laneTimer(_ stream: Toxic.Stream, at deadline: NIODeadline) -> Scheduled<Void> {
        eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.laneDue(stream) }
    }

    private func laneDue(_ stream: Toxic.Stream) {
        var lane = stream == .upstream ? upLane : downLane
        lane.timer = nil
        var due: [() -> Void] = []
        let now = NIODeadline.now()
        while let head = lane.queue.first, head.at <= now {
            due.append(head.action)
            lane.queue.removeFirst()
        }
        if let head = lane.queue.first { lane.timer = laneTimer(stream, at: head.at) }
        // The lane is stored before acting: an action can cut the flow, which empties the lanes.
        setLane(stream, lane)
        for action in due { action() }
    }

    private func setLane(_ stream: Toxic.Stream, _ lane: Lane) {
        if stream == .upstream { upLane = lane } else { downLane = lane }
    }

    /// Forgets what the lanes hold back.
    private func dropHeld() {
        upLane.timer?.cancel()
        downLane.timer?.cancel()
        upLane = Lane()
        downLane = Lane()
    }
}
