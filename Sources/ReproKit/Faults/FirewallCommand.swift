import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs the iptables tools: finds them, feeds stdin, collects stdout and stderr, never waits unbounded.
enum FirewallCommand {
    /// What one run produced; `status` is the exit code, or nil when it could not run or was killed.
    struct Output: Sendable {
        var status: Int32?
        var stdout: String
        var stderr: String

        var succeeded: Bool { status == 0 }

        /// stderr without the nft backend's "legacy tables present" warnings, which say nothing about this run.
        var problem: String {
            let lines = stderr.split(separator: "\n").filter { !$0.hasPrefix("# Warning:") }
            let text = lines.joined(separator: " ").trimmingCharacters(in: .whitespaces)
            if !text.isEmpty { return text }
            return status.map { "exit status \($0)" } ?? "did not finish"
        }
    }

    /// iptables lives in sbin, which a non-login root shell (or `sudo` with a secure_path) may not have on PATH.
    static func locate(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let candidates = path + ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"]
        return candidates.lazy.map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }

    /// Runs `executable` with `arguments`, writing `input` to its stdin; kills it after `timeout`.
    static func run(
        _ executable: String, _ arguments: [String], input: String = "", timeout: Duration = .seconds(15)
    ) -> Output {
        // Socket pairs rather than pipes: both are created close-on-exec in one call (Glibc does not import
        // pipe2), so a child spawned meanwhile by another thread (mariadbd) cannot hold our ends and delay EOF,
        // and `send` with MSG_NOSIGNAL reports a reader that quit as EPIPE instead of raising SIGPIPE.
        guard let stdinPipe = channel() else { return failure("socketpair: \(errnoText())") }
        guard let stdoutPipe = channel() else {
            closeAll(stdinPipe)
            return failure("socketpair: \(errnoText())")
        }
        guard let stderrPipe = channel() else {
            closeAll(stdinPipe + stdoutPipe)
            return failure("socketpair: \(errnoText())")
        }

        // ChildProcess, the one spawner: the child gets exactly fds 0, 1 and 2 (dup2 clears FD_CLOEXEC on the
        // copies), an empty signal mask and default dispositions (our blocked signals and ignored SIGPIPE would
        // survive exec), and its own process group. A fixed environment: the C locale keeps iptables' messages
        // and output in the form we parse.
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable, arguments, stdin: .descriptor(stdinPipe[0]), stdout: .descriptor(stdoutPipe[1]),
                stderr: .descriptor(stderrPipe[1]), environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"])
        } catch {
            closeAll(stdinPipe + stdoutPipe + stderrPipe)
            return failure(error.message)
        }
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])

        let collected = pump(
            input: Array(input.utf8), stdin: stdinPipe[1], stdout: stdoutPipe[0], stderr: stderrPipe[0],
            deadline: .now + timeout)
        if !collected.finished { kill(child.pid, SIGKILL) }
        // Bounded, so a child stuck in the kernel cannot hang us; nil when killed or lost.
        let status: Int32? =
            switch child.wait(until: .now + .seconds(5)) {
            case .exited(let code) where code >= 0: code
            default: nil
            }
        var output = Output(
            status: collected.finished ? status : nil,
            stdout: String(decoding: collected.stdout, as: UTF8.self),
            stderr: String(decoding: collected.stderr, as: UTF8.self))
        if !collected.finished {
            output.stderr += "\(executable) did not finish within \(timeout); killed"
        }
        return output
    }

    /// Moves bytes until both output pipes reach EOF or the deadline passes; writing stdin inside the same
    /// poll loop means a large input can never deadlock against a child blocked on a full stdout pipe.
    private static func pump(
        input: [UInt8], stdin: Int32, stdout: Int32, stderr: Int32, deadline: ContinuousClock.Instant
    ) -> (stdout: [UInt8], stderr: [UInt8], finished: Bool) {
        var out: [UInt8] = []
        var err: [UInt8] = []
        var written = 0
        var stdinFD: Int32 = stdin
        var stdoutFD: Int32 = stdout
        var stderrFD: Int32 = stderr
        _ = fcntl(stdinFD, F_SETFL, fcntl(stdinFD, F_GETFL) | O_NONBLOCK)
        if input.isEmpty {
            close(stdinFD)
            stdinFD = -1
        }
        defer { closeAll([stdinFD, stdoutFD, stderrFD].filter { $0 >= 0 }) }
        var buffer = [UInt8](repeating: 0, count: 16_384)

        while stdoutFD >= 0 || stderrFD >= 0 {
            let remaining = deadline - .now
            guard remaining > .zero else { return (out, err, false) }
            var fds = [
                pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0),
                pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0),
            ]
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, 1000))
            // poll ignores entries with a negative fd, so finished streams just drop out.
            let ready = poll(&fds, nfds_t(fds.count), milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                return (out, err, false)
            }
            if stdinFD >= 0 && fds[0].revents != 0 {
                let count = input[written...].withUnsafeBytes {
                    send(stdinFD, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                }
                if count > 0 { written += count }
                // EPIPE (the child quit reading) ends stdin just like having written everything.
                if written == input.count || (count < 0 && errno != EAGAIN && errno != EINTR) {
                    close(stdinFD)
                    stdinFD = -1
                }
            }
            for (index, isStdout) in [(1, true), (2, false)] where fds[index].revents != 0 {
                let fd = isStdout ? stdoutFD : stderrFD
                let count = read(fd, &buffer, buffer.count)
                if count > 0 {
                    if isStdout { out += buffer[0..<count] } else { err += buffer[0..<count] }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(fd)
                    if isStdout { stdoutFD = -1 } else { stderrFD = -1 }
                }
            }
        }
        return (out, err, true)
    }

    /// A connected, close-on-exec socket pair; its two ends are alike, one for the child and one kept here.
    private static func channel() -> [Int32]? {
        var fds: [Int32] = [-1, -1]
        let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return socketpair(AF_UNIX, flags, 0, &fds) == 0 ? fds : nil
    }

    private static func failure(_ message: String) -> Output {
        Output(status: nil, stdout: "", stderr: message)
    }

    private static func closeAll(_ fds: [Int32]) {
        for fd in fds where fd >= 0 { close(fd) }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
