import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// True when the tests may start mariadbd (or must, under `make test`).
let serverAvailable: Bool =
    ProcessInfo.processInfo.environment["REPRO_REQUIRE_SERVER"] == "1"
    || FileManager.default.isExecutableFile(atPath: "/usr/sbin/mariadbd")
    || FileManager.default.isExecutableFile(atPath: "/usr/bin/mariadbd")

@Suite("repro usage errors exit 2 with one line naming the value", .ownThreads)
struct UsageTests {
    @Test(
        "bad values",
        arguments: [
            (["wait-timeout", "--seconds", "0"], "--seconds 0"),
            (["wait-timeout", "--seconds", "-1"], "-1"),
            (["wait-timeout", "--pool-size", "0"], "--pool-size 0"),
            (["wait-timeout", "--policy", "yolo"], "'yolo'"),
            (["wait-timeout", "--retry", "query:0"], "'query:0'"),
            (["wait-timeout", "--validation", "sometimes"], "'sometimes'"),
            (["wait-timeout", "--format", "pdf"], "'pdf'"),
            (["wait-timeout", "--scope", "planet"], "'planet'"),
            (["kill-thread", "--target", "sleepy"], "'sleepy'"),
            (["kill-thread", "--count", "0"], "'0'"),
            (["wait-timeout", "--expect-error", "NOPE"], "'NOPE'"),
            (["frobnicate"], "frobnicate"),
            (["bisect", "--driver", "node-mysql2", "--versions", "2.2.5", "kill-thread"], "two or more"),
            (["bisect", "--driver", "node-mysql2", "--versions", "2.2.5,3.1.0"], "give the scenario"),
            (["bisect", "--driver", "node-mysql2", "--versions", "2.2.5,3.1.0", "frobnicate"], "not 'frobnicate'"),
            (
                ["bisect", "--driver", "node-mysql2", "--versions", "2.2.5,3.1.0", "kill-thread", "--driver", "x"],
                "--versions"
            ),
            (
                ["bisect", "--driver", "hikari@6.0.0", "--versions", "a,b", "kill-thread"],
                "--driver names the stack only"
            ),
            (["kill-thread", "--driver", "hikari@"], "NAME@VERSION"),
            (["kill-thread", "--library", "/tmp"], "need --driver"),
        ])
    func badUsage(arguments: [String], mention: String) async throws {
        let out = try await ReproBinary.run(arguments)
        #expect(out.status == 2, "stderr: \(out.stderr)")
        let lines = out.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line, got: \(out.stderr)")
        #expect(out.stderr.contains(mention), "stderr: \(out.stderr)")
        #expect(out.stdout.isEmpty)
    }

    @Test(
        "a bad value of a typed option names the allowed values",
        arguments: [
            (["wait-timeout", "--scope", "planet"], "'session' and 'global'"),
            (["kill-thread", "--target", "sleepy"], "'idle' and 'busy'"),
            (["network-cut", "--mode", "snip"], "'reset', 'close', 'blackhole' or 'half-open'"),
            (["network-cut", "--mode", "reset", "--via", "pigeon"], "'proxy', 'kernel', 'nat' or 'haproxy'"),
            (["report", "x.json", "--format", "pdf"], "'md', 'json', 'junit' or 'svg'"),
            (
                ["wait-timeout", "--expect-phase", "later"],
                "acquire   - validate   - query   - keepalive   - follow-up"
            ),
            (["kill-thread", "--count", "1001"], "at most 1000"),
            (["wait-timeout", "--format", "md,pdf"], "use md, json, junit, svg"),
        ])
    func allowedValues(arguments: [String], mention: String) async throws {
        let out = try await ReproBinary.run(arguments)
        #expect(out.status == 2, "stderr: \(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count == 1, "one line, got: \(out.stderr)")
        #expect(out.stderr.contains(mention), "stderr: \(out.stderr)")
    }

    @Test(
        "--help lists the allowed values of each typed option by itself",
        arguments: [
            (["network-cut", "--help"], "(values: reset, close, blackhole, half-open)"),
            (["network-cut", "--help"], "(values: proxy, kernel, nat, haproxy; default: proxy)"),
            (["wait-timeout", "--help"], "(values: session, global; default: session)"),
            (["kill-thread", "--help"], "(values: idle, busy; default: idle)"),
            (["kill-thread", "--help"], "(values: pool, held; default: pool)"),
            (["report", "--help"], "(values: md, json, junit, svg)"),
            (["matrix", "--help"], "(values: proxy, kernel; default: kernel)"),
        ])
    func helpListsValues(arguments: [String], mention: String) async throws {
        let out = try await ReproBinary.run(arguments)
        #expect(out.status == 0)
        let flat = out.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flat.contains(mention), "\(out.stdout)")
    }

    @Test("repro matrix shares the output options: --report-dir (default reports), --json, --quiet")
    func matrixOutputOptions() async throws {
        let out = try await ReproBinary.run(["matrix", "--help"])
        let flat = out.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flat.contains("--report-dir <dir> Directory for report files. (default: reports)"), "\(out.stdout)")
        #expect(flat.contains("--json") && flat.contains("--quiet"))
        #expect(!flat.contains("--format"), "the matrix writes its own pair of files")
    }

    @Test(
        "both matrices refuse restart columns named on a server repro did not start, before connecting",
        arguments: [
            ["matrix", "--scenarios", "server-restart-quiet"],
            ["matrix", "--drivers", "node-mysql", "--scenarios", "kill-thread,server-restart-crash"],
        ])
    func restartColumnsNeedTheEmbeddedServer(arguments: [String]) async throws {
        // Nothing listens on port 9: a run that tried to connect would fail differently (exit 3).
        let out = try await ReproBinary.run(arguments + ["--dsn", "mysql://root@127.0.0.1:9/"])
        #expect(out.status == 2, "\(out.stderr)")
        #expect(out.stderr.contains("repro restarts only the server it started"), "\(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count == 1, "\(out.stderr)")
    }

    @Test("path options complete file and directory names (bash completion script)")
    func pathCompletion() async throws {
        let out = try await ReproBinary.run(["--generate-completion-script", "bash"])
        #expect(out.status == 0)
        let lines = out.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        func completions(after option: String) -> [String] {
            lines.indices.filter { lines[$0] == option && $0 + 1 < lines.count }.map { lines[$0 + 1] }
        }
        let reportDir = completions(after: "'--report-dir')")
        #expect(
            reportDir.count == 8,
            "wait-timeout, kill-thread, network-cut, server-restart, freeze, all, bisect, matrix: \(reportDir)")
        #expect(reportDir.allSatisfy { $0 == "__repro_add_completions -d" }, "\(reportDir)")
        #expect(completions(after: "'--output'|'-o')") == ["__repro_add_completions -f"])
    }

    @Test("a malformed DSN exits 2 and never echoes the password")
    func badDSN() async throws {
        let out = try await ReproBinary.run([
            "wait-timeout", "--dsn", "mysql://root:hunter2-secret@127.0.0.1:notaport/db",
        ])
        #expect(out.status == 2)
        #expect(!out.stderr.contains("hunter2-secret"))
    }

    @Test("--help exits 0 and lists the subcommands")
    func help() async throws {
        let out = try await ReproBinary.run(["--help"])
        #expect(out.status == 0)
        #expect(out.stdout.contains("wait-timeout"))
        #expect(out.stdout.contains("kill-thread"))
    }
}

@Suite(
    "repro end to end on an embedded server", .ownThreads,
    .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
struct EndToEndTests {
    @Test("naive --json: exit 0, the error at phase query, recovered false, report files written")
    func naiveJSON() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run([
            "wait-timeout", "--seconds", "1", "--margin", "0.6", "--policy", "naive", "--json", "--report-dir", dir,
        ])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let report = try Report.decode(Data(out.stdout.utf8))
        let s = try #require(report.scenarios.first)
        #expect(s.firstError?.phase == .query)
        #expect(!s.recovered)
        #expect(report.server.managed)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(files == ["wait-timeout-naive.json", "wait-timeout-naive.md", "wait-timeout-naive.svg"])
        let saved = try Report.decode(Data(contentsOf: URL(fileURLWithPath: dir + "/wait-timeout-naive.json")))
        #expect(saved == report)
    }

    @Test("ping-on-borrow --json: recovered, no failed operation")
    func pingOnBorrowJSON() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run([
            "wait-timeout", "--seconds", "1", "--margin", "0.6", "--policy", "ping-on-borrow", "--json", "--quiet",
            "--report-dir", dir,
        ])
        #expect(out.status == 0)
        #expect(out.stderr.isEmpty, "--quiet prints nothing: \(out.stderr)")
        let s = try #require(try Report.decode(Data(out.stdout.utf8)).scenarios.first)
        #expect(s.recovered)
        #expect(s.operations.failed == 0)
    }

    @Test("an unmet expectation exits 1")
    func expectationFails() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run([
            "wait-timeout", "--seconds", "1", "--margin", "0.6", "--policy", "naive", "--expect-recovered", "--quiet",
            "--report-dir", dir,
        ])
        #expect(out.status == 1)
        #expect(out.stderr.contains("expectation"))
    }

    @Test("an unreachable DSN exits 3 naming host:port, without the password")
    func unreachable() async throws {
        let out = try await ReproBinary.run([
            "wait-timeout", "--dsn", "mysql://app:pa55-secret@127.0.0.1:1/db", "--quiet",
        ])
        #expect(out.status == 3)
        #expect(out.stderr.contains("127.0.0.1:1"))
        #expect(!out.stderr.contains("pa55-secret"))
        #expect(out.stderr.split(separator: "\n").count == 1)
    }

    @Test("a missing mariadbd exits 3 and says to run make setup")
    func missingServer() async throws {
        let out = try await ReproBinary.run(
            ["wait-timeout", "--quiet"], environment: ["REPRO_MARIADB_PATH": "/nonexistent"])
        #expect(out.status == 3)
        #expect(out.stderr.contains("make setup"))
    }
}

@Suite("repro survives a closed pipe and a bad report directory", .ownThreads)
struct RobustnessTests {
    @Test(
        "negative knob values are rejected by range, not as a missing value",
        arguments: [
            "--max-idle", "--max-lifetime", "--keepalive", "--connect-timeout", "--read-timeout", "--write-timeout",
        ])
    func negativeKnobs(option: String) async throws {
        let out = try await ReproBinary.run(["wait-timeout", option, "-1"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("out of range"), "\(out.stderr)")
    }

    @Test(
        "an unwritable --report-dir fails with exit 3 before anything runs",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func unwritableReportDir() async throws {
        let out = try await ReproBinary.run(["kill-thread", "--report-dir", "/proc/repro-x", "--json"])
        #expect(out.status == 3)
        #expect(out.stderr.contains("--report-dir '/proc/repro-x'"), "\(out.stderr)")
        #expect(out.stderr.contains("writable directory"))
        #expect(out.stdout.isEmpty)
    }

    @Test(
        "stdout closed early (repro ... | head -c 1): no crash, and the embedded server is gone afterwards",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func closedStdout() throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/bash")
        shell.arguments = [
            "-c",
            "set -o pipefail; '\(ReproBinary.path)' kill-thread --json --report-dir '\(dir)' 2>'\(dir)/err' | head -c 1 >/dev/null; echo ${PIPESTATUS[0]}",
        ]
        let pipe = Pipe()
        shell.standardOutput = pipe
        try shell.run()
        let status = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        #expect(status.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let err = (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? ""
        #expect(!err.contains("Fatal error"), "\(err)")
    }
}
