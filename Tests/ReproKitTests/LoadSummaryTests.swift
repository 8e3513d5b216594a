import Foundation
import Testing

@testable import ReproKit

/// The load account and its arithmetic, on hand-made worker records.
@Suite struct LoadSummaryTests {
    static func worker(_ ops: [(Double, Bool)]) -> LoadWorkers.WorkerState {
        var w = LoadWorkers.WorkerState()
        for (at, ok) in ops {
            w.started += 1
            if ok { w.succeeded += 1 } else { w.failed += 1 }
            w.records.append(.init(atMs: Float(at), durationMs: 1, succeeded: ok))
        }
        return w
    }

    @Test func aMismatchedAccountIsAnInternalError() throws {
        var w = Self.worker([(10, true), (20, false)])
        w.started += 1  // an operation started and never counted
        #expect(throws: RunError.self) {
            try LoadSummary.make(
                LoadSpec(concurrency: 1, duration: 1), workers: [w], faultAt: 15, errors: [], timeline: [],
                trafficMs: (0, 100))
        }
        do {
            _ = try LoadSummary.make(
                LoadSpec(concurrency: 1, duration: 1), workers: [w], faultAt: 15, errors: [], timeline: [],
                trafficMs: (0, 100))
        } catch {
            #expect(error.exitCode == 3)
            #expect(error.message.contains("started 3 operations but counted 1 succeeded and 1 failed"))
        }
    }

    @Test func fullRecoveryIsAfterTheLastFailureOfAnyWorker() throws {
        let a = Self.worker([(10, true), (101, false), (150, true), (300, true)])
        let b = Self.worker([(20, true), (110, false), (120, false), (200, true)])
        let s = try LoadSummary.make(
            LoadSpec(concurrency: 2, duration: 1), workers: [a, b], faultAt: 100, errors: [], timeline: [],
            trafficMs: (0, 400))
        #expect(s.started == 8 && s.succeeded == 5 && s.failed == 3)
        #expect(s.firstCallerErrorMs == 2)  // 101 + 1 ms duration - 100
        #expect(s.fullRecoveryMs == 21)  // b's last failure ends at 121
        #expect(s.before.count == 2)
        let stillFailing = Self.worker([(10, true), (150, false)])
        let none = try LoadSummary.make(
            LoadSpec(concurrency: 1, duration: 1), workers: [stillFailing], faultAt: 100, errors: [], timeline: [],
            trafficMs: (0, 400))
        #expect(none.fullRecoveryMs == nil, "a worker whose last operation failed has not recovered")
        let clean = try LoadSummary.make(
            LoadSpec(concurrency: 1, duration: 1), workers: [Self.worker([(10, true), (150, true)])], faultAt: 100,
            errors: [], timeline: [], trafficMs: (0, 400))
        #expect(clean.fullRecoveryMs == 0 && clean.firstCallerErrorMs == nil)
    }
}
