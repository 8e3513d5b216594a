import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// The load account and its arithmetic, on hand-made worker records.
@Suite struct LoadSummaryTests {
    /// A worker whose operations started at `ops`' times and took 1 ms each, and the tally they add up to.
    static func worker(_ ops: [(Double, Bool)]) -> LoadWorkers.WorkerState {
        var w = LoadWorkers.WorkerState()
        for (at, ok) in ops {
            w.started += 1
            if ok { w.succeeded += 1 } else { w.failed += 1 }
            w.record(endMs: at + 1, succeeded: ok, faultFrom: 0)
        }
        return w
    }

    static func tally(_ workers: [[(Double, Bool)]]) -> LoadTally {
        var t = LoadTally()
        for (at, ok) in workers.flatMap({ $0 }) { t.add(endMs: at + 1, durationMs: 1, succeeded: ok) }
        return t
    }

    @Test func aMismatchedAccountIsAnInternalError() throws {
        let ops: [(Double, Bool)] = [(10, true), (20, false)]
        var w = Self.worker(ops)
        w.started += 1  // an operation started and never counted
        #expect(throws: RunError.self) {
            try LoadSummary.make(
                LoadSpec(concurrency: 1, duration: 1), workers: [w], tally: Self.tally([ops]), faultAt: 15,
                errors: [], timeline: [], trafficMs: (0, 100))
        }
        do {
            _ = try LoadSummary.make(
                LoadSpec(concurrency: 1, duration: 1), workers: [w], tally: Self.tally([ops]), faultAt: 15,
                errors: [], timeline: [], trafficMs: (0, 100))
        } catch {
            #expect(error.exitCode == 3)
            #expect(error.message.contains("started 3 operations but counted 1 succeeded and 1 failed"))
        }
    }

    @Test func fullRecoveryIsAfterTheLastFailureOfAnyWorker() throws {
        let opsA: [(Double, Bool)] = [(10, true), (101, false), (150, true), (300, true)]
        let opsB: [(Double, Bool)] = [(20, true), (110, false), (120, false), (200, true)]
        let s = try LoadSummary.make(
            LoadSpec(concurrency: 2, duration: 1), workers: [Self.worker(opsA), Self.worker(opsB)],
            tally: Self.tally([opsA, opsB]), faultAt: 100, errors: [], timeline: [], trafficMs: (0, 400))
        #expect(s.started == 8 && s.succeeded == 5 && s.failed == 3)
        #expect(s.firstCallerErrorMs == 2)  // 101 + 1 ms duration - 100
        #expect(s.fullRecoveryMs == 21)  // b's last failure ends at 121
        #expect(s.before.count == 2)
        let failing: [(Double, Bool)] = [(10, true), (150, false)]
        let none = try LoadSummary.make(
            LoadSpec(concurrency: 1, duration: 1), workers: [Self.worker(failing)], tally: Self.tally([failing]),
            faultAt: 100, errors: [], timeline: [], trafficMs: (0, 400))
        #expect(none.fullRecoveryMs == nil, "a worker whose last operation failed has not recovered")
        let fine: [(Double, Bool)] = [(10, true), (150, true)]
        let clean = try LoadSummary.make(
            LoadSpec(concurrency: 1, duration: 1), workers: [Self.worker(fine)], tally: Self.tally([fine]),
            faultAt: 100, errors: [], timeline: [], trafficMs: (0, 400))
        #expect(clean.fullRecoveryMs == 0 && clean.firstCallerErrorMs == nil)
    }

    @Test("an hour of operations fits the same tally as a second: slots merge, every operation still counted")
    func tallyMemoryDoesNotGrowWithDuration() {
        var t = LoadTally()
        let operations = 1_000_000
        for i in 0..<operations {
            // One operation every 3.6 ms for an hour, latencies from 0.1 ms to 10 s.
            t.add(endMs: Double(i) * 3.6, durationMs: 0.1 * pow(10, Double(i % 6)), succeeded: i % 97 != 0)
        }
        #expect(t.total == operations)
        #expect(t.succeeded.count == LoadTally.capacity && t.latency.count == LoadTally.capacity)
        #expect(t.latency.allSatisfy { $0.isEmpty || $0.count == LoadTally.binCount })
        #expect(t.slotMs * Double(LoadTally.capacity) > 3_600_000 && t.slotMs <= 2048)
        let failed = t.slots.reduce(0) { $0 + $1.failed }
        #expect(failed == (0..<operations).filter { $0 % 97 == 0 }.count)
    }

    @Test("percentiles come from the histogram, within a bin's width of the exact value")
    func percentilesFromHistogram() throws {
        var t = LoadTally()
        var w = LoadWorkers.WorkerState()
        for i in 0..<1000 {
            let latency = Double(i + 1) / 10  // 0.1 ms to 100 ms, evenly
            t.add(endMs: Double(i), durationMs: latency, succeeded: true)
            w.started += 1
            w.succeeded += 1
            w.record(endMs: Double(i), succeeded: true, faultFrom: nil)
        }
        let s = try LoadSummary.make(
            LoadSpec(concurrency: 1, duration: 1), workers: [w], tally: t, faultAt: nil, errors: [], timeline: [],
            trafficMs: (0, 1000))
        let width = pow(2, 1 / LoadTally.binsPerOctave)
        let p50 = try #require(s.before.p50)
        let p99 = try #require(s.before.p99)
        #expect(p50 > 50.1 / width && p50 < 50.1 * width, "p50 \(p50)")
        #expect(p99 > 99.1 / width && p99 < 99.1 * width, "p99 \(p99)")
        #expect(s.before.count == 1000)
    }
}
