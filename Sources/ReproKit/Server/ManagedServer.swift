import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A throwaway `mariadbd` in a temp directory on a free loopback port, started and torn down by this tool.
public final class ManagedServer: Sendable {
    /// How to connect: 127.0.0.1, the chosen port, root with an empty password, the sandbox socket.
    public let endpoint: ServerEndpoint
    /// Server version from the handshake, e.g. `10.11.19-MariaDB-0+deb12u1`.
    public let version: String
    /// The sandbox directory (data, socket, logs); removed by `stop()`.
    public let directory: String
    /// Process id of `mariadbd` (the one running now: a planned restart starts a new one).
    public var pid: pid_t { sandbox.currentPID ?? firstPID }
    private let firstPID: pid_t
    /// The `mariadbd` binary, for a planned restart.
    private let binary: String
    /// True when the data directory was copied from the cached template rather than installed.
    public let dataDirectoryFromTemplate: Bool

    // All mutable state (the child, the cleanup token, whether we stopped) lives in the sandbox behind its Mutex.
    private let sandbox: ServerSandbox

    /// Where binaries are looked up after PATH: Debian puts mariadbd in /usr/sbin, which is not in a normal user's PATH.
    static let defaultSearchPath = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
    /// How often a port collision (another process took the port between our probe and the server's bind) is retried.
    static let portAttempts = 3

    private init(
        endpoint: ServerEndpoint, version: String, pid: pid_t, binary: String, sandbox: ServerSandbox,
        fromTemplate: Bool
    ) {
        self.endpoint = endpoint
        self.version = version
        self.directory = sandbox.directory
        self.firstPID = pid
        self.binary = binary
        self.sandbox = sandbox
        self.dataDirectoryFromTemplate = fromTemplate
    }

    /// Where `start` keeps the initialized data directory it copies into each sandbox (`DataDirectoryTemplate`):
    /// `$REPRO_CACHE/datadir`, else under `$XDG_CACHE_HOME` or `~/.cache`; nil when none can be named.
    public static var defaultTemplateRoot: String? { DataDirectoryTemplate.defaultRoot }

    deinit {
        // A server nobody can reach any more must not outlive its owner.
        sandbox.teardown()
    }

    /// Creates a fresh data directory, starts `mariadbd` on a free port and returns once it sends its handshake.
    /// The data directory is a copy of the template under `templateRoot` when there is one for these binaries,
    /// else installed (and kept there as the template); nil always installs.
    public static func start(
        timeout: Duration = .seconds(30), searchPath: [String]? = nil,
        templateRoot: String? = ManagedServer.defaultTemplateRoot
    ) throws(ServerError) -> ManagedServer {
        let deadline = ContinuousClock.now + timeout
        let directories = searchPath ?? (pathDirectories() + defaultSearchPath)
        guard let mariadbd = locate("mariadbd", in: directories) else {
            throw ServerError(.binaryNotFound, "mariadbd not found; run `make setup` (installs mariadb-server)")
        }
        guard let installDB = locate("mariadb-install-db", in: directories) else {
            throw ServerError(
                .binaryNotFound, "mariadb-install-db not found; run `make setup` (installs mariadb-server)")
        }

        let sandbox = ServerSandbox()
        // Registered before the directory exists and before anything is spawned, so a Ctrl-C at any moment of the
        // startup finds everything there is to remove (teardown and creation exclude each other).
        let token = CleanupRegistry.shared.register("mariadbd sandbox") { sandbox.teardown() }
        sandbox.attach(token)
        do throws(ServerError) {
            _ = try sandbox.create { () throws(ServerError) in try makeDirectory() }
            let template = templateRoot.map {
                DataDirectoryTemplate(
                    root: $0, installDB: installDB, mariadbd: mariadbd, arguments: installArguments)
            }
            let dataDirectory = sandbox.directory + "/data"
            let fromTemplate = template?.copy(to: dataDirectory) ?? false
            if !fromTemplate {
                try installDatabase(installDB, into: sandbox, until: deadline)
                template?.keep(dataDirectory)
            }
            var attempt = 1
            while true {
                guard let port = LoopbackTCP.freePort() else {
                    throw ServerError(
                        .sandboxFailed, "no free TCP port on 127.0.0.1; check that the loopback interface is up")
                }
                switch try launchServer(mariadbd, port: port, in: sandbox, until: deadline) {
                case .answered(let child, let version):
                    let endpoint = ServerEndpoint(
                        host: "127.0.0.1", port: port, user: "root", password: "", database: nil,
                        unixSocket: socketPath(in: sandbox.directory), managed: true)
                    return ManagedServer(
                        endpoint: endpoint, version: version, pid: child.pid, binary: mariadbd, sandbox: sandbox,
                        fromTemplate: fromTemplate)
                case .portTaken where attempt < portAttempts:
                    attempt += 1
                case .portTaken:
                    throw ServerError(
                        .startFailed,
                        "mariadbd could not bind a free port \(portAttempts) times in a row; another process is grabbing ports, retry later"
                    )
                }
            }
        } catch {
            sandbox.teardown()
            throw error
        }
    }

    /// Stops the server (SIGTERM, SIGKILL after 10 s) and removes its directory; safe to call more than once.
    public func stop() {
        sandbox.teardown()
    }

    /// How a planned restart stops the server: a clean shutdown (SIGTERM, waited for), or a crash (SIGKILL: the
    /// kernel closes every client socket, InnoDB recovers on the next start).
    public enum HaltMode: String, Sendable, Codable, CaseIterable {
        case graceful, crash
    }

    /// Stops `mariadbd` on purpose, keeping its data directory and port for `resume`; returns how it ended.
    /// A graceful stop that takes longer than `grace` is finished with SIGKILL.
    @discardableResult
    public func halt(_ mode: HaltMode, grace: Duration = .seconds(30)) -> String {
        let exit = sandbox.halt(grace: mode == .graceful ? grace : nil)
        return exit.map { "\($0)" } ?? "not running"
    }

    /// Starts `mariadbd` again on the same port and data directory (after `halt`); returns once it answers.
    public func resume(timeout: Duration = .seconds(60)) throws(ServerError) {
        // Keep the log of the run that was stopped: launchServer starts a fresh one.
        let errorLog = directory + "/mariadbd.err"
        if let old = FileManager.default.contents(atPath: errorLog) {
            _ = FileManager.default.createFile(atPath: directory + "/mariadbd.err.before-restart", contents: old)
        }
        let deadline = ContinuousClock.now + timeout
        switch try Self.launchServer(binary, port: endpoint.port, in: sandbox, until: deadline) {
        case .answered: return
        case .portTaken:
            throw ServerError(
                .startFailed,
                "mariadbd could not bind its port \(endpoint.port) again after the restart: another process took it")
        }
    }

    /// `start` for async callers: runs on a dedicated thread, because it blocks for about half a second
    /// and a blocked cooperative thread stalls every task on a 2-core machine.
    public static func startInBackground(
        timeout: Duration = .seconds(30), searchPath: [String]? = nil,
        templateRoot: String? = ManagedServer.defaultTemplateRoot
    ) async throws(ServerError) -> ManagedServer {
        let result = await onDedicatedThread { () -> Result<ManagedServer, ServerError> in
            Result { () throws(ServerError) in
                try start(timeout: timeout, searchPath: searchPath, templateRoot: templateRoot)
            }
        }
        return try result.get()
    }

    /// `stop` for async callers, on a dedicated thread for the same reason as `startInBackground`.
    public func stopInBackground() async {
        await Self.onDedicatedThread { [sandbox] in sandbox.teardown() }
    }

    private static func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }

    /// How `mariadbd` ended if it died on its own (SIGKILL, a crash, the OOM killer); nil while it runs and after
    /// `stop()`. Cheap (one `waitpid`), so it can be asked after every scenario.
    func unexpectedExit() -> ChildProcess.Exit? {
        sandbox.reapIfEnded()
    }

    /// The last lines of `mariadbd`'s error log as one line, or nil when it wrote none.
    func errorLogTail(lines: Int = 3) -> String? {
        let path = directory + "/mariadbd.err"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text = Self.tail(of: path, lines: lines)
        return text == "log is empty" ? nil : text
    }

    /// True once `stop()` (or a Ctrl-C cleanup) has run.
    public var isStopped: Bool { sandbox.isTornDown }

    // MARK: - Startup steps

    private enum LaunchOutcome {
        case answered(ChildProcess, version: String)
        case portTaken
    }

    /// What the install is given besides its directories; part of the template's key.
    private static var installArguments: [String] {
        // "normal" gives root@localhost an empty password instead of unix_socket auth, so TCP logins work.
        var arguments = ["--auth-root-authentication-method=normal", "--skip-test-db"]
        // Passed through to the bootstrap server so the first real start does not have to resize the redo log.
        arguments += innoDBArguments
        if geteuid() == 0 { arguments.append("--user=root") }
        return arguments
    }

    private static func installDatabase(
        _ installDB: String, into sandbox: ServerSandbox, until deadline: ContinuousClock.Instant
    ) throws(ServerError) {
        let log = sandbox.directory + "/install-db.log"
        // Without a private tmpdir, bootstraps running at the same time collide on temp-table files in /tmp
        // ("Unknown table 'mysql.tmp_user_sys'"); measured: 5 of 18 parallel installs failed, 0 with this flag.
        let arguments =
            ["--no-defaults", "--datadir=\(sandbox.directory)/data", "--tmpdir=\(sandbox.directory)"]
            + installArguments
        // Its data is thrown away with the directory when the run ends now: no need to let it finish cleanly.
        let child = try sandbox.launch(teardownGrace: .milliseconds(200)) { () throws(ServerError) in
            try ChildProcess.spawn(installDB, arguments, outputPath: log)
        }
        guard let exit = child.wait(until: deadline) else {
            child.terminate(grace: .seconds(1))
            sandbox.release(child)
            throw ServerError(
                .startTimedOut,
                "mariadb-install-db did not finish within the start timeout; check the disk and the mariadb-server install (make setup)"
            )
        }
        sandbox.release(child)
        guard exit == .exited(0) else {
            throw ServerError(
                .installFailed,
                "mariadb-install-db failed (\(exit)): \(tail(of: log)); check the mariadb-server install (`make setup`)"
            )
        }
    }

    private static func launchServer(
        _ mariadbd: String, port: Int, in sandbox: ServerSandbox, until deadline: ContinuousClock.Instant
    ) throws(ServerError) -> LaunchOutcome {
        let dir = sandbox.directory
        let errorLog = dir + "/mariadbd.err"
        // --log-error appends; a retry must not read the previous attempt's bind error.
        try? FileManager.default.removeItem(atPath: errorLog)
        var arguments = [
            "--no-defaults",
            "--datadir=\(dir)/data",
            "--port=\(port)",
            "--bind-address=127.0.0.1",
            "--socket=\(socketPath(in: dir))",
            "--pid-file=\(dir)/mariadbd.pid",
            "--log-error=\(errorLog)",
            "--tmpdir=\(dir)",
            "--skip-name-resolve",
            "--max-connections=1000",
            "--skip-log-bin",
            // Nothing in the sandbox is worth preserving across restarts; skipping the dump/load saves stop time.
            "--innodb-buffer-pool-dump-at-shutdown=0",
            "--innodb-buffer-pool-load-at-startup=0",
        ]
        arguments += innoDBArguments
        // mariadbd refuses to run as root without --user=root; as a normal user the flag would only warn.
        if geteuid() == 0 { arguments.append("--user=root") }
        let child = try sandbox.launch { () throws(ServerError) in
            try ChildProcess.spawn(mariadbd, arguments, outputPath: dir + "/mariadbd.out")
        }

        var lastProblem = "no answer"
        while true {
            if let exit = child.poll() {
                sandbox.release(child)
                let log = tail(of: errorLog)
                if log.contains("Address already in use") || log.contains("Bind on TCP/IP port") {
                    return .portTaken
                }
                throw ServerError(
                    .startFailed,
                    "mariadbd exited during startup (\(exit)): \(log); fix the cause shown or run `make setup`")
            }
            let remaining = deadline - .now
            guard remaining > .zero else {
                let log = tail(of: errorLog)
                child.terminate(grace: .seconds(2))
                sandbox.release(child)
                throw ServerError(
                    .startTimedOut,
                    "mariadbd did not answer on 127.0.0.1:\(port) within the start timeout (\(lastProblem)): \(log); check its error log and the machine's load"
                )
            }
            switch LoopbackTCP.readGreeting(port: port, timeout: min(remaining, .seconds(1))) {
            case .version(let version):
                // A greeting from a process that is not ours (it won the port race) must not count.
                if child.poll() == nil {
                    return .answered(child, version: displayVersion(version))
                }
                continue
            case .notReady:
                break
            case .unexpected(let problem):
                lastProblem = problem
            }
            usleep(10_000)
        }
    }

    // MARK: - Helpers

    private static let innoDBArguments = [
        // Small buffers and redo log: the sandbox holds no data, and this keeps startup well under a second.
        "--innodb-buffer-pool-size=16M",
        "--innodb-log-file-size=8M",
    ]

    private static func socketPath(in directory: String) -> String {
        directory + "/mariadbd.sock"
    }

    /// MariaDB 10.x prefixes its version with "5.5.5-" for old replication clients; Connector/C strips it too.
    private static func displayVersion(_ raw: String) -> String {
        raw.hasPrefix("5.5.5-") ? String(raw.dropFirst(6)) : raw
    }

    private static func pathDirectories() -> [String] {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    }

    private static func locate(_ name: String, in directories: [String]) -> String? {
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// How old a sandbox directory without any owner file must be before a sweep removes it: such a directory is
    /// either a leftover of an old version interrupted before it wrote `owner.pid`, or one being created right now
    /// (for microseconds), so any age that is not "right now" tells them apart.
    static let unownedGrace: TimeInterval = 60

    /// Creates the sandbox directory with its owner lock already held inside: the directory is made and locked
    /// under a staging name (`repro-staging-*`), then renamed, so a `repro-mariadb-*` directory never exists
    /// without a held lock while its owner lives, and the lock is released by the kernel when the owner dies.
    static func makeDirectory(prefix: String = "repro-mariadb-") throws(ServerError) -> (
        directory: String, lock: OwnerLock
    ) {
        var base = NSTemporaryDirectory()
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        // A Unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS); a deep TMPDIR would not.
        if (base + "/\(prefix)XXXXXX/mariadbd.sock").utf8.count >= 104 { base = "/tmp" }
        func failure(_ what: String) -> ServerError {
            ServerError(
                .sandboxFailed,
                "could not create a temporary directory under \(base): \(what); set TMPDIR to a writable directory")
        }
        // Bounded: only a name collision (another directory already has the random name) retries.
        for _ in 0..<5 {
            var template = Array((base + "/repro-staging-XXXXXX").utf8CString)
            let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
            guard created else { throw failure(String(cString: strerror(errno))) }
            let staging = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let lock: OwnerLock
            do {
                lock = try OwnerLock.create(at: staging + "/" + ServerSandbox.lockName)
            } catch {
                rmdir(staging)
                throw failure("cannot create its lock file: \(error.reason)")
            }
            let directory = base + "/" + prefix + staging.suffix(6)
            if rename(staging, directory) == 0 {
                return (directory, lock.moved(to: directory + "/" + ServerSandbox.lockName))
            }
            let reason = errno
            lock.release(removingFile: true)
            rmdir(staging)
            guard reason == EEXIST || reason == ENOTEMPTY else { throw failure(String(cString: strerror(reason))) }
        }
        throw failure("every name tried was taken")
    }

    /// Directories `makeDirectory` makes: the embedded server's, HAProxy's (`HAProxyMiddlebox`), and both while staged.
    static let sandboxPrefixes = ["repro-mariadb-", "repro-haproxy-", "repro-staging-"]

    /// Stops servers and removes sandboxes whose owning `repro` process is gone (it was SIGKILLed or crashed);
    /// returns the directories removed.
    ///
    /// A sandbox is stale only when this call can take its owner lock (`OwnerLock.probe`): that works across PID
    /// namespaces, and a live run, this one included, holds its lock. Directories of older versions (no lock
    /// file) fall back to their `owner.pid`; ones with no owner file at all are removed once `unownedGrace` old.
    /// Every process still running with the directory on its command line (mariadbd, mariadb-install-db and its
    /// bootstrap server) is killed first.
    @discardableResult
    public static func removeStale() -> [String] {
        var bases = ["/tmp"]
        var tmp = NSTemporaryDirectory()
        while tmp.count > 1 && tmp.hasSuffix("/") { tmp.removeLast() }
        if !bases.contains(tmp) { bases.append(tmp) }
        return removeStale(in: bases)
    }

    /// The same, for the sandboxes directly in `bases` (a test sweeps a directory of its own, out of reach of
    /// the sweeps every other run makes at start, some from a PID namespace of their own that cannot see, and so
    /// cannot kill, the processes a stale sandbox still has).
    static func removeStale(in bases: [String]) -> [String] {
        var removed: [String] = []
        for base in bases {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
            for name in names where sandboxPrefixes.contains(where: { name.hasPrefix($0) }) {
                let dir = base + "/" + name
                var info = stat()
                // Never follow a symlink someone planted in a shared /tmp.
                guard lstat(dir, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
                let lock: OwnerLock?
                switch OwnerLock.probe(dir + "/" + ServerSandbox.lockName) {
                case .held:
                    continue
                case .stale(let stale):
                    lock = stale
                case .absent:
                    guard ownerlessIsStale(dir, info: info) else { continue }
                    lock = nil
                }
                killProcesses(using: dir)
                ServerSandbox.removeDirectory(dir)
                lock?.release(removingFile: false)
                if !FileManager.default.fileExists(atPath: dir) { removed.append(dir) }
            }
        }
        return removed
    }

    /// A sandbox without a lock file: by its `owner.pid` (older versions) when there is one, else by its age.
    private static func ownerlessIsStale(_ dir: String, info: stat) -> Bool {
        if let ownerText = try? String(contentsOfFile: dir + "/owner.pid", encoding: .utf8),
            let owner = pid_t(ownerText.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return owner != getpid() && kill(owner, 0) == -1 && errno == ESRCH
        }
        let modified = TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1e9
        return Date().timeIntervalSince1970 - modified > unownedGrace
    }

    /// SIGKILLs every process whose command line names `dir` (the sandbox's servers and install scripts, which
    /// are not our children to reap), and waits (bounded) until they are gone.
    private static func killProcesses(using dir: String) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var killed: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(),
                let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { continue }
            let text = String(decoding: cmdline, as: UTF8.self)
            // Arguments are NUL-separated: the directory itself, or a path below it.
            guard text.contains(dir + "/") || text.contains(dir + "\0") || text.hasSuffix(dir) else { continue }
            if kill(pid, SIGKILL) == 0 { killed.append(pid) }
        }
        // Bounded: the kernel frees a SIGKILLed process quickly.
        for _ in 0..<100 where killed.contains(where: { kill($0, 0) == 0 }) { usleep(20_000) }
    }

    /// The last few error lines of a log (or its last lines when none is marked), joined into one line.
    static func tail(of path: String, lines: Int = 5) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "no log written" }
        let all = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
        // install-db ends with a screenful of generic advice; the lines naming the actual failure come earlier.
        let errors = all.filter { $0.contains("ERROR") }
        let chosen = (errors.isEmpty ? all : errors).suffix(lines)
        return chosen.isEmpty ? "log is empty" : chosen.joined(separator: " | ")
    }
}
