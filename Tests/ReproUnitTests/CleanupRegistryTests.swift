import ReproKit
import ReproTestSupport
import Synchronization
import Testing

@Suite("CleanupRegistry")
struct CleanupRegistryTests {
    @Test func runsActionsNewestFirstAndOnlyOnce() {
        let registry = CleanupRegistry()
        let log = Mutex<[String]>([])
        _ = registry.register("first") { log.withLock { $0.append("first") } }
        _ = registry.register("second") { log.withLock { $0.append("second") } }
        _ = registry.register("third") { log.withLock { $0.append("third") } }
        registry.runAll()
        registry.runAll()
        #expect(log.withLock { $0 } == ["third", "second", "first"])
        #expect(registry.pendingNames.isEmpty)
    }

    @Test func unregisteredActionsDoNotRun() {
        let registry = CleanupRegistry()
        let ran = Mutex(false)
        let token = registry.register("server") { ran.withLock { $0 = true } }
        #expect(registry.pendingNames == ["server"])
        registry.unregister(token)
        registry.unregister(token)
        registry.runAll()
        #expect(ran.withLock { $0 } == false)
    }

    @Test func anActionMayUnregisterItselfWhileRunning() {
        let registry = CleanupRegistry()
        let count = Mutex(0)
        let token = Mutex<CleanupRegistry.Token?>(nil)
        token.withLock {
            $0 = registry.register("self") {
                if let own = token.withLock({ $0 }) { registry.unregister(own) }
                count.withLock { $0 += 1 }
            }
        }
        registry.runAll()
        #expect(count.withLock { $0 } == 1)
    }

    @Test func renameChangesOnlyThatActionsName() {
        let registry = CleanupRegistry()
        let first = registry.register("sandbox") {}
        _ = registry.register("other") {}
        registry.rename(first, to: "sandbox /tmp/x")
        #expect(registry.pendingNames == ["sandbox /tmp/x", "other"])
        registry.unregister(first)
        registry.rename(first, to: "gone")
        #expect(registry.pendingNames == ["other"])
    }
}
