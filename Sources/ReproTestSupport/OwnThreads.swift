import Foundation
import Testing

/// `@Suite(.ownThreads)`: every test case of the suite runs on threads of its own instead of Swift Testing's
/// cooperative ones, at most `OwnThreads.limit` test cases at a time.
///
/// Swift Testing runs tests in parallel on the cooperative pool, one thread per core (two here). Integration and
/// end-to-end tests block: a scenario run, a server start, a child process waited for. Two such tests filled the
/// pool and every other test, even one only awaiting, waited for them; a test resumed after a child's exit could
/// wait seconds for a free thread, longer than the fault windows some tests time. On threads of their own, their real
/// waits overlap. The limit keeps a few dozen embedded servers from starting at once on a small machine.
public struct OwnThreads: SuiteTrait, TestTrait, TestScoping {
    /// Test cases running at once under the trait: four per core (8 on 2 cores: 16 was no faster there and made
    /// load-sensitive tests fail), or `REPRO_TEST_THREADS`.
    public static let limit: Int = {
        let asked = ProcessInfo.processInfo.environment["REPRO_TEST_THREADS"].flatMap { Int($0) }
        return max(1, asked ?? 4 * ProcessInfo.processInfo.activeProcessorCount)
    }()

    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> OwnThreads? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await TaskSemaphore.ownThreads.holding {
            try await withTaskExecutorPreference(ThreadPerJobExecutor.shared) { try await function() }
        }
    }
}

extension Trait where Self == OwnThreads {
    /// Runs the suite's tests on threads of their own (`OwnThreads`).
    public static var ownThreads: OwnThreads { OwnThreads() }
}

/// Each job on a new thread: a job that blocks holds only its own thread.
final class ThreadPerJobExecutor: TaskExecutor {
    static let shared = ThreadPerJobExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        Thread.detachNewThread { job.runSynchronously(on: executor) }
    }
}

/// `@Suite(.exclusive(.firewall))`: no two test cases holding the same resource run at once, whatever their suites.
/// `.serialized` orders a suite's own tests only; tests of one process share its pid (iptables chains are named
/// after it, and a firewall snapshot leaves out only other processes' chains) and its cleanup registry.
public struct Exclusive: SuiteTrait, TestTrait, TestScoping {
    public enum Resource: Sendable {
        /// iptables rules and network namespaces of this test process, compared before and after.
        case firewall
        /// The global wait_timeout lock and the cleanup registry's pending restores.
        case globalWaitTimeout

        fileprivate var semaphore: TaskSemaphore {
            switch self {
            case .firewall: .firewall
            case .globalWaitTimeout: .globalWaitTimeout
            }
        }
    }

    public let resource: Resource

    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Exclusive? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await resource.semaphore.holding { try await function() }
    }
}

extension Trait where Self == Exclusive {
    /// One test case at a time among those holding `resource` (`Exclusive`).
    public static func exclusive(_ resource: Exclusive.Resource) -> Exclusive { Exclusive(resource: resource) }
}

/// A counting semaphore for tasks: waiters suspend, first come first served.
actor TaskSemaphore {
    static let ownThreads = TaskSemaphore(OwnThreads.limit)
    static let firewall = TaskSemaphore(1)
    static let globalWaitTimeout = TaskSemaphore(1)

    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            free += 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    nonisolated func holding(_ body: () async throws -> Void) async throws {
        await acquire()
        do {
            try await body()
        } catch {
            await release()
            throw error
        }
        await release()
    }
}
