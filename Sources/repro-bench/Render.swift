import Foundation
import ReproKit

func renderBench(_ r: BenchReport) -> String {
    var out = "# repro benchmark\n\n"
    out += "- Machine: \(r.machine)\n- Server: MariaDB \(r.server) (embedded)\n- Client: \(r.client)\n"
    out += "- Generated: \(r.generatedAt); whole run \(fmt(r.totalSeconds)) s (`make bench`)\n\n"

    out += "## 1. Proxy pass-through\n\n"
    out +=
        "`SELECT 1` round trips over one connection, 6 alternating rounds of 1000 per path (order rotated each round); "
    out += "throughput of a 16 MB result (16 rows of 1 MB), median of 3.\n\n"
    out += proxyTable("Default scheduling (2 vCPUs)", r.proxy)
    out += proxyTable(
        "Everything (a server of its own, client, proxies) pinned to one CPU: the proxies' own cost, "
            + "without cross-CPU wakeups",
        r.proxyOneCPU)
    out += "\n## 2. Validation cost per borrow (warm pool of 4, healthy server)\n\n"
    out += "| validation | borrows | p50 (µs) | p99 (µs) | round trips per borrow |\n| --- | --- | --- | --- | --- |\n"
    for c in r.validation {
        out +=
            "| \(c.policy) | \(c.borrows) | \(fmt(c.p50Micros, 2)) | \(fmt(c.p99Micros, 2)) | \(fmt(c.roundTripsPerBorrow, 2)) |\n"
    }
    if let l = r.validation.first(where: { $0.policy == "liveness" }),
        let p = r.validation.first(where: { $0.policy == "ping" })
    {
        let ratio = p.p50Micros / max(l.p50Micros, 0.001)
        out +=
            "\nGoal: liveness ≤ 5 µs and ≥ 10× cheaper than ping — \(l.p50Micros <= 5 && ratio >= 10 ? "met" : "missed") (\(fmt(l.p50Micros, 2)) µs, \(fmt(ratio)) × cheaper).\n"
    }

    out += "\n## 3. Detection and recovery\n\n"
    out +=
        "Detection: from the fault's effect to the first error seen (validation included). Recovery: to the end of the first successful operation. "
    out +=
        "wait-timeout's effect is taken at warm + wait_timeout; the pool is only used after the 0.3 s margin, so its detection is that margin by design.\n\n"
    out +=
        "| scenario | policy | first error | detection (ms) | recovery (ms) | survived |\n| --- | --- | --- | --- | --- | --- |\n"
    for d in r.detection {
        out +=
            "| \(d.scenario) | \(d.policy) | \(d.firstError ?? "none") | \(d.detectionMs.map { fmt($0) } ?? "–") | \(d.recoveryMs.map { fmt($0) } ?? "–") | \(d.survived ? "✓" : "✗") |\n"
    }

    out += "\n## 4. Suite time\n\n"
    out +=
        "`repro all Scenarios` wall time against its floor: embedded server start (median \(fmt(r.serverStartSeconds, 2)) s) plus every scenario's unavoidable waits (idle time, settle gaps, blackhole read timeouts), computed from the scenario files.\n\n"
    out += "| run | wall (s) | floor (s) | overhead (s) | exit |\n| --- | --- | --- | --- | --- |\n"
    for s in r.suite {
        out +=
            "| \(s.label) | \(fmt(s.wallSeconds, 2)) | \(fmt(s.floorSeconds, 2)) | \(fmt(s.overheadSeconds, 2)) | \(s.exitStatus) |\n"
    }
    if let shipped = r.suite.first {
        out +=
            "\nGoal: overhead ≤ 1.5 s for the shipped directory — \(shipped.overheadSeconds <= 1.5 ? "met" : "missed") (\(fmt(shipped.overheadSeconds, 2)) s).\n"
    }

    out += "\n## 5. Scale\n\n"
    out +=
        "A pool of 200 connections, 32 worker threads running borrow/`SELECT 1`/release, every server thread killed at once.\n\n"
    out +=
        "| policy | all 32 workers succeed again after (ms) | ops before the kill (0.5 s) | failed after | succeeded after |\n| --- | --- | --- | --- | --- |\n"
    for s in r.scale {
        out +=
            "| \(s.policy) | \(s.allWorkersRecoveredMs.map { fmt($0) } ?? "not within 20 s") | \(s.operationsBefore) | \(s.failedAfterKill) | \(s.succeededAfterKill) |\n"
    }
    out += "\nPeak RSS (VmHWM of the `repro` process itself; the embedded mariadbd is a separate process):\n\n"
    out += "- `repro kill-thread --pool-size 200`: \(fmt(r.reproPool200RSSMiB)) MiB — goal < 50 MiB "
    out += r.reproPool200RSSMiB < 50 ? "met\n" : "missed\n"
    out += "- `repro all` up to pool size 256 (13 scenarios; the report keeps every event of ~3,300 connections): "
    out += "\(fmt(r.reproPeakRSSMiB)) MiB\n"
    out += "- this benchmark process (pool of 200, 32 workers, every event of ~30,000 operations kept): "
    out += "\(fmt(r.benchPeakRSSMiB)) MiB\n"
    out += renderAdapters(inProcessP50Micros: r.adapterInProcessP50Micros, r.adapters)
    out += renderParallel(r.parallel, serverStart: r.serverStartSeconds)
    return out
}

func renderParallel(_ rows: [ParallelResult], serverStart: Double) -> String {
    var out = "\n## 7. Parallel runs (`--jobs`)\n\n"
    out +=
        "Wall time at 1, 2, 4 and 8 jobs on one embedded server (machine above). Floor: server start (\(fmt(serverStart, 2)) s) plus the longest single scenario's unavoidable wait; no number of jobs goes below it. Scenarios with a global wait_timeout would run alone (the shipped ones have none).\n\n"
    out +=
        "| command | jobs | wall (s) | floor (s) | wall ÷ wall at 1 job | exit |\n| --- | --- | --- | --- | --- | --- |\n"
    for row in rows {
        let one = rows.first { $0.command == row.command && $0.jobs == 1 }?.wallSeconds ?? row.wallSeconds
        out +=
            "| \(row.command) | \(row.jobs) | \(fmt(row.wallSeconds, 2)) | \(fmt(row.floorSeconds, 2)) | \(fmt(row.wallSeconds / one, 2)) | \(row.exitStatus) |\n"
    }
    if let one = rows.first(where: { $0.command.hasPrefix("repro all") && $0.jobs == 1 }),
        let four = rows.first(where: { $0.command.hasPrefix("repro all") && $0.jobs == 4 })
    {
        let met = four.wallSeconds < one.wallSeconds / 2
        out +=
            "\nGoal: `repro all --jobs 4` in less than half the wall time of `--jobs 1` — \(met ? "met" : "missed") (\(fmt(four.wallSeconds, 2)) s vs \(fmt(one.wallSeconds, 2)) s).\n"
    }
    return out
}

func proxyTable(_ title: String, _ rows: [PathResult]) -> String {
    var out = "\n\(title):\n\n"
    out += "| path | p50 (µs) | p99 (µs) | added p50 vs direct (µs) | 16 MB throughput (MB/s) |\n"
    out += "| --- | --- | --- | --- | --- |\n"
    for p in rows {
        out += "| \(p.path) | \(fmt(p.latencyMicros.p50)) | \(fmt(p.latencyMicros.p99)) | \(fmt(p.addedP50Micros)) "
        out += "| \(fmt(p.throughputMBps, 0)) |\n"
    }
    if let fp = rows.first(where: { $0.path.hasPrefix("FaultProxy") }),
        let so = rows.first(where: { $0.path == "socat" })
    {
        let verdict = fp.addedP50Micros <= so.addedP50Micros ? "met" : "missed"
        out += "\nGoal: FaultProxy's added latency no larger than socat's — \(verdict) "
        out += "(\(fmt(fp.addedP50Micros)) µs vs \(fmt(so.addedP50Micros)) µs).\n"
    }
    return out
}
