import Dispatch
import Foundation
import Synchronization

/// Where and as whom an adapter's pool connects; the password goes to the adapter on stdin only.
public struct AdapterTarget: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var database: String?

    public init(host: String, port: Int, user: String, password: String, database: String?) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }
}

/// A real driver stack in an adapter child process (docs/adapters.md) as the pool under test.
public final class AdapterPool: PoolUnderTest {
    public let client: Report.Client
    public let size: Int
    private let process: AdapterProcess
    private let log: any RunObserver
    private let deadline: Duration
    /// The least `hello` is given: it is the adapter's start (a runtime booting, its library loading), which a loaded
    /// machine can make take seconds, not an operation of the pool; a short `--driver-deadline` is for those.
    static let startDeadline: Duration = .seconds(10)
    private let name: String

    /// Starts the adapter, checks `hello`, validates the options against the keys it knows, opens the pool.
    public convenience init(
        adapter: AdapterDefinition, choice: DriverChoice, nodePath: String?, target: AdapterTarget, size: Int,
        initSQL: [String], log: any RunObserver, launcher: [String] = []
    ) throws(RunError) {
        var chosen = choice
        if chosen.libraryPath == nil, let spec = chosen.version {
            chosen.libraryPath = try DriverReleases.resolve(adapter, spec: spec, nodePath: nodePath).libraryPath
        }
        try Self.prepare(adapter, nodePath: nodePath, libraryPath: chosen.libraryPath)
        try self.init(
            name: adapter.name, executable: adapter.runPath, arguments: [], nodePath: nodePath, choice: chosen,
            layouts: DriverReleases.layouts(adapter), extraOpen: [:], target: target, size: size, initSQL: initSQL,
            log: log, launcher: launcher)
    }

    /// Runs the adapter's `prepare` when it has one (docs/adapters.md "Releases": building the adapter against the
    /// release it is to load), bounded; its failure is an environment error with its last line.
    static func prepare(_ adapter: AdapterDefinition, nodePath: String?, libraryPath: String?) throws(RunError) {
        let script = adapter.directory + "/prepare"
        guard access(script, X_OK) == 0 else { return }
        let exit: ChildProcess.Exit
        let lines: [String]
        do {
            (exit, lines) = try AdapterCatalog.runScript(
                script, name: adapter.name, seconds: prepareLimitSeconds,
                environment: AdapterCatalog.childEnvironment(nodePath: nodePath, libraryPath: libraryPath))
        } catch {
            throw .environment("cannot run \(script): \(error.message)")
        }
        guard exit != .exited(0) else { return }
        let last = lines.last ?? "no output"
        throw .environment(
            exit == .exited(1) || exit == .exited(2) || exit == .exited(3)
                ? "the \(adapter.name) adapter could not be prepared: \(last)"
                : "the \(adapter.name) adapter's prepare did not finish in \(prepareLimitSeconds) s (\(last)): run \(script) by hand to see why"
        )
    }

    /// How long `prepare` may take (a first build of a Go adapter against a new release takes up to a minute).
    static let prepareLimitSeconds = 300

    /// repro's own pool with `policy`, served by `repro serve-pool` in a child process of its own (a freeze
    /// suspends it as it suspends a real stack's adapter).
    public convenience init(
        servingPolicy policy: PoolPolicy, target: AdapterTarget, size: Int, initSQL: [String], log: any RunObserver,
        launcher: [String] = []
    ) throws(RunError) {
        guard let executable = ReproPaths.reproExecutable else {
            throw .environment(
                "cannot find the repro executable to serve its pool in a child process: set REPRO_EXECUTABLE to it")
        }
        let encoded: JSONValue
        do {
            encoded = JSONValue.parse(try JSONEncoder().encode(policy)) ?? .null
        } catch {
            throw .environment("cannot encode the pool policy for the child process: \(error)")
        }
        // The deadline of one operation sits above the policy's own timeouts (a batch's is the sum of its
        // operations'): a validating borrow may try every dead idle connection (a read timeout each under a blackhole) before it
        // opens a new one.
        let deadline =
            Double(size * policy.readTimeout + policy.connectTimeout + policy.readTimeout + policy.writeTimeout) + 5
        try self.init(
            name: Self.servedPoolName, executable: executable, arguments: ["serve-pool"], nodePath: nil,
            choice: DriverChoice(name: Self.servedPoolName, deadline: deadline), extraOpen: ["policy": encoded],
            target: target, size: size, initSQL: initSQL, log: log, launcher: launcher)
    }

    /// The name repro's own pool goes by when it runs in a child process.
    public static let servedPoolName = "repro-pool"

    private init(
        name: String, executable: String, arguments: [String], nodePath: String?, choice: DriverChoice,
        layouts: [ReleaseLayout]? = nil, extraOpen: [String: JSONValue], target: AdapterTarget, size: Int,
        initSQL: [String], log: any RunObserver, launcher: [String] = []
    ) throws(RunError) {
        self.name = name
        self.size = size
        self.log = log
        let deadline = Duration.milliseconds(Int(choice.deadline * 1000))
        self.deadline = deadline
        let numbers = ConnectionNumbers()
        self.numbers = numbers
        // A launcher (`ip netns exec <namespace>`) execs the adapter in place: same pid, same process group.
        process = try AdapterProcess(
            name: name, executable: launcher.first ?? executable,
            arguments: launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [executable] + arguments,
            environment: AdapterCatalog.childEnvironment(nodePath: nodePath, libraryPath: choice.libraryPath)
        ) { line, lateFor in
            if let lateFor {
                log.record(.driverEvent, detail: "late answer to request \(lateFor): \(AdapterPool.describe(line))")
                return
            }
            let event = AdapterMessage.Event(line)
            if name == Self.servedPoolName, event.kind == "pool",
                let kind = event.fields["kind"]?.string.flatMap(PoolEvent.Kind.init(rawValue:))
            {
                // repro's own pool in a child process: its events keep their kind, connection and thread.
                log.record(
                    kind, connection: event.fields["connection"]?.int,
                    threadID: event.fields["threadId"]?.int.map(UInt64.init),
                    detail: event.message == kind.rawValue ? nil : event.message)
            } else {
                // A real pool's event, on the connection it names (its server thread), when it names one.
                let thread = event.fields["threadId"]?.int.flatMap { $0 > 0 ? UInt64($0) : nil }
                let fields = event.fields.compactMapValues { v in v.isNull ? nil : (v.string ?? AdapterPool.describe(v))
                }
                log.record(
                    driverEvent: PoolEvent.DriverEvent(
                        kind: event.kind ?? "event", message: event.message, fields: fields),
                    connection: numbers.number(thread), threadID: thread, detail: event.description)
            }
        }
        do throws(RunError) {
            let hello = try Self.decode(
                Self.answer(process, "hello", [:], deadline: max(deadline, Self.startDeadline), name: name),
                as: AdapterMessage.Hello.self,
                "hello", name: name)
            guard hello.protocol == 1 else {
                throw RunError.environment(
                    "the \(name) adapter speaks protocol \(hello.protocol.map(String.init) ?? "(none)"), not 1: update it (docs/adapters.md)"
                )
            }
            if let wanted = choice.version, !DriverReleases.matches(spec: wanted, hello: hello, layouts: layouts) {
                let loaded = DriverReleases.loaded(hello: hello, layouts: layouts)
                throw RunError.environment(
                    "the \(name) adapter loaded \(name)@\(loaded)\(choice.libraryPath.map { " from " + $0 } ?? ""), and the scenario is about \(name)@\(wanted): point driver.library (or --library) at that release, or stage it (repro drivers lists the releases found)"
                )
            }
            let known = hello.optionKeys
            var options = choice.options
            for (key, value) in choice.defaultOptions where known.contains(key) && options[key] == nil {
                options[key] = value
            }
            if let unknown = choice.options.keys.sorted().first(where: { !known.contains($0) }) {
                throw RunError.usage(
                    "unknown --driver-option '\(Report.cut(unknown))' for \(name): known options are \(known.joined(separator: ", "))"
                )
            }
            client = Report.Client(
                library: hello.driver ?? name, version: hello.driverVersion ?? "unknown", pool: hello.pool,
                poolVersion: hello.poolVersion, runtime: hello.runtime, runtimeVersion: hello.runtimeVersion,
                adapter: name, options: options)
            var open =
                JSONValue(
                    encoding: AdapterMessage.Open(target: target, poolSize: size, initSql: initSQL, options: options)
                ).object ?? [:]
            open.merge(extraOpen) { _, extra in extra }
            // repro's own pool in a child stamps its events on the run's clock from here (real adapters ignore it).
            if name == Self.servedPoolName { open["runMs"] = .number(log.ms()) }
            let opened = try Self.decode(
                Self.request(process, "open", open, deadline: deadline, name: name), as: AdapterMessage.Status.self,
                "open", name: name)
            if opened.ok != true {
                if opened.error?.usage == true { throw RunError.usage("\(name): \(opened.message)") }
                throw RunError.environment("the \(name) adapter could not create its pool: \(opened.message)")
            }
        } catch {
            process.stop()
            throw error
        }
        log.record(.scenario, detail: "pool under test: \(client.summary)")
    }

    public func warm() throws(RunError) -> [UInt64] {
        let answer = try Self.request(
            process, "warm", ["count": .number(Double(size))], deadline: deadline, name: name)
        let status = try Self.decode(answer, as: AdapterMessage.Status.self, "warm", name: name)
        guard status.ok == true else {
            let detail = status.error?.detail?.summary ?? "no error given"
            throw .environment("the \(name) pool could not open \(size) connection(s): \(detail)")
        }
        let ids = try Self.decode(answer, as: AdapterMessage.Warmed.self, "warm", name: name).threadIds ?? []
        reported.withLock { $0.formUnion(ids) }
        for id in ids { log.record(.connect, connection: connectionNumber(id), threadID: id, detail: "warmed") }
        return ids
    }

    /// The pool's connections numbered as repro numbers its own (1, 2, ... in the order their server threads were
    /// first seen: warm's first), so a real driver's timeline has a lane per connection.
    final class ConnectionNumbers: Sendable {
        private let numbers = Mutex<[UInt64: Int]>([:])

        func number(_ thread: UInt64?) -> Int? {
            guard let thread else { return nil }
            return numbers.withLock { numbers in
                if let n = numbers[thread] { return n }
                numbers[thread] = numbers.count + 1
                return numbers.count
            }
        }
    }
    private let numbers: ConnectionNumbers

    func connectionNumber(_ thread: UInt64?) -> Int? { numbers.number(thread) }

    /// The server thread ids the adapter reported for its connections (`warm`'s `threadIds`).
    public var reportedServerThreads: Set<UInt64> { reported.withLock { $0 } }
    private let reported = Mutex<Set<UInt64>>([])

    public func execute(_ sql: String, operation: Int, held: Bool) throws(RunError) -> OperationRecord {
        let started = log.ms()
        let reply = process.request(
            "run", ["operation": .number(Double(operation)), "sql": .string(sql), "held": .bool(held)],
            deadline: deadline)
        let elapsed = log.ms() - started
        switch reply {
        case .failed(let reason):
            throw .environment("the \(name) adapter \(reason)")
        case .timedOut:
            let seconds = EventLog.milliseconds(deadline) / 1000
            let error = DatabaseError(
                code: .hung, sqlState: "HY000",
                message:
                    "no answer within \(Self.format(seconds)) s: the driver has no timeout that fired (--driver-deadline)"
            )
            log.record(.queryError, detail: "operation \(operation): hung")
            let observed = log.record(
                error: error, phase: .unknown, connection: nil, threadID: nil, handledBy: nil, operation: operation)
            return OperationRecord(
                index: operation, succeeded: false, atMs: started, durationMs: elapsed, attempts: 1, connection: nil,
                error: observed)
        case .answer(let answer):
            return try operationRecord(
                Self.decode(answer, as: AdapterMessage.RunResult.self, "run", name: name), operation: operation,
                startedAt: started, elapsed: elapsed)
        }
    }

    /// One `run`-shaped answer as an operation record: what the application absorbed (`handled`), the
    /// operation's own error, and the follow-up command's error after it (`app.followUp`).
    private func operationRecord(
        _ answer: AdapterMessage.RunResult, operation: Int, startedAt: Double, elapsed: Double
    ) throws(RunError) -> OperationRecord {
        let handled = answer.handled ?? []
        let thread = answer.threadId
        let connection = connectionNumber(thread)
        for item in handled {
            guard let detail = item.error?.detail else { continue }
            let by = item.by.flatMap(ErrorHandler.init(rawValue:)) ?? .retry
            record(detail, phase: item.error?.phase, handledBy: by, operation: operation)
        }
        let ms = answer.ms ?? elapsed
        // repro's pool in a child says how many attempts it made; an adapter's retries are its handled errors.
        let attempts = answer.attempts ?? 1 + handled.count
        // The child's own start time, on the run's clock, when it gives one.
        let startedAt = answer.atMs ?? startedAt
        if answer.ok == true {
            log.record(
                .queryOK, connection: connection, threadID: thread,
                detail: "operation \(operation)\(handled.isEmpty ? "" : " (after a retry)")")
            return OperationRecord(
                index: operation, succeeded: true, atMs: startedAt, durationMs: ms, attempts: attempts,
                connection: connection, error: nil)
        }
        guard let detail = answer.error?.detail else {
            throw .environment("the \(name) adapter answered a failed run without an error object")
        }
        log.record(
            .queryError, connection: connection, threadID: thread, detail: "operation \(operation): \(detail.summary)")
        let observed = record(
            detail, phase: answer.error?.phase, handledBy: nil, operation: operation, connection: connection,
            threadID: thread)
        if let followUp = answer.followUp {
            if followUp.ok == true {
                log.record(
                    .scenario, detail: "operation \(operation): the follow-up command on that connection succeeded")
            } else if let after = followUp.error?.detail {
                log.record(
                    .queryError, detail: "operation \(operation), follow-up on the same connection: \(after.summary)")
                record(after, phase: ErrorPhase.followUp.rawValue, handledBy: nil, operation: operation)
            }
        }
        return OperationRecord(
            index: operation, succeeded: false, atMs: startedAt, durationMs: ms, attempts: attempts,
            connection: connection, error: observed)
    }

    public var processGroup: pid_t? { process.processGroup }

    public func arm(count: Int, sql: String, delayMs: Int?, confirm: Bool) throws(RunError) -> any ArmedOperations {
        var fields: [String: JSONValue] = ["count": .number(Double(count)), "sql": .string(sql)]
        if let delayMs { fields["delayMs"] = .number(Double(delayMs)) }
        let armed = process.send("arm", fields)
        let batchDeadline = deadline * count + .seconds(5)
        if confirm {
            let answer = try Self.wait(process, armed, "arm", deadline: deadline, name: name)
            try Self.accepted(answer, "arm", name: name)
            return Batch(pool: self, arm: nil, collect: process.send("collect"), count: count, deadline: batchDeadline)
        }
        return Batch(pool: self, arm: armed, collect: process.send("collect"), count: count, deadline: batchDeadline)
    }

    /// Operations armed in the adapter, collected once they ran.
    private final class Batch: ArmedOperations {
        let pool: AdapterPool
        let arm: AdapterProcess.Pending?
        let collectRequest: AdapterProcess.Pending
        let count: Int
        let deadline: Duration

        init(
            pool: AdapterPool, arm: AdapterProcess.Pending?, collect: AdapterProcess.Pending, count: Int,
            deadline: Duration
        ) {
            self.pool = pool
            self.arm = arm
            self.collectRequest = collect
            self.count = count
            self.deadline = deadline
        }

        func collect(firstOperation: Int) throws(RunError) -> [OperationRecord] {
            let name = pool.name
            if let arm {
                let answer = try AdapterPool.wait(pool.process, arm, "arm", deadline: deadline, name: name)
                try AdapterPool.accepted(answer, "arm", name: name)
            }
            let answer = try AdapterPool.wait(pool.process, collectRequest, "collect", deadline: deadline, name: name)
            try AdapterPool.accepted(answer, "collect", name: name)
            let results =
                try AdapterPool.decode(answer, as: AdapterMessage.Results.self, "collect", name: name).results ?? []
            guard results.count == count else {
                throw .environment("the \(name) adapter ran \(results.count) of \(count) armed operation(s)")
            }
            // The adapter ran them back to back and answered when the last one ended: their start times, on the
            // run's clock, are counted back from that answer.
            let end = pool.log.ms()
            var startedAt: [Double] = []
            var cursor = end
            for result in results.reversed() {
                cursor -= result.ms ?? 0
                startedAt.insert(cursor, at: 0)
            }
            var records: [OperationRecord] = []
            for (i, result) in results.enumerated() {
                let operation = firstOperation + i
                records.append(
                    try pool.operationRecord(
                        result, operation: operation, startedAt: startedAt[i], elapsed: result.ms ?? 0))
            }
            return records
        }
    }

    public func hold() throws(RunError) {
        let answer = try Self.request(process, "hold", [:], deadline: deadline, name: name)
        let status = try Self.decode(answer, as: AdapterMessage.Status.self, "hold", name: name)
        guard status.ok == true else {
            let detail = status.error?.detail?.summary ?? "no error given"
            throw .environment("the \(name) pool could not hand out a connection to hold: \(detail)")
        }
        let held = try Self.decode(answer, as: AdapterMessage.Held.self, "hold", name: name)
        log.record(.scenario, threadID: held.threadId, detail: "application holds a connection")
    }

    public func startBusy(count: Int, sql: String) throws(RunError) -> any BusyQueries {
        let group = DispatchGroup()
        group.enter()
        let failure = BusyFailure()
        let thread = Thread { [self] in
            defer { group.leave() }
            let reply = process.request(
                "busy", ["count": .number(Double(count)), "sql": .string(sql)], deadline: deadline + .seconds(10))
            switch reply {
            case .failed(let reason): failure.set(.environment("the \(name) adapter \(reason)"))
            case .timedOut: log.record(.scenario, detail: "busy queries did not all end within the deadline")
            case .answer(let answer):
                let results: [AdapterMessage.RunResult]
                switch answer.decoded(as: AdapterMessage.Results.self) {
                case .success(let decoded): results = decoded.results ?? []
                case .failure(let bad):
                    failure.set(Self.unreadable("busy", bad, name: name))
                    results = []
                }
                for result in results {
                    if result.ok == true {
                        log.record(.queryOK, detail: "busy query ended normally")
                    } else if let detail = result.error?.detail {
                        log.record(.queryError, detail: "busy query: \(detail.summary)")
                        record(detail, phase: result.error?.phase, handledBy: nil, operation: nil)
                    }
                }
            }
        }
        thread.start()
        return AdapterBusy(group: group, failure: failure, limit: deadline + .seconds(15))
    }

    public func knownServerThreads() -> [ServerThread]? { nil }

    public func clientEndpoints(serverPort: Int) -> [ClientEndpoint]? {
        ProcessSockets.clientEndpoints(processGroup: process.processGroup, remotePort: serverPort)
    }

    public func close() {
        let reply = process.failureReason == nil ? process.request("close", [:], deadline: .seconds(5)) : nil
        switch reply {
        case .timedOut:
            closeProblem.withLock { $0 = $0 ?? "the \(name) adapter did not answer 'close' within 5 s" }
        case .failed(let reason) where reason != "was stopped":
            closeProblem.withLock { $0 = $0 ?? "the \(name) adapter \(reason)" }
        default: break
        }
        process.stop()
    }

    /// Why `close` was not answered (docs/adapters.md: an adapter failure, exit 3); nil when it was.
    public var closeFailure: String? { closeProblem.withLock { $0 } }
    private let closeProblem = Mutex<String?>(nil)

    // MARK: - Helpers

    @discardableResult
    private func record(
        _ detail: DriverErrorDetail, phase: String?, handledBy: ErrorHandler?, operation: Int?,
        connection: Int? = nil, threadID: UInt64? = nil
    ) -> ObservedError {
        let phase: ErrorPhase =
            switch phase {
            case "acquire": .acquire
            case "query": .query
            case "validate": .validate
            case "keepalive": .keepalive
            case ErrorPhase.followUp.rawValue: .followUp
            default: .unknown
            }
        return log.record(
            driverError: detail, phase: phase, connection: connection, threadID: threadID, handledBy: handledBy,
            operation: operation)
    }

    /// A request that must be answered (hello, open, warm, hold): no answer is an adapter failure.
    private static func request(
        _ process: AdapterProcess, _ op: String, _ fields: [String: JSONValue], deadline: Duration, name: String
    ) throws(RunError) -> JSONValue {
        switch process.request(op, fields, deadline: deadline) {
        case .answer(let value): return value
        case .failed(let reason): throw .environment("the \(name) adapter \(reason)")
        case .timedOut:
            let tail = process.stderrTail
            throw .environment(
                "the \(name) adapter did not answer '\(op)' within \(format(EventLog.milliseconds(deadline) / 1000)) s\(tail.isEmpty ? "" : "; it said: \(tail)")"
            )
        }
    }

    /// The answer to a request written with `send`; no answer is an adapter failure.
    fileprivate static func wait(
        _ process: AdapterProcess, _ pending: AdapterProcess.Pending, _ op: String, deadline: Duration, name: String
    ) throws(RunError) -> JSONValue {
        switch process.wait(pending, deadline: deadline) {
        case .answer(let value): return value
        case .failed(let reason): throw .environment("the \(name) adapter \(reason)")
        case .timedOut:
            throw .environment(
                "the \(name) adapter did not answer '\(op)' within \(format(EventLog.milliseconds(deadline) / 1000)) s")
        }
    }

    /// Throws unless `answer` is ok: a usage refusal is exit 2 (an adapter that lacks the op says so), anything
    /// else exit 3.
    fileprivate static func accepted(_ answer: JSONValue, _ op: String, name: String) throws(RunError) {
        let status = try decode(answer, as: AdapterMessage.Status.self, op, name: name)
        guard status.ok != true else { return }
        let message = Report.cutLongWords(status.message)
        if status.error?.usage == true { throw .usage("\(name) refused '\(op)': \(message)") }
        throw .environment("the \(name) adapter refused '\(op)': \(message)")
    }

    /// `answer` read as the message type `op` answers with; a line that does not fit is an adapter failure.
    fileprivate static func decode<T: Decodable>(_ answer: JSONValue, as type: T.Type, _ op: String, name: String)
        throws(RunError) -> T
    {
        switch answer.decoded(as: type) {
        case .success(let value): return value
        case .failure(let failure): throw unreadable(op, failure, name: name)
        }
    }

    static func unreadable(_ op: String, _ failure: DecodingFailure, name: String) -> RunError {
        .environment(
            "the \(name) adapter answered '\(op)' with a line that is not the protocol's (docs/adapters.md): \(failure.reason)"
        )
    }

    /// Like `request`, and the answer must be ok.
    private static func answer(
        _ process: AdapterProcess, _ op: String, _ fields: [String: JSONValue], deadline: Duration, name: String
    ) throws(RunError) -> JSONValue {
        let value = try request(process, op, fields, deadline: deadline, name: name)
        let status = try decode(value, as: AdapterMessage.Status.self, op, name: name)
        guard status.ok == true else {
            throw .environment("the \(name) adapter refused '\(op)': \(Report.cutLongWords(status.message))")
        }
        return value
    }

    static func describe(_ value: JSONValue) -> String {
        String(decoding: value.line().dropLast(), as: UTF8.self)
    }

    static func format(_ seconds: Double) -> String {
        seconds.rounded() == seconds ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}

private final class BusyFailure: Sendable {
    private let value = Mutex<RunError?>(nil)
    func set(_ error: RunError) { value.withLock { $0 = error } }
    var error: RunError? { value.withLock { $0 } }
}

private struct AdapterBusy: BusyQueries {
    let group: DispatchGroup
    let failure: BusyFailure
    let limit: Duration

    func wait() throws(RunError) {
        _ = group.wait(timeout: .now() + .nanoseconds(Int(EventLog.milliseconds(limit) * 1e6)))
        if let error = failure.error { throw error }
    }
}
