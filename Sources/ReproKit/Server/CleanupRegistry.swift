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
    }

    private let state = Mutex(State())
    // A dedicated serial queue: cleanup blocks (waiting for mariadbd to exit) and must not hold a cooperative thread.
    private let signalQueue = DispatchQueue(label: "repro.cleanup.signals")

    /// Creates an empty registry; use `shared` except in tests.
    public init() {}

    /// Adds `action`, to run at most once, on `runAll()` or a termination signal, unless unregistered first.
    public func register(_ name: String, _ action: @escaping @Sendable () -> Void) -> Token {
        state.withLock { state in
            state.nextID += 1
            state.entries.append(Entry(id: state.nextID, name: name, action: action))
            return Token(id: state.nextID)
        }
    }

    /// Removes an action, typically because its owner already cleaned up; unknown tokens are ignored.
    public func unregister(_ token: Token) {
        state.withLock { state in state.entries.removeAll { $0.id == token.id } }
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
        for _ in 0..<600 { usleep(100_000) }
        exit(130)
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

    /// On SIGINT, SIGTERM or SIGHUP: print one line to stderr, run all actions, exit with 128 + signal (3 when an
    /// action recorded a failure, after printing it). Idempotent.
    public func installSignalHandlers() {
        state.withLock { state in
            guard !state.handlersInstalled else { return }
            state.handlersInstalled = true
            for signo in [SIGINT, SIGTERM, SIGHUP] {
                // A dispatch source only observes; the default action (terminate at once, no cleanup) must be off.
                signal(signo, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signo, queue: signalQueue)
                source.setEventHandler { [self] in
                    interruptedFlag.store(true, ordering: .sequentiallyConsistent)
                    let line = "interrupted: cleaning up\n"
                    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
                    runAll()
                    let failed = failures
                    for failure in failed {
                        _ = "repro: \(failure)\n".withCString { write(STDERR_FILENO, $0, strlen($0)) }
                    }
                    exit(failed.isEmpty ? 128 + signo : 3)
                }
                source.resume()
                state.signalSources.append(source)
            }
        }
    }
}
