import Foundation

/// What a policy costs on a healthy, warm pool: borrow latency and extra round trips per borrow.
public struct PolicyCost: Sendable, Equatable, Codable {
    public var policy: String
    public var borrows: Int
    public var p50Micros: Double
    public var p99Micros: Double
    /// Round trips (pings) the borrow itself made, per borrow.
    public var roundTripsPerBorrow: Double

    public init(policy: String, borrows: Int, p50Micros: Double, p99Micros: Double, roundTripsPerBorrow: Double) {
        self.policy = policy
        self.borrows = borrows
        self.p50Micros = p50Micros
        self.p99Micros = p99Micros
        self.roundTripsPerBorrow = roundTripsPerBorrow
    }

    /// Borrows and releases `borrows` times on a warm pool of `poolSize`, timing only the borrow.
    public static func measure(
        _ policy: PoolPolicy, endpoint: ServerEndpoint, poolSize: Int = 4, borrows: Int = 2000
    ) throws(RunError) -> PolicyCost {
        let runner = ScenarioRunner(endpoint: endpoint)
        let options = runner.connectionOptions(policy: policy)
        let log = EventLog()
        let pool = Pool(policy: policy, size: poolSize, log: log) { () throws(DatabaseError) in
            try MariaDBConnection(options: options)
        }
        defer { pool.close() }
        do { try pool.warm() } catch { throw runner.environmentError(error) }
        // Warm-up borrows are not counted.
        for _ in 0..<min(100, borrows) {
            if case .success(let lease) = pool.borrow() { pool.release(lease) }
        }
        let pingsBefore = log.events.filter { $0.event == .validateOK && $0.detail == "ping" }.count
        var samples: [Double] = []
        samples.reserveCapacity(borrows)
        let clock = ContinuousClock()
        for _ in 0..<borrows {
            let start = clock.now
            let result = pool.borrow()
            let elapsed = clock.now - start
            guard case .success(let lease) = result else {
                throw .environment("borrow failed while measuring the cost of \(policy.name)")
            }
            samples.append(EventLog.milliseconds(elapsed) * 1000)
            pool.release(lease)
        }
        let pings = log.events.filter { $0.event == .validateOK && $0.detail == "ping" }.count - pingsBefore
        samples.sort()
        return PolicyCost(
            policy: policy.name, borrows: borrows, p50Micros: percentile(samples, 0.50),
            p99Micros: percentile(samples, 0.99), roundTripsPerBorrow: Double(pings) / Double(borrows))
    }

    /// Nearest-rank percentile of sorted samples.
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}
