import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// `--driver-versions listed`: the releases each stack's manifest (`adapters/<name>/matrix.json`) gives rows of
/// their own, found among the staged ones and checked by their own metadata, as `make drivers-matrix` runs them.
@Suite("the releases the manifests list, staged and checked", .ownThreads)
struct ListedReleasesTests {
    @Test("listed: every release a manifest lists, of the chosen stacks only, each read from its metadata")
    func listedReleases() throws {
        let chosen = try DriverReleaseList.select("listed", adapters: ["node-mysql2", "sqlalchemy", "php-pdo"])
        #expect(
            chosen.map(\.label) == [
                "node-mysql2@2.2.5", "node-mysql2@2.3.3", "node-mysql2@3.0.0", "node-mysql2@3.1.0",
                "sqlalchemy@1.4.54+1.0.2", "sqlalchemy@2.0.58+1.1.1",
            ])
        #expect(chosen.allSatisfy { $0.libraryPath != nil }, "staged releases, not the installed ones")
        #expect(try DriverReleaseList.select("listed", adapters: ["php-pdo"]).isEmpty, "php-pdo lists none")
    }
}
