import ReproKit
import Synchronization

/// A `PoolClock` that stands still until a test moves it: pool decisions (aging, validation windows, keepalive
/// turns) are driven exactly, with no sleeping.
public final class ManualClock: PoolClock {
    private let current: Mutex<ContinuousClock.Instant>

    /// Starts at `start` (any real instant: only differences matter).
    public init(start: ContinuousClock.Instant = .now) { current = Mutex(start) }

    public var now: ContinuousClock.Instant { current.withLock { $0 } }

    /// Moves the clock forward by `duration` (never backward: a monotonic clock does not).
    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "a manual clock only moves forward")
        current.withLock { $0 += duration }
    }
}
