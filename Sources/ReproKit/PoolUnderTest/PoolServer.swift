import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// repro's own pool (`SwiftPoolUnderTest` over Connector/C) behind the adapter protocol (docs/adapters.md), so that
/// it can run in a child process (`repro serve-pool`) that a fault suspends and resumes like a real driver's.
///
/// Requests are read on `input`, one JSON object per line. Each one is handled on a `Thread` of its own, so a `run`
/// that hangs (a blackholed connection) does not hold up the next request; what must follow the order of the lines
/// (an `arm` and the `collect` written right behind it) is settled on the reading thread first. Answers and events
/// go to `output` as whole lines, one write each, under one lock. `run()` returns at EOF on `input`, after closing
/// the pool (requests under way get `endGrace` to answer first); nothing is written after that.
///
/// What this server adds to docs/adapters.md:
/// - `open` takes `policy` (`PoolPolicy`'s JSON encoding — every key it writes, unknown keys refused — or a preset's
///   name) instead of `options` (`hello` lists none, so any option is refused), an optional `unixSocket`, and an
///   optional `runMs`: the run's clock (ms since the run started) when the request was written. This process's
///   clock starts that long before the line arrived, so every `atMs` it writes is on the run's clock (off by the
///   time the line sat in the pipe; send it to a process that is reading, after `hello`'s answer).
/// - A result (`run`, each of `busy`'s and `collect`'s) adds `atMs` (when the operation started), `attempts` and
///   `connection` (the pool's connection number) to `ok`/`ms`/`error`/`handled`; `ms` is its duration on this
///   process's monotonic clock.
/// - Error objects add `atMs`, `connection` and `threadId` (null when unknown); `phase` is also `validate` or
///   `keepalive`; `handled` entries' `by` is `validation`, `retry` or `keepalive`.
/// - Event lines: `{"event":"pool","kind":<PoolEvent.Kind>,"message":<detail, or the kind when none>,…}` for every
///   pool event, `{"event":"pool-error","message":<DatabaseError.description>,"by":…,"error":{…},…}` for an error
///   outside any operation, `{"event":"protocol-error","message":…}` for a line that is not a request.
/// - `arm` also takes `held`; `warm`'s count must be the pool size; `busy`'s count at most the pool size.
public final class PoolServer: Sendable {
    /// Every op this server answers, in the protocol's order.
    public static let ops = ["hello", "open", "warm", "run", "hold", "busy", "arm", "collect", "close"]

    /// Longest request line accepted; a longer one is dropped (with a `protocol-error` event), not parsed.
    static let maxLineBytes = 1 << 20

    private struct Opened: Sendable {
        let pool: SwiftPoolUnderTest
        let observer: PoolServerObserver
    }

    private struct State: Sendable {
        var opened: Opened?
        /// After `close` (or EOF) no pool is opened again.
        var closed = false
        /// The batch `arm` scheduled, until `collect` answered it.
        var batch: ArmedBatch?
    }

    private let input: Int32
    private let writer: LineWriter
    private let state = Mutex(State())
    /// Every request thread under way (and every busy query's).
    private let inFlight = DispatchGroup()

    /// Serves requests read from `input` and writes answers and events to `output`; neither is closed here.
    public init(input: Int32, output: Int32) {
        self.input = input
        self.writer = LineWriter(fd: output)
    }

    /// Reads and serves requests until EOF (or a read error) on `input`, then closes the pool and returns.
    public func run() {
        // An answer to a reader that went away must fail the write, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var discarding = false
        while true {
            let n = read(input, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = Data(buffer[buffer.startIndex..<newline])
                buffer = Data(buffer[(newline + 1)...])
                if discarding {
                    // The end of a line that was too long.
                    discarding = false
                } else if !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
                    dispatch(line)
                }
            }
            if buffer.count > Self.maxLineBytes {
                buffer.removeAll()
                if !discarding {
                    discarding = true
                    writer.write(
                        Self.event(
                            "protocol-error", "a request line longer than \(Self.maxLineBytes) bytes was dropped"))
                }
            }
        }
        end()
    }

    // MARK: - Requests

    /// A request this server cannot take: answered `{"ok":false,"error":{"usage":true,"message":…}}`.
    struct Usage: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    typealias Answer = [String: JSONValue]

    /// Parses one line and starts its handler on a thread of its own.
    private func dispatch(_ line: Data) {
        let received = ContinuousClock.now
        // Never echo the line: an `open` carries the password.
        guard let request = JSONValue.parse(line), request.object != nil else {
            writer.write(Self.event("protocol-error", "a request line that is not a JSON object was dropped"))
            return
        }
        guard let id = request["id"]?.int else {
            writer.write(Self.event("protocol-error", "a request without an integer 'id' was dropped"))
            return
        }
        let fields = Fields(request: request, op: request["op"]?.string ?? "")
        switch fields.op {
        case "hello", "open":
            // No I/O (the pool connects on `warm`): answered here, so a request written right behind sees the pool.
            reply(id, answer(fields, received: received))
        case "arm":
            // Reserved here, in line order: a `collect` read right after this line finds the batch.
            let batch: ArmedBatch
            do throws(Usage) {
                batch = try arm(fields)
            } catch {
                reply(id, Self.usage(error.message))
                return
            }
            spawn("arm") { [self] in
                reply(id, ["ok": .bool(true)])
                batch.run()
            }
        case "collect":
            guard let batch = state.withLock({ $0.batch }) else {
                reply(id, Self.usage("nothing is armed: send 'arm' before 'collect'"))
                return
            }
            spawn("collect") { [self] in
                let results = batch.wait()
                state.withLock { s in
                    if s.batch === batch { s.batch = nil }
                }
                reply(id, ["ok": .bool(true), "results": .array(results)])
            }
        default:
            spawn(fields.op) { [self] in reply(id, answer(fields, received: received)) }
        }
    }

    /// `handle`'s answer, or the usage error it refused the request with.
    private func answer(_ fields: Fields, received: ContinuousClock.Instant) -> Answer {
        do throws(Usage) {
            return try handle(fields, received: received)
        } catch {
            return Self.usage(error.message)
        }
    }

    private func handle(_ fields: Fields, received: ContinuousClock.Instant) throws(Usage) -> Answer {
        switch fields.op {
        case "hello": return hello()
        case "open": return try open(fields, received: received)
        case "warm": return try warm(fields)
        case "run": return try runOperation(fields)
        case "hold": return try hold()
        case "busy": return try busy(fields)
        case "close": return close()
        case "": throw Usage("a request without 'op': known ops are \(Self.ops.joined(separator: ", "))")
        default: throw Usage("unknown op '\(fields.op)': known ops are \(Self.ops.joined(separator: ", "))")
        }
    }

    private func hello() -> Answer {
        let client = ReproSession.clientInfo
        return [
            "ok": .bool(true), "protocol": .number(1), "driver": .string(client.library),
            "driverVersion": .string(client.version), "pool": .string(client.pool ?? "repro pool"),
            "poolVersion": .string(client.poolVersion ?? ReproVersion.version), "runtime": .string("swift"),
            // The policy comes whole in `open`.
            "options": .object([:]),
        ]
    }

    /// Creates the pool (no connection yet). `runMs`, when given, is the run's clock when repro sent the request:
    /// this process's clock then starts that long before the request arrived.
    private func open(_ fields: Fields, received: ContinuousClock.Instant) throws(Usage) -> Answer {
        let host = try fields.string("host")
        let port = try fields.int("port", in: 1...65535)
        let user = try fields.string("user")
        let password = try fields.optionalString("password") ?? ""
        let database = try fields.optionalString("database")
        let unixSocket = try fields.optionalString("unixSocket")
        let size = try fields.int("poolSize", in: Scenario.poolSizeRange)
        let initSQL = try fields.strings("initSql")
        if let options = fields.request["options"], !options.isNull {
            guard let object = options.object else { throw Usage("'options' must be an object") }
            if let key = object.keys.sorted().first {
                throw Usage(
                    "unknown option '\(key)': repro pool takes no options, its whole policy comes in 'policy'")
            }
        }
        guard let policyValue = fields.request["policy"], !policyValue.isNull else {
            throw Usage("'open' needs 'policy': PoolPolicy's JSON object, or a preset's name")
        }
        let policy = try Self.policy(policyValue)
        let runMs = try fields.optionalNumber("runMs") ?? 0
        guard runMs >= 0, runMs.isFinite else { throw Usage("'runMs' must be a number of milliseconds >= 0") }

        var options = ConnectionOptions(
            host: host, port: port, user: user, password: password, database: database,
            connectTimeout: policy.connectTimeout, readTimeout: policy.readTimeout, writeTimeout: policy.writeTimeout,
            initCommands: initSQL)
        options.unixSocket = unixSocket
        let start = received - .microseconds(Int64((runMs * 1000).rounded()))
        let writer = self.writer
        let observer = PoolServerObserver(start: start) { writer.write($0) }
        let pool = SwiftPoolUnderTest(policy: policy, size: size, options: options, log: observer) { error in
            // Only `hold` turns a failure into this; its answer carries the error object instead.
            .environment("cannot connect: \(error.message) (\(error.code.name))")
        }
        try state.withLock { s throws(Usage) in
            guard !s.closed else { throw Usage("the pool was closed: a served pool is opened once") }
            guard s.opened == nil else { throw Usage("the pool is already open") }
            s.opened = Opened(pool: pool, observer: observer)
        }
        return ["ok": .bool(true)]
    }

    /// `policy` as `open` carries it: `PoolPolicy`'s encoding (every key it writes; missing optional knobs are
    /// unset), or the name of a `PolicyPreset`.
    static func policy(_ value: JSONValue) throws(Usage) -> PoolPolicy {
        let policy: PoolPolicy
        if let name = value.string {
            do {
                policy = try PolicyPreset.named(name).policy
            } catch {
                throw Usage(error.message)
            }
        } else if let object = value.object {
            let known = Set(policyKeys)
            if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
                throw Usage("unknown policy key '\(unknown)': known keys are \(policyKeys.joined(separator: ", "))")
            }
            do {
                let data = try JSONEncoder().encode(value)
                policy = try JSONDecoder().decode(PoolPolicy.self, from: data)
            } catch {
                throw Usage("bad policy: \(describe(error))")
            }
        } else {
            throw Usage("'policy' must be PoolPolicy's JSON object or a preset's name")
        }
        do {
            try policy.validate()
        } catch {
            throw Usage("bad policy: \(error.message)")
        }
        return policy
    }

    /// The keys of `PoolPolicy`'s encoding, which writes every knob.
    static let policyKeys: [String] = {
        let data = (try? JSONEncoder().encode(PoolPolicy())) ?? Data()
        return (JSONValue.parse(data)?.object ?? [:]).keys.sorted()
    }()

    /// A decoding error in one line naming the key.
    static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, _): return "missing '\(key.stringValue)'"
        case .typeMismatch(let type, let context): return "'\(path(context))' must be a \(type)"
        case .valueNotFound(let type, let context): return "'\(path(context))' must be a \(type), not null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? context.debugDescription : "'\(path(context))': \(context.debugDescription)"
        default: return "\(error)"
        }
    }

    private func opened() throws(Usage) -> Opened {
        try state.withLock { s throws(Usage) in
            if let opened = s.opened { return opened }
            throw Usage(s.closed ? "the pool was closed" : "the pool is not open: send 'open' first")
        }
    }

    private func warm(_ fields: Fields) throws(Usage) -> Answer {
        let opened = try opened()
        let count = try fields.int("count", in: Scenario.poolSizeRange)
        guard count == opened.pool.size else {
            throw Usage("'warm' count \(count) is not the pool size \(opened.pool.size): repro's pool warms them all")
        }
        let errors = OperationErrors()
        let failure = errors.collecting { () -> DatabaseError? in
            do throws(DatabaseError) {
                try opened.pool.pool.warm()
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            let observed = ObservedError(error: failure, phase: .acquire, atMs: opened.observer.ms())
            return ["ok": .bool(false), "error": PoolServerObserver.errorObject(observed)]
        }
        return ["ok": .bool(true), "threadIds": .array(opened.pool.pool.threadIDs.map { .number(Double($0)) })]
    }

    private func runOperation(_ fields: Fields) throws(Usage) -> Answer {
        let opened = try opened()
        let sql = try fields.string("sql")
        let operation = try fields.optionalInt("operation") ?? 0
        let held = try fields.optionalBool("held") ?? false
        return Self.operation(sql, index: operation, held: held, on: opened.pool)
    }

    /// One operation as `run` does it, its errors collected: the protocol's result object.
    static func operation(_ sql: String, index: Int, held: Bool, on pool: SwiftPoolUnderTest) -> Answer {
        let errors = OperationErrors()
        let record = errors.collecting { pool.execute(sql, operation: index, held: held) }
        return result(record, errors: errors)
    }

    /// `{"ok":…,"ms":…,"atMs":…,"attempts":…,"connection":…,"error":{…},"handled":[…]}`.
    static func result(_ record: OperationRecord, errors: OperationErrors) -> Answer {
        var answer: Answer = [
            "ok": .bool(record.succeeded), "ms": .number(PoolServerObserver.rounded(record.durationMs)),
            "atMs": .number(PoolServerObserver.rounded(record.atMs)), "attempts": .number(Double(record.attempts)),
        ]
        if let connection = record.connection { answer["connection"] = .number(Double(connection)) }
        if let error = record.error { answer["error"] = PoolServerObserver.errorObject(error) }
        let handled = errors.handled
        if !handled.isEmpty { answer["handled"] = .array(handled.map(PoolServerObserver.handledEntry)) }
        return answer
    }

    private func hold() throws(Usage) -> Answer {
        let opened = try opened()
        guard opened.pool.heldThreadID == nil else { throw Usage("a connection is already held") }
        let errors = OperationErrors()
        let failed = errors.collecting { () -> Bool in
            do {
                try opened.pool.hold()
                return false
            } catch {
                return true
            }
        }
        guard !failed, let threadID = opened.pool.heldThreadID else {
            let error =
                errors.all.last { $0.handledBy == nil }
                ?? ObservedError(
                    error: DatabaseError(code: .unknownError, sqlState: "HY000", message: "no connection to hold"),
                    phase: .acquire, atMs: opened.observer.ms())
            return ["ok": .bool(false), "error": PoolServerObserver.errorObject(error)]
        }
        return ["ok": .bool(true), "threadId": .number(Double(threadID))]
    }

    /// Borrows `count` connections (one after another, so they are all lent at once), then runs `sql` on each on
    /// a thread of its own; answers when every query ended. A connection whose query failed at the connection level
    /// is destroyed, as `SwiftPoolUnderTest.startBusy` does.
    private func busy(_ fields: Fields) throws(Usage) -> Answer {
        let opened = try opened()
        let count = try fields.int("count", in: 1...opened.pool.size)
        let sql = try fields.string("sql")
        let pool = opened.pool.pool
        let log = opened.observer
        let results = Mutex<[JSONValue?]>(Array(repeating: nil, count: count))
        let group = DispatchGroup()
        for index in 0..<count {
            let errors = OperationErrors()
            let started = log.ms()
            switch errors.collecting({ pool.borrow() }) {
            case .failure(let observed):
                var answer = Self.busyResult(started: started, connection: observed.connection, log: log)
                answer["ok"] = .bool(false)
                answer["error"] = PoolServerObserver.errorObject(observed)
                if !errors.handled.isEmpty {
                    answer["handled"] = .array(errors.handled.map(PoolServerObserver.handledEntry))
                }
                results.withLock { $0[index] = .object(answer) }
            case .success(let lease):
                group.enter()
                spawn("busy") {
                    defer { group.leave() }
                    let failure = errors.collecting { () -> ObservedError? in
                        do throws(DatabaseError) {
                            try lease.connection.query(sql)
                            log.record(.queryOK, connection: lease.id, threadID: lease.connection.threadID)
                            pool.release(lease)
                            return nil
                        } catch {
                            // A query in flight is not retried: its bytes were sent.
                            let observed = log.record(
                                failure: error, event: .queryError, phase: .query, connection: lease.id,
                                threadID: lease.connection.threadID, handledBy: nil, operation: nil)
                            if error.isConnectionLevel {
                                pool.destroy(lease, reason: "killed mid-query")
                            } else {
                                pool.release(lease)
                            }
                            return observed
                        }
                    }
                    var answer = Self.busyResult(started: started, connection: lease.id, log: log)
                    answer["ok"] = .bool(failure == nil)
                    if let failure { answer["error"] = PoolServerObserver.errorObject(failure) }
                    if !errors.handled.isEmpty {
                        answer["handled"] = .array(errors.handled.map(PoolServerObserver.handledEntry))
                    }
                    results.withLock { $0[index] = .object(answer) }
                }
            }
        }
        group.wait()
        return ["ok": .bool(true), "results": .array(results.withLock { $0 }.map { $0 ?? .null })]
    }

    private static func busyResult(started: Double, connection: Int?, log: PoolServerObserver) -> Answer {
        var answer: Answer = [
            "ms": .number(PoolServerObserver.rounded(log.ms() - started)),
            "atMs": .number(PoolServerObserver.rounded(started)), "attempts": .number(1),
        ]
        if let connection { answer["connection"] = .number(Double(connection)) }
        return answer
    }

    /// Checks an `arm` and reserves its batch (on the reading thread).
    private func arm(_ fields: Fields) throws(Usage) -> ArmedBatch {
        let opened = try opened()
        let count = try fields.int("count", in: 1...100_000)
        let sql = try fields.string("sql")
        let delayMs = try fields.optionalNumber("delayMs") ?? 0
        guard delayMs >= 0, delayMs <= 86_400_000, delayMs.isFinite else {
            throw Usage("'delayMs' must be milliseconds from 0 to 86400000")
        }
        let held = try fields.optionalBool("held") ?? false
        // Work due on the application's own timer goes ahead of the socket events after a resume, as in an event
        // loop; a request read as the process resumes does not (it is read with them).
        opened.pool.pool.expectsTimerWork(delayMs > 0)
        let batch = ArmedBatch(
            pool: opened.pool, count: count, sql: sql, held: held,
            due: .now() + .nanoseconds(Int((delayMs * 1e6).rounded())))
        try state.withLock { s throws(Usage) in
            guard s.batch == nil else { throw Usage("a batch is already armed: 'collect' it before the next 'arm'") }
            s.batch = batch
        }
        return batch
    }

    private func close() -> Answer {
        let (opened, batch) = state.withLock { s in
            defer {
                s.opened = nil
                s.closed = true
            }
            return (s.opened, s.batch)
        }
        batch?.cancel()
        // Taken out under the lock: the pool is closed once (a second `Pool.close` would wait for a keepalive
        // thread that already stopped).
        opened?.pool.close()
        return ["ok": .bool(true)]
    }

    /// EOF: an armed batch that is not due yet never starts; requests under way get `endGrace` to answer (the
    /// parent signals 2 s after EOF); then the pool is closed (its last events still go out) and nothing more is
    /// written, also by a request still under way.
    private func end() {
        state.withLock { $0.batch }?.cancel()
        _ = inFlight.wait(timeout: .now() + .nanoseconds(Int(EventLog.milliseconds(Self.endGrace) * 1e6)))
        _ = close()
        writer.finish()
    }

    /// How long EOF waits for requests under way before the pool closes.
    static let endGrace = Duration.seconds(1)

    // MARK: - Plumbing

    private func reply(_ id: Int, _ answer: Answer) {
        var line = answer
        line["id"] = .number(Double(id))
        writer.write(.object(line))
    }

    /// Runs `body` on a thread of its own, counted in `inFlight` until it returns.
    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let group = inFlight
        group.enter()
        let thread = Thread {
            body()
            group.leave()
        }
        thread.name = "repro.serve.\(name)"
        thread.start()
    }

    static func usage(_ message: String) -> Answer {
        ["ok": .bool(false), "error": .object(["usage": .bool(true), "message": .string(message)])]
    }

    static func event(_ kind: String, _ message: String) -> JSONValue {
        .object(["event": .string(kind), "message": .string(message)])
    }
}

/// The fields of one request, read with messages that name the op and the key (never the value: `open` carries
/// the password).
private struct Fields: Sendable {
    let request: JSONValue
    let op: String

    func string(_ key: String) throws(PoolServer.Usage) -> String {
        guard let value = try optionalString(key) else { throw missing(key, "a string") }
        return value
    }

    func optionalString(_ key: String) throws(PoolServer.Usage) -> String? {
        guard let value = present(key) else { return nil }
        guard let text = value.string else { throw PoolServer.Usage("'\(op)': '\(key)' must be a string") }
        return text
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(PoolServer.Usage) -> Int {
        guard let value = try optionalInt(key) else { throw missing(key, "a whole number") }
        guard range.contains(value) else {
            throw PoolServer.Usage("'\(op)': '\(key)' \(value) is out of range: use \(range.text)")
        }
        return value
    }

    func optionalInt(_ key: String) throws(PoolServer.Usage) -> Int? {
        guard let value = present(key) else { return nil }
        guard let n = value.int else { throw PoolServer.Usage("'\(op)': '\(key)' must be a whole number") }
        return n
    }

    func optionalNumber(_ key: String) throws(PoolServer.Usage) -> Double? {
        guard let value = present(key) else { return nil }
        guard let n = value.double else { throw PoolServer.Usage("'\(op)': '\(key)' must be a number") }
        return n
    }

    func optionalBool(_ key: String) throws(PoolServer.Usage) -> Bool? {
        guard let value = present(key) else { return nil }
        guard let b = value.bool else { throw PoolServer.Usage("'\(op)': '\(key)' must be true or false") }
        return b
    }

    /// An array of strings; absent or null is empty.
    func strings(_ key: String) throws(PoolServer.Usage) -> [String] {
        guard let value = present(key) else { return [] }
        guard let items = value.array?.compactMap(\.string), items.count == value.array?.count else {
            throw PoolServer.Usage("'\(op)': '\(key)' must be an array of strings")
        }
        return items
    }

    private func present(_ key: String) -> JSONValue? {
        guard let value = request[key], !value.isNull else { return nil }
        return value
    }

    private func missing(_ key: String, _ what: String) -> PoolServer.Usage {
        PoolServer.Usage("'\(op)' needs '\(key)' (\(what))")
    }
}

/// The operations one `arm` scheduled: due at `due` on the monotonic clock (`DispatchTime`), run one after another
/// on the arming request's thread, answered by `collect`.
private final class ArmedBatch: Sendable {
    let pool: SwiftPoolUnderTest
    let count: Int
    let sql: String
    let held: Bool
    let due: DispatchTime
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let cancelled = Atomic<Bool>(false)
    private let results = Mutex<[JSONValue]>([])

    init(pool: SwiftPoolUnderTest, count: Int, sql: String, held: Bool, due: DispatchTime) {
        self.pool = pool
        self.count = count
        self.sql = sql
        self.held = held
        self.due = due
    }

    /// Waits until due (at once when it is already: a process resumed after its timer fell due sees it overdue),
    /// then runs the operations, each started when the previous one ended; none when cancelled before it was due.
    func run() {
        defer { finished.signal() }
        if due > .now() {
            // `wake` is signalled only by `cancel`.
            _ = wake.wait(timeout: due)
        }
        if cancelled.load(ordering: .acquiring) { return }
        for index in 1...count {
            let result = PoolServer.operation(sql, index: index, held: held, on: pool)
            results.withLock { $0.append(.object(result)) }
        }
    }

    /// The results, once the batch ended; in order.
    func wait() -> [JSONValue] {
        finished.wait()
        // For a second `collect` of the same batch.
        finished.signal()
        return results.withLock { $0 }
    }

    /// EOF or `close`: a batch not due yet never starts; one that is due (its timer fell due, or it was armed with no
    /// delay) runs on, as work an application already began.
    func cancel() {
        guard due > .now() else { return }
        cancelled.store(true, ordering: .releasing)
        wake.signal()
    }
}

/// Writes protocol lines to one descriptor: each line in one piece under the lock; after `finish()` (or a failed
/// write: the reader went away) nothing more.
private final class LineWriter: Sendable {
    private let fd: Int32
    private let open = Mutex(true)

    init(fd: Int32) { self.fd = fd }

    func write(_ value: JSONValue) {
        let data = value.line()
        open.withLock { isOpen in
            guard isOpen else { return }
            if !Self.writeAll(fd, data) { isOpen = false }
        }
    }

    func finish() { open.withLock { $0 = false } }

    private static func writeAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }
}
