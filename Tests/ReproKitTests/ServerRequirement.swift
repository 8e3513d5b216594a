import Foundation
import ReproTestSupport
import Testing

/// Decides whether integration tests that need a real `mariadbd` run, skip, or fail.
enum ServerRequirement {
    /// Same places `ManagedServer.start()` looks: PATH, then the usual sbin/bin directories.
    static let searchPath: [String] =
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        + ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]

    /// True when both `mariadbd` and `mariadb-install-db` are installed.
    static let binariesPresent: Bool = ["mariadbd", "mariadb-install-db"].allSatisfy { locate($0) != nil }

    /// `make test` sets REPRO_REQUIRE_SERVER=1 so a missing server fails CI instead of silently skipping.
    static var isRequired: Bool { ProcessInfo.processInfo.environment["REPRO_REQUIRE_SERVER"] == "1" }

    /// Run when the server is there, or when it is required (then `ManagedServer.start` fails the test loudly).
    static var shouldRun: Bool { binariesPresent || isRequired }

    /// Shown by the test runner next to each skipped test.
    static let skipReason: Comment =
        "skipped: mariadbd not installed (run `make setup`; set REPRO_REQUIRE_SERVER=1 to fail instead)"

    /// Full path of an installed binary, or nil.
    static func locate(_ name: String) -> String? {
        searchPath.lazy.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// For tests that gate inside their body: true to go on, false to return early (skip); throws when a server is required but missing.
func requireServerBinaries() throws -> Bool {
    if ServerRequirement.binariesPresent { return true }
    if ServerRequirement.isRequired {
        throw ServerRequirementError()
    }
    return false
}

/// Thrown when REPRO_REQUIRE_SERVER=1 and mariadbd is missing.
struct ServerRequirementError: Error, CustomStringConvertible {
    var description: String { "REPRO_REQUIRE_SERVER=1 but mariadbd is not installed; run `make setup`" }
}

extension Trait where Self == ConditionTrait {
    /// `@Test(.requiresServer)`: skips with a visible reason when mariadbd is absent, unless REPRO_REQUIRE_SERVER=1.
    static var requiresServer: Self {
        .enabled(if: ServerRequirement.shouldRun, ServerRequirement.skipReason)
    }
}
