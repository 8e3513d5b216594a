import Foundation
import Testing

/// The smaller things a user tripped on (issue 13), each pinned.
@Suite("Things a user tripped on")
struct UserTripTests {
    @Test(
        "repro explain finds repro's own codes, by number and by name",
        arguments: ["-1", "-4", "REPRO_LIVENESS_CLOSED"])
    func explainOwnCodes(query: String) throws {
        let out = try ReproBinary.run(["explain", query])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(out.stdout.hasPrefix("Codes repro itself reports"))
    }

    @Test("--expect-error takes a negative code")
    func negativeExpectError() throws {
        let out = try ReproBinary.run(["kill-thread", "--expect-error", "-1", "--help"])
        #expect(out.status == 0, "parsed, not refused: \(out.stderr)")
    }

    @Test("a wrong REPRO_MARIADB_PATH is named in the error")
    func wrongMariadbPath() throws {
        let out = try ReproBinary.run(
            ["kill-thread", "--quiet", "--report-dir", ReproBinary.temporaryDirectory()],
            environment: ["REPRO_MARIADB_PATH": "/nonexistent-repro"])
        #expect(out.status == 3)
        #expect(out.stderr.contains("REPRO_MARIADB_PATH (/nonexistent-repro)"), "\(out.stderr)")
    }

    @Test("proxy --listen with an impossible address does not advise picking a free port")
    func impossibleListen() throws {
        let out = try ReproBinary.run(["proxy", "--listen", "256.1.1.1:0", "--upstream", "127.0.0.1:9"], timeout: 20)
        #expect(out.status == 3)
        #expect(!out.stderr.contains("pick a free port") && out.stderr.contains("local IPv4 address"))
    }

    @Test("the same directory given twice runs each scenario once")
    func sameDirectoryTwice() throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "name: only\nfault: {kind: kill-thread}\n".write(
            toFile: dir + "/only.yml", atomically: true, encoding: .utf8)
        let out = try ReproBinary.run(["all", dir, dir + "/", dir + "/only.yml", "--filter", "nomatch"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("matches none of the 1 scenario(s)"), "\(out.stderr)")
    }
}
