import Foundation
import Synchronization

/// Runs jobs side by side on up to N threads, in the order given, and hands back their results in that order.
///
/// The scenarios of `repro all` and the cells of both matrices are mostly waiting (idle periods, wait_timeout,
/// settle delays), so several of them share one server well. Two rules keep verdicts the same as one at a time:
/// a job marked exclusive (a fault that changes the whole server: a global `wait_timeout`) starts only when
/// nothing else runs and nothing starts until it ended; and jobs start in order, so a run that stops early
/// (`--fail-fast`, an environment failure, Ctrl-C) has run a prefix of the list plus whatever was in flight.
///
/// Blocking: every job runs on a dedicated `Thread` (they make blocking Connector/C calls), never on Swift's
/// cooperative pool; the caller's thread only schedules.
public enum ParallelRuns {
    /// The allowed `--jobs` values.
    public static let jobsRange = 1...32

    /// What a run of `count` jobs produced: results in job order, nil for jobs that never started.
    public struct Outcome<T: Sendable>: Sendable {
        public var results: [T?]
        /// The first environment or usage failure, by job order; jobs started after it were not started.
        public var failure: RunError?
    }

    private struct State<T: Sendable>: Sendable {
        var running = 0
        var exclusiveRunning = false
        var stop = false
        var results: [T?]
        var failures: [(Int, RunError)] = []
    }

    /// Runs `body(i)` for i in 0..<count with at most `jobs` at a time. `exclusive(i)` jobs run alone.
    /// After a job whose result makes `stopAfter` true, or one that throws, no further job starts; jobs
    /// already running finish (and clean up) before this returns. `onResult` runs on the job's thread,
    /// one call at a time, in completion order.
    public static func run<T: Sendable>(
        count: Int, jobs: Int, exclusive: (Int) -> Bool = { _ in false },
        stopAfter: @escaping @Sendable (T) -> Bool = { _ in false },
        onResult: @escaping @Sendable (Int, T) -> Void = { _, _ in },
        body: @escaping @Sendable (Int) throws(RunError) -> T
    ) -> Outcome<T> {
        let limit = max(1, jobs)
        let state = Mutex(State<T>(results: Array(repeating: nil, count: count)))
        // Signalled once per finished job; the scheduler re-checks its condition after every wake-up.
        let finished = DispatchSemaphore(value: 0)
        let reporting = Mutex(())
        var next = 0
        while next < count {
            let alone = exclusive(next)
            var stopped = false
            while true {
                let verdict = state.withLock { s -> Bool? in
                    if s.stop { return nil }
                    if s.exclusiveRunning { return false }
                    return alone ? s.running == 0 : s.running < limit
                }
                guard let go = verdict else {
                    stopped = true
                    break
                }
                if go { break }
                finished.wait()
            }
            if stopped { break }
            let index = next
            state.withLock { s in
                s.running += 1
                s.exclusiveRunning = alone
            }
            let thread = Thread {
                let outcome: Result<T, RunError>
                do throws(RunError) {
                    outcome = .success(try body(index))
                } catch {
                    outcome = .failure(error)
                }
                if case .success(let value) = outcome {
                    reporting.withLock { _ in onResult(index, value) }
                }
                state.withLock { s in
                    switch outcome {
                    case .success(let value):
                        s.results[index] = value
                        if stopAfter(value) { s.stop = true }
                    case .failure(let error):
                        s.failures.append((index, error))
                        s.stop = true
                    }
                    s.running -= 1
                    if alone { s.exclusiveRunning = false }
                }
                finished.signal()
            }
            // The runner's call depth (Connector/C, SwiftNIO setup) wants a main-thread-sized stack.
            thread.stackSize = 8 << 20
            thread.start()
            next += 1
        }
        while state.withLock({ $0.running > 0 }) { finished.wait() }
        return state.withLock { s in
            Outcome(results: s.results, failure: s.failures.min { $0.0 < $1.0 }?.1)
        }
    }
}
