import Foundation
import ReproTestSupport
import Synchronization
import Testing

@testable import ReproKit

/// The scheduler behind `--jobs`, with jobs that only sleep and record when they ran.
@Suite(.ownThreads) struct ParallelRunsTests {
    /// Start and end of every job, on one clock, plus the highest number running at once.
    final class Recorder: Sendable {
        private let state = Mutex<(running: Int, peak: Int, spans: [Int: (Double, Double)])>((0, 0, [:]))
        private let start = ContinuousClock.now

        func job(_ index: Int, seconds: Double) {
            let begin = EventLog.milliseconds(ContinuousClock.now - start)
            state.withLock { s in
                s.running += 1
                s.peak = max(s.peak, s.running)
            }
            Thread.sleep(forTimeInterval: seconds)
            state.withLock { s in
                s.running -= 1
                s.spans[index] = (begin, EventLog.milliseconds(ContinuousClock.now - start))
            }
        }

        var peak: Int { state.withLock { $0.peak } }
        var spans: [Int: (Double, Double)] { state.withLock { $0.spans } }
    }

    @Test func resultsKeepJobOrderAndConcurrencyStaysWithinTheLimit() {
        let recorder = Recorder()
        // Later jobs are shorter, so they finish first: the results must still come back in job order.
        let outcome = ParallelRuns.run(count: 9, jobs: 3) { index throws(RunError) in
            recorder.job(index, seconds: 0.01 * Double(9 - index))
            return index * 10
        }
        #expect(outcome.failure == nil)
        #expect(outcome.results == (0..<9).map { $0 * 10 })
        #expect(recorder.peak <= 3)
        #expect(recorder.peak >= 2, "nothing ran side by side")
    }

    @Test func anExclusiveJobRunsWithNothingElseInFlight() {
        let recorder = Recorder()
        let outcome = ParallelRuns.run(count: 7, jobs: 4, exclusive: { $0 == 3 }) { index throws(RunError) in
            recorder.job(index, seconds: 0.03)
            return index
        }
        #expect(outcome.results.compactMap { $0 } == Array(0..<7))
        let spans = recorder.spans
        let alone = spans[3]!
        for (index, span) in spans where index != 3 {
            // No other job's span overlaps the exclusive one.
            #expect(span.1 <= alone.0 || span.0 >= alone.1, "job \(index) \(span) overlaps the exclusive job \(alone)")
        }
    }

    @Test func stopAfterStartsNothingNewButLetsRunningJobsFinish() {
        let finished = Mutex<Set<Int>>([])
        let outcome = ParallelRuns.run(count: 10, jobs: 2, stopAfter: { $0 == 1 }) { index throws(RunError) in
            // Job 0 outlives job 1, which asks to stop: job 0 must still finish and be reported.
            Thread.sleep(forTimeInterval: index == 0 ? 0.1 : 0.01)
            finished.withLock { _ = $0.insert(index) }
            return index
        }
        #expect(outcome.results[0] == 0)
        #expect(outcome.results[1] == 1)
        #expect(outcome.results[2...].allSatisfy { $0 == nil })
        #expect(finished.withLock { $0 } == [0, 1])
    }

    @Test func theFirstFailureByJobOrderIsReportedAfterRunningJobsEnd() {
        let ended = Mutex<Set<Int>>([])
        let outcome = ParallelRuns.run(count: 6, jobs: 3) { index throws(RunError) in
            defer { ended.withLock { _ = $0.insert(index) } }
            switch index {
            case 1:
                Thread.sleep(forTimeInterval: 0.05)
                throw .environment("job 1 failed")
            case 2:
                throw .environment("job 2 failed")
            default:
                Thread.sleep(forTimeInterval: 0.1)
                return index
            }
        }
        #expect(outcome.failure?.message == "job 1 failed")
        #expect(outcome.results[0] == 0, "a job already running when another failed still ends and counts")
        #expect(outcome.results[3...].allSatisfy { $0 == nil })
        #expect(ended.withLock { $0 } == [0, 1, 2])
    }

    @Test func oneJobAtATimeRunsThemInOrder() {
        let order = Mutex<[Int]>([])
        let outcome = ParallelRuns.run(count: 5, jobs: 1) { index throws(RunError) in
            order.withLock { $0.append(index) }
            return index
        }
        #expect(order.withLock { $0 } == [0, 1, 2, 3, 4])
        #expect(outcome.results.compactMap { $0 } == [0, 1, 2, 3, 4])
    }
}

/// Finding a process group's TCP connections in /proc, as the runner does for an adapter's pool.
@Suite(.ownThreads) struct ProcessSocketsTests {
    @Test func parsesProcNetTCPRows() throws {
        let line: Substring =
            "   3: 0100007F:D4A2 0100007F:0CEA 01 00000000:00000000 00:00000000 00000000     0        0 918639 1 0000000000000000 20 4 30 10 -1"
        let row = try #require(ProcessSockets.TCPRow(line))
        #expect(row.localPort == 0xD4A2)
        #expect(row.remotePort == 3306)
        #expect(row.inode == 918_639)
        #expect(ProcessSockets.TCPRow("  sl  local_address rem_address") == nil)
        #expect(ProcessSockets.socketInode("socket:[42]") == 42)
        #expect(ProcessSockets.socketInode("pipe:[42]") == nil)
    }

    /// With many sockets open, /proc/net/tcp is longer than a page: every connection must still be found
    /// (Foundation's String(contentsOfFile:) stopped at 4 KiB and lost them).
    @Test func findsEveryConnectionOfTheGroupInALongTable() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        #expect(bound == 0)
        #expect(listen(listener, 128) == 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let serverPort = Int(UInt16(bigEndian: address.sin_port))
        var clients: [Int32] = []
        defer { for fd in clients { close(fd) } }
        var expected = Set<Int>()
        for _ in 0..<60 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            clients.append(fd)
            var target = address
            let connected = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            #expect(connected == 0)
            var local = sockaddr_in()
            var localLength = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
            }
            expected.insert(Int(UInt16(bigEndian: local.sin_port)))
        }
        let table = try #require(ProcessSockets.readAll("/proc/net/tcp"))
        #expect(table.utf8.count > 8192, "the table should be longer than a page for this test to mean anything")
        let found = try #require(ProcessSockets.clientPorts(processGroup: getpgrp(), remotePort: serverPort))
        #expect(found == expected)
    }
}
