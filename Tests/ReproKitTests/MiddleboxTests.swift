import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Middleboxes: how a NAT or HAProxy is described", .ownThreads)
struct MiddleboxDescriptionTests {
    @Test("a scenario file names a NAT by its own words: idle-timeout, on-expiry, keepalive-time")
    func natFromFile() throws {
        let yaml = """
            name: nat
            fault:
              kind: network-cut
              via: nat
              idle-timeout: 3
              on-expiry: reset
              keepalive-time: 1
              idle: 5
            """
        let s = try ScenarioFile.parse(yaml, file: "x.yml")
        let fault = try #require(s.fault.as(NetworkCutFault.self))
        #expect(fault.via == .nat)
        #expect(fault.idleTimeout == 3)
        #expect(fault.onExpiry == .reset)
        #expect(fault.keepaliveTime == 1)
        #expect(fault.mode == .halfOpen, "a NAT that answers RST after expiry is a half-open flow")
        #expect(s.idle == 5)
        #expect(MatrixColumn.measuring(s.fault, pattern: .pool) == nil, "the matrix column is the dropping NAT")
        // Round trip through a report's parameters.
        #expect(Fault(kind: "network-cut", parameters: s.fault.parameters) == s.fault)
    }

    @Test("HAProxy and a dropping NAT are the drivers matrix's middlebox columns")
    func columns() {
        let nat = NetworkCutFault(middlebox: .nat, idleTimeout: 3)
        #expect(nat.mode == .blackhole)
        #expect(MatrixColumn.measuring(Fault(nat), pattern: .pool) == .natIdleTimeout)
        let haproxy = NetworkCutFault(middlebox: .haproxy, idleTimeout: 3)
        #expect(MatrixColumn.measuring(Fault(haproxy), pattern: .pool) == .haproxyIdleTimeout)
        #expect(haproxy.label == "network-cut via haproxy (timeout 3 s)")
        #expect(MatrixColumn.natIdleTimeout.idle(DriversMatrix.Settings()) == 34, "idles 2 s past the timeout")
        #expect(
            MatrixColumn.natIdleTimeout.fault(DriversMatrix.Settings(waitTimeout: 3))
                == .middlebox(.nat, idleTimeout: 32))
    }

    @Test(
        "keys that do not fit the middlebox are refused with the key's line",
        arguments: [
            ("via: nat\n  mode: reset", "fault.mode does not apply to via: nat"),
            ("via: haproxy\n  on-expiry: drop", "fault.on-expiry applies to via: nat only"),
            ("via: proxy\n  mode: reset\n  idle-timeout: 2", "fault.idle-timeout applies to via: nat or haproxy"),
            ("via: nat\n  idle-timeout: 0", "fault.idle-timeout 0 is out of range"),
            ("via: nat\n  on-expiry: reject", "fault.on-expiry 'reject' is unknown: use drop, reset"),
            ("via: nat\n  keepalive-time: 0", "fault.keepalive-time 0 is out of range"),
        ])
    func refusals(keys: String, message: String) {
        let yaml = "name: bad\nfault:\n  kind: network-cut\n  \(keys)\n"
        do {
            _ = try ScenarioFile.parse(yaml, file: "bad.yml")
            Issue.record("expected a problem: \(message)")
        } catch {
            #expect(error.problems.contains { $0.message.contains(message) }, "got \(error.problems)")
        }
    }

    @Test("conntrack lines and socket timers are read as the tools print them")
    func parsing() {
        let line =
            "tcp      6 1 ESTABLISHED src=10.254.0.2 dst=10.254.0.1 sport=40000 dport=3306 src=10.254.0.6 dst=10.254.0.5 sport=3306 dport=40000 [ASSURED] mark=0 use=1"
        let flow = TrackedFlow(conntrackLine: line)
        #expect(flow == TrackedFlow(conntrackLine: line))
        #expect(flow?.state == "ESTABLISHED")
        #expect(flow?.secondsLeft == 1)
        #expect(flow?.clientPort == 40000)
        #expect(
            TrackedFlow(conntrackLine: "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.") == nil)
        #expect(NetworkCutFault.NATInjected.timerKind("keepalive,508ms,0") == "keepalive probe due in 508ms")
        #expect(NetworkCutFault.NATInjected.timerKind("none") == "no timer (no keepalive)")
    }

    @Test("a block no route covers is free; one inside a route of the host is not")
    func addressBlocks() {
        #expect(IdleTimeoutNAT.address(0, 1) == "10.254.0.1")
        #expect(IdleTimeoutNAT.address(33, 6) == "10.254.1.14")
        #expect(!IdleTimeoutNAT.coveredByRoute(5, routes: ["default", "192.168.1.0/24", "10.0.0.0/16"]))
        #expect(IdleTimeoutNAT.coveredByRoute(5, routes: ["10.254.0.0/16"]))
        #expect(IdleTimeoutNAT.coveredByRoute(5, routes: ["10.254.0.40"]), "a host route inside block 5 (.40-.47)")
        #expect(!IdleTimeoutNAT.coveredByRoute(5, routes: ["10.254.0.48/29"]))
    }

    @Test("HAProxy's configuration is TCP mode with the idle timeout on both sides")
    func haproxyConfiguration() {
        let text = HAProxyMiddlebox.configuration(
            listenPort: 4000, upstreamHost: "127.0.0.1", upstreamPort: 3306, idleTimeout: 7)
        for line in [
            "mode tcp", "timeout client 7s", "timeout server 7s", "bind 127.0.0.1:4000", "server db 127.0.0.1:3306",
        ] {
            #expect(text.contains(line), "\(line) in \(text)")
        }
    }
}

enum NATRequirement {
    /// Run when the tools are there, and also as root under `make test` (REPRO_REQUIRE_SERVER=1), where a missing
    /// tool must fail the run instead of skipping it.
    static let available: Bool =
        (try? IdleTimeoutNAT.checkAvailable()) != nil || (ServerRequirement.isRequired && geteuid() == 0)
    static let reason: Comment =
        "skipped: --via nat needs root, iproute2, iptables and conntrack (run as root; `make setup` installs them)"
}

// Each test says that nothing of the NAT blocks it made is left afterwards (other suites' runs may have theirs).
@Suite(
    "Middleboxes: a real NAT and a real HAProxy", .exclusive(.firewall), .ownThreads, .serialized,
    .enabled(if: NATRequirement.available, NATRequirement.reason))
struct MiddleboxIntegrationTests {
    @Test("the NAT forgets an idle flow by itself; a keepalive probe below its timeout keeps it; nothing is left")
    func natForgetsIdleFlows() throws {
        let upstream = ProxyTestUpstream()
        let port = try upstream.start(.echo)
        defer { upstream.stop() }
        let nat = try IdleTimeoutNAT(serverPort: port, idleTimeout: 2, onExpiry: .reset)
        defer { nat.remove() }
        #expect(FileManager.default.fileExists(atPath: "/run/netns/" + nat.appNamespace))
        // Two clients inside the application's namespace (entered with the launcher the pools use): one idle, one
        // with a keepalive probe every second, both idle 4 s behind a NAT that forgets flows idle 2 s.
        let script = """
            import socket, sys, time
            def open_(keepalive):
                s = socket.create_connection(("\(nat.address)", \(port)), timeout=5)
                if keepalive:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
                return s
            idle, kept = open_(False), open_(True)
            time.sleep(4)
            for name, s in (("idle", idle), ("kept", kept)):
                try:
                    s.sendall(b"x"); s.settimeout(2); d = s.recv(1)
                    print(name, "ok" if d == b"x" else "eof")
                except Exception as e:
                    print(name, type(e).__name__)
            """
        let output = FirewallCommand.run(
            nat.launcher[0], Array(nat.launcher.dropFirst()) + ["python3", "-c", script], timeout: .seconds(20))
        #expect(output.succeeded, "\(output.stderr)")
        #expect(output.stdout.contains("idle ConnectionResetError"), "\(output.stdout)")
        #expect(output.stdout.contains("kept ok"), "\(output.stdout)")
        nat.remove()
        #expect(IdleTimeoutNAT.traces(block: nat.block).isEmpty, "\(IdleTimeoutNAT.traces(block: nat.block))")
    }

    @Test("network-cut --via nat on a real server: the naive pool fails, the keepalive preset survives")
    func natScenarios() throws {
        try #require(try requireServerBinaries())
        let before = try FirewallSnapshot.capture()
        var naive = PolicyPreset.naive.policy
        naive.readTimeout = 1
        let scenarios = [
            Scenario(
                name: "nat-naive", fault: .middlebox(.nat, idleTimeout: 1, onExpiry: .reset), policy: naive,
                poolSize: 2, idleSeconds: 3),
            Scenario(
                name: "nat-keepalive", fault: .middlebox(.nat, idleTimeout: 1, onExpiry: .drop),
                policy: PolicyPreset.keepalive.policy, poolSize: 2, idleSeconds: 3),
        ]
        let (report, _) = try runOnEmbeddedServer(scenarios)
        let failed = try #require(report.scenarios.first)
        #expect(failed.firstError?.error.isConnectionLevel == true, "\(String(describing: failed.firstError))")
        #expect(!failed.recovered)
        #expect(failed.tcpSignal == "rst")
        #expect(
            failed.timeline.contains { $0.detail?.contains("the NAT still tracks 0 of the pool's 2 flow(s)") == true })
        let kept = try #require(report.scenarios.last)
        #expect(kept.firstError == nil)
        #expect(kept.recovered)
        #expect(
            kept.timeline.contains { $0.detail?.contains("the NAT still tracks 2 of the pool's 2 flow(s)") == true })
        // Each run named its block in the timeline ("NAT repro-nat<N> up"): nothing of either is left.
        for s in report.scenarios {
            let up = s.timeline.compactMap(\.detail).first { $0.hasPrefix("NAT repro-nat") } ?? ""
            let block = try #require(Int(up.dropFirst(13).prefix { $0.isNumber }), "\(up)")
            #expect(IdleTimeoutNAT.traces(block: block).isEmpty, "\(IdleTimeoutNAT.traces(block: block))")
        }
        #expect(try FirewallSnapshot.capture() == before)
    }

    @Test("a sweep leaves a live run's NAT block alone")
    func liveBlockIsNotSwept() throws {
        let live = try IdleTimeoutNAT(serverPort: 3306, idleTimeout: 5, onExpiry: .drop)
        defer { live.remove() }
        let removed = IdleTimeoutNAT.removeStale()
        #expect(!removed.contains { $0.contains("block \(live.block) ") }, "\(removed)")
        #expect(FileManager.default.fileExists(atPath: "/run/netns/" + live.natNamespace))
        #expect(FileManager.default.fileExists(atPath: "/sys/class/net/" + live.hostInterface))
        live.remove()
        #expect(IdleTimeoutNAT.traces(block: live.block).isEmpty, "\(IdleTimeoutNAT.traces(block: live.block))")
    }

    @Test("HAProxy closes a flow idle past its timeout with FIN, on the wire; its sandbox goes away")
    func haproxyClosesWithFIN() throws {
        let upstream = ProxyTestUpstream()
        let port = try upstream.start(.echo)
        defer { upstream.stop() }
        let proxy = try HAProxyMiddlebox(upstreamHost: "127.0.0.1", upstreamPort: port, idleTimeout: 1)
        defer { proxy.stop() }
        let directories = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
            .filter { $0.hasPrefix("repro-haproxy-") }
        #expect(!directories.isEmpty)
        let client = try #require(ProxyTestSocket.connect(port: proxy.port))
        client.setReceiveTimeout(milliseconds: 3000)
        #expect(client.roundTrip("ping"), "HAProxy forwards")
        let started = ContinuousClock.now
        // The next thing the idle client receives: an orderly close (recv returns 0), not a reset.
        #expect(client.receive() == .eof, "HAProxy's timeout client closes with FIN")
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(500), "closed at its idle timeout (1 s), not at once: \(waited)")
        proxy.stop()
        let after = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
            .filter { $0.hasPrefix("repro-haproxy-") && directories.contains($0) }
        #expect(after.isEmpty, "\(after)")
    }
}
