import Foundation
import ReproKit

/// One path a query can take to the server.
struct PathResult: Codable {
    var path: String
    var latencyMicros: Stats
    var addedP50Micros: Double
    var throughputMBps: Double
}

/// Runs `body` with this thread (and every thread or process it starts meanwhile) on CPU 0 only.
func onOneCPU<T>(_ body: () throws -> T) rethrows -> T {
    // Glibc's module does not export the GNU affinity calls; look them up instead.
    typealias Affinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
    let process = dlopen(nil, RTLD_NOW)
    guard let get = dlsym(process, "sched_getaffinity"), let set = dlsym(process, "sched_setaffinity") else {
        return try body()
    }
    let getAffinity = unsafeBitCast(get, to: Affinity.self)
    let setAffinity = unsafeBitCast(set, to: Affinity.self)
    var saved = [UInt8](repeating: 0, count: 128)
    var one = [UInt8](repeating: 0, count: 128)
    one[0] = 1
    _ = saved.withUnsafeMutableBytes { getAffinity(0, 128, $0.baseAddress!) }
    _ = one.withUnsafeMutableBytes { setAffinity(0, 128, $0.baseAddress!) }
    defer { _ = saved.withUnsafeMutableBytes { setAffinity(0, 128, $0.baseAddress!) } }
    return try body()
}

/// 1. SELECT 1 latency and 16 MB throughput: direct, through FaultProxy, through socat; alternating rounds.
func benchProxy(endpoint: ServerEndpoint, rounds: Int, perRound: Int, repro: String) throws -> [PathResult] {
    let proxy = FaultProxy(upstreamHost: endpoint.host, upstreamPort: endpoint.port)
    let proxyPort = try proxy.start()
    defer { proxy.stop() }
    let socatPort = LoopbackTCP.freePort() ?? 0
    let socat = Process()
    socat.executableURL = URL(fileURLWithPath: "/usr/bin/socat")
    socat.arguments = [
        "TCP-LISTEN:\(socatPort),bind=127.0.0.1,reuseaddr,fork", "TCP:\(endpoint.host):\(endpoint.port)",
    ]
    var paths: [(String, Int)] = [("direct", endpoint.port), ("FaultProxy (in-process)", proxyPort)]
    if FileManager.default.isExecutableFile(atPath: "/usr/bin/socat") {
        try socat.run()
        if waitForPort(socatPort) { paths.append(("socat", socatPort)) }
    } else {
        log("socat not installed (make setup installs it): socat column skipped")
    }
    // The same FaultProxy as its own process (`repro proxy`), as a user runs it in front of an application.
    let standalonePort = LoopbackTCP.freePort() ?? 0
    let standalone = Process()
    standalone.executableURL = URL(fileURLWithPath: repro)
    standalone.arguments = ["proxy", "--listen", "127.0.0.1:\(standalonePort)", "--upstream", endpoint.hostPort]
    standalone.standardOutput = FileHandle.nullDevice
    if FileManager.default.isExecutableFile(atPath: repro) {
        try standalone.run()
        if waitForPort(standalonePort) { paths.append(("repro proxy (process)", standalonePort)) }
    }
    defer {
        for p in [socat, standalone] where p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
    }
    var connections: [MariaDBConnection] = []
    for (_, port) in paths {
        let options = ConnectionOptions(
            host: "127.0.0.1", port: port, user: endpoint.user, password: endpoint.password, readTimeout: 30)
        connections.append(try MariaDBConnection(options: options))
    }
    defer { connections.forEach { $0.close() } }
    var samples = Array(repeating: [Double](), count: paths.count)
    let clock = ContinuousClock()
    for c in connections { for _ in 0..<200 { try c.query("SELECT 1") } }
    for round in 0..<rounds {
        // Rotate the order every round so no path always runs first (A/B/C, B/C/A, C/A/B).
        for k in 0..<paths.count {
            let i = (k + round) % paths.count
            for _ in 0..<perRound {
                let t0 = clock.now
                try connections[i].query("SELECT 1")
                samples[i].append(micros(clock.now - t0))
            }
        }
    }
    var throughput = Array(repeating: [Double](), count: paths.count)
    let big = "SELECT REPEAT('x', 1048576) FROM mysql.seq_1_to_16"
    for round in 0..<3 {
        for k in 0..<paths.count {
            let i = (k + round) % paths.count
            let t0 = clock.now
            let rows = try connections[i].query(big)
            let seconds = EventLog.milliseconds(clock.now - t0) / 1000
            let bytes = rows.reduce(0) { $0 + ($1.first??.utf8.count ?? 0) }
            throughput[i].append(Double(bytes) / 1_048_576 / seconds)
        }
    }
    let direct = Stats(samples[0]).p50
    return paths.indices.map { i in
        let s = Stats(samples[i])
        return PathResult(
            path: paths[i].0, latencyMicros: s, addedP50Micros: s.p50 - direct,
            throughputMBps: Stats(throughput[i]).p50)
    }
}

/// 2. What validation costs per borrow on a warm, healthy pool.
func benchValidation(endpoint: ServerEndpoint, borrows: Int) throws -> [PolicyCost] {
    var out: [PolicyCost] = []
    for (label, preset) in [
        ("none", PolicyPreset.naive), ("liveness", .livenessCheck), ("ping", .pingOnBorrow),
        ("ping-if-idle:500", .pingIfIdle),
    ] {
        var cost = try PolicyCost.measure(preset.policy, endpoint: endpoint, borrows: borrows)
        cost.policy = label
        out.append(cost)
    }
    return out
}

/// 3. From the fault's effect to the first error, and to the first success after it.
struct DetectionResult: Codable {
    var scenario: String
    var policy: String
    var firstError: String?
    var detectionMs: Double?
    var recoveryMs: Double?
    var survived: Bool
}

func benchDetection(session: ReproSession) throws -> [DetectionResult] {
    let matrix = Matrix(seconds: 1)
    let cells = MatrixColumn.policyColumns.filter { $0 != .killThreadBusy }.flatMap { column in
        [PolicyPreset.naive, .pingOnBorrow, .livenessCheck, .goSQL].map { (column: column, preset: $0) }
    }
    // One at a time, through the session the way `repro all` runs scenarios (the server watched after each).
    let report = try session.run(cells.map { matrix.scenario($0.column, $0.preset) })
    return zip(cells, report.scenarios).map { cell, r in
        DetectionResult(
            scenario: cell.column.rawValue, policy: cell.preset.rawValue,
            firstError: r.firstError.map { "\($0.error.code) (\($0.phase.rawValue))" },
            detectionMs: r.detectionMs, recoveryMs: r.recoveryMs, survived: r.survived)
    }
}

/// 5. 200 connections, 32 workers, every server thread killed at once: time until every worker succeeds again.
struct ScaleResult: Codable {
    var policy: String
    var poolSize: Int
    var workers: Int
    var allWorkersRecoveredMs: Double?
    var operationsBefore: Int
    var failedAfterKill: Int
    var succeededAfterKill: Int
}

func benchScale(endpoint: ServerEndpoint, preset: PolicyPreset, poolSize: Int, workers: Int) throws -> ScaleResult {
    let runner = ScenarioRunner(endpoint: endpoint)
    let options = runner.connectionOptions(policy: preset.policy)
    let log = EventLog()
    let pool = Pool(policy: preset.policy, size: poolSize, log: log) { () throws(DatabaseError) in
        try MariaDBConnection(options: options)
    }
    defer { pool.close() }
    try pool.warm()
    let admin = try runner.adminConnection()
    defer { admin.close() }

    final class Shared: @unchecked Sendable {
        // Guarded by lock: written by worker threads, read by the coordinator.
        let lock = NSLock()
        var killAt: ContinuousClock.Instant?
        var recoveredAt: [ContinuousClock.Instant?]
        var before = 0
        var failedAfter = 0
        var succeededAfter = 0
        var stop = false
        init(workers: Int) { recoveredAt = Array(repeating: nil, count: workers) }
    }
    let shared = Shared(workers: workers)
    let group = DispatchGroup()
    for w in 0..<workers {
        group.enter()
        Thread {
            defer { group.leave() }
            var op = 0
            while true {
                shared.lock.lock()
                let stop = shared.stop
                let killAt = shared.killAt
                shared.lock.unlock()
                if stop { break }
                let started = ContinuousClock.now
                op += 1
                let result = pool.execute("SELECT 1", operation: op)
                shared.lock.lock()
                if let killAt, started > killAt {
                    if result.succeeded {
                        shared.succeededAfter += 1
                        if shared.recoveredAt[w] == nil { shared.recoveredAt[w] = .now }
                    } else {
                        shared.failedAfter += 1
                    }
                } else if killAt == nil {
                    shared.before += 1
                }
                shared.lock.unlock()
            }
        }.start()
    }
    Thread.sleep(forTimeInterval: 0.5)
    let ids = pool.threadIDs
    shared.lock.lock()
    shared.killAt = .now
    let killAt = shared.killAt!
    shared.lock.unlock()
    for id in ids { _ = try? admin.query("KILL CONNECTION \(id)") }
    // Bounded: stop when every worker has succeeded after the kill, or after 20 s.
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        shared.lock.lock()
        let done = shared.recoveredAt.allSatisfy { $0 != nil }
        shared.lock.unlock()
        if done { break }
        Thread.sleep(forTimeInterval: 0.005)
    }
    Thread.sleep(forTimeInterval: 0.2)
    shared.lock.lock()
    shared.stop = true
    shared.lock.unlock()
    _ = group.wait(timeout: .now() + 30)
    shared.lock.lock()
    defer { shared.lock.unlock() }
    let all = shared.recoveredAt.allSatisfy { $0 != nil }
    let last = shared.recoveredAt.compactMap { $0 }.max()
    return ScaleResult(
        policy: preset.rawValue, poolSize: poolSize, workers: workers,
        allWorkersRecoveredMs: all ? last.map { EventLog.milliseconds($0 - killAt) } : nil,
        operationsBefore: shared.before, failedAfterKill: shared.failedAfter, succeededAfterKill: shared.succeededAfter)
}
