import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// The smaller things a user tripped on, each pinned.
@Suite("Things a user tripped on", .ownThreads)
struct UserTripTests {
    @Test(
        "repro explain finds repro's own codes, by number and by name",
        arguments: ["-1", "-4", "REPRO_LIVENESS_CLOSED"])
    func explainOwnCodes(query: String) async throws {
        let out = try await ReproBinary.run(["explain", query])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(out.stdout.hasPrefix("Codes repro itself reports"))
    }

    @Test("--expect-error takes a negative code")
    func negativeExpectError() async throws {
        let out = try await ReproBinary.run(["kill-thread", "--expect-error", "-1", "--help"])
        #expect(out.status == 0, "parsed, not refused: \(out.stderr)")
    }

    @Test("a wrong REPRO_MARIADB_PATH is named in the error")
    func wrongMariadbPath() async throws {
        let out = try await ReproBinary.run(
            ["kill-thread", "--quiet", "--report-dir", ReproBinary.temporaryDirectory()],
            environment: ["REPRO_MARIADB_PATH": "/nonexistent-repro"])
        #expect(out.status == 3)
        #expect(out.stderr.contains("REPRO_MARIADB_PATH (/nonexistent-repro)"), "\(out.stderr)")
    }

    @Test("the first connection check honours --connect-timeout on a port that accepts and never answers")
    func connectTimeoutFirstCheck() async throws {
        let listener = try #require(SilentListener())
        defer { listener.close() }
        let out = try await ReproBinary.run(
            ["kill-thread", "--quiet", "--connect-timeout", "1"],
            environment: ["REPRO_DSN": "mysql://root@127.0.0.1:\(listener.port)/"], timeout: 60)
        #expect(out.status == 3)
        #expect(
            out.stderr.contains("127.0.0.1:\(listener.port): no answer within the connect timeout of 1 s"),
            "\(out.stderr)")
    }

    @Test("proxy --listen with an impossible address does not advise picking a free port")
    func impossibleListen() async throws {
        let out = try await ReproBinary.run(
            ["proxy", "--listen", "256.1.1.1:0", "--upstream", "127.0.0.1:9"], timeout: 20)
        #expect(out.status == 3)
        #expect(!out.stderr.contains("pick a free port") && out.stderr.contains("local IPv4 address"))
    }

    @Test("the same directory given twice runs each scenario once")
    func sameDirectoryTwice() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "name: only\nfault: {kind: kill-thread}\n".write(
            toFile: dir + "/only.yml", atomically: true, encoding: .utf8)
        let out = try await ReproBinary.run(["all", dir, dir + "/", dir + "/only.yml", "--filter", "nomatch"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("matches none of the 1 scenario(s)"), "\(out.stderr)")
    }

    @Test("impossible combinations are refused with file:line before anything runs")
    func impossibleCombinations() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "name: c5\nfault: {kind: kill-thread, count: 5}\npool: {size: 4}\n".write(
            toFile: dir + "/a.yml", atomically: true, encoding: .utf8)
        try "name: c3\nfault: {kind: kill-thread, count: 3}\n".write(
            toFile: dir + "/b.yml", atomically: true, encoding: .utf8)
        try "name: g\nfault: {kind: wait-timeout, seconds: 1, scope: global}\n".write(
            toFile: dir + "/g.yml", atomically: true, encoding: .utf8)
        let count = try await ReproBinary.run(["all", dir + "/a.yml"])
        #expect(count.status == 2 && count.stderr.contains("a.yml:2: fault.count 5 is larger than pool.size 4"))
        let override = try await ReproBinary.run(["all", dir + "/b.yml", "--pool-size", "2"])
        #expect(override.status == 2 && override.stderr.contains("b.yml:2: scenario 'c3': kill count 3 is larger"))
        // Nothing listens on port 1: a refusal that came after connecting would say "cannot connect".
        let global = try await ReproBinary.run(
            ["all", dir + "/g.yml"], environment: ["REPRO_DSN": "mysql://root@127.0.0.1:1/"])
        #expect(global.status == 2 && global.stderr.contains("g.yml:2: scenario 'g': scope global"))
        #expect(global.stderr.contains("--allow-global"))
        let allowed = try await ReproBinary.run(
            ["all", dir + "/g.yml", "--allow-global", "--quiet"],
            environment: ["REPRO_DSN": "mysql://root@127.0.0.1:1/"])
        #expect(allowed.status == 3 && allowed.stderr.contains("cannot connect"), "allowed, then the server is missing")
        let cli = try await ReproBinary.run(["kill-thread", "--count", "5"])
        #expect(cli.status == 2 && cli.stderr.contains("kill count 5 is larger than the pool size 4"))
        #expect(!cli.stderr.contains("warming"))
    }

    @Test(
        "?socket= is honoured whatever the host, and errors name the socket", .enabled(if: serverAvailable))
    func socketHonoured() async throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let socket = try #require(server.endpoint.unixSocket)
        // Port 1: nothing listens there, so a success can only have come through the socket.
        let ok = try await ReproBinary.run(
            ["wait-timeout", "--seconds", "1", "--quiet", "--report-dir", ReproBinary.temporaryDirectory()],
            environment: ["REPRO_DSN": "mysql://root@127.0.0.1:1/?socket=\(socket)"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let missing = try await ReproBinary.run(
            ["wait-timeout", "--seconds", "1", "--quiet", "--report-dir", ReproBinary.temporaryDirectory()],
            environment: ["REPRO_DSN": "mysql://root@127.0.0.1:1/?socket=/nonexistent/repro.sock"])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("socket /nonexistent/repro.sock"), "\(missing.stderr)")
        #expect(!missing.stderr.contains("127.0.0.1:1"))
    }

    @Test(
        "the time knobs have one range on the command line and in files (the limit)",
        arguments: ["1e-300", "0.0005", "86401"])
    func oneKeepaliveLimit(value: String) async throws {
        let cli = try await ReproBinary.run(["kill-thread", "--keepalive", value])
        #expect(cli.status == 2)
        #expect(cli.stderr.contains("use seconds from 0.001 to 86400"), "\(cli.stderr)")
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "name: k\nfault: {kind: kill-thread}\npolicy: {preset: naive, keepalive: \(value)}\n".write(
            toFile: dir + "/k.yml", atomically: true, encoding: .utf8)
        let file = try await ReproBinary.run(["all", dir])
        #expect(file.status == 2 && file.stderr.contains("k.yml:3"), "\(file.stderr)")
    }
}

/// A TCP port on 127.0.0.1 that accepts connections (the kernel completes the handshake) and never says a word:
/// what a hung server or a wrong service looks like to a MySQL client.
final class SilentListener {
    let fd: Int32
    let port: Int

    init?() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(fd)
            return nil
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    func close() { Glibc.close(fd) }
}
