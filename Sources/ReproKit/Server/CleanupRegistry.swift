import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Process-wide list of teardown actions (stop servers, remove temp dirs) that also run on Ctrl-C.
public final class CleanupRegistry: Sendable {
    /// The registry the signal handlers drain.
    public static let shared = CleanupRegistry()

    /// Identifies one registered action, for `unregister`.
    public struct Token: Sendable, Hashable {
        fileprivate let id: UInt64
    }

    private struct Entry {
        let id: UInt64
        let name: String
        let action: @Sendable () -> Void
    }

    private struct State {
        var entries: [Entry] = []
        var nextID: UInt64 = 0
        // Kept alive here: a signal source that is deallocated stops delivering.
        var signalSources: [any DispatchSourceSignal] = []
        var handlersInstalled = false
        var failures: [String] = []
        var interrupted = false
        // Actions registered after the interrupt, running right now on the thread that registered them.
        var lateActions = 0
        var diversion: (@Sendable (Int32) -> Void)?
    }

    /// The signals that stop a run: the handlers clean up and exit with 128 + signal.
    public static let terminationSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    private let state = Mutex(State())
    // A dedicated serial queue: cleanup blocks (waiting for mariadbd to exit) and must not hold a cooperative thread.
    private let signalQueue = DispatchQueue(label: "repro.cleanup.signals")

    /// Creates an empty registry; use `shared` except in tests.
    public init() {}

    /// Adds `action`, to run at most once, on `runAll()` or a termination signal, unless unregistered first.
    ///
    /// Once a signal started the cleanup, the run is over: `action` runs at once, on the caller's thread (what it
    /// undoes may already exist), the signal handler waits for it, and the caller never gets back control, so it
    /// cannot go on to spawn or create anything the cleanup would no longer see. Call it without holding a lock
    /// that `action` takes.
    public func register(_ name: String, _ action: @escaping @Sendable () -> Void) -> Token {
        let token = state.withLock { state -> Token? in
            if state.interrupted {
                state.lateActions += 1
                return nil
            }
            state.nextID += 1
            state.entries.append(Entry(id: state.nextID, name: name, action: action))
            return Token(id: state.nextID)
        }
        if let token { return token }
        action()
        state.withLock { $0.lateActions -= 1 }
        park()
    }

    /// Removes an action, typically because its owner already cleaned up; unknown tokens are ignored.
    public func unregister(_ token: Token) {
        state.withLock { state in state.entries.removeAll { $0.id == token.id } }
    }

    /// Gives a pending action a new name, e.g. once what it removes has a path; unknown tokens are ignored.
    public func rename(_ token: Token, to name: String) {
        state.withLock { state in
            guard let index = state.entries.firstIndex(where: { $0.id == token.id }) else { return }
            let entry = state.entries[index]
            state.entries[index] = Entry(id: entry.id, name: name, action: entry.action)
        }
    }

    /// Names of the pending actions, oldest first.
    public var pendingNames: [String] {
        state.withLock { state in state.entries.map(\.name) }
    }

    /// Records that a cleanup action could not put something back (one line: what, where, the command to run by
    /// hand). The process then exits 3, on Ctrl-C too, and prints every line last on stderr.
    public func recordFailure(_ line: String) {
        state.withLock { state in state.failures.append(line) }
    }

    /// What cleanup actions could not put back, oldest first.
    public var failures: [String] {
        state.withLock { state in state.failures }
    }

    private let interruptedFlag = Atomic<Bool>(false)

    /// True once a signal started the cleanup: the process is about to exit with 128 + signal, and other
    /// threads must not report, write files or exit on their own (their errors are the teardown's echoes).
    public var isInterrupted: Bool { interruptedFlag.load(ordering: .sequentiallyConsistent) }

    /// Called by a thread that would exit or report after an interrupt: waits for the signal handler to exit the
    /// process (bounded: after 60 s it exits with 130 itself).
    public func parkIfInterrupted() {
        guard isInterrupted else { return }
        park()
    }

    /// Exits with `code`, unless a signal's cleanup has begun: then the exit is the signal handler's (128 + signal,
    /// once the cleanup is done) and this thread waits for it. Checked and exited under the registry's lock, so a
    /// signal arriving at this very moment either finds the process already exiting or takes over the exit.
    public func exit(_ code: Int32) -> Never {
        state.withLock { state in
            if !state.interrupted { exitProcess(code) }
        }
        park()
    }

    private func park() -> Never {
        for _ in 0..<600 { usleep(100_000) }
        exitProcess(130)
    }

    /// Runs every pending action, newest first, each once; actions registered meanwhile run on the next call.
    public func runAll() {
        // Taken out under the lock and run outside it: actions call `unregister` and may block for seconds.
        let entries = state.withLock { state in
            let taken = state.entries
            state.entries.removeAll()
            return taken
        }
        for entry in entries.reversed() { entry.action() }
    }

    /// Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR1 in the calling thread, for good. Call it first thing in `main`,
    /// before any thread exists: every later thread inherits the mask, so a signal that arrives before the
    /// handlers exist stays pending (neither lost nor killing us halfway through a startup) and the dispatch
    /// sources of `installSignalHandlers` (a signalfd on Linux, which needs the signal blocked in every thread)
    /// deliver it once they are installed. SIGUSR1 is only read by `repro proxy`; other commands leave it pending.
    ///
    /// Children must not inherit the mask: `ChildProcess` and `FirewallCommand` spawn with an empty mask and
    /// default dispositions. Foundation's `Process` passes the mask on, so a process that blocks must not use it.
    public static func blockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signo in terminationSignals + [SIGUSR1] { sigaddset(&set, signo) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// From now on SIGINT, SIGTERM and SIGHUP call `handler` (on the registry's signal queue) instead of
    /// cleaning up and exiting: for a command that shuts itself down, like `repro proxy`.
    public func divertSignals(_ handler: @escaping @Sendable (Int32) -> Void) {
        state.withLock { $0.diversion = handler }
    }

    /// On SIGINT, SIGTERM or SIGHUP: print one line to stderr, run all actions, exit with 128 + signal (3 when an
    /// action recorded a failure, after printing it). Idempotent.
    ///
    /// Signals are read by dispatch sources only, never by a handler of our own; with `blockSignals()` called
    /// first, one that arrived earlier is delivered as soon as the sources are installed.
    public func installSignalHandlers() {
        state.withLock { state in
            guard !state.handlersInstalled else { return }
            state.handlersInstalled = true
            for signo in Self.terminationSignals {
                // No SIG_IGN here: setting it discards a signal already pending, which is exactly the one that
                // arrived during startup. libdispatch installs its own disposition when the source registers.
                let source = DispatchSource.makeSignalSource(signal: signo, queue: signalQueue)
                source.setEventHandler { [self] in handle(signo) }
                source.resume()
                state.signalSources.append(source)
            }
        }
    }

    private func handle(_ signo: Int32) {
        let diversion = state.withLock { state -> (@Sendable (Int32) -> Void)? in
            if let diversion = state.diversion { return diversion }
            state.interrupted = true
            interruptedFlag.store(true, ordering: .sequentiallyConsistent)
            return nil
        }
        if let diversion {
            diversion(signo)
            return
        }
        let line = "interrupted: cleaning up\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        runAll()
        // A setting that could not be put back (a global wait_timeout) is said last, and the exit is 3.
        let failed = failures
        for failure in failed {
            _ = "repro: \(failure)\n".withCString { write(STDERR_FILENO, $0, strlen($0)) }
        }
        let code = failed.isEmpty ? 128 + signo : 3
        // Actions registered after the interrupt run on the threads that registered them: wait for them (bounded),
        // and exit while holding the lock, so no further registration can start an action the exit would cut short.
        for _ in 0..<3000 {
            state.withLock { state in
                if state.lateActions == 0 { exitProcess(code) }
            }
            usleep(10_000)
        }
        exitProcess(code)
    }
}

/// The C library's `exit`, which `CleanupRegistry.exit(_:)` shadows inside the class.
private func exitProcess(_ code: Int32) -> Never {
    exit(code)
}
