import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child started with `posix_spawn` in its own process group, with output going to files.
struct ChildProcess: Sendable {
    /// Process id of the child.
    let pid: pid_t
    /// The status `waitpid` gave, kept: every copy of this value, on any thread, sees the one exit (a second
    /// `waitpid` would only say ECHILD).
    private let reaped = Reaped()

    private final class Reaped: Sendable {
        let exit = Mutex<Exit?>(nil)
    }

    /// How a child ended, as reported by `waitpid`.
    enum Exit: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case .exited(let code): "exit status \(code)"
            case .signaled(let signo): "signal \(signo)"
            }
        }
    }

    /// Where one of the child's standard descriptors goes.
    enum Redirect: Sendable {
        case devNull
        /// A file, created or truncated.
        case file(String)
        /// An open descriptor of ours (a pipe end), duplicated onto the child's.
        case descriptor(Int32)
        /// The same as the child's stdout (only for stderr).
        case stdout
    }

    /// Spawns `executable`; stdin is /dev/null, stdout and stderr go to `outputPath` (truncated).
    static func spawn(_ executable: String, _ arguments: [String], outputPath: String) throws(ServerError)
        -> ChildProcess
    {
        try spawn(executable, arguments, stdin: .devNull, stdout: .file(outputPath), stderr: .stdout)
    }

    /// Spawns `executable` in its own process group with the given standard descriptors and environment
    /// (`nil`: ours). Descriptors 3 and up are not inherited.
    static func spawn(
        _ executable: String, _ arguments: [String], stdin: Redirect, stdout: Redirect, stderr: Redirect,
        environment: [String]? = nil
    ) throws(ServerError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        for (fd, redirect) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch redirect {
            case .devNull: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            case .descriptor(let ours): posix_spawn_file_actions_adddup2(&actions, ours, fd)
            case .stdout: posix_spawn_file_actions_adddup2(&actions, 1, fd)
            }
        }
        // The server must not inherit our sockets or the test runner's pipes: a leaked pipe would keep
        // a caller waiting for EOF until the server exits.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        // Own process group so a terminal Ctrl-C reaches only us; we stop the server ourselves after cleanup.
        Self.setSignalDefaults(&attributes, flags: Int32(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv = ([executable] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var cArgv: [UnsafeMutablePointer<CChar>?] = argv
        cArgv.append(nil)

        var pid: pid_t = 0
        let result = cArgv.withUnsafeMutableBufferPointer { argvBuffer in
            guard let environment else {
                return posix_spawn(&pid, executable, &actions, &attributes, argvBuffer.baseAddress!, environ)
            }
            let envp = environment.map { strdup($0) }
            defer { envp.forEach { free($0) } }
            var cEnvp: [UnsafeMutablePointer<CChar>?] = envp
            cEnvp.append(nil)
            return cEnvp.withUnsafeMutableBufferPointer { envBuffer in
                posix_spawn(&pid, executable, &actions, &attributes, argvBuffer.baseAddress!, envBuffer.baseAddress!)
            }
        }
        guard result == 0 else {
            throw ServerError(
                .startFailed,
                "could not run \(executable): \(String(cString: strerror(result))); check it is executable, or run `make setup`"
            )
        }
        return ChildProcess(pid: pid)
    }

    /// Sets `flags` plus an empty signal mask and default dispositions for every signal. repro blocks SIGINT,
    /// SIGTERM, SIGHUP and SIGUSR1 for its whole life (`CleanupRegistry.blockSignals`) and ignores SIGPIPE; a
    /// blocked mask and ignored signals survive exec, and a child that inherited them would never die of our
    /// SIGTERM. Every `posix_spawn` of ours goes through this.
    static func setSignalDefaults(_ attributes: inout posix_spawnattr_t, flags: Int32) {
        let all = flags | Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        posix_spawnattr_setflags(&attributes, Int16(all))
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
    }

    /// Reaps the child if it has ended, without blocking; nil while it still runs.
    func poll() -> Exit? {
        // waitpid and the record of its answer under one lock (WNOHANG never blocks): two threads polling at once
        // (the output reader at EOF and a waiter) must not see one the status and the other ECHILD.
        reaped.exit.withLock { recorded -> Exit? in
            if let recorded { return recorded }
            var status: Int32 = 0
            while true {
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid {
                    recorded = Self.decode(status)
                    return recorded
                }
                if result == -1 && errno == EINTR { continue }
                // ECHILD: someone else reaped it; it is gone either way.
                if result == -1 { return .exited(-1) }
                return nil
            }
        }
    }

    /// Polls until the child ends or `deadline` passes; nil on timeout.
    func wait(until deadline: ContinuousClock.Instant) -> Exit? {
        while true {
            if let exit = poll() { return exit }
            if ContinuousClock.now >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// SIGTERM to the child's process group, up to `grace` for a clean exit, then SIGKILL; returns once reaped.
    @discardableResult
    func terminate(grace: Duration) -> Exit {
        // The whole group, not just the pid: mariadb-install-db is a script whose bootstrap mariadbd would
        // otherwise keep writing into the directory we are about to remove.
        let exit: Exit
        if let ended = poll() {
            exit = ended
        } else {
            killpg(pid, SIGTERM)
            if let ended = wait(until: .now + grace) {
                exit = ended
            } else {
                killpg(pid, SIGKILL)
                // SIGKILL cannot be caught, so this wait is short; bounded anyway so a stuck D-state never hangs us.
                exit = wait(until: .now + .seconds(10)) ?? .signaled(SIGKILL)
            }
        }
        // Sweep helpers left in the group after the leader is gone; ESRCH (empty group) is the normal case.
        killpg(pid, SIGKILL)
        return exit
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc 2.34+ has posix_spawn_file_actions_addclosefrom_np, but the Glibc module does not import it,
    /// so it is looked up at run time; on older libcs children just inherit fds as before.
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    private static func decode(_ status: Int32) -> Exit {
        // The WIFEXITED family are macros Swift cannot import.
        let low = status & 0x7f
        return low == 0 ? .exited((status >> 8) & 0xff) : .signaled(low)
    }
}
