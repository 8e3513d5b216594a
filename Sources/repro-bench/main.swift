import Foundation
import ReproKit

// `make bench`: measures the tool and writes reports/bench.json and reports/bench.md. Figures, never assertions.

struct SuiteResult: Codable {
    var label: String
    var poolSize: Int
    var wallSeconds: Double
    var floorSeconds: Double
    var overheadSeconds: Double
    var exitStatus: Int32
}

/// One `--jobs` run of `repro all` or `repro matrix`.
struct ParallelResult: Codable {
    var command: String
    var jobs: Int
    var wallSeconds: Double
    /// Server start plus the longest single scenario's unavoidable wait: no number of jobs goes below it.
    var floorSeconds: Double
    var exitStatus: Int32
}

struct BenchReport: Codable {
    var generatedAt: String
    var machine: String
    var server: String
    var client: String
    var proxy: [PathResult]
    var proxyOneCPU: [PathResult]
    var validation: [PolicyCost]
    var detection: [DetectionResult]
    var serverStartSeconds: Double
    var suite: [SuiteResult]
    var scale: [ScaleResult]
    var reproPeakRSSMiB: Double
    var reproPool200RSSMiB: Double
    var benchPeakRSSMiB: Double
    var adapterInProcessP50Micros: Double
    var adapters: [AdapterCost]
    var parallel: [ParallelResult]
    var totalSeconds: Double
}

signal(SIGPIPE, SIG_IGN)
// Ctrl-C stops the embedded servers this benchmark started.
CleanupRegistry.shared.installSignalHandlers()
let args = CommandLine.arguments
let outDir = args.count > 1 ? args[1] : "reports"
let repro = args.count > 2 ? args[2] : ".build/release/repro"
let started = ContinuousClock.now

func machine() -> String {
    let cpu =
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    var u = utsname()
    uname(&u)
    let kernel = withUnsafePointer(to: &u.release) {
        $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) }
    }
    return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu), Linux \(kernel)"
}

do {
    log("bench: starting the embedded server")
    var starts: [Double] = []
    for _ in 0..<3 {
        let t0 = ContinuousClock.now
        let s = try ReproSession.open(dsn: nil)
        s.close()
        starts.append(EventLog.milliseconds(ContinuousClock.now - t0) / 1000)
    }
    let session = try ReproSession.open(dsn: nil)
    defer { session.close() }
    // REPRO_BENCH_ONLY=adapters: section 6 alone, printed.
    if ProcessInfo.processInfo.environment["REPRO_BENCH_ONLY"] == "adapters" {
        let (inProcess, costs) = benchAdapters(endpoint: session.endpoint, starts: 5, operations: 2000)
        Console.out(renderAdapters(inProcessP50Micros: inProcess, costs))
        CleanupRegistry.shared.runAll()
        exit(0)
    }

    log("bench 1/5: proxy pass-through (direct / FaultProxy / socat)")
    let proxy = try benchProxy(endpoint: session.endpoint, rounds: 6, perRound: 1000, repro: repro)
    // The same with everything (a server of its own, client, proxies and their threads) on one CPU: separates the
    // proxies' own cost from cross-CPU wakeups, which dominate on a 2-vCPU VM.
    let proxyPinned = try onOneCPU {
        let pinnedServer = try ReproSession.open(dsn: nil)
        defer { pinnedServer.close() }
        return try benchProxy(endpoint: pinnedServer.endpoint, rounds: 6, perRound: 1000, repro: repro)
    }
    // REPRO_BENCH_ONLY=proxy: just this section, for profiling the proxy.
    if ProcessInfo.processInfo.environment["REPRO_BENCH_ONLY"] == "proxy" {
        for p in proxy + proxyPinned {
            print(
                "\(p.path): p50 \(fmt(p.latencyMicros.p50)) µs, p99 \(fmt(p.latencyMicros.p99)) µs, added \(fmt(p.addedP50Micros)) µs, \(fmt(p.throughputMBps, 0)) MB/s"
            )
        }
        CleanupRegistry.shared.runAll()
        exit(0)
    }
    log("bench 2/5: validation cost per borrow")
    let validation = try benchValidation(endpoint: session.endpoint, borrows: 20_000)
    log("bench 3/5: detection and recovery")
    let detection = try benchDetection(session: session)
    log("bench 6: real driver stacks through their adapters (start, per-operation protocol cost)")
    let (inProcessMicros, adapterCosts) = benchAdapters(endpoint: session.endpoint, starts: 5, operations: 2000)
    log("bench 5/5 (first half): scale, 200 connections, 32 workers, all killed")
    var scale: [ScaleResult] = []
    for preset in [PolicyPreset.goSQL, .pingOnBorrow] {
        scale.append(try benchScale(endpoint: session.endpoint, preset: preset, poolSize: 200, workers: 32))
    }
    let benchRSS = peakRSSMiB(pid: getpid())

    log("bench 4/5: repro all wall time against its floor; growth with pool size")
    let scenarios = try ScenarioFile.load(paths: ["Scenarios"])
    let serverStart = Stats(starts).p50
    var suite: [SuiteResult] = []
    var reproRSS = 0.0
    // repro itself at the scale of section 5: one scenario on a pool of 200.
    let single = try timed(
        repro, ["kill-thread", "--pool-size", "200", "--quiet", "--report-dir", outDir + "/bench-all"])
    let reproScaleRSS = single.peakRSSMiB
    // Growth runs leave out blackhole scenarios: their floor is pool size × read timeout (64 s, 256 s of pure
    // waiting), which says nothing about the tool and would make the benchmark run for minutes.
    let files = try FileManager.default.contentsOfDirectory(atPath: "Scenarios").filter { $0.hasSuffix(".yml") }
        .sorted()
    // Driver scenarios are left out too: a real pool of 256 measures the driver's connect rate, not repro.
    let noBlackhole = files.filter { !$0.contains("blackhole") && !$0.hasPrefix("driver-") }.map { "Scenarios/" + $0 }
    for size in [nil, 4, 64, 256] as [Int?] {
        let chosen =
            size == nil
            ? scenarios : scenarios.filter { !$0.name.contains("blackhole") && !$0.name.hasPrefix("driver-") }
        var sized = chosen
        if let size { for i in sized.indices { sized[i].poolSize = size } }
        let floor = serverStart + sized.reduce(0) { $0 + $1.unavoidableWaitSeconds }
        var arguments = ["all"] + (size == nil ? ["Scenarios"] : noBlackhole)
        // One at a time: the floor here is the sum of the waits (section 7 measures --jobs).
        arguments += ["--jobs", "1", "--quiet", "--report-dir", outDir + "/bench-all"]
        if let size { arguments += ["--pool-size", "\(size)"] }
        let run = try timed(repro, arguments)
        reproRSS = max(reproRSS, run.peakRSSMiB)
        suite.append(
            SuiteResult(
                label: size.map { "pool size \($0), without blackhole" } ?? "as shipped", poolSize: size ?? 4,
                wallSeconds: run.seconds, floorSeconds: floor, overheadSeconds: run.seconds - floor,
                exitStatus: run.status))
        if run.status != 0 && size == nil { log("repro all exited \(run.status):\n\(run.output)") }
    }

    log("bench 7: repro all and repro matrix at --jobs 1, 2, 4, 8 against their floor")
    var parallel: [ParallelResult] = []
    let allFloor = serverStart + (scenarios.map(\.unavoidableWaitSeconds).max() ?? 0)
    let matrix = Matrix(
        scenarios: MatrixColumn.policyColumns, policies: PolicyPreset.allCases, seconds: 1, costBorrows: 10)
    let matrixWaits = PolicyPreset.allCases.flatMap { preset in
        MatrixColumn.policyColumns.map { matrix.scenario($0, preset).unavoidableWaitSeconds }
    }
    let matrixFloor = serverStart + (matrixWaits.max() ?? 0)
    for jobs in [1, 2, 4, 8] {
        let all = try timed(
            repro, ["all", "Scenarios", "--jobs", "\(jobs)", "--quiet", "--report-dir", outDir + "/bench-jobs"])
        parallel.append(
            ParallelResult(
                command: "repro all Scenarios", jobs: jobs, wallSeconds: all.seconds, floorSeconds: allFloor,
                exitStatus: all.status))
        let cells = try timed(
            repro,
            [
                "matrix", "--seconds", "1", "--cost-borrows", "10", "--jobs", "\(jobs)", "--quiet", "--report-dir",
                outDir + "/bench-jobs",
            ])
        parallel.append(
            ParallelResult(
                command: "repro matrix --seconds 1 (\(matrixWaits.count) cells)", jobs: jobs,
                wallSeconds: cells.seconds, floorSeconds: matrixFloor, exitStatus: cells.status))
    }

    let report = BenchReport(
        generatedAt: ISO8601DateFormatter().string(from: Date()), machine: machine(),
        server: session.serverVersion, client: "MariaDB Connector/C \(MariaDBConnection.clientVersion)",
        proxy: proxy, proxyOneCPU: proxyPinned, validation: validation, detection: detection,
        serverStartSeconds: serverStart, suite: suite,
        scale: scale, reproPeakRSSMiB: reproRSS, reproPool200RSSMiB: reproScaleRSS, benchPeakRSSMiB: benchRSS,
        adapterInProcessP50Micros: inProcessMicros, adapters: adapterCosts, parallel: parallel,
        totalSeconds: EventLog.milliseconds(ContinuousClock.now - started) / 1000)
    try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(report).write(to: URL(fileURLWithPath: outDir + "/bench.json"))
    let md = renderBench(report)
    try Data(md.utf8).write(to: URL(fileURLWithPath: outDir + "/bench.md"))
    print(md)
    log("bench: wrote \(outDir)/bench.json and \(outDir)/bench.md in \(fmt(report.totalSeconds)) s")
} catch {
    log("bench failed: \(error)")
    exit(3)
}
