import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// The conformance suite (docs/adapters.md "Checking an adapter"): every adapter in adapters/ is driven through the
/// protocol directly, on a real server, with an account whose password is watched for.
@Suite("every adapter keeps the protocol's promises", .ownThreads, .serialized, .requiresServer)
struct AdapterConformanceTests {
    @Test("every adapter in adapters/ passes every check")
    func everyAdapterConforms() throws {
        let directory = try #require(AdapterCatalog.directory(), "no adapters directory found")
        let adapters = AdapterCatalog.definitions(in: directory)
        #expect(
            Set(AdapterCatalog.preferredOrder).isSubset(of: Set(adapters.map(\.name))),
            "adapters found: \(adapters.map(\.name))")
        try withConformanceServer { setup in
            for adapter in adapters {
                let checks = AdapterConformance.run(adapter, setup: setup)
                #expect(checks.map(\.name) == AdapterConformance.promises, "\(adapter.name) ran every check")
                for check in checks where !check.passed {
                    Issue.record("\(adapter.name): \(check.name): \(check.detail)")
                }
            }
        }
    }

    @Test("an adapter that serves one request at a time, logs the password and ignores EOF fails those checks")
    func brokenAdapterFails() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "repro-conformance-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/broken"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.brokenAdapter.write(toFile: dir + "/adapter.py", atomically: true, encoding: .utf8)
        try "#!/bin/sh\nexec python3 \"$(dirname \"$0\")/adapter.py\"\n".write(
            toFile: dir + "/run", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho ok broken 1.0\n".write(toFile: dir + "/check", atomically: true, encoding: .utf8)
        for file in ["run", "check"] { chmod(dir + "/" + file, 0o755) }
        let adapter = AdapterDefinition(name: "broken", directory: dir)
        try withConformanceServer { setup in
            let checks = AdapterConformance.run(adapter, setup: setup)
            let failed = Set(checks.filter { !$0.passed }.map(\.name))
            for promise in [
                AdapterConformance.helloNames, AdapterConformance.helloVersions, AdapterConformance.helloOptions,
                AdapterConformance.unknownOption, AdapterConformance.hungRunDoesNotBlock,
                AdapterConformance.verbatimError, AdapterConformance.eofExits,
                AdapterConformance.passwordStaysSecret,
            ] {
                #expect(failed.contains(promise), "the broken adapter passed '\(promise)'")
            }
            #expect(!failed.contains(AdapterConformance.answersMatchIDs), "it does answer every id")
        }
    }

    /// Sequential, silent about versions, accepts any option, writes the password on stderr, answers every query
    /// ok (after sleeping out a SLEEP), and keeps running 10 s after stdin's EOF.
    static let brokenAdapter = """
        import json, sys, time
        for line in sys.stdin:
            req = json.loads(line)
            op, rid = req.get("op"), req.get("id")
            if op == "hello":
                out = {"protocol": 1, "driver": "broken", "options": {"quiet": ""}}
            elif op == "open":
                sys.stderr.write("connecting with password %s\\n" % req.get("password"))
                sys.stderr.flush()
                out = {}
            elif op == "warm":
                out = {"threadIds": list(range(1, req["count"] + 1))}
            elif op == "run":
                if "SLEEP" in req.get("sql", ""):
                    time.sleep(3)
                out = {"ms": 1.0}
            elif op == "hold":
                out = {"threadId": 1}
            elif op == "collect":
                out = {"results": [{"ok": True, "ms": 1.0}]}
            else:
                out = {}
            print(json.dumps(dict({"id": rid, "ok": True}, **out)), flush=True)
        time.sleep(10)
        """

    /// A server of its own, an account with a distinctive password, and a way to kill threads.
    func withConformanceServer(_ body: (AdapterConformance.Setup) -> Void) throws {
        try AdapterConformance.onEmbeddedServer(nodePath: ProcessInfo.processInfo.environment["NODE_PATH"]) { setup in
            body(setup)
        }
    }
}
