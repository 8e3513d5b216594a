import ReproTestSupport
import Testing

@testable import ReproKit

/// Periodic events stay bounded however long a run is.
@Suite("EventLog summaries of periodic events")
struct EventLogTests {
    /// The count a summary entry states, from its "×N".
    static func count(_ event: PoolEvent) -> Int? {
        guard let detail = event.detail, let times = detail.firstIndex(of: "×") else { return nil }
        return Int(detail[detail.index(after: times)...].prefix { $0.isNumber })
    }

    @Test("identical keepalive pings become the first one plus one summary per connection, with exact counts")
    func keepaliveSummarized() {
        let log = EventLog()
        for i in 0..<20_000 {
            let connection = i % 4 + 1
            log.record(.keepaliveOK, connection: connection, threadID: UInt64(100 + connection))
        }
        let events = log.events
        #expect(events.count == 8)
        for connection in 1...4 {
            let mine = events.filter { $0.connection == connection }
            #expect(mine.count == 2)
            #expect(mine.allSatisfy { $0.event == .keepaliveOK && $0.threadID == UInt64(100 + connection) })
            #expect(mine.first?.detail == nil, "the first ping is kept as it was")
            #expect(mine.last.flatMap(Self.count) == 5000)
            #expect(mine.last?.detail?.hasPrefix("keepalive ping ok ×5000 (first at ") == true)
            #expect((mine.last?.atMs ?? 0) >= (mine.first?.atMs ?? .infinity))
        }
        #expect(events.map(\.atMs) == events.map(\.atMs).sorted(), "in time order")
    }

    @Test("any other event ends the runs, so pings before and after a fault stay apart")
    func otherEventsSplitRuns() {
        let log = EventLog()
        for _ in 0..<1000 { log.record(.keepaliveOK, connection: 1, threadID: 7) }
        log.record(.scenario, detail: "fault: KILL CONNECTION 7")
        for _ in 0..<300 { log.record(.keepaliveOK, connection: 1, threadID: 7) }
        log.record(.keepaliveOK, connection: 2, threadID: 8)
        let events = log.events
        #expect(
            events.map(\.event) == [.keepaliveOK, .keepaliveOK, .scenario, .keepaliveOK, .keepaliveOK, .keepaliveOK])
        #expect(events.compactMap(Self.count) == [1000, 300])
        #expect(events.map(\.atMs) == events.map(\.atMs).sorted())
    }

    @Test("events that are not periodic are all kept")
    func othersKept() {
        let log = EventLog()
        for _ in 0..<50 {
            log.record(.borrow, connection: 1)
            log.record(.release, connection: 1)
        }
        #expect(log.events.count == 100)
    }
}
