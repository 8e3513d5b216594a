import Foundation
import ReproKit
import ReproTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The built `repro`, started with `posix_spawn` so that a test chooses its initial signal mask, with its own TMPDIR
/// (its sandboxes land there, so a test reasons only about its own) and its output in files.
struct SpawnedRepro {
    enum Ending: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)
        case timedOut

        var description: String {
            switch self {
            case .exited(let code): "exit \(code)"
            case .signaled(let signo): "killed by signal \(signo)"
            case .timedOut: "timed out"
            }
        }
    }

    let pid: pid_t
    let scratch: String

    /// Starts `repro arguments` with TMPDIR=`scratch` and `blocked` blocked from its first instruction on.
    static func start(
        _ arguments: [String], scratch: String, environment extra: [String: String] = [:], blocked: [Int32] = []
    ) throws -> SpawnedRepro {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "REPRO_DSN")
        env.removeValue(forKey: "GITHUB_STEP_SUMMARY")
        env["TMPDIR"] = scratch
        for (key, value) in extra { env[key] = value }

        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, scratch + "/stdout.txt", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, scratch + "/stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawnattr_setflags(&attributes, Int16(Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)))
        var mask = sigset_t()
        sigemptyset(&mask)
        for signo in blocked { sigaddset(&mask, signo) }
        posix_spawnattr_setsigmask(&attributes, &mask)
        // What a shell gives a foreground command: every signal at its default.
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = ([ReproBinary.path] + arguments).map { strdup($0) }
        let envp = env.map { strdup("\($0.key)=\($0.value)") }
        defer { (argv + envp).forEach { free($0) } }
        var cArgv: [UnsafeMutablePointer<CChar>?] = argv + [nil]
        var cEnvp: [UnsafeMutablePointer<CChar>?] = envp + [nil]
        var pid: pid_t = 0
        let result = cArgv.withUnsafeMutableBufferPointer { a in
            cEnvp.withUnsafeMutableBufferPointer { e in
                posix_spawn(&pid, ReproBinary.path, &actions, &attributes, a.baseAddress!, e.baseAddress!)
            }
        }
        try #require(result == 0, "posix_spawn: \(String(cString: strerror(result)))")
        return SpawnedRepro(pid: pid, scratch: scratch)
    }

    /// Waits until it ends; after `timeout` it is SIGKILLed and the result is `.timedOut`.
    func wait(timeout: Duration) -> Ending {
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                let low = status & 0x7f
                return low == 0 ? .exited((status >> 8) & 0xff) : .signaled(low)
            }
            if result == -1 && errno != EINTR { return .exited(-1) }
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return .timedOut
            }
            usleep(5_000)
        }
    }

    /// True while the process runs.
    var isRunning: Bool { kill(pid, 0) == 0 && !isZombie }

    private var isZombie: Bool {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.contains("State:\tZ")
    }

    /// True when the process's main thread has `signo` blocked right now (from /proc).
    func blocks(_ signo: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }),
            let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (UInt64(1) << UInt64(signo - 1)) != 0
    }

    var stdout: String { (try? String(contentsOfFile: scratch + "/stdout.txt", encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: scratch + "/stderr.txt", encoding: .utf8)) ?? "" }
}

/// A private TMPDIR for spawned runs, short enough for a socket path inside a sandbox inside it.
func makeSignalScratch() throws -> String {
    var template = Array("/tmp/rsig-XXXXXX".utf8CString)
    let ok = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
    try #require(ok)
    return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// Sandboxes (and staging directories) in `scratch`.
func sandboxes(in scratch: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? [])
        .filter { $0.hasPrefix("repro-mariadb-") || $0.hasPrefix("repro-staging-") }
        .map { scratch + "/" + $0 }.sorted()
}

/// Processes whose command line names a path under `scratch` (servers and install scripts of its sandboxes).
func processes(using scratch: String) -> [pid_t] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
        guard let pid = pid_t(entry), let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
        else { return nil }
        return String(decoding: cmdline, as: UTF8.self).contains(scratch + "/") ? pid : nil
    }
}

/// Test teardown: kills whatever still runs in `scratch` and removes it.
func removeSignalScratch(_ scratch: String) {
    for pid in processes(using: scratch) { kill(pid, SIGKILL) }
    try? FileManager.default.removeItem(atPath: scratch)
}

@Suite("Signals are never lost or ignored, and a run leaves nothing behind", .ownThreads, .serialized)
struct SignalTests {
    @Test(
        "a signal that arrives before the handlers exist is delivered once they do: 128 + signal, the interrupted line",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"),
        arguments: [SIGINT, SIGTERM, SIGHUP])
    func pendingSignalIsDelivered(signo: Int32) throws {
        let scratch = try makeSignalScratch()
        defer { removeSignalScratch(scratch) }
        // Blocked from its first instruction, the signal is pending when main starts: exactly the state of a
        // signal that lands between the start of main and the installation of the dispatch sources.
        let run = try SpawnedRepro.start(
            ["kill-thread", "--quiet", "--report-dir", scratch + "/reports"], scratch: scratch,
            blocked: [SIGINT, SIGTERM, SIGHUP])
        kill(run.pid, signo)
        let ending = run.wait(timeout: .seconds(60))
        #expect(ending == .exited(128 + signo), "stderr: \(run.stderr)")
        #expect(run.stderr.contains("interrupted"))
        #expect(sandboxes(in: scratch).isEmpty)
        #expect(processes(using: scratch).isEmpty)
    }

    @Test("a command with nothing to clean up (repro explain) still ends on Ctrl-C")
    func explainEndsOnCtrlC() throws {
        let scratch = try makeSignalScratch()
        defer { removeSignalScratch(scratch) }
        let run = try SpawnedRepro.start(["explain", "2013"], scratch: scratch, blocked: [SIGINT])
        kill(run.pid, SIGINT)
        #expect(run.wait(timeout: .seconds(30)) == .exited(130), "stdout: \(run.stdout)")
    }

    @Test("repro proxy stops on a signal that arrived before it listened, instead of running on")
    func proxyStopsOnEarlySignal() throws {
        let scratch = try makeSignalScratch()
        defer { removeSignalScratch(scratch) }
        let run = try SpawnedRepro.start(
            ["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"], scratch: scratch, blocked: [SIGINT])
        kill(run.pid, SIGINT)
        let ending = run.wait(timeout: .seconds(20))
        // Before `proxy` diverted the signals the cleanup handler ends it (130); after, the proxy stops (0).
        #expect(ending == .exited(0) || ending == .exited(130), "got \(ending)")
        if ending == .exited(0) { #expect(run.stdout.contains("stopped")) }
        if ending == .exited(130) { #expect(run.stderr.contains("interrupted")) }
    }

    @Test(
        "SIGINT 0 to 40 ms after start: exit 130 with the interrupted line once main blocked it, never exit 0, no leftovers",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func earlySigint() throws {
        for delay in stride(from: 0, through: 40, by: 2) {
            let scratch = try makeSignalScratch()
            defer { removeSignalScratch(scratch) }
            let run = try SpawnedRepro.start(
                ["kill-thread", "--quiet", "--report-dir", scratch + "/reports"], scratch: scratch)
            usleep(useconds_t(delay * 1000))
            // Before main blocks it (the dynamic loader is still at work) the default action ends the process,
            // which is right too: nothing exists yet. From then on the handlers must get it.
            let blockedWhenSent = run.blocks(SIGINT)
            kill(run.pid, SIGINT)
            let ending = run.wait(timeout: .seconds(60))
            #expect(ending != .exited(0), "SIGINT after \(delay) ms was ignored: the run completed")
            if blockedWhenSent {
                #expect(ending == .exited(130), "after \(delay) ms: \(ending); stderr: \(run.stderr)")
                #expect(run.stderr.contains("interrupted"), "after \(delay) ms")
            } else {
                #expect(ending == .exited(130) || ending == .signaled(SIGINT), "after \(delay) ms: \(ending)")
            }
            #expect(sandboxes(in: scratch).isEmpty, "after \(delay) ms: \(sandboxes(in: scratch))")
            #expect(processes(using: scratch).isEmpty, "after \(delay) ms")
        }
    }

    @Test(
        "SIGINT while mariadb-install-db runs: the script and its bootstrap server are stopped, the sandbox removed",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func sigintDuringInstall() throws {
        let scratch = try makeSignalScratch()
        defer { removeSignalScratch(scratch) }
        // An empty cache: no data directory template to copy, so the run installs one.
        let run = try SpawnedRepro.start(
            ["kill-thread", "--quiet", "--report-dir", scratch + "/reports"], scratch: scratch,
            environment: ["REPRO_CACHE": scratch + "/cache"])
        // Bounded: the install starts within a second or two of the run.
        var installing = false
        for _ in 0..<1000 where !installing && run.isRunning {
            installing = processes(using: scratch).contains { pid in
                let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
                return String(decoding: cmdline, as: UTF8.self).contains("mariadb-install-db")
            }
            if !installing { usleep(2_000) }
        }
        try #require(installing, "mariadb-install-db was never seen running")
        kill(run.pid, SIGINT)
        #expect(run.wait(timeout: .seconds(60)) == .exited(130), "stderr: \(run.stderr)")
        #expect(run.stderr.contains("interrupted"))
        #expect(processes(using: scratch).isEmpty, "mariadb-install-db or its server outlived the run")
        #expect(sandboxes(in: scratch).isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: scratch + "/cache/datadir")) ?? []).isEmpty)
    }

    @Test(
        "SIGKILLed runs leave only sandboxes with an owner lock, and the next run removes them and their processes",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func killedRunsAreSwept() async throws {
        let scratch = try makeSignalScratch()
        defer { removeSignalScratch(scratch) }
        for delay in [40, 120, 250, 400, 700] {
            let run = try SpawnedRepro.start(
                ["kill-thread", "--quiet", "--report-dir", scratch + "/reports"], scratch: scratch)
            usleep(useconds_t(delay * 1000))
            kill(run.pid, SIGKILL)
            _ = run.wait(timeout: .seconds(10))
            for dir in sandboxes(in: scratch) where dir.contains("/repro-mariadb-") {
                // The liveness file is there from the first moment; nothing holds it any more.
                #expect(FileManager.default.fileExists(atPath: dir + "/owner.lock"), "\(dir) after \(delay) ms")
                if case .held = OwnerLock.probe(dir + "/owner.lock") {
                    Issue.record("\(dir): the lock of a killed run must not be held")
                }
            }
        }
        let next = try await ReproBinary.run(
            ["kill-thread", "--quiet", "--report-dir", scratch + "/reports"], environment: ["TMPDIR": scratch],
            timeout: 90)
        #expect(next.status == 0, "stderr: \(next.stderr)")
        #expect(sandboxes(in: scratch).isEmpty, "\(sandboxes(in: scratch))")
        #expect(processes(using: scratch).isEmpty, "orphaned servers or install scripts survived the sweep")
    }
}

@Suite(
    "Another PID namespace never takes a live run's state", .ownThreads,
    .enabled(
        if: serverAvailable && geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/iptables"),
        "needs root, iptables, unshare and mariadbd"))
struct PIDNamespaceTests {
    private func chains(of pid: pid_t) -> [String] {
        let output = Process()
        output.executableURL = URL(fileURLWithPath: "/usr/sbin/iptables")
        output.arguments = ["-w", "5", "-S"]
        let pipe = Pipe()
        output.standardOutput = pipe
        output.standardError = FileHandle.nullDevice
        guard (try? output.run()) != nil else { return [] }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        output.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n")
            .filter { $0.hasPrefix("-N REPRO-\(pid)-") }.map { String($0.dropFirst(3)) }
    }

    @Test("a sweeping run under unshare --pid leaves a live blackhole run's chain and sandbox alone")
    func liveStateSurvivesSweepFromAnotherNamespace() async throws {
        let scratch = try makeSignalScratch()
        defer { removeSignalScratch(scratch) }
        // A blackhole the client only notices by its 5 s read timeout (time enough for the sweeper, even on a
        // loaded machine): if anything removed the chain meanwhile, the query would get through and the run
        // would report "recovered".
        let live = try SpawnedRepro.start(
            [
                "network-cut", "--via", "kernel", "--mode", "blackhole", "--read-timeout", "5", "--pool-size", "1",
                "--operations", "1", "--idle", "0.2", "--expect-not-recovered", "--quiet", "--report-dir",
                scratch + "/reports",
            ], scratch: scratch)
        var chain: String?
        for _ in 0..<600 where chain == nil && live.isRunning {
            chain = chains(of: live.pid).first
            if chain == nil { usleep(50_000) }
        }
        let liveChain = try #require(chain, "the live run never installed its chain; stderr: \(live.stderr)")
        let liveSandboxes = sandboxes(in: scratch)
        #expect(liveSandboxes.count == 1)

        // Sweeps chains and sandboxes (same TMPDIR), then fails fast at the server start: exit 3.
        let sweeper = try await ReproBinary.run(
            ["--pid", "--fork", "--mount-proc", ReproBinary.path, "kill-thread", "--report-dir", scratch + "/sweeper"],
            environment: ["TMPDIR": scratch, "REPRO_MARIADB_PATH": "/nonexistent"], timeout: 60,
            executable: "/usr/bin/unshare")
        #expect(sweeper.status == 3, "the sweeper should stop at the missing mariadbd: \(sweeper.stderr)")
        #expect(sweeper.stderr.contains("REPRO_MARIADB_PATH"))

        #expect(live.isRunning, "the live run should still be waiting for its read timeout")
        #expect(chains(of: live.pid) == [liveChain], "the live run's chain was removed by the other namespace")
        #expect(sandboxes(in: scratch) == liveSandboxes, "the live run's sandbox was removed by the other namespace")

        let ending = live.wait(timeout: .seconds(60))
        #expect(ending == .exited(0), "the live run: \(ending); stderr: \(live.stderr)")
        #expect(chains(of: live.pid).isEmpty)
        #expect(sandboxes(in: scratch).isEmpty)
    }
}
