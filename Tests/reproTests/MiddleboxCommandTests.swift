import Foundation
import ReproKit
import ReproTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// mysql2 through NODE_PATH (the Makefile points it at ../shared/node/node_modules).
private let nodePath = ProcessInfo.processInfo.environment["NODE_PATH"] ?? ""

/// The NAT's tools are there, or this is `make test` as root (REPRO_REQUIRE_SERVER=1): a missing tool then fails.
private let natAvailable =
    (try? IdleTimeoutNAT.checkAvailable()) != nil
    || (ProcessInfo.processInfo.environment["REPRO_REQUIRE_SERVER"] == "1" && geteuid() == 0)

/// One scenario of a `--json` run, with the run's outcome.
private func runScenario(_ arguments: [String], timeout: TimeInterval = 180) async throws -> (
    ReproBinary.Outcome, [String: Any]
) {
    let dir = ReproBinary.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let out = try await ReproBinary.run(arguments + ["--json", "--quiet", "--report-dir", dir], timeout: timeout)
    let report = (try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8))) as? [String: Any]
    return (out, (report?["scenarios"] as? [[String: Any]])?.first ?? [:])
}

private func faultLine(_ scenario: [String: Any]) -> String {
    ((scenario["timeline"] as? [[String: Any]]) ?? []).compactMap { $0["detail"] as? String }
        .first { $0.hasPrefix("fault:") } ?? ""
}

/// The NAT block whose lock file names `pid` (the file holds its owner's pid), if any.
private func natBlock(ownedBy pid: pid_t) -> Int? {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: KernelCut.stateDirectory)) ?? []
    for name in names where name.hasPrefix("NAT-") && name.hasSuffix(".lock") {
        let text = (try? String(contentsOfFile: KernelCut.stateDirectory + "/" + name, encoding: .utf8)) ?? ""
        if text.trimmingCharacters(in: .whitespacesAndNewlines) == "\(pid)" {
            return Int(name.dropFirst(4).dropLast(5))
        }
    }
    return nil
}

/// The block a run's NAT had, from the "NAT repro-nat<N> up" line of its timeline.
private func natBlock(of scenario: [String: Any]) -> Int? {
    let up = ((scenario["timeline"] as? [[String: Any]]) ?? []).compactMap { $0["detail"] as? String }
        .first { $0.hasPrefix("NAT repro-nat") }
    return up.flatMap { Int($0.dropFirst(13).prefix { $0.isNumber }) }
}

/// HAProxy sandboxes in `scratch`.
private func haproxySandboxes(in scratch: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? []).filter { $0.hasPrefix("repro-haproxy-") }
}

@Suite("network-cut --via nat and --via haproxy from the command line", .ownThreads)
struct MiddleboxUsageTests {
    @Test(
        "flags that do not fit the middlebox exit 2 with the fix",
        arguments: [
            (["network-cut", "--via", "nat", "--mode", "reset"], "--mode does not apply to --via nat"),
            (["network-cut", "--via", "haproxy", "--on-expiry", "drop"], "apply to --via nat only"),
            (["network-cut", "--via", "proxy"], "--mode is required with --via proxy"),
            (["network-cut", "--mode", "reset", "--idle-timeout", "3"], "apply to --via nat or haproxy"),
            (["network-cut", "--via", "nat", "--idle-timeout", "0"], "--idle-timeout 0 is out of range"),
            (["network-cut", "--via", "nat", "--keepalive-time", "0"], "--keepalive-time 0 is out of range"),
            (["matrix", "--drivers", "all", "--via", "nat"], "'nat' is invalid for '--via"),
        ])
    func refusals(arguments: [String], message: String) async throws {
        let out = try await ReproBinary.run(arguments + ["--quiet"], timeout: 30)
        #expect(out.status == 2, "stderr: \(out.stderr)")
        #expect(out.stderr.contains(message), "stderr: \(out.stderr)")
        #expect(!out.stderr.contains("Fatal error"))
    }
}

@Suite(
    "A real middlebox in front of real mysql2", .ownThreads, .serialized,
    .enabled(if: serverAvailable && natAvailable, "needs root, mariadbd, iproute2, iptables and conntrack"))
struct MiddleboxCommandTests {
    @Test("mysql2's defaults hang behind a NAT that forgot the flows; a 1 s keepalive keeps them; 500 ms does not")
    func mysql2KeepaliveThroughNAT() async throws {
        let base = [
            "network-cut", "--via", "nat", "--idle-timeout", "2", "--idle", "4", "--driver", "node-mysql2",
            "--node-path", nodePath, "--driver-deadline", "1", "--operations", "2",
        ]
        let (out, defaults) = try await runScenario(base)
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(defaults["recovered"] as? Bool == false)
        #expect(
            faultLine(defaults).contains("the NAT still tracks 0 of the pool's 4 flow(s)"), "\(faultLine(defaults))")
        let keepalive = ["--driver-option", "enableKeepAlive=true", "--driver-option"]
        let (keptOut, kept) = try await runScenario(base + keepalive + ["keepAliveInitialDelay=1000"])
        #expect(keptOut.status == 0, "stderr: \(keptOut.stderr)")
        #expect(kept["recovered"] as? Bool == true, "\(faultLine(kept))")
        #expect(faultLine(kept).contains("the NAT still tracks 4 of the pool's 4 flow(s)"), "\(faultLine(kept))")
        #expect(faultLine(kept).contains("keepalive probe due in"), "\(faultLine(kept))")
        // Node takes whole seconds: 500 ms becomes 0, which leaves the kernel's 2 hours. The timers say so.
        let (roundedOut, rounded) = try await runScenario(base + keepalive + ["keepAliveInitialDelay=500"])
        #expect(roundedOut.status == 0, "stderr: \(roundedOut.stderr)")
        #expect(rounded["recovered"] as? Bool == false)
        #expect(faultLine(rounded).contains("keepalive probe due in 119min"), "\(faultLine(rounded))")
        for s in [defaults, kept, rounded] {
            let block = try #require(natBlock(of: s))
            #expect(IdleTimeoutNAT.traces(block: block).isEmpty, "\(IdleTimeoutNAT.traces(block: block))")
        }
    }

    @Test("HAProxy closes idle flows whatever keepalive mysql2 runs: its probe connection gets FIN")
    func mysql2ThroughHAProxy() async throws {
        let (out, s) = try await runScenario([
            "network-cut", "--via", "haproxy", "--idle-timeout", "2", "--idle", "4", "--driver", "node-mysql2",
            "--node-path", nodePath, "--driver-option", "enableKeepAlive=true", "--driver-option",
            "keepAliveInitialDelay=1000",
        ])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(s["tcpSignal"] as? String == "fin")
        #expect(faultLine(s).contains("received FIN"), "\(faultLine(s))")
        // mysql2 3.x drops a connection whose socket ended, so the FIN costs it nothing; the pool's own
        // events show every connection closed by the peer while idle.
        let events = ((s["timeline"] as? [[String: Any]]) ?? []).filter { $0["event"] as? String == "driver-event" }
        #expect(events.count >= 4, "\(events)")
    }

    @Test(
        "Ctrl-C while idle behind the NAT or HAProxy exits 130 and leaves nothing; SIGKILL leaves it for the next run")
    func cleanupOnSignals() async throws {
        let scratch = try makeSignalScratch()
        defer { removeSignalScratch(scratch) }
        for via in ["nat", "haproxy"] {
            for signo in [SIGINT, SIGKILL] {
                let run = try SpawnedRepro.start(
                    ["network-cut", "--via", via, "--idle", "60", "--quiet", "--report-dir", scratch + "/reports"],
                    scratch: scratch)
                // Bounded: until the middlebox is up (its block's namespaces, or its sandbox, exist).
                var block: Int?
                var up = false
                for _ in 0..<600 where !up {
                    if via == "nat" {
                        block = block ?? natBlock(ownedBy: run.pid)
                        up = block.map { IdleTimeoutNAT.traces(block: $0).contains("netns repro-app\($0)") } ?? false
                    } else {
                        up = !haproxySandboxes(in: scratch).isEmpty
                    }
                    if !up { usleep(50_000) }
                }
                #expect(up, "\(via): the middlebox never came up; stderr: \(run.stderr)")
                usleep(300_000)
                kill(run.pid, signo)
                let ending = run.wait(timeout: .seconds(60))
                if signo == SIGINT {
                    #expect(ending == .exited(130), "\(via): \(ending), stderr: \(run.stderr)")
                } else {
                    #expect(ending == .signaled(SIGKILL))
                    let left = via == "nat" ? IdleTimeoutNAT.traces(block: block) : haproxySandboxes(in: scratch)
                    #expect(!left.isEmpty, "\(via): a SIGKILLed run cannot clean up")
                    // The next run sweeps it (any command that opens a session).
                    let next = try await ReproBinary.run(
                        ["kill-thread", "--quiet", "--report-dir", scratch + "/reports"],
                        environment: ["TMPDIR": scratch], timeout: 90)
                    #expect(next.status == 0, "stderr: \(next.stderr)")
                }
                if let block {
                    #expect(
                        IdleTimeoutNAT.traces(block: block).isEmpty,
                        "after signal \(signo): \(IdleTimeoutNAT.traces(block: block))")
                }
                #expect(haproxySandboxes(in: scratch).isEmpty, "\(via) after signal \(signo)")
                #expect(processes(using: scratch).isEmpty, "\(via) after signal \(signo): haproxy or a server survived")
            }
        }
    }
}
