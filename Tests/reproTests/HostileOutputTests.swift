import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// Where output goes when its target is hostile (a full disk, a closed descriptor, a pipe): each way it once broke, pinned.
@Suite("Hostile output targets", .ownThreads, .serialized, .enabled(if: serverAvailable))
struct HostileOutputTests {
    @Test(
        "an unwritable GITHUB_STEP_SUMMARY is a one-line warning, never a crash or a hang",
        arguments: ["/dev/full", "fifo"])
    func stepSummary(target: String) async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var path = target
        if target == "fifo" {
            path = dir + "/summary.fifo"
            #expect(mkfifo(path, 0o644) == 0)
        }
        let out = try await ReproBinary.run(
            ["kill-thread", "--quiet", "--report-dir", dir], environment: ["GITHUB_STEP_SUMMARY": path], timeout: 60)
        #expect(out.status == 0, "status \(out.status), stderr: \(out.stderr)")
        let lines = out.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("repro: warning: cannot append to GITHUB_STEP_SUMMARY"))
        let written = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        #expect(written.contains { $0.hasSuffix(".json") }, "the reports are still written: \(written)")
    }

    @Test("a 1 ms keepalive keeps the report's timeline small: repeated pings are summarized")
    func keepaliveBounded() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(
            ["wait-timeout", "--seconds", "2", "--keepalive", "0.001", "--quiet", "--json", "--report-dir", dir],
            timeout: 60)
        #expect(out.status == 0, "status \(out.status), stderr: \(out.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let scenario = try #require((report["scenarios"] as? [[String: Any]])?.first)
        let timeline = try #require(scenario["timeline"] as? [[String: Any]])
        let summaries = timeline.compactMap { $0["detail"] as? String }.filter { $0.hasPrefix("keepalive ping ok ×") }
        // Four idle connections pinged every millisecond for over two seconds: thousands of pings, a few entries.
        #expect(!summaries.isEmpty, "\(timeline.count) entries")
        #expect(timeline.count < 100, "\(timeline.count) timeline entries")
    }

    @Test("a closed stderr drops the progress and keeps exit 0; a closed stdout under --json is lost output (exit 3)")
    func closedStandardDescriptors() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let closed = { (redirect: String, arguments: [String]) async throws -> ReproBinary.Outcome in
            try await ReproBinary.run(
                ["-c", "exec \"$0\" \"$@\" \(redirect)", ReproBinary.path] + arguments, timeout: 60,
                executable: "/bin/sh")
        }
        let noStderr = try await closed("2>&-", ["kill-thread", "--report-dir", dir])
        #expect(noStderr.status == 0, "status \(noStderr.status)")
        #expect(FileManager.default.fileExists(atPath: dir + "/kill-thread-naive.json"))
        let noStdout = try await closed(">&-", ["kill-thread", "--quiet", "--json", "--report-dir", dir])
        #expect(noStdout.status == 3)
        #expect(noStdout.stderr.contains("cannot write the output: stdout is closed"), "\(noStdout.stderr)")
    }

    @Test("a report directory that only looks writable is refused before anything runs")
    func reportDirProbe() async throws {
        let out = try await ReproBinary.run(["kill-thread", "--report-dir", "/proc"], timeout: 30)
        #expect(out.status == 3)
        #expect(out.stderr.contains("--report-dir '/proc' is not writable"))
        #expect(!out.stderr.contains("warming"), "nothing ran")
    }

    @Test("a failed report write leaves the old files whole and no temporary file behind")
    func atomicWrites() throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "old json".write(toFile: dir + "/r.json", atomically: false, encoding: .utf8)
        #expect(throws: RunError.self) {
            try FileOutput.writeAll([
                (Data("new json".utf8), dir + "/r.json"), (Data("new md".utf8), dir + "/missing/r.md"),
            ])
        }
        #expect(try String(contentsOfFile: dir + "/r.json", encoding: .utf8) == "old json")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["r.json"])
        try FileOutput.writeAll([(Data("new json".utf8), dir + "/r.json"), (Data("new md".utf8), dir + "/r.md")])
        #expect(try String(contentsOfFile: dir + "/r.json", encoding: .utf8) == "new json")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["r.json", "r.md"])
    }
}

@Suite("Stale state of killed runs", .ownThreads, .serialized, .enabled(if: serverAvailable && getuid() == 0))
struct StaleStateTests {
    @Test("a firewall chain left by a SIGKILLed kernel-cut run is removed by the next run of any kind")
    func staleChainSwept() async throws {
        // A pid that existed and is gone: a finished child.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let chain = "REPRO-\(child.processIdentifier)-9"
        let create = try await ReproBinary.run(["-c", "iptables -w 5 -N \(chain)"], executable: "/bin/bash")
        try #require(create.status == 0, "\(create.stderr)")
        defer {
            _ = try? ReproBinary.runWaiting(["-c", "iptables -w 5 -X \(chain) 2>/dev/null"], executable: "/bin/bash")
        }
        let out = try await ReproBinary.run([
            "kill-thread", "--quiet", "--report-dir", ReproBinary.temporaryDirectory(),
        ])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stderr.isEmpty, "the sweep is quiet: \(out.stderr)")
        let listing = try await ReproBinary.run(["-c", "iptables -w 5 -S"], executable: "/bin/bash")
        #expect(!listing.stdout.contains(chain))
    }
}
