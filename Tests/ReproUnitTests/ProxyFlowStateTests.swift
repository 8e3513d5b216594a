import NIOCore
import NIOEmbedded
import ReproTestSupport
import Testing

@testable import ReproKit

/// `ProxyFlow`'s state machine without sockets: no handler is attached, so every socket action is a no-op and what
/// is left to check is the state and the events. `FaultProxyTests` checks the same transitions on real sockets.
@Suite("ProxyFlow's state, without sockets")
struct ProxyFlowStateTests {
    /// A flow on an embedded loop, and what it emitted.
    private final class Probe {
        var events: [FlowEvent] = []
        let flow: ProxyFlow

        init() {
            var sink: (FlowEvent) -> Void = { _ in }
            flow = ProxyFlow(
                id: 1, clientAddress: "127.0.0.1:40000", eventLoop: EmbeddedEventLoop(),
                afterIdle: nil, idleMode: nil, emit: { sink($0) })
            sink = { [unowned self] in self.events.append($0) }
        }

        var kinds: [FlowEvent.Kind] { events.map(\.kind) }
        var close: FlowEvent? { events.last { $0.kind == .close } }

        func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
    }

    private func isFinished(_ state: ProxyFlow.State) -> Bool {
        if case .finished = state { true } else { false }
    }

    @Test("bytes and a half-close sent while dialling wait, then pass once the upstream connects")
    func earlyBytesWait() {
        let probe = Probe()
        probe.flow.received(probe.bytes("hello"), from: .client)
        probe.flow.received(probe.bytes("!"), from: .client)
        probe.flow.inputClosed(on: .client)
        guard case .dialling(let early, let halfClosed) = probe.flow.state else {
            Issue.record("expected dialling, got \(probe.flow.state)")
            return
        }
        #expect(early.map(\.readableBytes) == [5, 1])
        #expect(halfClosed)
        #expect(probe.flow.mayRead(.client) == false)

        probe.flow.upstreamConnected()
        guard case .passing = probe.flow.state else {
            Issue.record("expected passing, got \(probe.flow.state)")
            return
        }
        #expect(probe.flow.mayRead(.client))
        #expect(probe.flow.mayRead(.upstream))
    }

    @Test("a cut is one event; the same cut again, or any cut of a closing flow, is nil")
    func cutsAreIdempotent() throws {
        let probe = Probe()
        probe.flow.upstreamConnected()
        let blackhole = try #require(probe.flow.cut(.blackhole))
        #expect(blackhole.signal == ClientSignal.none)
        #expect(probe.flow.cut(.blackhole) == nil)
        // A blackholed flow can still be reset: the middlebox may be told to drop it later.
        #expect(probe.flow.cut(.reset)?.signal == .rst)
        #expect(probe.flow.cut(.close) == nil)
        #expect(probe.kinds == [.cut, .cut])
    }

    @Test("half-open: the client's next bytes are answered with RST, and the close says so once")
    func halfOpenRefusesTheNextBytes() throws {
        let probe = Probe()
        probe.flow.upstreamConnected()
        _ = try #require(probe.flow.cut(.halfOpen))
        probe.flow.inactive(.upstream, aborted: false)
        guard case .held(.halfOpen, true, .gone) = probe.flow.state else {
            Issue.record("expected a held half-open flow, got \(probe.flow.state)")
            return
        }
        probe.flow.received(probe.bytes("SELECT 1"), from: .client)
        guard case .closing(true, .gone) = probe.flow.state else {
            Issue.record("expected closing, got \(probe.flow.state)")
            return
        }
        probe.flow.inactive(.client, aborted: false)
        probe.flow.inactive(.client, aborted: false)
        #expect(isFinished(probe.flow.state))
        #expect(probe.kinds == [.cut, .close])
        let close = try #require(probe.close)
        #expect(close.mode == .halfOpen)
        #expect(close.signal == .rst)
        #expect(close.bytesUp == 0)
    }

    @Test("an unreachable upstream resets the client; the close names why")
    func failedDialResetsTheClient() throws {
        let probe = Probe()
        probe.flow.upstreamFailed("Connection refused")
        probe.flow.upstreamFailed("twice")
        probe.flow.upstreamConnected()
        guard case .closing(true, .gone) = probe.flow.state else {
            Issue.record("expected closing, got \(probe.flow.state)")
            return
        }
        probe.flow.inactive(.client, aborted: false)
        let close = try #require(probe.close)
        #expect(close.signal == .rst)
        #expect(close.upstreamError == "Connection refused")
        #expect(probe.kinds == [.close])
    }

    @Test("a server's FIN is passed on; the client's bytes after it get RST, as from the server's kernel")
    func serverFinThenClientBytes() throws {
        let probe = Probe()
        probe.flow.upstreamConnected()
        probe.flow.inactive(.upstream, aborted: false)
        guard case .draining(open: .client) = probe.flow.state else {
            Issue.record("expected draining, got \(probe.flow.state)")
            return
        }
        #expect(probe.flow.cut(.blackhole) != nil)
        let second = Probe()
        second.flow.upstreamConnected()
        second.flow.inactive(.upstream, aborted: false)
        second.flow.received(second.bytes("x"), from: .client)
        second.flow.inactive(.client, aborted: false)
        #expect(second.close?.signal == .rst)
        #expect(second.close?.mode == nil)
        #expect(isFinished(second.flow.state))
    }

    @Test("the client leaving a blackholed flow that is still dialling closes the upstream too")
    func blackholeWhileDiallingThenClientLeaves() {
        let probe = Probe()
        _ = probe.flow.cut(.blackhole)
        probe.flow.inactive(.client, aborted: false)
        // The upstream connects after the client left: `attach` closes it; the flow waits for that close.
        probe.flow.upstreamConnected()
        guard case .closing(false, .open) = probe.flow.state else {
            Issue.record("expected closing with the upstream open, got \(probe.flow.state)")
            return
        }
        probe.flow.inactive(.upstream, aborted: false)
        #expect(isFinished(probe.flow.state))
        #expect(probe.kinds == [.cut, .close])
    }

    @Test("stopping the proxy tells an open client FIN, a finished flow nothing")
    func shutdownSignals() {
        let probe = Probe()
        probe.flow.upstreamConnected()
        probe.flow.shutdown()
        probe.flow.inactive(.client, aborted: false)
        probe.flow.inactive(.upstream, aborted: false)
        #expect(probe.close?.signal == .fin)
        probe.flow.shutdown()
        #expect(probe.kinds == [.close])
    }
}
