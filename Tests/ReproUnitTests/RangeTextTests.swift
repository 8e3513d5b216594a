import ReproKit
import ReproTestSupport
import Testing

@Suite("Limits are written from their ranges")
struct RangeTextTests {
    @Test("whole numbers without a trailing .0, fractions as they are")
    func text() {
        #expect((1...86_400).text == "1 to 86400")
        #expect(PoolPolicy.secondsRange.text == "0.001 to 86400")
        #expect(DriverChoice.deadlineRange.text == "0.5 to 600")
        #expect(WaitTimeoutFault.marginRange.text == "0 to 60")
    }
}
