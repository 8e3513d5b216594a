import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What docs/adapters.md promises of every adapter, checked by driving the protocol directly (no scenario, no
/// fault of repro's): an adapter that passes works with every fault. `repro drivers --conformance NAME` and the
/// test suite run it; each check says what it saw.
public enum AdapterConformance {
    /// One promise and whether the adapter kept it.
    public struct Check: Sendable, Equatable {
        public var name: String
        public var passed: Bool
        public var detail: String
    }

    /// Where the checks run: a server, and an account of their own on it whose password is the secret watched for.
    public struct Setup: Sendable {
        public var target: AdapterTarget
        /// Kills one server thread (KILL CONNECTION on an admin connection): how connections die while the pool idles.
        public var kill: @Sendable (UInt64) throws(RunError) -> Void
        public var nodePath: String?
        public var libraryPath: String?

        public init(
            target: AdapterTarget, nodePath: String? = nil, libraryPath: String? = nil,
            kill: @escaping @Sendable (UInt64) throws(RunError) -> Void
        ) {
            self.target = target
            self.nodePath = nodePath
            self.libraryPath = libraryPath
            self.kill = kill
        }
    }

    /// The promises, in the order they are checked.
    public static let promises = [
        helloNames, helloVersions, helloOptions, unknownOption, warmsAtOnce, hungRunDoesNotBlock, verbatimError,
        heldConnection, armAndCollect, idleEvents, answersMatchIDs, eofExits, passwordStaysSecret,
    ]
    public static let helloNames = "hello names its protocol, driver, pool and runtime, each with a version"
    public static let helloVersions = "hello's versions are the ones check read from package metadata"
    public static let helloOptions = "hello lists every option key with a description"
    public static let unknownOption = "an unknown option key is a usage error naming every known key"
    public static let warmsAtOnce = "warm checks out that many connections at the same time"
    public static let hungRunDoesNotBlock = "a run that hangs does not delay an unrelated request"
    public static let verbatimError =
        "a failed query answers the driver's error verbatim, with its class, never as an acquire failure"
    public static let heldConnection = "hold keeps one connection for held runs"
    public static let armAndCollect = "arm runs a batch on the adapter's own timer and collect answers its results"
    public static let idleEvents = "events that arrive while the pool idles carry a kind and a verbatim message"
    public static let answersMatchIDs = "every line is protocol JSON and every answer matches a request id"
    public static let eofExits = "stdin EOF ends the adapter promptly, with exit status 0"
    public static let passwordStaysSecret =
        "the password reaches no argv, environment or stderr of the adapter's processes"

    /// How long a request may take here: generous, since a JVM starts slowly on a loaded machine.
    static let deadline = Duration.seconds(30)

    /// Runs every promise against `adapter`, each once; never throws: an adapter that cannot start fails them all.
    public static func run(_ adapter: AdapterDefinition, setup: Setup) -> [Check] {
        var checks: [Check] = []
        func check(_ name: String, _ passed: Bool, _ detail: String) {
            checks.append(Check(name: name, passed: passed, detail: detail))
        }
        let events = EventSink()
        let environment = AdapterCatalog.childEnvironment(nodePath: setup.nodePath, libraryPath: setup.libraryPath)
        let secret = setup.target.password

        // 1. A process that is only asked to open with an unknown key.
        var hello: AdapterMessage.Hello?
        do {
            let first = try AdapterProcess(
                name: adapter.name, executable: adapter.runPath, environment: environment
            ) { _, _ in }
            defer { first.stop() }
            guard case .answer(let line) = first.request("hello", deadline: deadline) else {
                return failAll("hello was not answered within \(deadline): \(first.stderrTail)")
            }
            switch line.decoded(as: AdapterMessage.Hello.self) {
            case .success(let decoded): hello = decoded
            case .failure(let failure): return failAll("hello's answer is not the protocol's: \(failure.reason)")
            }
            let known = hello?.optionKeys ?? []
            let bogus = "repro.conformance.no-such-option"
            let reply = first.request(
                "open", open(setup.target, size: 1, options: [bogus: "1"]), deadline: deadline)
            if case .answer(let answer) = reply,
                case .success(let status) = answer.decoded(as: AdapterMessage.Status.self)
            {
                let message = status.error?.message ?? ""
                // A family of keys may be named by its prefix (`dataSource.<Connector/J property>`).
                let missing = known.filter { key in
                    !message.contains(key) && !(key.contains(".") && message.contains(key.prefix { $0 != "." } + "."))
                }
                check(
                    unknownOption,
                    status.ok == false && status.error?.usage == true && message.contains(bogus) && missing.isEmpty,
                    status.ok == false && status.error?.usage == true
                        ? (missing.isEmpty && message.contains(bogus)
                            ? "'\(message)'"
                            : "the message '\(message)' lacks \(((message.contains(bogus) ? [] : [bogus]) + missing).joined(separator: ", "))")
                        : "answered \(describe(answer)) instead of a usage error")
            } else {
                check(unknownOption, false, "open with an unknown key got no readable answer (\(reply))")
            }
        } catch {
            return failAll("the adapter did not start: \(error.message)")
        }
        guard let hello else { return checks }

        let named: [(String, String?)] = [
            ("driver", hello.driver), ("driverVersion", hello.driverVersion), ("pool", hello.pool),
            ("poolVersion", hello.poolVersion), ("runtime", hello.runtime), ("runtimeVersion", hello.runtimeVersion),
        ]
        let empty = named.filter { ($0.1 ?? "").isEmpty || $0.1 == "unknown" }.map(\.0)
        check(
            helloNames, hello.protocol == 1 && empty.isEmpty,
            hello.protocol != 1
                ? "protocol is \(hello.protocol.map(String.init) ?? "missing"), not 1"
                : empty.isEmpty
                    ? named.map { "\($0.0)=\($0.1 ?? "")" }.joined(separator: ", ")
                    : "missing or unknown: \(empty.joined(separator: ", "))")
        let report = AdapterCatalog.check(adapter, nodePath: setup.nodePath, libraryPath: setup.libraryPath)
        let checked = Set(
            report.lines.compactMap { line -> String? in
                let words = line.split(separator: " ")
                return words.count >= 3 && words[0] == "ok" ? String(words[2]) : nil
            })
        let claimed = [hello.driverVersion, hello.poolVersion].compactMap { $0 }
        let unverified = claimed.filter { !checked.contains($0) }
        check(
            helloVersions, report.available && !claimed.isEmpty && unverified.isEmpty,
            unverified.isEmpty
                ? "check printed \(report.lines.joined(separator: "; "))"
                : "hello says \(unverified.joined(separator: ", ")), which check (\(report.lines.joined(separator: "; "))) does not print"
        )
        let undescribed = (hello.options ?? [:]).filter { $0.value.trimmingCharacters(in: .whitespaces).isEmpty }.keys
        check(
            helloOptions, !(hello.options ?? [:]).isEmpty && undescribed.isEmpty,
            (hello.options ?? [:]).isEmpty
                ? "no options listed"
                : undescribed.isEmpty
                    ? "\(hello.optionKeys.count) keys: \(hello.optionKeys.joined(separator: ", "))"
                    : "no description for \(undescribed.sorted().joined(separator: ", "))")

        // 2. A process driven through every operation.
        let process: AdapterProcess
        do {
            process = try AdapterProcess(name: adapter.name, executable: adapter.runPath, environment: environment) {
                line, lateFor in
                events.add(line, late: lateFor != nil)
            }
        } catch {
            check(warmsAtOnce, false, "the adapter did not start again: \(error.message)")
            return checks
        }
        defer { process.stop() }
        _ = process.request("hello", deadline: deadline)
        let size = 2
        let opened = process.request("open", open(setup.target, size: size, options: [:]), deadline: deadline)
        guard case .answer(let openAnswer) = opened,
            case .success(let openStatus) = openAnswer.decoded(as: AdapterMessage.Status.self), openStatus.ok == true
        else {
            check(warmsAtOnce, false, "open was refused or not answered: \(opened)")
            return checks
        }

        var threads: [UInt64] = []
        let warm = process.request("warm", ["count": .number(Double(size))], deadline: deadline)
        if case .answer(let line) = warm, case .success(let warmed) = line.decoded(as: AdapterMessage.Warmed.self) {
            threads = warmed.threadIds ?? []
            check(
                warmsAtOnce, Set(threads).count == size && threads.allSatisfy { $0 > 0 },
                "thread ids \(threads.map(String.init).joined(separator: ", ")) for warm count \(size)")
        } else {
            check(warmsAtOnce, false, "warm: \(warm)")
        }

        // A run that sleeps on the server stands for one that hangs on a dead socket.
        let started = ContinuousClock.now
        let slow = process.send(
            "run", ["operation": .number(1), "sql": .string("SELECT SLEEP(3)"), "held": .bool(false)])
        usleep(200_000)
        let quick = process.request(
            "run", ["operation": .number(2), "sql": .string("SELECT 1"), "held": .bool(false)], deadline: deadline)
        let quickAfter = ContinuousClock.now - started
        let slowReply = process.wait(slow, deadline: deadline)
        let slowAfter = ContinuousClock.now - started
        let quickOK = runOK(quick)
        check(
            hungRunDoesNotBlock, quickOK && runOK(slowReply) && quickAfter < .milliseconds(2500),
            "SELECT 1 answered \(quickOK ? "ok" : "\(quick)") \(ms(quickAfter)) ms after a SELECT SLEEP(3) began, which answered after \(ms(slowAfter)) ms"
        )

        let broken = process.request(
            "run", ["operation": .number(3), "sql": .string("SELEC 1"), "held": .bool(false)], deadline: deadline)
        if case .answer(let line) = broken, case .success(let result) = line.decoded(as: AdapterMessage.RunResult.self)
        {
            let error = result.error
            let message = error?.message ?? ""
            let verbatim = message.contains("You have an error in your SQL syntax")
            let mentionsErrno =
                error?.errno == 1064 || message.contains("1064") || (error?.cause ?? "").contains("1064")
            check(
                verbatimError,
                result.ok == false && verbatim && mentionsErrno && !(error?.errorClass ?? "").isEmpty
                    && error?.phase != "acquire",
                "class \(error?.errorClass ?? "none"), errno \(error?.errno.map(String.init) ?? "null"), phase \(error?.phase ?? "null"): '\(message.prefix(160))'"
            )
        } else {
            check(verbatimError, false, "SELEC 1: \(broken)")
        }

        let hold = process.request("hold", deadline: deadline)
        let heldRun = process.request(
            "run", ["operation": .number(4), "sql": .string("SELECT 1"), "held": .bool(true)], deadline: deadline)
        if case .answer(let line) = hold, case .success(let held) = line.decoded(as: AdapterMessage.Held.self),
            let id = held.threadId
        {
            check(
                heldConnection, runOK(heldRun),
                "held thread \(id); a held run answered \(runOK(heldRun) ? "ok" : "\(heldRun)")")
        } else {
            check(heldConnection, false, "hold: \(hold)")
        }

        let armed = process.request(
            "arm", ["count": .number(2), "sql": .string("SELECT 1"), "delayMs": .number(300)], deadline: deadline)
        let armedAt = ContinuousClock.now
        let collected = process.request("collect", deadline: deadline)
        let collectedAfter = ContinuousClock.now - armedAt
        if case .answer(let line) = collected,
            case .success(let results) = line.decoded(as: AdapterMessage.Results.self),
            case .answer(let armLine) = armed,
            case .success(let armStatus) = armLine.decoded(as: AdapterMessage.Status.self)
        {
            let all = results.results ?? []
            check(
                armAndCollect,
                armStatus.ok == true && all.count == 2 && all.allSatisfy { $0.ok == true }
                    && collectedAfter >= .milliseconds(250),
                "arm \(armStatus.ok == true ? "ok" : armStatus.message); collect answered \(all.count) result(s) \(ms(collectedAfter)) ms after arm's answer"
            )
        } else {
            check(armAndCollect, false, "arm: \(armed); collect: \(collected)")
        }

        // Connections die while the pool idles: whatever the stack reports on its own must be well formed.
        var killed = 0
        for id in threads {
            do throws(RunError) {
                try setup.kill(id)
                killed += 1
            } catch {}
        }
        usleep(1_500_000)
        let seen = events.all.filter { !$0.late }
        let malformed = seen.filter { ($0.event.kind ?? "").isEmpty || ($0.event.message ?? "").isEmpty }
        check(
            idleEvents, malformed.isEmpty,
            malformed.isEmpty
                ? "\(seen.count) event(s) after \(killed) idle connection(s) were killed\(seen.first.map { ": first '\($0.event.description.prefix(120))'" } ?? " (this stack reports nothing while idle)")"
                : "an event without a kind or message: \(malformed.first.map { $0.event.description } ?? "")")

        // Processes of the adapter's group, read while they still run.
        let group = processGroupMembers(process.processGroup)
        var leaks: [String] = []
        for pid in group {
            for file in ["cmdline", "environ"] {
                if let text = ProcessSockets.readAll("/proc/\(pid)/\(file)"), text.contains(secret) {
                    leaks.append("/proc/\(pid)/\(file)")
                }
            }
        }
        let closeReply = process.request("close", deadline: deadline)
        let failure = process.failureReason
        check(
            answersMatchIDs, failure == nil,
            failure == nil
                ? "close answered \(runOK(closeReply) ? "ok" : "\(closeReply)")" : "the adapter \(failure ?? "")")
        let endStarted = ContinuousClock.now
        let exit = process.endInput(waitingUpTo: .seconds(3))
        let endAfter = ContinuousClock.now - endStarted
        if process.stderrLines.contains(where: { $0.contains(secret) }) { leaks.append("stderr") }
        check(
            eofExits, exit == .exited(0),
            exit.map { "\($0) \(ms(endAfter)) ms after EOF" } ?? "still running 3 s after EOF (then stopped)")
        check(
            passwordStaysSecret, leaks.isEmpty && !group.isEmpty,
            leaks.isEmpty
                ? "looked in \(group.count) process(es) and stderr" : "found in \(leaks.joined(separator: ", "))")
        let order = Dictionary(uniqueKeysWithValues: promises.enumerated().map { ($1, $0) })
        return checks.sorted { order[$0.name, default: 0] < order[$1.name, default: 0] }

        func failAll(_ why: String) -> [Check] {
            promises.map { Check(name: $0, passed: false, detail: why) }
        }
    }

    /// Starts an embedded server of its own, creates an account with a distinctive password on it (the secret the
    /// checks watch for), runs `body`, and stops the server. Never on a server repro did not start: it creates a user.
    public static func onEmbeddedServer<T>(nodePath: String?, _ body: (Setup) throws(RunError) -> T) throws(RunError)
        -> T
    {
        let server: ManagedServer
        do {
            server = try ManagedServer.start()
        } catch {
            throw .environment("cannot start the embedded server for the conformance checks: \(error)")
        }
        defer { server.stop() }
        let e = server.endpoint
        let password = "conformance-\(UUID().uuidString.prefix(12))"
        do throws(DatabaseError) {
            let admin = try MariaDBConnection(
                options: ConnectionOptions(host: e.host, port: e.port, user: e.user, password: e.password))
            defer { admin.close() }
            for host in ["localhost", "127.0.0.1"] {
                _ = try admin.query("CREATE USER 'repro_conformance'@'\(host)' IDENTIFIED BY '\(password)'")
            }
        } catch {
            throw .environment("cannot create the conformance account on the embedded server: \(error.message)")
        }
        let setup = Setup(
            target: AdapterTarget(
                host: e.host, port: e.port, user: "repro_conformance", password: password, database: nil),
            nodePath: nodePath
        ) { id throws(RunError) in
            do throws(DatabaseError) {
                let admin = try MariaDBConnection(
                    options: ConnectionOptions(host: e.host, port: e.port, user: e.user, password: e.password))
                defer { admin.close() }
                _ = try admin.query("KILL CONNECTION \(id)")
            } catch {
                throw .environment("KILL \(id): \(error.message)")
            }
        }
        return try body(setup)
    }

    static func open(_ target: AdapterTarget, size: Int, options: [String: String]) -> [String: JSONValue] {
        JSONValue(encoding: AdapterMessage.Open(target: target, poolSize: size, initSql: [], options: options)).object
            ?? [:]
    }

    static func runOK(_ reply: AdapterReply) -> Bool {
        guard case .answer(let line) = reply,
            case .success(let result) = line.decoded(as: AdapterMessage.RunResult.self)
        else { return false }
        return result.ok == true
    }

    static func describe(_ line: JSONValue) -> String { String(AdapterPool.describe(line).prefix(200)) }

    static func ms(_ d: Duration) -> Int { Int(EventLog.milliseconds(d)) }

    /// The pids whose process group is `group` (the adapter leads its own).
    static func processGroupMembers(_ group: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { ProcessSockets.processGroup(of: $0) == group }.sorted()
    }

    /// Lines the adapter sent on its own, collected from its reader thread.
    final class EventSink: Sendable {
        struct Seen: Sendable {
            var event: AdapterMessage.Event
            var late: Bool
        }
        private let seen = Mutex<[Seen]>([])
        func add(_ line: JSONValue, late: Bool) { seen.withLock { $0.append(Seen(event: .init(line), late: late)) } }
        var all: [Seen] { seen.withLock { $0 } }
    }
}
