import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One adapter folder: `run` starts it, `check` says what of its runtime and library is installed.
public struct AdapterDefinition: Sendable, Equatable {
    public let name: String
    public let directory: String

    public var runPath: String { directory + "/run" }
    public var checkPath: String { directory + "/check" }
}

/// What `check` printed: one line per requirement, and whether all were there.
public struct AdapterCheck: Sendable, Equatable {
    public var available: Bool
    public var lines: [String]
}

/// Finds adapter folders (docs/adapters.md, "Layout") and the environment their children get.
public enum AdapterCatalog {
    /// `REPRO_ADAPTERS`, else the adapters installed with this binary (`<prefix>/share/repro/adapters`) or in
    /// the checkout it was built in, else `./adapters`.
    public static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let configured = environment["REPRO_ADAPTERS"], !configured.isEmpty { return configured }
        return ReproPaths.candidates("adapters").first { isDirectory($0) && !definitions(in: $0).isEmpty }
    }

    /// The order the stacks are shown in: the pools people choose — Node first (the most common reporters), then Go,
    /// Java, Python — then the frameworks whose users never chose one: Django, PHP workers, Rails.
    /// What `--driver <TAB>` offers: every adapter, then each staged release as NAME@VERSION (from folder names and
    /// each adapter's `releases` file: completing runs nothing).
    public static func completions() -> [String] {
        let directories = DriverReleases.directories()
        return preferredOrder
            + preferredOrder.flatMap { name -> [String] in
                guard let adapter = try? find(name), let layouts = DriverReleases.layouts(adapter) else { return [] }
                return DriverReleases.staged(adapter: name, layouts: layouts, in: directories).map(\.label)
            }
    }

    /// Every adapter with a matrix manifest, in the manifests' `order` (`adapters/<name>/matrix.json`).
    public static var preferredOrder: [String] {
        guard let directory = directory() else { return [] }
        return definitions(in: directory).compactMap { adapter in
            AdapterManifest.of(adapter.name).map { ($0.order, adapter.name) }
        }
        .sorted { $0 < $1 }.map(\.1)
    }

    /// The adapters a `--drivers` list names (`all`: every one found, in `preferredOrder`), each checked before
    /// anything runs. A named adapter that cannot run is an environment error; with `all` it is skipped and
    /// returned in `skipped` with what its check said.
    public static func select(_ list: String, nodePath: String?) throws(RunError) -> (
        names: [String], skipped: [String]
    ) {
        guard let directory = directory() else {
            throw .environment(
                "no adapters directory found: set REPRO_ADAPTERS to the folder that holds adapters/<name>/run")
        }
        let known = definitions(in: directory)
        let all = list.trimmingCharacters(in: .whitespaces) == "all"
        var chosen: [AdapterDefinition] = []
        if all {
            let order = preferredOrder
            let rank = { (name: String) in order.firstIndex(of: name) ?? order.count }
            chosen = known.sorted { (rank($0.name), $0.name) < (rank($1.name), $1.name) }
        } else {
            for part in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty
            {
                guard let adapter = known.first(where: { $0.name == part }) else {
                    throw .usage(
                        "--drivers '\(part)' is unknown: use all or any of \(known.map(\.name).joined(separator: ", "))"
                    )
                }
                if !chosen.contains(adapter) { chosen.append(adapter) }
            }
        }
        if chosen.isEmpty { throw .usage("--drivers is empty: name at least one, or all") }
        var names: [String] = []
        var skipped: [String] = []
        for adapter in chosen {
            let check = check(adapter, nodePath: nodePath)
            if check.available {
                names.append(adapter.name)
            } else if all {
                skipped.append("\(adapter.name): \(check.lines.joined(separator: "; "))")
            } else {
                throw .environment(
                    "the \(adapter.name) adapter cannot run here (\(check.lines.joined(separator: "; "))): run make setup, or leave it out of --drivers"
                )
            }
        }
        if names.isEmpty {
            throw .environment("no driver adapter can run here: run make setup (repro drivers shows what is missing)")
        }
        return (names, skipped)
    }

    /// Before a batch of scenarios runs: every real stack they name exists and its `check` passes (checks run
    /// side by side, about a second in all). Otherwise one line naming the stack, what its check said and the
    /// scenarios that use it (file:line): a missing runtime is found before the server starts, not after the
    /// scenarios before it ran.
    public static func preflight(_ scenarios: [Scenario], nodePath: String?) throws(RunError) {
        // One check per adapter and library location: a scenario may name its own release (driver.library,
        // driver.version).
        struct Need: Hashable {
            var name: String
            var libraryPath: String?
        }
        var users: [Need: [Scenario]] = [:]
        var releases: [Need: String] = [:]
        for scenario in scenarios {
            guard let driver = scenario.driver else { continue }
            var path = driver.libraryPath
            if path == nil, let spec = driver.version {
                do throws(RunError) {
                    path = try DriverReleases.resolve(try find(driver.name), spec: spec, nodePath: nodePath).libraryPath
                } catch {
                    throw RunError(kind: error.kind, message: (scenario.source.map { "\($0): " } ?? "") + error.message)
                }
            }
            let need = Need(name: driver.name, libraryPath: path)
            users[need, default: []].append(scenario)
            if let spec = driver.version { releases[need] = spec }
        }
        let needs = users.keys.sorted { ($0.name, $0.libraryPath ?? "") < ($1.name, $1.libraryPath ?? "") }
        var adapters: [AdapterDefinition] = []
        for need in needs {
            do throws(RunError) {
                adapters.append(try find(need.name))
            } catch {
                let at = users[need]?.first?.source.map { "\($0): " } ?? ""
                throw .usage(at + error.message)
            }
        }
        let found = adapters
        let checks = ParallelRuns.run(count: found.count, jobs: found.count) { index throws(RunError) in
            check(found[index], nodePath: nodePath, libraryPath: needs[index].libraryPath)
        }
        for (index, result) in checks.results.enumerated() {
            guard let result, !result.available else { continue }
            let name = adapters[index].name
            let using = (users[needs[index]] ?? []).map { $0.source ?? $0.name }
            let shown =
                using.prefix(3).joined(separator: ", ") + (using.count > 3 ? " and \(using.count - 3) more" : "")
            let release = releases[needs[index]].map { "@" + $0 } ?? ""
            throw .environment(
                "the \(name)\(release) adapter cannot run here (\(result.lines.joined(separator: "; "))), needed by \(shown): run make setup, or leave those scenarios out (--filter)"
            )
        }
    }

    /// Every subfolder of `directory` with an executable `run`, by name.
    public static func definitions(in directory: String) -> [AdapterDefinition] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().compactMap { name in
            let dir = directory + "/" + name
            guard access(dir + "/run", X_OK) == 0 else { return nil }
            return AdapterDefinition(name: name, directory: dir)
        }
    }

    /// The adapter called `name`, or a usage error listing the ones there are.
    public static func find(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(RunError) -> AdapterDefinition
    {
        guard let dir = directory(environment: environment) else {
            throw .usage(
                "no adapters directory found for --driver \(name): set REPRO_ADAPTERS to the folder holding adapters/<name>/run"
            )
        }
        let all = definitions(in: dir)
        guard let found = all.first(where: { $0.name == name }) else {
            throw .usage(
                "unknown driver '\(name)': use one of \(all.map(\.name).joined(separator: ", ")) (adapters in \(dir)), or leave --driver out for repro's own pool"
            )
        }
        return found
    }

    /// The environment variable that names the library release an adapter loads (docs/adapters.md "Releases").
    public static let libraryVariable = "REPRO_LIBRARY_PATH"

    /// The child's environment: ours without anything that can hold a password, NODE_PATH with `nodePath` in front
    /// (the run's `--node-path`), and `REPRO_LIBRARY_PATH` set to `libraryPath` only: the release this scenario
    /// names (`--library`, `NAME@VERSION`), which the adapter loads from there and nowhere else.
    public static func childEnvironment(
        nodePath: String?, libraryPath: String? = nil, base: [String: String] = ProcessInfo.processInfo.environment
    ) -> [String] {
        var env = base
        for secret in ["REPRO_DSN", "MYSQL_PWD", "MARIADB_PWD"] { env[secret] = nil }
        env[libraryVariable] = nil
        // The run's --node-path first, then NODE_PATH, then the current directory's node_modules (where `npm ci`
        // put the team's own mysql2), as node itself would look from there.
        let local = FileManager.default.currentDirectoryPath + "/node_modules"
        let here = FileManager.default.fileExists(atPath: local) ? local : nil
        let paths = [nodePath, env["NODE_PATH"], here].compactMap { $0 }.filter { !$0.isEmpty }
        if !paths.isEmpty { env["NODE_PATH"] = paths.joined(separator: ":") }
        if let libraryPath, !libraryPath.isEmpty { env[libraryVariable] = libraryPath }
        return env.keys.sorted().map { "\($0)=\(env[$0]!)" }
    }

    /// The version of `library` that `check` found in exactly `libraryPath` (its `ok <library> <version>` line), or nil.
    public static func libraryVersion(_ adapter: AdapterDefinition, library: String, libraryPath: String) -> String? {
        DriverReleases.checkedVersion(library, in: check(adapter, libraryPath: libraryPath))
    }

    /// Runs the adapter's `check` (bounded to 30 s) and returns its lines; the paths as in `childEnvironment`.
    public static func check(_ adapter: AdapterDefinition, nodePath: String? = nil, libraryPath: String? = nil)
        -> AdapterCheck
    {
        guard access(adapter.checkPath, X_OK) == 0 else {
            return AdapterCheck(available: true, lines: ["(no check script)"])
        }
        do {
            let (exit, lines) = try runScript(
                adapter.checkPath, name: adapter.name, seconds: 30,
                environment: childEnvironment(nodePath: nodePath, libraryPath: libraryPath))
            return AdapterCheck(available: exit == .exited(0), lines: lines)
        } catch {
            return AdapterCheck(available: false, lines: ["missing: cannot run \(adapter.checkPath): \(error.message)"])
        }
    }

    /// Runs one of an adapter's scripts (`check`, `prepare`) in its own process group, bounded to `seconds` and
    /// stopped whole on Ctrl-C; its exit and its output lines (stdout and stderr together).
    static func runScript(_ path: String, name: String, seconds: Int, environment: [String]) throws(ServerError)
        -> (exit: ChildProcess.Exit, lines: [String])
    {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "repro-\((path as NSString).lastPathComponent)-\(getpid())-\(name)-\(UInt32.random(in: 0...UInt32.max)).out"
        ).path
        defer { unlink(output) }
        let child = try ChildProcess.spawn(
            path, [], stdin: .devNull, stdout: .file(output), stderr: .stdout, environment: environment)
        let pid = child.pid
        let token = CleanupRegistry.shared.register("stop \(path)") { killpg(pid, SIGKILL) }
        defer { CleanupRegistry.shared.unregister(token) }
        let exit = child.wait(until: .now + .seconds(seconds)) ?? child.terminate(grace: .seconds(1))
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return (exit, text.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}
