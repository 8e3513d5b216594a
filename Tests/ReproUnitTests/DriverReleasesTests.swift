import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

/// A versions directory laid out as staged releases are (docs/adapters.md "Releases"), removed afterwards.
private func stagingDirectory(_ entries: [String]) throws -> String {
    let dir = NSTemporaryDirectory() + "repro-releases-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    for entry in entries {
        let path = dir + "/" + entry
        if entry.hasSuffix(".jar") {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: Data("PK".utf8))
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
    }
    return dir
}

private let hikari = DriverReleases.parseLayouts(
    """
    # comment line
    HikariCP jar poolVersion HikariCP
    mariadb-java-client jar driverVersion mariadb-java-client   # trailing comment
    nonsense line
    """)
private let mysql2 = [
    ReleaseLayout(prefix: "mysql2", shape: .nodeModules, helloField: "driverVersion", checkName: "mysql2")
]

@Suite("staged library releases: how they are found, named and matched, without a server")
struct DriverReleasesTests {
    @Test("a releases file names each library's entry shape, hello field and check name; other lines are ignored")
    func layoutsParse() {
        #expect(hikari.map(\.prefix) == ["HikariCP", "mariadb-java-client"])
        #expect(hikari.map(\.shape) == [.jar, .jar])
        #expect(hikari.map(\.helloField) == ["poolVersion", "driverVersion"])
    }

    @Test("versions order by number, not by text; a pre-release comes before its release")
    func versionOrder() {
        #expect(DriverReleases.compareVersions("2.10.0", "2.9.1") == .orderedDescending)
        #expect(DriverReleases.compareVersions("3.0.0-rc1", "3.0.0") == .orderedAscending)
        #expect(DriverReleases.compareVersions("1.8", "1.8.0") == .orderedSame)
        #expect(DriverReleases.major("6.0.0") == 6)
    }

    @Test("staged entries are found by name and shape; a folder without the package or a stray file is not a release")
    func stagedEntries() throws {
        let dir = try stagingDirectory([
            "mysql2-2.2.5/node_modules/mysql2", "mysql2-3.10.0/node_modules/mysql2", "mysql2-3.9.0/node_modules/other",
            "mysql2-latest/node_modules/mysql2", "HikariCP-6.0.0.jar", "HikariCP-5.1.0.jar",
            "mariadb-java-client-3.5.9.jar", "mariadb-java-client-2.7.6.jar", "README.md",
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = DriverReleases.staged(adapter: "node-mysql2", layouts: mysql2, in: [dir])
        #expect(node.map(\.version) == ["2.2.5", "3.10.0"], "oldest first; no package, no release")
        #expect(node.last?.libraryPath == dir + "/mysql2-3.10.0/node_modules")
        #expect(node.last?.label == "node-mysql2@3.10.0")
        let java = DriverReleases.staged(adapter: "hikari", layouts: hikari, in: [dir])
        #expect(java.map(\.version) == ["5.1.0+3.5.9", "6.0.0+3.5.9"], "each pool over the newest driver staged")
        #expect(java.last?.libraryPath == "\(dir)/HikariCP-6.0.0.jar:\(dir)/mariadb-java-client-3.5.9.jar")
        let pinned = try #require(
            DriverReleases.stagedRelease(adapter: "hikari", spec: "6.0.0+2.7.6", layouts: hikari, in: [dir]))
        #expect(pinned.libraryPath == "\(dir)/HikariCP-6.0.0.jar:\(dir)/mariadb-java-client-2.7.6.jar")
        #expect(
            DriverReleases.stagedRelease(adapter: "hikari", spec: "6.0.0", layouts: hikari, in: [dir])?.version
                == "6.0.0+3.5.9")
        #expect(DriverReleases.stagedRelease(adapter: "hikari", spec: "4.0.3", layouts: hikari, in: [dir]) == nil)
        #expect(
            DriverReleases.stagedRelease(adapter: "hikari", spec: "6.0.0+3.5.9+1", layouts: hikari, in: [dir]) == nil)
    }

    @Test("a pool with no driver staged beside it is no release: its path would load nothing")
    func poolWithoutDriver() throws {
        let dir = try stagingDirectory(["HikariCP-6.0.0.jar"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(DriverReleases.staged(adapter: "hikari", layouts: hikari, in: [dir]).isEmpty)
    }

    @Test("the versions loaded are matched field by field against the release asked for")
    func helloMatches() {
        let hello = AdapterMessage.Hello(driver: "MariaDB Connector/J", driverVersion: "3.5.9", poolVersion: "6.0.0")
        #expect(DriverReleases.matches(spec: "6.0.0", hello: hello, layouts: hikari))
        #expect(DriverReleases.matches(spec: "6.0.0+3.5.9", hello: hello, layouts: hikari))
        #expect(!DriverReleases.matches(spec: "6.0.0+2.7.6", hello: hello, layouts: hikari))
        #expect(!DriverReleases.matches(spec: "3.5.9", hello: hello, layouts: hikari), "the pool's version comes first")
        #expect(DriverReleases.loaded(hello: hello, layouts: hikari) == "6.0.0+3.5.9")
        #expect(DriverReleases.matches(spec: "3.5.9", hello: hello, layouts: nil), "no releases file: the driver's")
    }

    @Test("NAME@VERSION splits at the @; an empty part or a second @ is a usage error naming the form")
    func names() throws {
        #expect(try DriverChoice.parseName("hikari@6.0.0+3.5.9") == ("hikari", "6.0.0+3.5.9"))
        #expect(try DriverChoice.parseName("go-sql") == ("go-sql", nil))
        for bad in ["hikari@", "@6.0.0", "a@b@c"] {
            #expect(throws: RunError.self) { try DriverChoice.parseName(bad) }
        }
    }

    @Test(
        "bisect names the single boundary, or says there is none",
        arguments: [
            ([false, false, true, true], "fails up to 2.3.3, survives from 3.0.0", "3.0.0"),
            ([false, false, false, false], "no release survives", nil),
            ([true, true, true, true], "every release survives", nil),
            (
                [true, false, true, true],
                "no single boundary: survives on 2.2.5, then fails from 2.3.3 (after 2.2.5), survives from 3.0.0 (after 2.3.3)",
                nil
            ),
        ] as [([Bool], String, String?)])
    func boundary(outcomes: [Bool], text: String, fixedIn: String?) {
        let versions = ["2.2.5", "2.3.3", "3.0.0", "3.1.0"]
        let found = BisectReport.boundary(Array(zip(versions, outcomes)).map { (version: $0.0, survived: $0.1) })
        #expect(found.text == text)
        #expect(found.fixedIn == fixedIn)
    }
}
