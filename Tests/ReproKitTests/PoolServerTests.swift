import Dispatch
import Foundation
import ReproTestSupport
import Synchronization
import Testing

@testable import ReproKit

#if canImport(Glibc)
    import Glibc
#endif

/// A `PoolServer` on a thread of this process, spoken to through two pipes as repro speaks to an adapter.
private final class ServedPool: Sendable {
    /// What the server wrote, filled by the reader thread (which must not keep the `ServedPool` alive).
    private final class Received: Sendable {
        let lines = Mutex<[JSONValue]>([])
        let arrived = DispatchSemaphore(value: 0)
        /// Signalled once, at EOF.
        let finished = DispatchSemaphore(value: 0)

        /// Reads lines until EOF, then closes `fd`.
        func read(from fd: Int32) {
            var buffer = Data()
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = Glibc.read(fd, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                buffer.append(contentsOf: chunk[0..<n])
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = Data(buffer[buffer.startIndex..<newline])
                    buffer = Data(buffer[(newline + 1)...])
                    let value = JSONValue.parse(line) ?? .string(String(decoding: line, as: UTF8.self))
                    lines.withLock { $0.append(value) }
                    arrived.signal()
                }
            }
            close(fd)
            finished.signal()
        }
    }

    private let toServer: Int32
    private let ended = DispatchSemaphore(value: 0)
    private let received = Received()
    private let nextID = Atomic<Int>(0)
    private let inputClosed = Atomic<Bool>(false)
    /// Time zero of the clock `open` hands the server (`runMs`).
    let start = ContinuousClock.now

    init() throws {
        var requests: [Int32] = [0, 0]
        var answers: [Int32] = [0, 0]
        try #require(pipe(&requests) == 0 && pipe(&answers) == 0)
        toServer = requests[1]
        let (serverInput, serverOutput) = (requests[0], answers[1])
        let server = PoolServer(input: serverInput, output: serverOutput)
        let ended = self.ended
        let serverThread = Thread {
            server.run()
            close(serverInput)
            close(serverOutput)
            ended.signal()
        }
        serverThread.start()
        let received = self.received
        let fromServer = answers[0]
        let readerThread = Thread { received.read(from: fromServer) }
        readerThread.start()
    }

    deinit {
        closeInput()
        _ = ended.wait(timeout: .now() + 10)
    }

    /// Milliseconds on the test's clock, the one `open` gives the server.
    func ms() -> Double { EventLog.milliseconds(.now - start) }

    func send(raw line: String) {
        let data = Array((line + "\n").utf8)
        var offset = 0
        while offset < data.count {
            let n = data[offset...].withUnsafeBytes { write(toServer, $0.baseAddress!, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Writes a request and returns its id.
    @discardableResult
    func send(_ op: String, _ fields: [String: JSONValue] = [:]) -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        var request = fields
        request["id"] = .number(Double(id))
        request["op"] = .string(op)
        send(raw: String(decoding: JSONValue.object(request).line().dropLast(), as: UTF8.self))
        return id
    }

    /// Sends a request and waits for its answer.
    func request(_ op: String, _ fields: [String: JSONValue] = [:], timeout: Double = 20) throws -> JSONValue {
        try answer(to: send(op, fields), timeout: timeout)
    }

    /// The answer to request `id`, waiting up to `timeout` seconds.
    func answer(to id: Int, timeout: Double = 20) throws -> JSONValue {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            if let found = received.lines.withLock({ $0.first { $0["id"]?.int == id } }) { return found }
            let left = deadline - .now
            guard left > .zero else { break }
            _ = received.arrived.wait(timeout: .now() + .milliseconds(min(200, Int(EventLog.milliseconds(left)) + 1)))
        }
        Issue.record("no answer to request \(id) within \(timeout) s")
        throw ServedPoolError.noAnswer(id)
    }

    /// Every line without an id, in arrival order.
    var events: [JSONValue] { received.lines.withLock { $0.filter { $0["id"] == nil } } }
    var allLines: [JSONValue] { received.lines.withLock { $0 } }

    /// Opens the pool on `server` with `policy` (a preset's name or a policy object).
    func open(_ server: ManagedServer, size: Int, policy: JSONValue, password: String? = nil) throws -> JSONValue {
        let endpoint = server.endpoint
        let sentAt = ms()
        let answer = try request(
            "open",
            [
                "host": .string(endpoint.host), "port": .number(Double(endpoint.port)), "user": .string(endpoint.user),
                "password": .string(password ?? endpoint.password), "database": .null,
                "poolSize": .number(Double(size)), "initSql": .array([]), "policy": policy, "runMs": .number(sentAt),
            ])
        let answeredAt = ms()
        clockLag.withLock { $0 = answeredAt - sentAt }
        return answer
    }

    /// How far behind the test's clock the server's may be (ms): `open` set it from `runMs` when the line arrived,
    /// somewhere between sending it and reading the answer.
    var lag: Double { clockLag.withLock { $0 } + 0.01 }
    private let clockLag = Mutex(0.0)

    func closeInput() {
        guard !inputClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        close(toServer)
    }

    /// True when `run()` returned within `timeout` seconds; then every line it wrote has been read.
    func waitUntilEnded(timeout: Double) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(Int(timeout * 1000))
        guard ended.wait(timeout: deadline) == .success else { return false }
        ended.signal()
        guard received.finished.wait(timeout: deadline) == .success else { return false }
        received.finished.signal()
        return true
    }
}

private enum ServedPoolError: Error {
    case noAnswer(Int)
}

/// An admin connection to `server`.
private func admin(_ server: ManagedServer) throws -> MariaDBConnection {
    let e = server.endpoint
    return try MariaDBConnection(
        options: ConnectionOptions(host: e.host, port: e.port, user: e.user, password: e.password))
}

/// KILL CONNECTION on each thread, then waits until the server has let them all go.
private func kill(_ threadIDs: [UInt64], on server: ManagedServer) throws {
    let admin = try admin(server)
    defer { admin.close() }
    for id in threadIDs { try admin.query("KILL CONNECTION \(id)") }
    let sql =
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (\(threadIDs.map(String.init).joined(separator: ",")))"
    for _ in 0..<250 {
        if try admin.query(sql).first?.first == "0" { return }
        usleep(20_000)
    }
    Issue.record("threads \(threadIDs) still exist 5 s after KILL")
}

private func threadIDs(_ answer: JSONValue) -> [UInt64] {
    (answer["threadIds"]?.array ?? []).compactMap { $0.int.map(UInt64.init) }
}

/// The event line EventLog's detail becomes for a failed step: "2013 CR_SERVER_LOST (HY000): <message>".
private func description(of error: JSONValue?) -> String? {
    guard let error, let errno = error["errno"]?.int, let code = error["code"]?.string,
        let state = error["sqlState"]?.string, let message = error["message"]?.string
    else { return nil }
    return "\(errno) \(code) (\(state)): \(message)"
}

private func usageMessage(_ answer: JSONValue) -> String? {
    guard answer["ok"]?.bool == false, answer["error"]?["usage"]?.bool == true else { return nil }
    return answer["error"]?["message"]?.string
}

@Suite("PoolServer: repro's pool behind the adapter protocol", .ownThreads)
struct PoolServerTests {
    @Test("hello names Connector/C, repro's pool and version, the swift runtime, and no options")
    func hello() throws {
        let served = try ServedPool()
        let hello = try served.request("hello")
        #expect(hello["ok"]?.bool == true)
        #expect(hello["protocol"]?.int == 1)
        #expect(hello["driver"]?.string == "MariaDB Connector/C")
        #expect(hello["driverVersion"]?.string == MariaDBConnection.clientVersion)
        #expect(hello["driverVersion"]?.string?.isEmpty == false)
        #expect(hello["pool"]?.string == "repro pool")
        #expect(hello["poolVersion"]?.string == ReproVersion.version)
        #expect(hello["runtime"]?.string == "swift")
        #expect(hello["options"] == .object([:]))
    }

    @Test("unknown ops, bad lines and requests before open are usage errors; nothing echoes the password")
    func usageErrors() throws {
        let served = try ServedPool()
        let unknown = try served.request("frobnicate")
        #expect(usageMessage(unknown)?.hasPrefix("unknown op 'frobnicate': known ops are hello, open,") == true)
        #expect(usageMessage(try served.request("run", ["sql": .string("SELECT 1")]))?.contains("not open") == true)
        #expect(usageMessage(try served.request("warm", ["count": .number(2)]))?.contains("not open") == true)
        #expect(usageMessage(try served.request("collect"))?.contains("nothing is armed") == true)

        served.send(raw: "this is not json")
        served.send(raw: #"{"op":"hello"}"#)
        _ = try served.request("hello")
        #expect(served.events.map { $0["event"]?.string } == ["protocol-error", "protocol-error"])

        let secret = "pw-that-must-not-leak"
        func open(_ policy: JSONValue, _ extra: [String: JSONValue] = [:]) throws -> String? {
            var fields: [String: JSONValue] = [
                "host": .string("127.0.0.1"), "port": .number(1), "user": .string("root"),
                "password": .string(secret), "poolSize": .number(2), "policy": policy,
            ]
            for (k, v) in extra { fields[k] = v }
            return usageMessage(try served.request("open", fields))
        }
        #expect(try open(.string("no-such-preset"))?.hasPrefix("unknown policy preset 'no-such-preset'") == true)
        var policy = try #require(try JSONValue.parse(JSONEncoder().encode(PolicyPreset.pingOnBorrow.policy)))
        var object = try #require(policy.object)
        object["validaton"] = .string("ping")
        #expect(try open(.object(object))?.hasPrefix("unknown policy key 'validaton': known keys are") == true)
        object["validaton"] = nil
        object["validation"] = .string("sometimes")
        #expect(
            try open(.object(object))
                == "bad policy: 'validation': unknown validation 'sometimes': use none, ping, liveness or ping-if-idle:<ms> (ms >= 0)"
        )
        object["validation"] = .string("ping")
        object["readTimeout"] = .number(0)
        #expect(try open(.object(object))?.hasPrefix("bad policy: --read-timeout 0 is out of range") == true)
        object["readTimeout"] = nil
        #expect(try open(.object(object)) == "bad policy: missing 'readTimeout'")
        #expect(try open(.number(3)) == "'policy' must be PoolPolicy's JSON object or a preset's name")
        #expect(try open(.null) == "'open' needs 'policy': PoolPolicy's JSON object, or a preset's name")
        #expect(
            try open(.string("naive"), ["options": .object(["maxIdle": .string("3")])])?.hasPrefix(
                "unknown option 'maxIdle'") == true)
        #expect(
            try open(.string("naive"), ["poolSize": .number(0)])
                == "'open': 'poolSize' 0 is out of range: use 1 to 1000")
        policy = .string("naive")
        #expect(try open(policy, ["password": .number(5)]) == "'open': 'password' must be a string")
        #expect(
            try served.request("open", ["policy": policy])["error"]?["message"]?.string
                == "'open' needs 'host' (a string)")

        // A good open, then a second one.
        #expect(
            try served.request(
                "open",
                [
                    "host": .string("127.0.0.1"), "port": .number(1), "user": .string("root"), "poolSize": .number(1),
                    "policy": policy,
                ])["ok"]?.bool == true)
        #expect(try open(policy) == "the pool is already open")
        #expect(
            usageMessage(try served.request("warm", ["count": .number(3)]))
                == "'warm' count 3 is not the pool size 1: repro's pool warms them all")
        #expect(
            usageMessage(try served.request("busy", ["count": .number(2), "sql": .string("SELECT 1")]))
                == "'busy': 'count' 2 is out of range: use 1 to 1")
        #expect(usageMessage(try served.request("run", [:])) == "'run' needs 'sql' (a string)")
        #expect(try served.request("close")["ok"]?.bool == true)
        #expect(usageMessage(try served.request("run", ["sql": .string("SELECT 1")])) == "the pool was closed")

        let everything = served.allLines.map { String(decoding: $0.line(), as: UTF8.self) }.joined()
        #expect(!everything.contains(secret))
    }

    @Test("EOF on the input ends run(), with nothing open and with a warmed pool (which is closed)", .requiresServer)
    func endOfInput() throws {
        let idle = try ServedPool()
        _ = try idle.request("hello")
        idle.closeInput()
        #expect(idle.waitUntilEnded(timeout: 5))

        let server = try ManagedServer.start()
        defer { server.stop() }
        let served = try ServedPool()
        #expect(try served.open(server, size: 2, policy: .string("naive"))["ok"]?.bool == true)
        let ids = threadIDs(try served.request("warm", ["count": .number(2)]))
        #expect(ids.count == 2)
        let started = ContinuousClock.now
        served.closeInput()
        #expect(served.waitUntilEnded(timeout: 5))
        #expect(ContinuousClock.now - started < .seconds(1), "nothing was under way: no grace to wait out")
        let destroyed = served.events.filter { $0["kind"]?.string == "destroy" }
        #expect(Set(destroyed.compactMap { $0["threadId"]?.int.map(UInt64.init) }) == Set(ids))
        #expect(destroyed.allSatisfy { $0["message"]?.string == "pool closed" })
    }

    @Test("open, warm, run, hold, held run and busy against a real server", .requiresServer)
    func operations() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let served = try ServedPool()
        #expect(try served.open(server, size: 3, policy: .string("naive"))["ok"]?.bool == true)
        let warm = try served.request("warm", ["count": .number(3)])
        #expect(warm["ok"]?.bool == true)
        let ids = threadIDs(warm)
        #expect(ids.count == 3 && Set(ids).count == 3 && ids.allSatisfy { $0 > 0 })
        // The pool's connect events carry the same threads.
        let connects = served.events.filter { $0["event"]?.string == "pool" && $0["kind"]?.string == "connect" }
        #expect(connects.compactMap { $0["threadId"]?.int.map(UInt64.init) } == ids)
        #expect(connects.compactMap { $0["connection"]?.int } == [1, 2, 3])

        let before = served.ms()
        let run = try served.request(
            "run", ["operation": .number(1), "sql": .string("SELECT 1"), "held": .bool(false)])
        let after = served.ms()
        #expect(run["ok"]?.bool == true)
        #expect(run["error"] == nil && run["handled"] == nil)
        let ms = try #require(run["ms"]?.double)
        #expect(ms > 0 && ms < after - before + 1)
        let atMs = try #require(run["atMs"]?.double)
        // The server's clock is the test's, as `runMs` in `open` set it.
        #expect(atMs >= before - served.lag && atMs <= after + 0.01, "\(atMs) in \(before)...\(after)")
        #expect(run["attempts"]?.int == 1)
        #expect(run["connection"]?.int.map { (1...3).contains($0) } == true)

        let hold = try served.request("hold")
        let heldThread = try #require(hold["threadId"]?.int.map(UInt64.init))
        #expect(ids.contains(heldThread))
        #expect(usageMessage(try served.request("hold")) == "a connection is already held")
        let heldRun = try served.request(
            "run", ["operation": .number(2), "sql": .string("SELECT 2"), "held": .bool(true)])
        #expect(heldRun["ok"]?.bool == true)

        // Requests are concurrent: a slow run does not hold up the next one.
        let slowID = served.send("run", ["operation": .number(3), "sql": .string("SELECT SLEEP(1.5)")])
        let quickAt = served.ms()
        let quick = try served.request("run", ["operation": .number(4), "sql": .string("SELECT 1")], timeout: 1)
        #expect(quick["ok"]?.bool == true)
        #expect(served.ms() - quickAt < 1000, "answered while the slow run was still under way")
        let slow = try served.answer(to: slowID)
        #expect(slow["ok"]?.bool == true && (slow["ms"]?.double ?? 0) >= 1400)

        let busy = try served.request("busy", ["count": .number(2), "sql": .string("SELECT SLEEP(0.2)")])
        let results = try #require(busy["results"]?.array)
        #expect(results.count == 2)
        #expect(results.allSatisfy { $0["ok"]?.bool == true && ($0["ms"]?.double ?? 0) >= 190 })
        #expect(try served.request("close")["ok"]?.bool == true)
    }

    @Test(
        "a KILLed idle connection: naive hands it out and the query fails with Connector/C's own error", .requiresServer
    )
    func killedNaive() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let served = try ServedPool()
        #expect(try served.open(server, size: 2, policy: .string("naive"))["ok"]?.bool == true)
        let ids = threadIDs(try served.request("warm", ["count": .number(2)]))
        try #require(ids.count == 2)
        try kill(ids, on: server)

        let run = try served.request("run", ["operation": .number(1), "sql": .string("SELECT 1")])
        #expect(run["ok"]?.bool == false)
        #expect(run["handled"] == nil, "naive absorbs nothing")
        let error = try #require(run["error"])
        #expect(error["class"]?.string == "DatabaseError")
        #expect(error["phase"]?.string == "query")
        #expect(error["fatal"] == .null)
        // After KILL the server sent a FIN: the send succeeds, the read finds EOF (ServerCloseWireTests).
        #expect(error["code"]?.string == "CR_SERVER_LOST")
        #expect(error["errno"]?.int == 2013)
        #expect(error["sqlState"]?.string == "HY000")
        let message = try #require(error["message"]?.string)
        #expect(message.hasPrefix("Lost connection to server"))
        let threadID = try #require(error["threadId"]?.int.map(UInt64.init))
        #expect(ids.contains(threadID))
        // The same error went out as the pool's query-error event, with EventLog's detail.
        let queryError = served.events.first { $0["kind"]?.string == "query-error" }
        #expect(queryError?["message"]?.string == description(of: error))
        #expect(queryError?["threadId"]?.int.map(UInt64.init) == threadID)
        // An error inside an operation is the answer's, never a pool-error event.
        #expect(!served.events.contains { $0["event"]?.string == "pool-error" })
    }

    @Test(
        "a KILLed idle connection: ping-on-borrow absorbs it, the answer lists what validation handled", .requiresServer
    )
    func killedPingOnBorrow() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let served = try ServedPool()
        let policy = try #require(try JSONValue.parse(JSONEncoder().encode(PolicyPreset.pingOnBorrow.policy)))
        #expect(try served.open(server, size: 2, policy: policy)["ok"]?.bool == true)
        let ids = threadIDs(try served.request("warm", ["count": .number(2)]))
        try #require(ids.count == 2)
        try kill(ids, on: server)

        let run = try served.request("run", ["operation": .number(1), "sql": .string("SELECT 1")])
        #expect(run["ok"]?.bool == true)
        #expect(run["error"] == nil)
        let handled = try #require(run["handled"]?.array)
        // Both idle connections were dead: each failed its ping, then a new one answered.
        #expect(handled.count == 2)
        for entry in handled {
            #expect(entry["by"]?.string == "validation")
            #expect(entry["error"]?["phase"]?.string == "validate")
            #expect(entry["error"]?["class"]?.string == "DatabaseError")
            #expect(["CR_SERVER_LOST", "CR_SERVER_GONE_ERROR"].contains(entry["error"]?["code"]?.string ?? ""))
            #expect(entry["error"]?["message"]?.string?.isEmpty == false)
        }
        #expect(Set(handled.compactMap { $0["error"]?["threadId"]?.int.map(UInt64.init) }) == Set(ids))
        let failedChecks = served.events.filter { $0["kind"]?.string == "validate-failed" }
        #expect(failedChecks.compactMap { $0["message"]?.string } == handled.map { description(of: $0["error"]) ?? "" })
        #expect(served.events.contains { $0["kind"]?.string == "borrow" && $0["message"]?.string == "new connection" })
    }

    @Test("errors outside an operation (keepalive) go out as pool-error events", .requiresServer)
    func keepaliveErrors() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let served = try ServedPool()
        var policy = PolicyPreset.keepalive.policy
        policy.keepaliveInterval = 0.1
        let encoded = try #require(try JSONValue.parse(JSONEncoder().encode(policy)))
        #expect(try served.open(server, size: 2, policy: encoded)["ok"]?.bool == true)
        let ids = threadIDs(try served.request("warm", ["count": .number(2)]))
        try #require(ids.count == 2)
        try kill(ids, on: server)
        var errors: [JSONValue] = []
        for _ in 0..<100 {
            errors = served.events.filter { $0["event"]?.string == "pool-error" }
            if errors.count >= 2 { break }
            usleep(20_000)
        }
        try #require(errors.count >= 2, "keepalive found both killed connections within 2 s")
        for error in errors.prefix(2) {
            #expect(error["by"]?.string == "keepalive")
            #expect(error["error"]?["phase"]?.string == "keepalive")
            #expect(error["error"]?["class"]?.string == "DatabaseError")
            #expect(error["message"]?.string == description(of: error["error"]))
        }
        #expect(Set(errors.prefix(2).compactMap { $0["threadId"]?.int.map(UInt64.init) }) == Set(ids))
        #expect(served.events.filter { $0["kind"]?.string == "keepalive-failed" }.count >= 2)
        #expect(try served.request("close")["ok"]?.bool == true)
    }

    @Test(
        "arm answers at once, runs its batch when due, one after another; collect returns them in order",
        .requiresServer)
    func armAndCollect() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let served = try ServedPool()
        #expect(try served.open(server, size: 2, policy: .string("naive"))["ok"]?.bool == true)
        _ = try served.request("warm", ["count": .number(2)])

        let sentAt = served.ms()
        let arm = try served.request(
            "arm", ["count": .number(4), "sql": .string("SELECT SLEEP(0.05)"), "delayMs": .number(800)])
        let answeredAt = served.ms()
        #expect(arm["ok"]?.bool == true)
        #expect(answeredAt - sentAt < 400, "arm answers before its batch runs")
        let borrowsBefore = served.events.filter { $0["kind"]?.string == "borrow" }.count
        #expect(borrowsBefore == 0)
        let second = try served.request("arm", ["count": .number(1), "sql": .string("SELECT 1")])
        #expect(usageMessage(second) == "a batch is already armed: 'collect' it before the next 'arm'")

        let collect = try served.request("collect")
        #expect(collect["ok"]?.bool == true)
        let results = try #require(collect["results"]?.array)
        #expect(results.count == 4)
        #expect(results.allSatisfy { $0["ok"]?.bool == true })
        let starts = results.compactMap { $0["atMs"]?.double }
        let durations = results.compactMap { $0["ms"]?.double }
        try #require(starts.count == 4 && durations.count == 4)
        #expect(starts[0] >= sentAt + 800 - served.lag, "the timer fell due 800 ms after the request")
        for i in 1..<4 {
            // Sequential: each started after the previous one ended.
            #expect(starts[i] >= starts[i - 1] + durations[i - 1] - 0.01)
        }
        #expect(durations.allSatisfy { $0 >= 45 })
        let firstBorrow = served.events.first { $0["kind"]?.string == "borrow" }
        #expect((firstBorrow?["atMs"]?.double ?? 0) >= sentAt + 800 - served.lag)

        // Collected: the next arm is accepted; with no delay it runs at once. Written together, like requests
        // that queued while the process was stopped.
        let armID = served.send("arm", ["count": .number(2), "sql": .string("SELECT 1")])
        let collectID = served.send("collect")
        #expect(try served.answer(to: armID)["ok"]?.bool == true)
        let queued = try served.answer(to: collectID)
        #expect(queued["results"]?.array?.count == 2)
        #expect(queued["results"]?.array?.allSatisfy { $0["ok"]?.bool == true } == true)
    }

    @Test("a wrong password: warm fails with the server's error and no line carries the password", .requiresServer)
    func wrongPassword() throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let served = try ServedPool()
        let secret = "Wr0ng-pa55word-do-not-print"
        #expect(try served.open(server, size: 1, policy: .string("naive"), password: secret)["ok"]?.bool == true)
        let warm = try served.request("warm", ["count": .number(1)])
        #expect(warm["ok"]?.bool == false)
        #expect(warm["error"]?["code"]?.string == "ER_ACCESS_DENIED_ERROR")
        #expect(warm["error"]?["errno"]?.int == 1045)
        #expect(warm["error"]?["message"]?.string?.hasPrefix("Access denied for user 'root'") == true)
        #expect(served.events.contains { $0["kind"]?.string == "connect-failed" })
        let everything = served.allLines.map { String(decoding: $0.line(), as: UTF8.self) }.joined()
        #expect(!everything.contains(secret))
    }
}
