import Foundation
import Synchronization

/// The temp directory and current child process of one sandbox, torn down exactly once by whoever comes first.
final class ServerSandbox: Sendable {
    /// Name of the lock file its owner holds for its lifetime (see `OwnerLock`); `ManagedServer.removeStale` judges by it.
    static let lockName = "owner.lock"

    private struct State {
        var directory: String?
        var lock: OwnerLock?
        var child: ChildProcess?
        var token: CleanupRegistry.Token?
        var tornDown = false
        /// How the current child ended, once `reapIfEnded()` saw it end on its own.
        var ended: ChildProcess.Exit?
        /// The SIGTERM grace teardown gives the current child: a bootstrap (`mariadb-install-db`) whose work is
        /// thrown away with the directory gets a short one, so an early Ctrl-C answers at once.
        var teardownGrace: Duration?
    }

    // The lock is held for the whole teardown (and around creating and spawning) so that a Ctrl-C cleanup racing a
    // normal `stop()` waits for the server to be really gone before the process exits, and no directory or child
    // can come into being in a sandbox that is already being removed.
    private let state = Mutex(State())

    /// What runs in it, for messages (`mariadbd`, `haproxy`).
    let program: String

    /// An empty sandbox: register its teardown first, then `create` it, so a Ctrl-C at any moment finds it.
    init(program: String = "mariadbd") { self.program = program }

    /// Root of the sandbox (empty before `create`); everything the server writes lives below it.
    var directory: String {
        state.withLock { $0.directory ?? "" }
    }

    /// Remembers the cleanup registration, so teardown can drop it.
    func attach(_ token: CleanupRegistry.Token) {
        state.withLock { $0.token = token }
    }

    /// Makes the directory (with `make`, which returns it and its held owner lock), unless teardown already began.
    func create(_ make: () throws(ServerError) -> (directory: String, lock: OwnerLock)) throws(ServerError) -> String {
        try state.withLock { (state) throws(ServerError) -> String in
            guard !state.tornDown else {
                throw ServerError(.startFailed, "\(program) start was interrupted by cleanup; run the command again")
            }
            let made = try make()
            state.directory = made.directory
            state.lock = made.lock
            if let token = state.token {
                CleanupRegistry.shared.rename(token, to: "\(program) sandbox \(made.directory)")
            }
            return made.directory
        }
    }

    /// Spawns a child as the sandbox's current process, unless teardown already began.
    func launch(teardownGrace: Duration? = nil, _ spawn: () throws(ServerError) -> ChildProcess) throws(ServerError)
        -> ChildProcess
    {
        try state.withLock { (state) throws(ServerError) -> ChildProcess in
            guard !state.tornDown else {
                throw ServerError(.startFailed, "\(program) start was interrupted by cleanup; run the command again")
            }
            let child = try spawn()
            state.child = child
            state.teardownGrace = teardownGrace
            return child
        }
    }

    /// Forgets a child that has already been reaped, so teardown does not signal a recycled pid.
    func release(_ child: ChildProcess) {
        state.withLock { state in
            if state.child?.pid == child.pid { state.child = nil }
        }
    }

    /// How the current child ended, if it ended on its own (reaped here, so teardown never signals a recycled
    /// pid); nil while it runs. Cheap: one `waitpid(WNOHANG)`.
    /// The current child's pid, if one runs.
    var currentPID: pid_t? { state.withLock { $0.child?.pid } }

    func reapIfEnded() -> ChildProcess.Exit? {
        state.withLock { state in
            if let ended = state.ended { return ended }
            guard !state.tornDown, let child = state.child, let exit = child.poll() else { return nil }
            state.child = nil
            state.ended = exit
            return exit
        }
    }

    /// Stops the current child on purpose and keeps the directory (a planned server restart): SIGTERM and up to
    /// `grace` for a clean shutdown, or SIGKILL at once (`grace` nil: a crash). Returns how it ended, or nil when
    /// there was no child (teardown began, or it had already ended).
    func halt(grace: Duration?) -> ChildProcess.Exit? {
        state.withLock { state in
            guard !state.tornDown, let child = state.child else { return nil }
            let exit: ChildProcess.Exit
            if let grace {
                exit = child.terminate(grace: grace)
            } else {
                killpg(child.pid, SIGKILL)
                exit = child.wait(until: .now + .seconds(10)) ?? .signaled(SIGKILL)
            }
            state.child = nil
            return exit
        }
    }

    /// Stops the current child (SIGTERM, then SIGKILL after `grace`), removes the directory, unregisters. Idempotent.
    func teardown(grace: Duration = .seconds(10)) {
        state.withLock { state in
            guard !state.tornDown else { return }
            state.tornDown = true
            state.child?.terminate(grace: state.teardownGrace.map { min($0, grace) } ?? grace)
            state.child = nil
            if let directory = state.directory { Self.removeDirectory(directory) }
            // Unlocked only once the directory is gone: until then a sweeper sees a live owner.
            state.lock?.release(removingFile: false)
            state.lock = nil
            if let token = state.token {
                CleanupRegistry.shared.unregister(token)
                state.token = nil
            }
        }
    }

    /// Removes a sandbox directory, its owner lock file last, so it never looks unowned while anything is left in it.
    static func removeDirectory(_ directory: String) {
        // A process killed a moment ago may still have a file being closed by the kernel; a second pass catches
        // entries that appeared while the first pass walked the tree.
        for _ in 0..<3 {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names where name != lockName {
                try? FileManager.default.removeItem(atPath: directory + "/" + name)
            }
            if (try? FileManager.default.contentsOfDirectory(atPath: directory))?.allSatisfy({ $0 == lockName })
                ?? false
            {
                unlink(directory + "/" + lockName)
                rmdir(directory)
            }
            if !FileManager.default.fileExists(atPath: directory) { return }
            usleep(50_000)
        }
    }

    /// True once teardown has run.
    var isTornDown: Bool {
        state.withLock { $0.tornDown }
    }
}
