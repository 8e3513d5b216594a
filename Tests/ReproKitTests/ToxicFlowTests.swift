import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Toxics put in force on real flows of a `FaultProxy` (loopback echo upstream, a blocking POSIX client): what the
/// client's kernel reports is what Toxiproxy's toxic of that name makes it report.
@Suite("Toxics on real flows", .ownThreads, .serialized)
struct ToxicFlowTests {
    /// Whether `body` held, and how long it took.
    private func timed(_ body: () -> Bool) -> (held: Bool, took: Duration) {
        let start = ContinuousClock.now
        let held = body()
        return (held, ContinuousClock.now - start)
    }

    @Test("latency holds each chunk back in its direction only, and keeps the order under jitter")
    func latencyDelaysInOrder() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()
        rig.proxy.setToxics([Toxic(name: "slow", kind: .latency(milliseconds: 300, jitter: 0))])
        let step1 = timed { client.roundTrip("ping") }
        #expect(step1.held && step1.took >= .milliseconds(290), "took \(step1.took)")
        rig.proxy.setToxics([Toxic(name: "up", kind: .latency(milliseconds: 250, jitter: 0), stream: .upstream)])
        let step2 = timed { client.roundTrip("pong") }
        #expect(step2.held && step2.took >= .milliseconds(240), "took \(step2.took)")
        // 100 numbered messages under heavy jitter come back in the order sent.
        rig.proxy.setToxics([Toxic(name: "jitter", kind: .latency(milliseconds: 20, jitter: 20))])
        var sent: [UInt8] = []
        for index in 0..<100 {
            let message = Array(String(format: "%03d;", index).utf8)
            sent += message
            #expect(client.sendAll(message) == 0)
        }
        #expect((try? client.receiveExactly(sent.count).get()) == sent)
        rig.proxy.setToxics([])
        #expect(client.roundTrip("done"))
    }

    @Test("timeout 0 swallows every byte until removed, and removing it closes the flow it held")
    func timeoutZeroDropsThenCloses() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()
        rig.proxy.setToxics([Toxic(name: "t", kind: .timeout(milliseconds: 0))])
        #expect(client.sendAll("lost") == 0)
        client.setReceiveTimeout(milliseconds: 400)
        #expect(client.receive() == .failure(EAGAIN))
        rig.proxy.setToxics([])
        client.setReceiveTimeout(milliseconds: 3000)
        #expect(client.receive() == .eof)
        let cut = try #require(rig.log.of(.cut).first)
        #expect(cut.mode == .close && cut.toxic == "t" && cut.signal == .fin)
    }

    @Test("timeout N closes the flow N ms after it was applied, also for a flow opened under it")
    func timeoutClosesAfterItsTime() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()
        rig.proxy.setToxics([Toxic(name: "t", kind: .timeout(milliseconds: 400))])
        client.setReceiveTimeout(milliseconds: 3000)
        let step3 = timed { client.receive() == .eof }
        #expect(step3.held && step3.took >= .milliseconds(380), "took \(step3.took)")
        let late = try #require(ProxyTestSocket.connect(port: rig.port))
        late.setReceiveTimeout(milliseconds: 3000)
        #expect(late.sendAll("hello") == 0)
        let step4 = timed { late.receive() == .eof }
        #expect(step4.held && step4.took >= .milliseconds(300), "took \(step4.took)")
    }

    @Test("reset_peer swallows the next chunk and resets the client")
    func resetPeerResets() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()
        rig.proxy.setToxics([Toxic(name: "reset_peer_downstream", kind: .resetPeer(milliseconds: 0))])
        #expect(client.sendAll("query") == 0)
        client.setReceiveTimeout(milliseconds: 3000)
        #expect(client.receive() == .failure(ECONNRESET))
        #expect(eventually { rig.log.of(.close).count == 1 })
        let cut = try #require(rig.log.of(.cut).first)
        #expect(cut.mode == .reset && cut.toxic == "reset_peer_downstream" && cut.signal == .rst)
        #expect(rig.log.of(.close).first?.signal == .rst)
    }

    @Test("limit_data passes exactly its bytes, then the client reads EOF")
    func limitDataCloses() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()
        rig.proxy.setToxics([Toxic(name: "limit", kind: .limitData(bytes: 5))])
        #expect(client.sendAll("0123456789") == 0)
        client.setReceiveTimeout(milliseconds: 3000)
        #expect((try? client.receiveExactly(5).get()) == Array("01234".utf8))
        #expect(client.receive() == .eof)
        #expect(rig.log.of(.cut).first?.toxic == "limit")
    }

    @Test("slow_close passes the server's close on late")
    func slowCloseDelaysTheFIN() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()
        rig.proxy.setToxics([Toxic(name: "slow", kind: .slowClose(milliseconds: 400))])
        client.setReceiveTimeout(milliseconds: 3000)
        rig.upstream.closeConnection(0)
        let step5 = timed { client.receive() == .eof }
        #expect(step5.held && step5.took >= .milliseconds(380), "took \(step5.took)")
    }

    @Test("half_open forgets the flows open when it is added: their next bytes get RST; a new flow passes")
    func halfOpenForgetsOpenFlows() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()
        rig.proxy.setToxics([Toxic(name: "forgot", kind: .halfOpen)])
        // The server side is gone at once, and the client was told nothing.
        #expect(eventually { rig.upstream.connection(0)?.closed == true })
        let fresh = try rig.connectedClient("new flow")
        #expect(client.sendAll("SELECT 1") == 0)
        client.setReceiveTimeout(milliseconds: 3000)
        #expect(client.receive() == .failure(ECONNRESET))
        #expect(fresh.roundTrip("still fine"))
        let cut = try #require(rig.log.of(.cut).first)
        #expect(cut.mode == .halfOpen && cut.signal == ClientSignal.none && cut.toxic == "forgot")
    }

    @Test("idle_cut cuts a flow once it is silent that long; traffic keeps a flow alive")
    func idleCutWaitsForSilence() throws {
        let rig = try Rig()
        let idle = try rig.connectedClient()
        let busy = try rig.connectedClient("busy")
        rig.proxy.setToxics([Toxic(name: "nat", kind: .idleCut(milliseconds: 500, mode: .reset))])
        for _ in 0..<8 {
            usleep(150_000)
            #expect(busy.roundTrip("keepalive"))
        }
        idle.setReceiveTimeout(milliseconds: 3000)
        #expect(idle.receive() == .failure(ECONNRESET))
        let cuts = rig.log.of(.cut)
        #expect(cuts.count == 1 && cuts.first?.flowID == 1 && cuts.first?.toxic == "nat")
    }

    @Test("toxicity 0 never applies; a toxic on the other stream leaves this direction alone")
    func toxicityAndStreamChooseWhatIsHit() throws {
        let rig = try Rig()
        let client = try rig.connectedClient()
        rig.proxy.setToxics([Toxic(name: "never", kind: .timeout(milliseconds: 0), toxicity: 0)])
        #expect(client.roundTrip("passes"))
        rig.proxy.setToxics([Toxic(name: "down", kind: .limitData(bytes: 1), stream: .upstream)])
        // One byte of the client's two reaches the server, then the flow closes (whether the echo of that byte
        // still makes it back races with the close).
        #expect(client.sendAll("xy") == 0)
        client.setReceiveTimeout(milliseconds: 3000)
        var received = client.receive()
        if received == .data(Array("x".utf8)) { received = client.receive() }
        #expect(received == .eof)
        #expect(eventually { rig.upstream.connection(0)?.received == "hello".utf8.count + "passes".utf8.count + 1 })
    }
}

@Suite("The Toxiproxy-compatible API's answers", .ownThreads, .serialized)
struct ToxiproxyAPITests {
    private func request(_ api: ToxiproxyAPI, _ method: String, _ target: String, _ body: String = "")
        -> APIResponse
    {
        api.handle(APIRequest(method: method, target: target, body: Array(body.utf8)))
    }

    @Test("a proxy's life: create, list, toxics, down and up, reset, delete, with Toxiproxy's status codes")
    func proxyLifecycle() throws {
        let upstream = ProxyTestUpstream()
        let upstreamPort = try upstream.start()
        defer { upstream.stop() }
        let api = ToxiproxyAPI()
        defer { api.stopAll() }

        let chosen = ProxyTestSocket.unusedPortBelowEphemeralRange()
        let created = request(
            api, "POST", "/proxies",
            #"{"name": "mysql", "listen": "127.0.0.1:\#(chosen)", "upstream": "127.0.0.1:\#(upstreamPort)"}"#)
        #expect(created.status == 201 && chosen > 0)
        let listen = try #require(created.json?["listen"]?.string)
        let port = try #require(Int(listen.split(separator: ":").last ?? ""))
        #expect(listen == "127.0.0.1:\(chosen)" && port == chosen)
        #expect(created.json?["enabled"] == .bool(true) && created.json?["toxics"] == .array([]))
        let client = try #require(ProxyTestSocket.connect(port: port))
        #expect(client.roundTrip("through the API"))

        let again = request(api, "POST", "/proxies", #"{"name": "mysql", "upstream": "127.0.0.1:1"}"#)
        #expect(again.status == 409 && again.body == #"{"error":"proxy already exists","status":409}"# + "\n")
        #expect(request(api, "GET", "/proxies").json?["mysql"]?["listen"]?.string == listen)
        #expect(request(api, "GET", "/proxies/nope").status == 404)
        let nameless = request(api, "POST", "/proxies", #"{"upstream": "127.0.0.1:1"}"#)
        #expect(nameless.json?["error"] == .string("missing required field: name"))

        let toxic = request(api, "POST", "/proxies/mysql/toxics", #"{"type": "timeout", "attributes": {"timeout": 0}}"#)
        #expect(toxic.status == 200 && toxic.json?["name"] == .string("timeout_downstream"))
        #expect(request(api, "POST", "/proxies/mysql/toxics", #"{"type": "timeout"}"#).status == 409)
        #expect(request(api, "GET", "/proxies/mysql/toxics").json?.array?.count == 1)
        #expect(request(api, "GET", "/proxies/mysql/toxics/timeout_downstream").json?["type"] == .string("timeout"))
        let updated = request(
            api, "POST", "/proxies/mysql/toxics/timeout_downstream", #"{"attributes": {"timeout": 60000}}"#)
        #expect(updated.json?["attributes"]?["timeout"]?.int == 60000)
        #expect(request(api, "DELETE", "/proxies/mysql/toxics/nope").status == 404)
        #expect(request(api, "DELETE", "/proxies/mysql/toxics/timeout_downstream").status == 204)

        // Down: the flow is closed and the port refuses; up again on the same port.
        #expect(request(api, "POST", "/proxies/mysql", #"{"enabled": false}"#).json?["enabled"] == .bool(false))
        client.setReceiveTimeout(milliseconds: 3000)
        #expect(client.receive() == .eof)
        var refused: Int32 = 0
        #expect(ProxyTestSocket.connect(port: port, errnoOut: &refused) == nil && refused == ECONNREFUSED)
        _ = request(api, "POST", "/proxies/mysql/toxics", #"{"type": "latency", "attributes": {"latency": 1}}"#)
        #expect(request(api, "POST", "/reset").status == 204)
        let shown = request(api, "GET", "/proxies/mysql").json
        #expect(
            shown?["enabled"] == .bool(true) && shown?["toxics"] == .array([]) && shown?["listen"]?.string == listen)
        let back = try #require(ProxyTestSocket.connect(port: port))
        defer { withExtendedLifetime(back) {} }
        #expect(back.roundTrip("back"))

        // Every flow is in the events, numbered on across the restart, with what its client got.
        let events = try #require(request(api, "GET", "/events").json?["events"]?.array)
        let closes = events.filter { $0["event"] == .string("close") }
        #expect(closes.first?["client_received"] == .string("FIN") && closes.first?["flow"]?.int == 1)
        #expect(events.contains { $0["event"] == .string("open") && $0["flow"]?.int == 2 })
        let next = try #require(request(api, "GET", "/events").json?["next"]?.int)
        #expect(request(api, "GET", "/events?since=\(next)").json?["events"] == .array([]))
        let own = try #require(request(api, "GET", "/proxies/mysql/events").json?["events"]?.array)
        #expect(own.count >= events.count && own.allSatisfy { $0["proxy"] == .string("mysql") })

        #expect(request(api, "DELETE", "/proxies/mysql").status == 204)
        #expect(request(api, "DELETE", "/proxies/mysql").json?["error"] == .string("proxy not found"))
    }

    @Test("populate creates, keeps and replaces as Toxiproxy does; a new upstream restarts the proxy on its port")
    func populateAndUpdate() throws {
        let first = ProxyTestUpstream()
        let second = ProxyTestUpstream()
        let (a, b) = (try first.start(), try second.start())
        defer {
            first.stop()
            second.stop()
        }
        let api = ToxiproxyAPI()
        defer { api.stopAll() }
        let missing = request(api, "POST", "/populate", #"[{"name": "x", "upstream": "127.0.0.1:1"}, {"name": "y"}]"#)
        #expect(
            missing.status == 400 && missing.json?["error"] == .string("missing required field: upstream at proxy 2"))
        #expect(request(api, "GET", "/proxies").json == .object([:]), "nothing was created")
        let body = #"[{"name": "one", "upstream": "127.0.0.1:\#(a)"}, {"name": "two", "upstream": "127.0.0.1:\#(a)"}]"#
        let made = request(api, "POST", "/populate", body)
        #expect(made.status == 201 && made.json?["proxies"]?.array?.count == 2)
        let again = request(api, "POST", "/populate", body)
        #expect(
            again.json?["proxies"]?.array?.map { $0["listen"] } == made.json?["proxies"]?.array?.map { $0["listen"] })
        let listen = try #require(made.json?["proxies"]?.array?.first?["listen"]?.string)
        let port = try #require(Int(listen.split(separator: ":").last ?? ""))
        let moved = request(api, "POST", "/proxies/one", #"{"upstream": "127.0.0.1:\#(b)"}"#)
        #expect(moved.json?["upstream"]?.string == "127.0.0.1:\(b)" && moved.json?["listen"]?.string == listen)
        #expect(try #require(ProxyTestSocket.connect(port: port)).roundTrip("to the second upstream"))
        #expect(eventually { second.connection(0) != nil } && first.connection(0) == nil)
    }
}
