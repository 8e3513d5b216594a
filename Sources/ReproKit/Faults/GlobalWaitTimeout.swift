import Foundation
import Synchronization

/// The global-scope wait_timeout fault: `SET GLOBAL wait_timeout` for one scenario, and the old value put back.
///
/// What keeps a shared server safe:
/// - One admin connection, opened before the fault and kept until the value is back: the restore needs no new
///   connection, which an account locked meanwhile or a pool holding every connection slot would refuse.
/// - The named server lock `repro.global_wait_timeout`, taken on that connection before the original value is read
///   and held until after the restore: global-scope runs on one server take turns, so each reads the true original.
///   The server releases the lock when its connection dies, so a lock that can be taken means no live owner, on
///   any machine and in any PID namespace.
/// - On a server repro did not start, the original value is written to `/tmp/repro-state/` before `SET GLOBAL` and
///   removed after a verified restore: a run killed outright leaves it, and the next run that takes the lock puts
///   the value back and says so.
/// - The restore is read back. When the value is not back, one line says what is left, where, and the statement to
///   run by hand (on stderr and in the timeline), and the run exits 3 (`CleanupRegistry.recordFailure`).
public final class GlobalWaitTimeout: Sendable {
    /// The server-wide lock every global-scope run takes (`GET_LOCK`).
    public static let lockName = "repro.global_wait_timeout"
    /// Where the original values of running global-scope scenarios are recorded, one file per server.
    public static let stateDirectory = "/tmp/repro-state"
    /// How long a run waits for another run's global-scope scenario before giving up (exit 3).
    public static let defaultLockWait: Duration = .seconds(300)
    /// The kept connection's own wait_timeout (the server's maximum): it must outlive any idle time.
    static let keptSessionTimeout = 31_536_000

    /// The value before this run changed it.
    public let original: Int
    /// The value this run sets.
    public let value: Int
    private let address: String
    private let admin: MariaDBConnection
    private let statePath: String?
    private let reconnect: @Sendable () throws(RunError) -> MariaDBConnection
    private let state = Mutex<State>(State())

    private struct State {
        var token: CleanupRegistry.Token?
        /// Set once the restore ran: whether the value is back.
        var restored: Bool?
    }

    /// What is written to the state file: enough for the next run to put the value back and to say what it did.
    struct Record: Codable {
        var original: Int
        var value: Int
        var server: String
        var pid: Int32
        var since: String
    }

    private init(
        original: Int, value: Int, address: String, admin: MariaDBConnection, statePath: String?,
        reconnect: @escaping @Sendable () throws(RunError) -> MariaDBConnection
    ) {
        self.original = original
        self.value = value
        self.address = address
        self.admin = admin
        self.statePath = statePath
        self.reconnect = reconnect
    }

    /// Takes the lock (waiting up to `lockWait`), puts back a value a killed run left, records the original and
    /// sets the global `wait_timeout` to `seconds`. `notice` gets the lines a user should see (waiting for another
    /// run, a value put back). The restore is registered for Ctrl-C; call `restore(log:)` when the scenario ends.
    public static func set(
        _ seconds: Int, runner: ScenarioRunner, log: EventLog, lockWait: Duration = defaultLockWait,
        notice: (String) -> Void = { _ in }
    ) throws(RunError) -> GlobalWaitTimeout {
        let endpoint = runner.endpoint
        let address = endpoint.address
        let admin = try runner.adminConnection(readTimeout: 30)
        var kept = false
        // Closing the connection also releases the lock.
        defer { if !kept { admin.close() } }
        do {
            try admin.query("SET SESSION wait_timeout=\(keptSessionTimeout)")
        } catch {
            throw .environment("cannot prepare the admin connection at \(address): \(error.message)")
        }
        try takeLock(admin, address: address, wait: lockWait) { line in
            log.record(.scenario, detail: line)
            notice(line)
        }
        // The embedded server dies with its run (and its sandbox is swept): nothing to record for it.
        var statePath: String?
        if !endpoint.managed {
            statePath = try Self.statePath(of: admin, address: address)
            if let statePath, let line = try restoreLeftover(path: statePath, admin: admin, address: address) {
                log.record(.scenario, detail: line)
                notice(line)
            }
        }
        let text: String?
        do {
            text = try admin.query("SELECT @@GLOBAL.wait_timeout").first?.first ?? nil
        } catch {
            throw .environment("cannot read the global wait_timeout at \(address): \(error.message)")
        }
        guard let text, let original = Int(text) else {
            throw .environment("cannot read the global wait_timeout at \(address): no number came back")
        }
        if let statePath {
            let record = Record(
                original: original, value: seconds, server: address, pid: getpid(),
                since: ISO8601DateFormatter().string(from: Date()))
            let data: Data
            do {
                data = try JSONEncoder().encode(record)
            } catch {
                throw .environment("cannot encode the global wait_timeout record: \(error)")
            }
            do throws(RunError) {
                try FileOutput.makeDirectories(stateDirectory)
                try FileOutput.write(data, to: statePath)
            } catch {
                throw .environment(
                    "cannot record the original global wait_timeout before changing it: \(error.message); fix the permissions of \(stateDirectory)"
                )
            }
        }
        let fault = GlobalWaitTimeout(
            original: original, value: seconds, address: address, admin: admin, statePath: statePath
        ) { () throws(RunError) in try runner.adminConnection() }
        kept = true
        // Registered before SET GLOBAL: a Ctrl-C between the two puts back a value that did not change, harmlessly.
        let token = CleanupRegistry.shared.register("restore global wait_timeout") { _ = fault.restore(log: log) }
        // Under the state lock: a Ctrl-C now waits for this statement instead of using the connection beside it.
        let failure = fault.state.withLock { state -> DatabaseError? in
            state.token = token
            do throws(DatabaseError) {
                try admin.query("SET GLOBAL wait_timeout=\(seconds)")
                return nil
            } catch {
                // Nothing changed: nothing to put back.
                state.restored = true
                CleanupRegistry.shared.unregister(token)
                if let statePath { unlink(statePath) }
                admin.close()
                return error
            }
        }
        if let failure {
            throw .environment(
                "cannot set the global wait_timeout at \(address): \(failure.message); use --scope session or a user with SUPER/SYSTEM_VARIABLES_ADMIN"
            )
        }
        log.record(.scenario, detail: "SET GLOBAL wait_timeout=\(seconds) (was \(original))")
        return fault
    }

    /// Puts the original value back on the kept connection (a new one only if that one is gone), reads it back,
    /// then removes the record and releases the lock. Runs once; later calls return the first outcome. When the
    /// value is not back, records the failure (exit 3) with the statement to run by hand. True when it is back.
    @discardableResult
    public func restore(log: EventLog) -> Bool {
        // Held for the whole restore: the main thread and a Ctrl-C must not both use the kept connection.
        state.withLock { state in
            if let restored = state.restored { return restored }
            let restored = putBack(log: log)
            state.restored = restored
            if let token = state.token { CleanupRegistry.shared.unregister(token) }
            return restored
        }
    }

    private func putBack(log: EventLog) -> Bool {
        var problems: [String] = []
        var current: String?
        func attempt(_ connection: MariaDBConnection) -> Bool {
            do {
                try connection.query("SET GLOBAL wait_timeout=\(original)")
            } catch {
                problems.append(error.message)
            }
            // Read back whatever happened: the value is what counts, and the failure line says what is left.
            guard let text = try? connection.query("SELECT @@GLOBAL.wait_timeout").first?.first ?? nil else {
                return false
            }
            current = text
            if text == "\(original)" { return true }
            problems.append("read back \(text)")
            return false
        }
        var back = attempt(admin)
        // The record goes while the lock is held: a run waiting for the lock must not find it and restore again.
        if back, let statePath { unlink(statePath) }
        // Released before the close: the server drops a closed connection's locks only once it has noticed the
        // close, and a run waiting for the lock (or a check right after) would wait for that.
        _ = try? admin.query("SELECT RELEASE_LOCK('\(Self.lockName)')")
        admin.close()
        var detail = "restored; read back \(original)"
        if !back {
            // The kept connection is gone, and the lock with it: take the lock again before touching anything.
            do {
                let fresh = try reconnect()
                defer { fresh.close() }
                let relocked = (try? fresh.query("SELECT GET_LOCK('\(Self.lockName)', 0)").first?.first ?? nil) == "1"
                if relocked || statePath == nil {
                    back = attempt(fresh)
                    if back, let statePath { unlink(statePath) }
                    detail = "restored on a new connection; read back \(original)"
                } else if let statePath, Self.removed(statePath, within: .seconds(5)) {
                    // Another run took the lock meanwhile, found this run's record and put the value back.
                    back = true
                    detail = "put back by another repro run that took the lock after this run's admin connection died"
                } else {
                    problems.append("another repro run holds the server lock '\(Self.lockName)'")
                }
            } catch {
                problems.append(error.message)
            }
        }
        if back {
            log.record(.scenario, detail: "SET GLOBAL wait_timeout=\(original) (\(detail))")
            return true
        }
        let left = current.map { "is \($0)" } ?? "is probably still \(value)"
        let line =
            "RESTORE FAILED: the global wait_timeout at \(address) \(left), not \(original) (\(problems.joined(separator: " | ")))"
            + (statePath == nil ? "" : "; the next repro run on this server tries again")
            + "; run by hand: SET GLOBAL wait_timeout=\(original);"
        log.record(.scenario, detail: line)
        CleanupRegistry.shared.recordFailure(line)
        return false
    }

    // MARK: - The lock and the record

    /// True once `path` is gone, polling every 50 ms for at most `bound`.
    private static func removed(_ path: String, within bound: Duration) -> Bool {
        let deadline = ContinuousClock.now + bound
        while FileManager.default.fileExists(atPath: path) {
            if ContinuousClock.now >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return true
    }

    /// `GET_LOCK` in rounds of at most 1 s until `wait` is over; one line (through `waiting`) when another run has it.
    private static func takeLock(
        _ admin: MariaDBConnection, address: String, wait: Duration, waiting: (String) -> Void
    ) throws(RunError) {
        let start = ContinuousClock.now
        var round = 0
        while true {
            let got: String?
            do {
                got = try admin.query("SELECT GET_LOCK('\(lockName)', \(round == 0 ? 0 : 1))").first?.first ?? nil
            } catch {
                throw .environment("cannot take the server lock '\(lockName)' at \(address): \(error.message)")
            }
            if got == "1" { return }
            guard got == "0" else {
                throw .environment("cannot take the server lock '\(lockName)' at \(address): GET_LOCK returned NULL")
            }
            let bound = Int(wait.components.seconds)
            if round == 0 {
                waiting(
                    "waiting for another repro run's global wait_timeout scenario on \(address) to finish (up to \(bound) s)"
                )
            }
            round += 1
            if ContinuousClock.now - start >= wait {
                throw .environment(
                    "another repro run's global wait_timeout scenario on \(address) held the server lock '\(lockName)' for more than \(bound) s: let it finish, or find its connection with SELECT IS_USED_LOCK('\(lockName)')"
                )
            }
        }
    }

    /// The record's path for the server behind `admin`: keyed by what the server says it is (host name, port, data
    /// directory), so 127.0.0.1, localhost and a socket path find the same file.
    private static func statePath(of admin: MariaDBConnection, address: String) throws(RunError) -> String {
        let row: [String?]
        do {
            row = try admin.query("SELECT @@hostname, @@port, @@datadir").first ?? []
        } catch {
            throw .environment("cannot read the server's identity at \(address): \(error.message)")
        }
        let identity = row.map { $0 ?? "" }.joined(separator: "|")
        return stateDirectory + "/global-wait-timeout-" + stableHash(identity) + ".json"
    }

    /// With the lock held on `admin`: puts back the value a run left when it died before its restore, and removes
    /// its record. Returns the one line saying so, or nil when there was no record.
    private static func restoreLeftover(path: String, admin: MariaDBConnection, address: String) throws(RunError)
        -> String?
    {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let record = try? JSONDecoder().decode(Record.self, from: data) else {
            unlink(path)
            return "removed an unreadable record of a global wait_timeout at \(path)"
        }
        var current: String?
        var problem = ""
        do {
            let before = try admin.query("SELECT @@GLOBAL.wait_timeout").first?.first ?? nil
            // A run stopped between writing its record and changing the value left nothing to put back.
            if before == "\(record.original)" {
                unlink(path)
                return nil
            }
            try admin.query("SET GLOBAL wait_timeout=\(record.original)")
            current = try admin.query("SELECT @@GLOBAL.wait_timeout").first?.first ?? nil
            if current == "\(record.original)" {
                unlink(path)
                let line =
                    "restored the global wait_timeout at \(address) to \(record.original) (it was \(before ?? "unknown")): a repro run (pid \(record.pid), since \(record.since)) ended before putting it back"
                return line
            }
            problem = "read back \(current ?? "NULL")"
        } catch {
            problem = error.message
        }
        throw .environment(
            "a repro run (pid \(record.pid)) ended before putting back the global wait_timeout at \(address), and putting back \(record.original) failed (\(problem)); run by hand: SET GLOBAL wait_timeout=\(record.original);"
        )
    }

    /// For a session on a server repro did not start: when a record is there and its lock is free (its run is dead),
    /// puts the value back. Returns the one line to show, or nil when there was nothing to do. Never fails the run:
    /// a restore that does not work comes back as the line to show.
    public static func restoreLeftover(on admin: MariaDBConnection, endpoint: ServerEndpoint) -> String? {
        guard !endpoint.managed else { return nil }
        guard let path = try? statePath(of: admin, address: endpoint.address),
            FileManager.default.fileExists(atPath: path)
        else { return nil }
        // Taken: a live run owns the record and will put the value back itself.
        guard (try? admin.query("SELECT GET_LOCK('\(lockName)', 0)").first?.first ?? nil) == "1" else { return nil }
        defer { _ = try? admin.query("SELECT RELEASE_LOCK('\(lockName)')") }
        do {
            return try restoreLeftover(path: path, admin: admin, address: endpoint.address)
        } catch {
            return error.message
        }
    }
}
