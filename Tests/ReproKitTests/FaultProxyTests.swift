import Dispatch
import NIOCore
import ReproTestSupport
import Synchronization
import Testing

@testable import ReproKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Collects a proxy's events from its event loop thread.
final class FlowEventLog: Sendable {
    private let events = Mutex<[FlowEvent]>([])

    var all: [FlowEvent] { events.withLock { $0 } }

    func record(_ event: FlowEvent) {
        events.withLock { $0.append(event) }
    }

    func of(_ kind: FlowEvent.Kind) -> [FlowEvent] {
        all.filter { $0.kind == kind }
    }
}

/// Polls `condition` every 10 ms for at most `seconds`.
func eventually(within seconds: Double = 3, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// One upstream and one proxy in front of it, torn down at the end of the test.
final class Rig {
    let upstream = ProxyTestUpstream()
    let log = FlowEventLog()
    let proxy: FaultProxy
    let port: Int

    init(
        _ behaviour: ProxyTestUpstream.Behaviour = .echo,
        afterIdle: Duration? = nil,
        idleMode: CutMode? = nil
    ) throws {
        let upstreamPort = try upstream.start(behaviour)
        let log = self.log
        proxy = FaultProxy(
            upstreamHost: "127.0.0.1", upstreamPort: upstreamPort,
            afterIdle: afterIdle, idleMode: idleMode,
            onEvent: { log.record($0) })
        port = try proxy.start()
    }

    /// A client connected through the proxy whose first echo round trip succeeded.
    func connectedClient(_ hello: String = "hello") throws -> ProxyTestSocket {
        let client = try #require(ProxyTestSocket.connect(port: port))
        #expect(client.roundTrip(hello))
        return client
    }

    deinit {
        proxy.stop()
        upstream.stop()
    }
}

@Suite("FaultProxy", .ownThreads, .serialized)
struct FaultProxyTests {
    @Test("passes 4 MB through byte-exact in both directions")
    func passThroughIsByteExact() throws {
        let rig = try Rig()
        let client = try #require(ProxyTestSocket.connect(port: rig.port))
        let payload = ProxyTestUpstream.pattern(count: 4 << 20)
        let fd = client.fd
        // Write from another thread: the echo comes back while we are still sending.
        let writer = DispatchGroup()
        DispatchQueue.global().async(group: writer) {
            payload.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = send(
                        fd, raw.baseAddress! + offset, min(100_000, raw.count - offset),
                        Int32(MSG_NOSIGNAL))
                    if n <= 0 { break }
                    offset += n
                }
            }
        }
        let echoed = client.receiveExactly(payload.count)
        #expect(writer.wait(timeout: .now() + 10) == .success)

        #expect((try? echoed.get()) == payload)
        #expect(rig.upstream.connection(0)?.received == payload.count)
        client.shutdownWrite()
        #expect(client.receive() == .eof)
        #expect(eventually { rig.proxy.openFlowCount == 0 })
        let close = try #require(rig.log.of(.close).first)
        #expect(close.bytesUp == payload.count && close.bytesDown == payload.count)
    }

    @Test("streams 4 MB from upstream byte-exact")
    func downstreamIsByteExact() throws {
        let rig = try Rig(.stream(bytes: 4 << 20))
        let client = try #require(ProxyTestSocket.connect(port: rig.port))
        let received = client.receiveExactly(4 << 20)
        #expect((try? received.get()) == ProxyTestUpstream.pattern(count: 4 << 20))
    }

    @Test("does not buffer a fast upstream while the client is not reading")
    func honoursBackpressure() throws {
        let total = 48 << 20
        let rig = try Rig(.stream(bytes: total))
        let client = try #require(ProxyTestSocket.connect(port: rig.port))
        usleep(500_000)
        let sent = rig.upstream.connection(0)?.sentToKernel ?? 0
        // Only socket buffers (a few MB on loopback) may fill up; a proxy that buffers would take it all.
        #expect(sent < 32 << 20, "upstream wrote \(sent >> 20) MB while the client read nothing")
        var readTotal = 0
        while readTotal < total, case .data(let bytes) = client.receive(max: 1 << 20) {
            readTotal += bytes.count
        }
        #expect(readTotal == total)
    }

    @Test("carries 50 concurrent flows, each echo-checked")
    func fiftyConcurrentFlows() throws {
        let rig = try Rig()
        var clients: [ProxyTestSocket] = []
        for _ in 0..<50 {
            clients.append(try #require(ProxyTestSocket.connect(port: rig.port)))
        }
        for (i, client) in clients.enumerated() {
            #expect(client.sendAll("flow \(i) says hi") == 0)
        }
        for (i, client) in clients.enumerated() {
            let expected = Array("flow \(i) says hi".utf8)
            #expect((try? client.receiveExactly(expected.count).get()) == expected)
        }
        #expect(rig.proxy.openFlowCount == 50)
        #expect(rig.log.of(.open).count == 50)
        clients.removeAll()
        #expect(eventually { rig.proxy.openFlowCount == 0 })
    }

    @Test("reset: the client's next recv gets ECONNRESET, not EOF, and upstream is reset too")
    func resetSendsRealRST() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()

        let events = rig.proxy.cutAll(.reset)

        #expect(events.map(\.signal) == [.rst])
        #expect(events.map(\.mode) == [.reset])
        #expect(client.receive() == .failure(ECONNRESET))
        #expect(eventually { rig.upstream.connection(0)?.closed == true })
        #expect(rig.upstream.connection(0)?.sawReset == true)
        #expect(eventually { rig.log.of(.close).first?.signal == .rst })
    }

    @Test("close: the client's next recv returns 0 (EOF)")
    func closeSendsFIN() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()

        let events = rig.proxy.cutAll(.close)

        #expect(events.map(\.signal) == [.fin])
        #expect(client.receive() == .eof)
        #expect(eventually { rig.upstream.connection(0)?.closed == true })
        #expect(eventually { rig.proxy.openFlowCount == 0 })
    }

    @Test("blackhole: the client times out and upstream never sees what it wrote")
    func blackholeForwardsNothing() throws {
        let rig = try Rig()
        let client = try rig.connectedClient("12345")
        let before = rig.upstream.connection(0)?.received

        let events = rig.proxy.cutAll(.blackhole)
        client.setReceiveTimeout(milliseconds: 300)

        #expect(events.map(\.signal) == [ClientSignal.none])
        #expect(client.sendAll("SELECT 1 after the cut") == 0)
        #expect(client.receive() == .failure(EAGAIN))
        #expect(rig.upstream.connection(0)?.received == before)
        #expect(rig.upstream.connection(0)?.closed == false)
        #expect(rig.proxy.openFlowCount == 1)
    }

    @Test("half-open: silence first, then ECONNRESET on the client's next request")
    func halfOpenResetsOnNextRequest() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()

        let events = rig.proxy.cutAll(.halfOpen)
        client.setReceiveTimeout(milliseconds: 300)

        #expect(events.map(\.signal) == [ClientSignal.none])
        #expect(eventually { rig.upstream.connection(0)?.closed == true })
        #expect(client.receive() == .failure(EAGAIN))
        #expect(rig.log.of(.close).isEmpty)
        client.setReceiveTimeout(milliseconds: 3_000)
        #expect(client.sendAll("SELECT 1") == 0)
        #expect(client.receive() == .failure(ECONNRESET))
        #expect(eventually { rig.log.of(.close).count == 1 })
        let close = try #require(rig.log.of(.close).first)
        #expect(close.signal == .rst && close.mode == .halfOpen)
    }

    @Test("afterIdle cuts an idle flow but not one that keeps talking")
    func idleTimeoutCutsOnlyIdleFlows() throws {
        let rig = try Rig(afterIdle: .milliseconds(500), idleMode: .reset)
        let idle = try rig.connectedClient("idle")
        let chatty = try rig.connectedClient("chatty")

        for i in 0..<24 {
            #expect(chatty.roundTrip("ping \(i)"))
            usleep(50_000)
        }

        #expect(idle.receive() == .failure(ECONNRESET))
        #expect(chatty.roundTrip("still here"))
        let cuts = rig.log.of(.cut)
        #expect(cuts.count == 1)
        #expect(cuts.first?.flowID == 1 && cuts.first?.mode == .reset)
    }

    @Test("a flow opened after a cut passes through; the cut flow stays blackholed")
    func newFlowsAfterCutPass() throws {
        let rig = try Rig()
        let old = try rig.connectedClient()
        rig.proxy.cutAll(.blackhole)

        let fresh = try rig.connectedClient("fresh")
        #expect(fresh.roundTrip("again"))

        old.setReceiveTimeout(milliseconds: 300)
        #expect(old.sendAll("anyone?") == 0)
        #expect(old.receive() == .failure(EAGAIN))
        #expect(rig.proxy.openFlowCount == 2)
    }

    @Test("mirrors a client's half-close: upstream gets FIN, its reply and FIN come back")
    func halfCloseIsMirrored() throws {
        let rig = try Rig()
        let client = try #require(ProxyTestSocket.connect(port: rig.port))
        #expect(client.sendAll("last words") == 0)
        client.shutdownWrite()

        #expect((try? client.receiveExactly(10).get()) == Array("last words".utf8))
        #expect(client.receive() == .eof)
        #expect(eventually { rig.upstream.connection(0)?.sawEOF == true })
        #expect(eventually { rig.proxy.openFlowCount == 0 })
    }

    @Test("a server-side close looks the same to the client as without the proxy")
    func serverCloseMatchesDirect() throws {
        let rig = try Rig()
        // What a client sees when the server hangs up while it idles: EOF, then its next
        // request and read, then one more write.
        func observe(port: Int, upstreamConnection: Int) throws -> [String] {
            let client = try #require(ProxyTestSocket.connect(port: port))
            #expect(client.roundTrip("hi"))
            rig.upstream.closeConnection(upstreamConnection)
            client.setReceiveTimeout(milliseconds: 1_000)
            var seen = ["\(client.receive())"]
            seen.append("send \(client.sendAll("SELECT 1"))")
            usleep(100_000)
            seen.append("\(client.receive())")
            seen.append("send \(client.sendAll("SELECT 1"))")
            return seen
        }

        let direct = try observe(port: rig.upstream.port, upstreamConnection: 0)
        let proxied = try observe(port: rig.port, upstreamConnection: 1)

        #expect(proxied == direct)
        // The FIN, and then the reset that the server answered the request with.
        #expect(eventually { rig.log.of(.close).count == 1 })
        #expect(rig.log.of(.close).first?.signal == .rst)
    }

    @Test("a client's reset reaches upstream as a reset, not a FIN")
    func clientResetIsPassedOn() throws {
        let rig = try Rig()
        var client: ProxyTestSocket? = try rig.connectedClient()
        client?.setLingerZero()

        client = nil

        #expect(eventually { rig.upstream.connection(0)?.closed == true })
        #expect(rig.upstream.connection(0)?.sawReset == true)
        #expect(eventually { rig.proxy.openFlowCount == 0 })
    }

    @Test("an unreachable upstream resets the client and reports the close")
    func upstreamConnectFailureResetsClient() throws {
        let log = FlowEventLog()
        let proxy = FaultProxy(
            upstreamHost: "127.0.0.1", upstreamPort: 1, onEvent: { log.record($0) })
        defer { proxy.stop() }
        let port = try proxy.start()
        let client = try #require(ProxyTestSocket.connect(port: port))

        #expect(client.receive() == .failure(ECONNRESET))
        #expect(eventually { log.of(.close).count == 1 })
        #expect(log.of(.close).first?.signal == .rst)
        #expect(proxy.openFlowCount == 0)
    }

    @Test("stop closes the listener and every flow, and can be called twice")
    func stopLeavesNothingListening() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()

        let started = ContinuousClock.now
        rig.proxy.stop()
        rig.proxy.stop()

        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(client.receive() == .eof)
        #expect(rig.log.of(.cut).isEmpty)
        var error: Int32 = 0
        #expect(ProxyTestSocket.connect(port: rig.port, errnoOut: &error) == nil)
        #expect(error == ECONNREFUSED)
    }
}
