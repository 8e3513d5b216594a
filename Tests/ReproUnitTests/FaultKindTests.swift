import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// The fault seam: every kind rebuilds itself from a report, keeps its words in one place, and the
/// detection/recovery arithmetic lives in the result type.
@Suite struct FaultKindTests {
    static let samples: [Fault] = [
        .waitTimeout(seconds: 2), .waitTimeout(seconds: 5, margin: 1.5, scope: .global),
        .killThread(), .killThread(target: .busy, count: .some(2)),
        .networkCut(mode: .reset), .networkCut(mode: .blackhole, via: .kernel), .networkCut(mode: .halfOpen),
    ]

    @Test func everyKindRoundTripsThroughItsReportParameters() throws {
        for fault in Self.samples {
            let rebuilt = try #require(Fault(kind: fault.kind, parameters: fault.parameters), "\(fault)")
            #expect(rebuilt == fault)
        }
        #expect(Fault(kind: "server-on-fire", parameters: [:]) == nil)
        #expect(Set(Fault.kinds.map { $0.kind }).count == Fault.kinds.count, "kind names are unique")
    }

    @Test func renderersAskTheKindNotAStringSwitch() throws {
        var result = sampleResult()
        let fault = Fault.networkCut(mode: .blackhole, via: .kernel)
        result.kind = fault.kind
        result.parameters = fault.parameters
        #expect(MarkdownRenderer.faultLabel(result) == "network-cut blackhole via kernel")
        #expect(ErrorCatalog.entry(forKind: result.kind, parameters: result.parameters)?.id == "blackhole")
        #expect(
            MeasuredDrivers.column(kind: result.kind, parameters: result.parameters, pattern: .pool)
                == .networkCutBlackhole)
        #expect(ExplanationWriter.faultSentence(result).contains("mode blackhole via kernel"))
        result.kind = "server-on-fire"
        #expect(
            MarkdownRenderer.faultLabel(result) == "server-on-fire", "an unknown kind from a newer report still renders"
        )
    }

    @Test func globalScopeAloneNeedsTheServerToItself() {
        #expect(Fault.waitTimeout(seconds: 2, scope: .global).needsServerAlone)
        #expect(!Fault.waitTimeout(seconds: 2).needsServerAlone)
        #expect(!Fault.killThread().needsServerAlone)
    }

    @Test func oneMarginDefaultEverywhere() throws {
        // The CLI, scenario files and the matrices used to disagree (0.5 vs 0.3).
        let scenarios = try ScenarioFile.parse(
            "name: w\nfault: {kind: wait-timeout, seconds: 1}\n", file: "w.yml")
        #expect(scenarios.fault == .waitTimeout(seconds: 1, margin: WaitTimeoutFault.defaultMargin))
        #expect(
            MatrixColumn.waitTimeout.fault(.policyMatrix(seconds: 1, poolSize: 4))
                == .waitTimeout(seconds: 1, margin: WaitTimeoutFault.defaultMargin))
    }

    @Test func detectionCountsAnErrorWithinTheClockToleranceBeforeTheFault() {
        let lost = DatabaseError(code: .serverLost, sqlState: "HY000", message: "Lost connection")
        let early = ObservedError(error: lost, phase: .query, atMs: 999.5, connection: 1)
        let tooEarly = ObservedError(error: lost, phase: .keepalive, atMs: 990, connection: 2)
        let ok = OperationRecord(
            index: 1, succeeded: true, atMs: 1100, durationMs: 5, attempts: 1, connection: 1, error: nil)
        let timing = ScenarioResult.Timing(faultAt: 1000, errors: [tooEarly, early], operations: [ok])
        // 990 is before the tolerance: not the fault's doing; 999.5 is within it and counts as 0 ms.
        #expect(timing.detectionMs == 0)
        #expect(timing.recoveryMs == 105)
        let failed = OperationRecord(
            index: 2, succeeded: false, atMs: 1200, durationMs: 1, attempts: 1, connection: 1, error: early)
        let notRecovered = ScenarioResult.Timing(faultAt: 1000, errors: [early], operations: [ok, failed])
        #expect(notRecovered.recoveryMs == nil, "a pool that did not recover has no recovery time")
        #expect(ScenarioResult.Timing(faultAt: nil, errors: [early], operations: [ok]).detectionMs == nil)
        #expect(ScenarioResult.Timing.faultClockTolerance == 1)
    }
}
