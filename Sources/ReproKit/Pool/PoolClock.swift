/// Where the pool's decisions read "now" from. Production uses `MonotonicPoolClock` (Swift's
/// `ContinuousClock`); tests inject a manual clock and move it by hand, so aging, validation windows and
/// keepalive turns are pinned without sleeping.
///
/// Only decisions read it. How long a thread waits (the keepalive interval, the socket watcher's poll, a
/// borrow waiting for a free slot) stays real time, and `EventLog` stamps events with the real clock.
public protocol PoolClock: Sendable {
    var now: ContinuousClock.Instant { get }
}

/// The real monotonic clock.
public struct MonotonicPoolClock: PoolClock {
    public init() {}
    public var now: ContinuousClock.Instant { ContinuousClock.now }
}
