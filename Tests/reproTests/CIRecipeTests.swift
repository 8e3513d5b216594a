import Foundation
import ReproKit
import ReproTestSupport
import Testing
import Yams

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Runs a shell command line from the checkout root; returns status and output.
private func sh(_ script: String, environment: [String: String] = [:], directory: String = root) async throws
    -> ReproBinary.Outcome
{
    try await ReproBinary.run(
        ["-c", script], environment: environment, timeout: 300, executable: "/bin/bash", directory: directory)
}

private func files(under dir: String) -> [String] {
    (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).sorted()
}

@Suite(
    "docs/ci.md: the CI recipe, run here the way it runs there", .ownThreads, .serialized, .enabled(if: serverAvailable)
)
struct CIRecipeTests {
    @Test("the workflow file has the job, the service and the steps docs/ci.md describes")
    func workflowShape() throws {
        let text = try String(contentsOfFile: root + "/docs/github-actions.yml", encoding: .utf8)
        let yaml = try #require(try Yams.load(yaml: text) as? [String: Any])
        let job = try #require((yaml["jobs"] as? [String: Any])?["idle-connections"] as? [String: Any])
        let service = try #require((job["services"] as? [String: Any])?["mariadb"] as? [String: Any])
        #expect((service["image"] as? String)?.hasPrefix("mariadb:") == true)
        let steps = try #require(job["steps"] as? [[String: Any]])
        #expect(
            steps.compactMap { $0["name"] as? String } == [
                "Check out", "Cache repro", "Install repro", "Set up Node", "Install the application's dependencies",
                "Run scenarios", "Upload reports", "Publish test results",
            ])
        #expect((yaml["permissions"] as? [String: Any])?["checks"] as? String == "write", "the JUnit action needs it")
        let cache = try #require(steps.first { $0["name"] as? String == "Cache repro" }?["with"] as? [String: Any])
        #expect((cache["key"] as? String)?.contains("env.REPRO_VERSION") == true, "cached by version")
        let env = try #require(yaml["env"] as? [String: Any])
        #expect(env["REPRO_REPOSITORY"] is String && env["REPRO_VERSION"] is String, "one place to change")
        let runStep = try #require(steps.first { $0["name"] as? String == "Run scenarios" })
        let dsn = try #require((runStep["env"] as? [String: Any])?["REPRO_DSN"] as? String)
        #expect(dsn.contains("${{ secrets.REPRO_DB_PASSWORD }}"), "the password comes from a secret")
        let command = try #require(runStep["run"] as? String)
        #expect(command.contains("repro all ci/repro") && command.contains("junit"))
        #expect(!command.contains("--dsn"), "never the password on the command line")
        let install = try #require(steps.first { $0["name"] as? String == "Install repro" }?["run"] as? String)
        #expect(install.contains("repro-$REPRO_VERSION-linux-x86_64.tar.gz"), "installs the release tarball")
        #expect(!install.contains("make"), "no build, no Swift toolchain")
        let upload = try #require(steps.first { $0["name"] as? String == "Upload reports" })
        #expect(upload["if"] as? String == "always()")
    }

    /// A user with a fresh password on `server`, as a service container's would be, and its DSN.
    static func serviceUser(_ user: String, on server: ManagedServer) throws -> (dsn: String, secret: String) {
        let secret = "Svc-\(UUID().uuidString.prefix(8))"
        let admin = try ScenarioRunner(endpoint: server.endpoint).adminConnection()
        defer { admin.close() }
        try admin.query("CREATE USER '\(user)'@'%' IDENTIFIED BY '\(secret)'")
        try admin.query("GRANT ALL ON *.* TO '\(user)'@'%'")
        return ("mysql://\(user):\(secret)@127.0.0.1:\(server.endpoint.port)/", secret)
    }

    /// A `run:` step of the workflow, by name.
    static func step(_ name: String) throws -> String {
        let text = try String(contentsOfFile: root + "/docs/github-actions.yml", encoding: .utf8)
        let yaml = try #require(try Yams.load(yaml: text) as? [String: Any])
        let job = try #require((yaml["jobs"] as? [String: Any])?["idle-connections"] as? [String: Any])
        let steps = try #require(job["steps"] as? [[String: Any]])
        return try #require(steps.first { $0["name"] as? String == name }?["run"] as? String, "step \(name)")
    }

    @Test("the workflow's own steps, run here: install from the release tarball, npm ci's node_modules, the scenarios")
    func workflowStepsRunHere() async throws {
        let tarball = try #require(
            ((try? FileManager.default.contentsOfDirectory(atPath: root + "/dist")) ?? []).first {
                $0.hasPrefix("repro-\(ReproVersion.version)-linux-") && $0.hasSuffix(".tar.gz")
            }, "dist/ holds the release tarball: make dist (make test does)")
        let home = ReproBinary.temporaryDirectory()
        let work = ReproBinary.temporaryDirectory()
        let releases = ReproBinary.temporaryDirectory()
        defer { for dir in [home, work, releases] { try? FileManager.default.removeItem(atPath: dir) } }
        // The releases page, as curl sees it: <base>/v<version>/<tarball>.
        try FileManager.default.createDirectory(
            atPath: releases + "/v\(ReproVersion.version)", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: releases + "/v\(ReproVersion.version)/" + tarball, withDestinationPath: root + "/dist/" + tarball)
        let githubPath = work + "/github-path"
        let noSwift = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .filter { !$0.lowercased().contains("swift") }.joined(separator: ":")
        var env = [
            "HOME": home, "GITHUB_PATH": githubPath, "REPRO_VERSION": ReproVersion.version,
            "REPRO_REPOSITORY": "nowhere/unused", "REPRO_RELEASES": "file://" + releases, "PATH": noSwift,
            "NODE_PATH": "",
        ]
        func run(_ name: String) async throws -> ReproBinary.Outcome {
            try await ReproBinary.run(
                ["-c", try Self.step(name)], environment: env, timeout: 300, executable: "/bin/bash", directory: work)
        }
        let install = try await run("Install repro")
        #expect(install.status == 0, "\(install.stdout) \(install.stderr)")
        #expect(install.stdout.hasPrefix(ReproVersion.version), "\(install.stdout)")
        let bin = home + "/.local/repro/bin"
        #expect((try? String(contentsOfFile: githubPath, encoding: .utf8)) == bin + "\n")
        // Cached: a second run finds it and downloads nothing (the releases page is gone).
        try FileManager.default.removeItem(atPath: releases + "/v\(ReproVersion.version)/" + tarball)
        await #expect(try run("Install repro").status == 0, "the cached install is used")

        // The team's own mysql2, as npm ci leaves it in the checkout (no NODE_PATH, no --node-path).
        let modules = try #require(
            ProcessInfo.processInfo.environment["NODE_PATH"]?.split(separator: ":").first.map(String.init))
        try FileManager.default.createSymbolicLink(atPath: work + "/node_modules", withDestinationPath: modules)
        let dependencies = try await run("Install the application's dependencies")
        #expect(dependencies.status == 0, "no package-lock.json or requirements.txt: nothing to do")
        env["PATH"] = bin + ":" + noSwift
        let initialised = try await ReproBinary.run(
            ["init", "ci/repro", "--driver", "node-mysql2"], environment: env, executable: bin + "/repro",
            directory: work)
        #expect(initialised.status == 0, "\(initialised.stderr)")
        let server = try ManagedServer.start()
        defer { server.stop() }
        env["REPRO_DSN"] = try Self.serviceUser("wf", on: server).dsn
        let scenarios = try await run("Run scenarios")
        #expect(scenarios.status == 0, "\(scenarios.stdout) \(scenarios.stderr)")
        let junit = (try? String(contentsOfFile: work + "/reports/repro/repro-all.junit.xml", encoding: .utf8)) ?? ""
        #expect(junit.contains("value=\"mysql2\""), "the team's mysql2 ran: \(junit.prefix(600))")
    }

    @Test("install into a prefix, run the installed repro from elsewhere against a separate server, uninstall")
    func installRunUninstall() async throws {
        let prefix = ReproBinary.temporaryDirectory()
        let work = ReproBinary.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: prefix)
            try? FileManager.default.removeItem(atPath: work)
        }
        let man = root + "/.build/plugins/GenerateManual/outputs/repro/repro.1"
        try #require(FileManager.default.fileExists(atPath: man), "make test generates the man page first (make man)")
        // make install runs this script after the release build; the test installs the debug build it has.
        let install = try await sh("CONFIG=debug PREFIX='\(prefix)' scripts/install.sh")
        #expect(install.status == 0, "stdout: \(install.stdout) stderr: \(install.stderr)")
        let repro = prefix + "/bin/repro"
        for file in [
            "bin/repro", "share/man/man1/repro.1", "share/bash-completion/completions/repro",
            "share/zsh/site-functions/_repro", "share/fish/vendor_completions.d/repro.fish",
            "share/repro/adapters/go-sql/run", "share/repro/adapters/go-sql/.build/go-sql-adapter",
            "share/repro/docs/matrix.json", "share/repro/docs/drivers.json", "share/repro/Scenarios/README.md",
        ] {
            #expect(FileManager.default.fileExists(atPath: prefix + "/" + file), "\(file) installed")
        }

        // --version names the commit; the man page renders; bash completes `repro net<TAB>`.
        let version = try await ReproBinary.run(["--version"], executable: repro, directory: work)
        #expect(version.stdout.hasPrefix(ReproVersion.version + " (commit "), "\(version.stdout)")
        let page = try await sh("MANWIDTH=80 man -l '\(prefix)/share/man/man1/repro.1' | col -b", directory: work)
        #expect(page.status == 0 && page.stdout.contains("wait-timeout"), "man: \(page.stderr)")
        for section in ["EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES", "REPRO_DSN", "NODE_PATH", "REPRO_ADAPTERS"] {
            #expect(page.stdout.contains(section), "man page lacks \(section)")
        }
        for code in ["0", "1", "2", "3", "130, 143, 129"] {
            let listed = page.stdout.split(separator: "\n").contains {
                $0.hasPrefix("     \(code)") && ($0.dropFirst(5 + code.count).first?.isWhitespace ?? true)
            }
            #expect(listed, "EXIT STATUS lacks \(code)")
        }
        let drivers = try await sh(
            """
            source '\(prefix)/share/bash-completion/completions/repro'
            COMP_WORDS=(repro network-cut --driver ''); COMP_CWORD=3; COMP_LINE='repro network-cut --driver '
            COMP_POINT=${#COMP_LINE}; _repro repro '' --driver; printf '%s\\n' "${COMPREPLY[@]}"
            """, environment: ["PATH": prefix + "/bin:/usr/bin:/bin"], directory: work)
        let offered = drivers.stdout.split(separator: "\n").map(String.init)
        for name in AdapterCatalog.preferredOrder { #expect(offered.contains(name), "--driver <TAB>: \(offered)") }
        let completion = try await sh(
            """
            source '\(prefix)/share/bash-completion/completions/repro'
            COMP_WORDS=(repro net); COMP_CWORD=1; COMP_LINE='repro net'; COMP_POINT=${#COMP_LINE}
            _repro repro net repro; printf '%s\\n' "${COMPREPLY[@]}"
            """, environment: ["PATH": prefix + "/bin:/usr/bin:/bin"], directory: work)
        #expect(
            completion.stdout.split(separator: "\n").contains("network-cut"),
            "\(completion.stdout) \(completion.stderr)")

        // From another directory, explain finds the installed matrix and the measured driver lines.
        let explain = try await ReproBinary.run(["explain", "--verbose", "2013"], executable: repro, directory: work)
        #expect(explain.status == 0, "\(explain.stderr)")
        #expect(explain.stdout.contains("Which policies recovered (\(prefix)/share/repro/docs/matrix.json"))
        #expect(explain.stdout.contains("What real driver stacks do (measured"))

        // The service: a server started separately, a user with a password, reached through REPRO_DSN only.
        let server = try ManagedServer.start()
        defer { server.stop() }
        let (dsn, secret) = try Self.serviceUser("ci", on: server)
        let initialised = try await ReproBinary.run(
            ["init", "ci/repro", "--driver", "go-sql"], executable: repro, directory: work)
        #expect(initialised.status == 0, "\(initialised.stderr)")
        let summary = work + "/summary.md"
        let env = ["REPRO_DSN": dsn, "GITHUB_STEP_SUMMARY": summary]
        let run = try await ReproBinary.run(
            ["all", "ci/repro", "--report-dir", "reports/repro", "--format", "md,json,junit", "--quiet"],
            environment: env, timeout: 300, executable: repro, directory: work)
        #expect(run.status == 0, "stdout: \(run.stdout) stderr: \(run.stderr)")
        for report in ["repro-all.md", "repro-all.json", "repro-all.junit.xml"] {
            #expect(FileManager.default.fileExists(atPath: work + "/reports/repro/" + report), "\(report)")
        }
        let summaryText = (try? String(contentsOfFile: summary, encoding: .utf8)) ?? ""
        #expect(summaryText.contains("network-cut-half-open-go-sql"), "the step summary has the table")
        for file in files(under: work + "/reports/repro") {
            let text = (try? String(contentsOfFile: work + "/reports/repro/" + file, encoding: .utf8)) ?? ""
            #expect(!text.contains(secret), "\(file) holds no password")
        }
        #expect(!run.stdout.contains(secret) && !run.stderr.contains(secret))

        // An unmet expectation fails the job (exit 1) and shows as a JUnit failure.
        let goal = try String(contentsOfFile: work + "/ci/repro/network-cut-half-open.yml", encoding: .utf8)
            .replacingOccurrences(of: "  recovered: false", with: "  recovered: true")
        try goal.write(toFile: work + "/ci/repro/network-cut-half-open.yml", atomically: true, encoding: .utf8)
        let failing = try await ReproBinary.run(
            ["all", "ci/repro", "--report-dir", "reports/repro", "--quiet", "--filter", "network-cut*"],
            environment: env, timeout: 300, executable: repro, directory: work)
        #expect(failing.status == 1, "stderr: \(failing.stderr)")
        let junit = try String(contentsOfFile: work + "/reports/repro/repro-all.junit.xml", encoding: .utf8)
        #expect(junit.contains("<failure"))

        // make uninstall removes exactly what install put there: the prefix is empty again.
        let uninstall = try await sh("PREFIX='\(prefix)' scripts/uninstall.sh")
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        #expect(files(under: prefix).isEmpty, "left behind: \(files(under: prefix))")
    }

    @Test("make setup ADAPTERS=... plans only what those adapters need; a name that is no adapter exits 2")
    func setupForNamedAdapters() async throws {
        func plan(_ adapters: String) async throws -> [String] {
            let out = try await sh("ADAPTERS='\(adapters)' bash scripts/setup.sh --plan")
            #expect(out.status == 0, "\(out.stderr)")
            return out.stdout.split(separator: "\n").map(String.init)
        }
        let all = try await plan("all")
        for package in [
            "apt nodejs", "apt golang-go", "apt default-jdk-headless", "apt php8.2-cli", "apt ruby",
            "pip SQLAlchemy", "pip mysqlclient", "apt librsvg2-bin", "apt libmariadb-dev", "apt mariadb-server",
        ] {
            #expect(all.contains(package), "all: \(package) missing from \(all)")
        }
        let node = try await plan("node-mysql2,sqlalchemy")
        #expect(node.contains("apt nodejs") && node.contains("pip SQLAlchemy") && node.contains("apt mariadb-server"))
        for other in [
            "apt golang-go", "apt default-jdk-headless", "apt php8.2-cli", "apt ruby", "pip mysqlclient",
            "apt librsvg2-bin",
        ] {
            #expect(!node.contains(other), "node-mysql2,sqlalchemy plans \(other)")
        }
        let bad = try await sh("ADAPTERS=cobol bash scripts/setup.sh --plan")
        #expect(bad.status == 2 && bad.stderr.contains("ADAPTERS names 'cobol', which is no adapter"), "\(bad.stderr)")
    }

    @Test("repro init writes scenarios that parse, and never overwrites")
    func initWritesValidScenarios() async throws {
        let dir = ReproBinary.temporaryDirectory() + "/mine"
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let first = try await ReproBinary.run(["init", dir, "--driver", "sqlalchemy"])
        #expect(first.status == 0, "\(first.stderr)")
        let scenarios = try ScenarioFile.load(paths: [dir])
        #expect(
            scenarios.map(\.name).sorted() == [
                "kill-thread-sqlalchemy", "network-cut-half-open-sqlalchemy", "wait-timeout-sqlalchemy",
            ])
        #expect(scenarios.allSatisfy { $0.driver?.name == "sqlalchemy" && $0.expectations.recovered == false })
        let again = try await ReproBinary.run(["init", dir])
        #expect(again.status == 2 && again.stderr.contains("already exist"))
        let bad = try await ReproBinary.run(["init", dir + "2", "--driver", "cobol"])
        #expect(bad.status == 2 && bad.stderr.contains("--driver 'cobol' is unknown"))
    }
}
