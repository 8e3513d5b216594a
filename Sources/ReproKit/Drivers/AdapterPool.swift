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
    private let name: String

    /// Starts the adapter, checks `hello`, validates the options against the keys it knows, opens the pool.
    public init(
        adapter: AdapterDefinition, choice: DriverChoice, nodePath: String?, target: AdapterTarget, size: Int,
        initSQL: [String], log: any RunObserver
    ) throws(RunError) {
        let name = adapter.name
        self.name = name
        self.size = size
        self.log = log
        let deadline = Duration.milliseconds(Int(choice.deadline * 1000))
        self.deadline = deadline
        process = try AdapterProcess(
            name: name, executable: adapter.runPath,
            environment: AdapterCatalog.childEnvironment(nodePath: nodePath)
        ) { line, lateFor in
            if let lateFor {
                log.record(.driverEvent, detail: "late answer to request \(lateFor): \(AdapterPool.describe(line))")
            } else {
                log.record(.driverEvent, detail: AdapterPool.describeEvent(line))
            }
        }
        do throws(RunError) {
            let hello = try Self.answer(process, "hello", [:], deadline: deadline, name: name)
            guard hello["protocol"]?.int == 1 else {
                throw RunError.environment(
                    "the \(name) adapter speaks protocol \(hello["protocol"].map(Self.describe) ?? "(none)"), not 1: update it (docs/adapters.md)"
                )
            }
            let known = (hello["options"]?.object ?? [:]).keys.sorted()
            if let unknown = choice.options.keys.sorted().first(where: { !known.contains($0) }) {
                throw RunError.usage(
                    "unknown --driver-option '\(unknown)' for \(name): known options are \(known.joined(separator: ", "))"
                )
            }
            client = Report.Client(
                library: hello["driver"]?.string ?? name, version: hello["driverVersion"]?.string ?? "unknown",
                pool: hello["pool"]?.string, poolVersion: hello["poolVersion"]?.string,
                runtime: hello["runtime"]?.string, runtimeVersion: hello["runtimeVersion"]?.string, adapter: name,
                options: choice.options)
            let open: [String: JSONValue] = [
                "host": .string(target.host), "port": .number(Double(target.port)), "user": .string(target.user),
                "password": .string(target.password), "database": target.database.map { .string($0) } ?? .null,
                "poolSize": .number(Double(size)), "initSql": .array(initSQL.map { .string($0) }),
                "options": .object(choice.options.mapValues { .string($0) }),
            ]
            let opened = try Self.request(process, "open", open, deadline: deadline, name: name)
            if opened["ok"]?.bool != true {
                let error = opened["error"]
                let message = error?["message"]?.string ?? "no message"
                if error?["usage"]?.bool == true { throw RunError.usage("\(name): \(message)") }
                throw RunError.environment("the \(name) adapter could not create its pool: \(message)")
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
        guard answer["ok"]?.bool == true else {
            let detail = answer["error"].flatMap(DriverErrorDetail.init(json:))?.summary ?? "no error given"
            throw .environment("the \(name) pool could not open \(size) connection(s): \(detail)")
        }
        return (answer["threadIds"]?.array ?? []).compactMap { $0.int.map(UInt64.init) }
    }

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
            let handled = answer["handled"]?.array ?? []
            for item in handled {
                guard let detail = item["error"].flatMap(DriverErrorDetail.init(json:)) else { continue }
                record(detail, phase: item["error"]?["phase"], handledBy: .retry, operation: operation)
            }
            let ms = answer["ms"]?.double ?? elapsed
            if answer["ok"]?.bool == true {
                log.record(.queryOK, detail: "operation \(operation)\(handled.isEmpty ? "" : " (after a retry)")")
                return OperationRecord(
                    index: operation, succeeded: true, atMs: started, durationMs: ms, attempts: 1 + handled.count,
                    connection: nil, error: nil)
            }
            guard let detail = answer["error"].flatMap(DriverErrorDetail.init(json:)) else {
                throw .environment("the \(name) adapter answered a failed run without an error object")
            }
            log.record(.queryError, detail: "operation \(operation): \(detail.summary)")
            let observed = record(detail, phase: answer["error"]?["phase"], handledBy: nil, operation: operation)
            return OperationRecord(
                index: operation, succeeded: false, atMs: started, durationMs: ms, attempts: 1 + handled.count,
                connection: nil, error: observed)
        }
    }

    public func hold() throws(RunError) {
        let answer = try Self.request(process, "hold", [:], deadline: deadline, name: name)
        guard answer["ok"]?.bool == true else {
            let detail = answer["error"].flatMap(DriverErrorDetail.init(json:))?.summary ?? "no error given"
            throw .environment("the \(name) pool could not hand out a connection to hold: \(detail)")
        }
        log.record(
            .scenario, threadID: answer["threadId"]?.int.map(UInt64.init), detail: "application holds a connection")
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
                for result in answer["results"]?.array ?? [] {
                    if result["ok"]?.bool == true {
                        log.record(.queryOK, detail: "busy query ended normally")
                    } else if let detail = result["error"].flatMap(DriverErrorDetail.init(json:)) {
                        log.record(.queryError, detail: "busy query: \(detail.summary)")
                        record(detail, phase: result["error"]?["phase"], handledBy: nil, operation: nil)
                    }
                }
            }
        }
        thread.start()
        return AdapterBusy(group: group, failure: failure, limit: deadline + .seconds(15))
    }

    public func knownServerThreads() -> [ServerThread]? { nil }

    public func clientPorts(serverPort: Int) -> Set<Int>? {
        ProcessSockets.clientPorts(processGroup: process.processGroup, remotePort: serverPort)
    }

    public func close() {
        _ = process.request("close", [:], deadline: .seconds(5))
        process.stop()
    }

    // MARK: - Helpers

    @discardableResult
    private func record(_ detail: DriverErrorDetail, phase: JSONValue?, handledBy: ErrorHandler?, operation: Int?)
        -> ObservedError
    {
        let phase: ErrorPhase =
            switch phase?.string {
            case "acquire": .acquire
            case "query": .query
            default: .unknown
            }
        return log.record(driverError: detail, phase: phase, handledBy: handledBy, operation: operation)
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

    /// Like `request`, and the answer must be ok.
    private static func answer(
        _ process: AdapterProcess, _ op: String, _ fields: [String: JSONValue], deadline: Duration, name: String
    ) throws(RunError) -> JSONValue {
        let value = try request(process, op, fields, deadline: deadline, name: name)
        guard value["ok"]?.bool == true else {
            throw .environment(
                "the \(name) adapter refused '\(op)': \(value["error"]?["message"]?.string ?? "no message")")
        }
        return value
    }

    static func describe(_ value: JSONValue) -> String {
        String(decoding: value.line().dropLast(), as: UTF8.self)
    }

    /// An adapter event as one timeline line: its kind and verbatim message, then any other fields.
    static func describeEvent(_ value: JSONValue) -> String {
        var object = value.object ?? [:]
        let kind = object.removeValue(forKey: "event")?.string ?? "event"
        let message = object.removeValue(forKey: "message")?.string
        let rest = object.keys.sorted().compactMap { key -> String? in
            guard let v = object[key], !v.isNull else { return nil }
            return "\(key)=\(v.string ?? describe(v))"
        }
        return
            ([kind + (message.map { ": \($0)" } ?? "")] + (rest.isEmpty ? [] : ["(\(rest.joined(separator: ", ")))"]))
            .joined(separator: " ")
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
