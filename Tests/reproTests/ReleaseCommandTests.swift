import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// A staged entry (`go-sql-driver-1.8.1`, `HikariCP-6.0.0.jar`) in one of the versions directories the Makefile
/// names in REPRO_DRIVER_VERSIONS (../shared beside the checkout, .build/driver-versions from make setup).
private func staged(_ entry: String) throws -> String {
    for dir in DriverReleases.directories() where FileManager.default.fileExists(atPath: dir + "/" + entry) {
        return dir + "/" + entry
    }
    Issue.record("\(entry) is not staged in REPRO_DRIVER_VERSIONS (\(DriverReleases.directories())): run make test")
    throw CancellationError()
}

/// Runs repro with `--json` and returns its exit, the report's single scenario and its client block.
private func runJSON(_ arguments: [String], timeout: TimeInterval = 240) async throws -> (
    ReproBinary.Outcome, [String: Any], [String: Any]
) {
    let dir = ReproBinary.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let out = try await ReproBinary.run(arguments + ["--json", "--quiet", "--report-dir", dir], timeout: timeout)
    let report = (try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8))) as? [String: Any]
    let scenario = (report?["scenarios"] as? [[String: Any]])?.first ?? [:]
    return (out, scenario, scenario["client"] as? [String: Any] ?? [:])
}

/// What a command prints on stdout, trimmed.
private func output(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The upstream version in a Debian package version: no epoch, no Debian revision, no repack suffix
/// (`2.18.1+~2.3.2-2` → `2.18.1`).
private func upstream(_ debian: String) -> String {
    var v = Substring(debian)
    if let colon = v.firstIndex(of: ":") { v = v[v.index(after: colon)...] }
    if let dash = v.lastIndex(of: "-") { v = v[..<dash] }
    if let plus = v.firstIndex(where: { $0 == "+" || $0 == "~" }) { v = v[..<plus] }
    return String(v)
}

private func dpkgVersion(_ package: String) throws -> String {
    upstream(try output("/usr/bin/dpkg-query", ["-W", "-f=${Version}", package]))
}

/// `pip show NAME`'s Version line, for the python3 the adapter runs.
private func pipVersion(_ name: String) throws -> String {
    let text = try output("/usr/bin/env", ["python3", "-m", "pip", "show", name])
    let line = text.split(separator: "\n").first { $0.hasPrefix("Version: ") } ?? ""
    return String(line.dropFirst("Version: ".count))
}

@Suite(
    "library releases: the user's own, NAME@VERSION, repro drivers and repro bisect", .ownThreads, .serialized,
    .enabled(if: serverAvailable))
struct ReleaseCommandTests {
    @Test("repro drivers lists every staged release, each checked against its own metadata")
    func driversListsReleases() async throws {
        let out = try await ReproBinary.run(["drivers"])
        #expect(out.status == 0, "stdout: \(out.stdout) stderr: \(out.stderr)")
        for label in [
            "✓ go-sql@1.8.1", "✓ go-sql@1.9.3", "✓ go-sql@1.10.0", "✓ hikari@6.0.0+3.5.9", "✓ node-mysql2@2.2.5",
            "✓ node-mysql2@3.1.0", "✓ sqlalchemy@1.4.54+1.1.1", "✓ sqlalchemy@2.0.58+1.1.1",
        ] {
            #expect(out.stdout.contains(label), "\(label) missing in: \(out.stdout)")
        }
        #expect(out.stdout.contains("✓ hikari@2.7.9+2.7.6 (default)"), "\(out.stdout)")
    }

    @Test("every adapter reports the installed library at the version its package manager has")
    func installedVersionsComeFromMetadata() async throws {
        let nodeModules = try #require(ProcessInfo.processInfo.environment["NODE_PATH"]?.split(separator: ":").first)
        let package =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(nodeModules)/mysql2/package.json"))) as? [String: Any]
        let expected: [(driver: String, field: String, version: String)] = [
            ("sqlalchemy", "version", try pipVersion("PyMySQL")),
            ("sqlalchemy", "poolVersion", try pipVersion("SQLAlchemy")),
            ("hikari", "poolVersion", try dpkgVersion("libhikaricp-java")),
            ("hikari", "version", try dpkgVersion("libmariadb-java")),
            ("go-sql", "version", try dpkgVersion("golang-github-go-sql-driver-mysql-dev")),
            ("node-mysql", "version", try dpkgVersion("node-mysql")),
            ("node-mysql2", "version", try #require(package?["version"] as? String)),
            ("django", "version", try pipVersion("mysqlclient")),
            ("django", "poolVersion", try pipVersion("Django")),
            ("activerecord", "version", try dpkgVersion("ruby-mysql2")),
            ("activerecord", "poolVersion", try dpkgVersion("ruby-activerecord")),
            ("php-pdo", "version", try dpkgVersion("php8.2-mysql")),
            ("php-pdo", "runtimeVersion", try dpkgVersion("php8.2-cli")),
        ]
        for driver in AdapterCatalog.preferredOrder {
            let (out, _, client) = try await runJSON(["kill-thread", "--driver", driver])
            #expect(out.status == 0, "\(driver): \(out.stderr)")
            for want in expected where want.driver == driver {
                #expect(client[want.field] as? String == want.version, "\(driver) \(want.field): \(client)")
            }
        }
    }

    @Test("--driver go-sql@1.10.0 builds the adapter against that release (a newer Go) and names it")
    func goRelease() async throws {
        let (out, s, client) = try await runJSON(["wait-timeout", "--seconds", "2", "--driver", "go-sql@1.10.0"])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(client["version"] as? String == "1.10.0")
        #expect(client["library"] as? String == "go-sql-driver/mysql")
        #expect(s["recovered"] as? Bool == true, "1.10.0 checks a pooled connection before reuse")
    }

    @Test("--driver hikari@6.0.0 runs HikariCP 6.0.0 over the newest staged Connector/J and names both")
    func hikariRelease() async throws {
        let (out, _, client) = try await runJSON(["kill-thread", "--driver", "hikari@6.0.0"])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        #expect(client["poolVersion"] as? String == "6.0.0")
        #expect(client["version"] as? String == "3.5.9")
    }

    @Test("Go, Java and Python each run a library from a path the user gives, and report what is there")
    func libraryFromUserPath() async throws {
        let go = try staged("go-sql-driver-1.8.1")
        let (goOut, _, goClient) = try await runJSON(["kill-thread", "--driver", "go-sql", "--library", go])
        #expect(goOut.status == 0, "stderr: \(goOut.stderr)")
        #expect(goClient["version"] as? String == "1.8.1")

        let jars = try staged("HikariCP-6.0.0.jar") + ":/usr/share/java/mariadb-java-client.jar"
        let (javaOut, _, javaClient) = try await runJSON(["kill-thread", "--driver", "hikari", "--library", jars])
        #expect(javaOut.status == 0, "stderr: \(javaOut.stderr)")
        #expect(javaClient["poolVersion"] as? String == "6.0.0")
        #expect(javaClient["version"] as? String == "2.7.6", "Debian's Connector/J, as the path says")

        let python = try staged("SQLAlchemy-1.4.54") + ":" + staged("PyMySQL-1.0.2")
        let (pyOut, _, pyClient) = try await runJSON(["kill-thread", "--driver", "sqlalchemy", "--library", python])
        #expect(pyOut.status == 0, "stderr: \(pyOut.stderr)")
        #expect(pyClient["poolVersion"] as? String == "1.4.54")
        #expect(pyClient["version"] as? String == "1.0.2")
    }

    @Test("a path without the library, or holding another release than asked, stops with one line and exit 3")
    func wrongLibraryRefused() async throws {
        let python = try staged("SQLAlchemy-1.4.54")
        let missing = try await ReproBinary.run([
            "kill-thread", "--driver", "sqlalchemy", "--library", python, "--quiet",
        ])
        #expect(missing.status == 3, "stderr: \(missing.stderr)")
        #expect(missing.stderr.contains("PyMySQL"), "\(missing.stderr)")
        #expect(!missing.stderr.contains("Traceback"), "\(missing.stderr)")

        let old = try staged("mysql2-2.2.5") + "/node_modules"
        let other = try await ReproBinary.run([
            "kill-thread", "--driver", "node-mysql2@3.0.0", "--library", old, "--quiet",
        ])
        #expect(other.status == 3, "stderr: \(other.stderr)")
        #expect(other.stderr.contains("loaded node-mysql2@2.2.5"), "\(other.stderr)")

        let unknown = try await ReproBinary.run(["kill-thread", "--driver", "hikari@9.9.9", "--quiet"])
        #expect(unknown.status == 3)
        #expect(unknown.stderr.contains("no hikari release 9.9.9 found"), "\(unknown.stderr)")
        #expect(unknown.stderr.contains("6.0.0+3.5.9"), "it lists what there is: \(unknown.stderr)")

        let malformed = try await ReproBinary.run(["kill-thread", "--driver", "hikari@", "--quiet"])
        #expect(malformed.status == 2)
        #expect(malformed.stderr.contains("NAME@VERSION"), "\(malformed.stderr)")
    }

    @Test("matrix --driver-versions names only staged releases of the chosen stacks, before anything runs")
    func matrixReleasesAreChecked() async throws {
        let unknown = try await ReproBinary.run([
            "matrix", "--drivers", "go-sql", "--driver-versions", "go-sql@9.9.9", "--quiet", "--report-dir",
            ReproBinary.temporaryDirectory(),
        ])
        #expect(unknown.status == 3, "\(unknown.stderr)")
        #expect(unknown.stderr.contains("no go-sql release 9.9.9 found"), "\(unknown.stderr)")
        let other = try await ReproBinary.run([
            "matrix", "--drivers", "go-sql", "--driver-versions", "hikari@6.0.0", "--quiet", "--report-dir",
            ReproBinary.temporaryDirectory(),
        ])
        #expect(other.status == 2, "\(other.stderr)")
        #expect(other.stderr.contains("hikari is not among --drivers"), "\(other.stderr)")
    }

    @Test("bisect finds where mysql2's recommended configuration starts to survive a freeze with KILLed connections")
    func bisectNamesTheBoundary() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(
            [
                "bisect", "--driver", "node-mysql2", "--versions", "3.23.4,2.2.5,3.1.0", "--expect-fixed-in",
                "3.23.4", "--report-dir", dir, "freeze", "--for", "4", "--during", "kill-thread",
                "--driver-option", "maxIdle=3", "--driver-option", "idleTimeout=2000", "--driver-option",
                "enableKeepAlive=true", "--driver-option", "keepAliveInitialDelay=2000",
            ], timeout: 300)
        #expect(out.status == 0, "stdout: \(out.stdout) stderr: \(out.stderr)")
        #expect(
            out.stdout.contains("node-mysql2 freeze-kill-thread: fails up to 3.1.0, survives from 3.23.4"),
            "\(out.stdout)")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/bisect-node-mysql2-freeze-kill-thread.json"))
        let report = try JSONDecoder().decode(BisectReport.self, from: data)
        #expect(report.rows.map(\.version) == ["2.2.5", "3.1.0", "3.23.4"], "oldest first")
        #expect(report.rows.map(\.loaded).allSatisfy { $0.contains("mysql2") })
        #expect(
            report.rows[0].loaded.hasPrefix("mysql2 2.2.5 on node"),
            "read from its package.json: \(report.rows[0].loaded)")
        #expect(report.rows[0].firstError?.message == "Connection lost: The server closed the connection.")
        #expect(report.fixedIn == "3.23.4")
        let markdown = try String(
            contentsOfFile: dir + "/bisect-node-mysql2-freeze-kill-thread.md", encoding: .utf8)
        #expect(markdown.contains("Fails up to 3.1.0, survives from 3.23.4"), "\(markdown)")
    }
}
