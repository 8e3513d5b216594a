import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What became of one request to an adapter.
enum AdapterReply: Sendable {
    case answer(JSONValue)
    /// No answer within the request's deadline; the adapter is still usable.
    case timedOut
    /// The adapter broke the protocol or exited: nothing more can be asked of it.
    case failed(String)
}

/// An adapter child process speaking JSON lines (docs/adapters.md): its own process group, requests with
/// deadlines, answers matched by id, events forwarded as they arrive, stopped on every path (Ctrl-C too).
final class AdapterProcess: Sendable {
    /// One request waiting for its answer.
    fileprivate final class Slot: Sendable {
        let done = DispatchSemaphore(value: 0)
        let reply = Mutex<AdapterReply?>(nil)

        func fulfil(_ value: AdapterReply) {
            let first = reply.withLock { r in
                guard r == nil else { return false }
                r = value
                return true
            }
            if first { done.signal() }
        }
    }

    private struct State {
        var nextID = 0
        var pending: [Int: Slot] = [:]
        /// Ids whose deadline passed: a late answer to one of these is expected, not a protocol error.
        var abandoned: Set<Int> = []
        var failure: String?
        var stderrTail: [String] = []
        var stopped = false
    }

    let name: String
    private let child: ChildProcess
    private let input: Int32
    private let state = Mutex(State())
    private let cleanup = Mutex<CleanupRegistry.Token?>(nil)
    /// Lines the adapter sent that are not answers: events, and answers that came after their deadline.
    private let onUnsolicited: @Sendable (JSONValue, _ lateFor: Int?) -> Void

    /// Longest line accepted from the adapter; a longer one is garbage, not protocol.
    static let maxLineBytes = 4 << 20

    /// Starts `executable` with pipes on stdin/stdout/stderr in its own process group.
    init(
        name: String, executable: String, arguments: [String] = [], environment: [String],
        onUnsolicited: @escaping @Sendable (JSONValue, _ lateFor: Int?) -> Void
    ) throws(RunError) {
        signal(SIGPIPE, SIG_IGN)
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        var errChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0, pipe(&errChild) == 0 else {
            throw .environment("cannot create pipes for the \(name) adapter: \(String(cString: strerror(errno)))")
        }
        // Our ends must not leak into other children (the child's copies are made by dup2, which clears this).
        for fd in toChild + fromChild + errChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable, arguments, stdin: .descriptor(toChild[0]), stdout: .descriptor(fromChild[1]),
                stderr: .descriptor(errChild[1]), environment: environment)
        } catch {
            for fd in toChild + fromChild + errChild { close(fd) }
            throw .environment("cannot start the \(name) adapter (\(executable)): \(error.message)")
        }
        close(toChild[0])
        close(fromChild[1])
        close(errChild[1])
        self.name = name
        self.child = child
        self.input = toChild[1]
        // Writes wait in poll with a deadline instead of blocking on a full pipe.
        _ = fcntl(toChild[1], F_SETFL, fcntl(toChild[1], F_GETFL) | O_NONBLOCK)
        self.onUnsolicited = onUnsolicited
        let pid = child.pid
        let token = CleanupRegistry.shared.register("stop the \(name) adapter") {
            let tree = ProcessSockets.descendants(of: pid)
            killpg(pid, SIGKILL)
            for p in tree { kill(p, SIGKILL) }
        }
        cleanup.withLock { $0 = token }
        startReader(fd: fromChild[0])
        startStderrReader(fd: errChild[0])
    }

    /// A request written to the adapter, whose answer is awaited with `wait`.
    struct Pending: Sendable {
        fileprivate let id: Int?
        fileprivate let slot: Slot
        fileprivate let failure: String?
    }

    /// Sends one request and waits up to `deadline` for its answer; the deadline covers writing it too.
    func request(_ op: String, _ fields: [String: JSONValue] = [:], deadline: Duration) -> AdapterReply {
        let start = ContinuousClock.now
        let pending = send(op, fields, writeDeadline: deadline)
        return wait(pending, deadline: max(.zero, deadline - (ContinuousClock.now - start)))
    }

    /// How long writing one request may take when the caller gives no deadline: an adapter that has not read
    /// its input for this long (its pipe full) is broken, not slow.
    static let defaultWriteDeadline: Duration = .seconds(10)

    /// Writes one request without waiting for its answer (the adapter may be stopped: the pipe keeps it, up to
    /// the pipe's size). A request not written within `writeDeadline` (the adapter stopped reading its input)
    /// breaks the adapter: every request fails.
    func send(_ op: String, _ fields: [String: JSONValue] = [:], writeDeadline: Duration = defaultWriteDeadline)
        -> Pending
    {
        let slot = Slot()
        let setup: (id: Int?, failure: String?) = state.withLock { s in
            if let failure = s.failure { return (nil, failure) }
            s.nextID += 1
            s.pending[s.nextID] = slot
            return (s.nextID, nil)
        }
        guard let id = setup.id else { return Pending(id: nil, slot: slot, failure: setup.failure ?? "was stopped") }
        var message = fields
        message["id"] = .number(Double(id))
        message["op"] = .string(op)
        switch writeAll(JSONValue.object(message).line(), deadline: .now + writeDeadline) {
        case .written: break
        case .failed(let error): fail("stopped reading its input (\(String(cString: strerror(error))))")
        case .timedOut:
            fail(
                "stopped reading its input: a request could not be written within \(DriversMatrix.format(EventLog.milliseconds(writeDeadline) / 1000)) s (its input pipe is full)"
            )
        }
        return Pending(id: id, slot: slot, failure: nil)
    }

    /// Waits up to `deadline` for the answer to a request `send` wrote.
    func wait(_ pending: Pending, deadline: Duration) -> AdapterReply {
        guard let id = pending.id else { return .failed(pending.failure ?? "was stopped") }
        let slot = pending.slot
        let waited = slot.done.wait(timeout: .now() + .nanoseconds(Int(EventLog.milliseconds(deadline) * 1e6)))
        if waited == .timedOut {
            state.withLock { s in
                s.pending[id] = nil
                s.abandoned.insert(id)
            }
            // The answer may have raced the timeout.
            if let reply = slot.reply.withLock({ $0 }) { return reply }
            return .timedOut
        }
        return slot.reply.withLock { $0 } ?? .failed("answered nothing")
    }

    /// The adapter's last stderr lines, for error messages.
    /// The adapter's process group (it leads its own): every process of the stack is in it.
    var processGroup: pid_t { child.pid }

    var stderrTail: String {
        state.withLock { $0.stderrTail.suffix(3).joined(separator: " | ") }
    }

    /// Closes stdin and waits up to `limit` for the adapter to exit by itself (docs/adapters.md: "when stdin reaches
    /// EOF the adapter exits promptly"); its exit, or nil when it was still running. `stop` ends it either way.
    func endInput(waitingUpTo limit: Duration) -> ChildProcess.Exit? {
        let first = state.withLock { s in
            defer { s.stopped = true }
            return !s.stopped
        }
        guard first else { return nil }
        let tree = ProcessSockets.descendants(of: child.pid)
        close(input)
        let exit = child.wait(until: .now + limit)
        if exit == nil { _ = child.terminate(grace: .seconds(1)) } else { killpg(child.pid, SIGKILL) }
        for p in tree { kill(p, SIGKILL) }
        if let token = cleanup.withLock({ $0 }) { CleanupRegistry.shared.unregister(token) }
        fail("was stopped")
        return exit
    }

    /// Why the adapter can no longer be asked anything ("was stopped" after `stop`), or nil while it can.
    var failureReason: String? { state.withLock { $0.failure } }

    /// Every stderr line the adapter wrote so far (the last 20), for checks that nothing secret reached it.
    var stderrLines: [String] { state.withLock { $0.stderrTail } }

    /// Closes stdin, gives the adapter 2 s to exit, then SIGTERM and SIGKILL to its whole group. Idempotent.
    func stop() {
        let first = state.withLock { s in
            defer { s.stopped = true }
            return !s.stopped
        }
        guard first else { return }
        // Processes that left the group (`setsid`) are found by parentage, before EOF lets their parents exit.
        var tree = Set(ProcessSockets.descendants(of: child.pid))
        close(input)
        if child.wait(until: .now + .milliseconds(100)) == nil {
            tree.formUnion(ProcessSockets.descendants(of: child.pid))
        }
        if child.wait(until: .now + .seconds(2)) == nil {
            child.terminate(grace: .seconds(2))
        } else {
            // The leader is gone; anything it left in its group goes too.
            killpg(child.pid, SIGKILL)
        }
        for p in tree { kill(p, SIGKILL) }
        if let token = cleanup.withLock({ $0 }) { CleanupRegistry.shared.unregister(token) }
        fail("was stopped")
    }

    // MARK: - Plumbing

    private enum Written { case written, timedOut, failed(Int32) }

    /// One writer at a time (a line must not interleave with another's), each bounded by its deadline.
    private let writeLock = NSLock()

    /// Writes all of `data` to the adapter's non-blocking stdin, waiting in `poll` while the pipe is full, until
    /// `deadline`.
    private func writeAll(_ data: Data, deadline: ContinuousClock.Instant) -> Written {
        let lockBy = Date(timeIntervalSinceNow: max(0, EventLog.milliseconds(deadline - .now) / 1000))
        guard writeLock.lock(before: lockBy) else { return .timedOut }
        defer { writeLock.unlock() }
        return data.withUnsafeBytes { raw -> Written in
            var offset = 0
            while offset < raw.count {
                let n = write(input, raw.baseAddress! + offset, raw.count - offset)
                if n >= 0 {
                    offset += n
                    continue
                }
                switch errno {
                case EINTR: continue
                case EAGAIN:
                    let left = EventLog.milliseconds(deadline - .now)
                    guard left > 0 else { return .timedOut }
                    var fd = pollfd(fd: input, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&fd, 1, Int32(min(left, 1000).rounded(.up)))
                default: return .failed(errno)
                }
            }
            return .written
        }
    }

    /// Marks the adapter broken (first reason wins) and fails every request still waiting.
    private func fail(_ reason: String) {
        let slots: [Slot] = state.withLock { s in
            if s.failure == nil { s.failure = reason }
            defer { s.pending = [:] }
            return Array(s.pending.values)
        }
        let message = state.withLock { $0.failure } ?? reason
        for slot in slots { slot.fulfil(.failed(message)) }
    }

    private func startReader(fd: Int32) {
        let thread = Thread { [self] in
            var buffer = Data()
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                buffer.append(contentsOf: chunk[0..<n])
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = buffer[buffer.startIndex..<newline]
                    buffer = Data(buffer[(newline + 1)...])
                    if !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { handle(Data(line)) }
                }
                if buffer.count > Self.maxLineBytes {
                    fail("printed a line of more than \(Self.maxLineBytes) bytes: not the adapter protocol")
                    break
                }
            }
            close(fd)
            // Give the exit status a moment to be collectable, for the message.
            let exit = child.wait(until: .now + .milliseconds(300))
            let tail = stderrTail
            let said = tail.isEmpty ? "" : "; it said: \(tail)"
            if let exit {
                fail("exited (\(exit)) before answering\(said)")
            } else {
                fail("closed its output (stdout) while still running, so it can answer nothing more\(said)")
            }
        }
        thread.name = "repro.adapter.\(name).out"
        thread.start()
    }

    private func handle(_ line: Data) {
        guard let value = JSONValue.parse(line), value.object != nil else {
            let text = String(decoding: line.prefix(80), as: UTF8.self)
            fail("printed a line that is not protocol JSON: '\(text)'")
            return
        }
        if let id = value["id"]?.int {
            let (slot, late) = state.withLock { s -> (Slot?, Bool) in
                if let slot = s.pending.removeValue(forKey: id) { return (slot, false) }
                return (nil, s.abandoned.contains(id))
            }
            if let slot {
                slot.fulfil(.answer(value))
            } else if late {
                onUnsolicited(value, id)
            } else {
                fail("answered request id \(id), which it was never sent")
            }
        } else if value["event"] != nil {
            onUnsolicited(value, nil)
        } else {
            fail("printed a line with neither id nor event: '\(String(decoding: line.prefix(80), as: UTF8.self))'")
        }
    }

    private func startStderrReader(fd: Int32) {
        let thread = Thread { [self] in
            var buffer = Data()
            var chunk = [UInt8](repeating: 0, count: 8192)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                buffer.append(contentsOf: chunk[0..<n])
                var lines: [String] = []
                while let newline = buffer.firstIndex(of: 0x0A) {
                    lines.append(String(decoding: buffer[buffer.startIndex..<newline].prefix(300), as: UTF8.self))
                    buffer = Data(buffer[(newline + 1)...])
                }
                if buffer.count > 65536 { buffer.removeAll() }
                let kept = lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                if !kept.isEmpty {
                    state.withLock { s in
                        s.stderrTail.append(contentsOf: kept)
                        if s.stderrTail.count > 20 { s.stderrTail.removeFirst(s.stderrTail.count - 20) }
                    }
                }
            }
            if !buffer.isEmpty {
                let rest = String(decoding: buffer.prefix(300), as: UTF8.self)
                state.withLock { $0.stderrTail.append(rest) }
            }
            close(fd)
        }
        thread.name = "repro.adapter.\(name).err"
        thread.start()
    }
}
