import Foundation

/// A release with what its adapter's `check` found there: the versions read from the libraries' own metadata.
public struct CheckedRelease: Sendable, Equatable {
    public var release: DriverRelease
    public var check: AdapterCheck
    /// What the metadata says, in release form (`6.0.0+3.5.9`); nil when a library was not found.
    public var metadataVersion: String?

    /// The check passed and the metadata names the release's version.
    public var usable: Bool { check.available && metadataVersion == release.version }

    /// Why the release cannot be used, in one clause; nil when it can.
    public var problem: String? {
        if !check.available { return check.lines.filter { $0.hasPrefix("missing") }.joined(separator: "; ") }
        if let metadataVersion, metadataVersion != release.version {
            return
                "its metadata says \(metadataVersion), its name \(release.version): rename the entry after the version it holds"
        }
        return nil
    }
}

/// Every release repro can run for each adapter: the installed one and those staged in `REPRO_DRIVER_VERSIONS`,
/// each checked (`repro drivers`, `repro matrix --driver-versions`, `repro bisect --versions`).
public enum DriverReleaseList {
    /// The releases of `adapter`, installed first, then staged ones oldest first, each checked (side by side).
    /// An adapter without a `releases` file has only its installed release.
    public static func releases(
        of adapter: AdapterDefinition, nodePath: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> [CheckedRelease] {
        let layouts = DriverReleases.layouts(adapter)
        let staged =
            layouts.map {
                DriverReleases.staged(
                    adapter: adapter.name, layouts: $0, in: DriverReleases.directories(environment: environment))
            } ?? []
        let paths: [String?] = [nil] + staged.map(\.libraryPath)
        let checks = ParallelRuns.run(count: paths.count, jobs: min(4, paths.count)) { index throws(RunError) in
            AdapterCatalog.check(adapter, nodePath: index == 0 ? nodePath : nil, libraryPath: paths[index])
        }
        var out: [CheckedRelease] = []
        for (index, check) in checks.results.enumerated() {
            let check = check ?? AdapterCheck(available: false, lines: ["missing: check did not run"])
            let metadata = layouts.flatMap { DriverReleases.metadataVersion(layouts: $0, check: check) }
            if index == 0 {
                let installed =
                    layouts.flatMap { DriverReleases.defaultRelease(adapter: adapter.name, layouts: $0, check: check) }
                    ?? DriverRelease(adapter: adapter.name, components: [], isDefault: true)
                out.append(CheckedRelease(release: installed, check: check, metadataVersion: metadata))
            } else {
                out.append(CheckedRelease(release: staged[index - 1], check: check, metadataVersion: metadata))
            }
        }
        return out
    }

    /// `--driver-versions all` (every staged release of `adapters`), `listed` (the releases their manifests list
    /// in `matrixReleases`) or `NAME@VERSION,…`: the staged releases, each
    /// verified by its metadata. A release that is not staged, or whose check fails, is an error naming it.
    public static func select(
        _ list: String, adapters: [String], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(RunError) -> [DriverRelease] {
        var text = list.trimmingCharacters(in: .whitespaces)
        var chosen: [(AdapterDefinition, String?)] = []
        if text == "listed" {
            // The releases each stack's manifest gives matrix rows of their own (`matrixReleases`).
            let listed = adapters.flatMap { name in
                (AdapterManifest.of(name)?.matrixReleases ?? []).map { "\(name)@\($0)" }
            }
            if listed.isEmpty { return [] }
            text = listed.joined(separator: ",")
        }
        if text == "all" {
            for name in adapters { chosen.append((try AdapterCatalog.find(name, environment: environment), nil)) }
        } else {
            for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty
            {
                let parsed = try DriverChoice.parseName(part)
                guard let spec = parsed.version else {
                    throw .usage("--driver-versions '\(part)' names no release: write NAME@VERSION, or all")
                }
                guard adapters.contains(parsed.name) else {
                    throw .usage(
                        "--driver-versions '\(part)': \(parsed.name) is not among --drivers (\(adapters.joined(separator: ", ")))"
                    )
                }
                chosen.append((try AdapterCatalog.find(parsed.name, environment: environment), spec))
            }
            if chosen.isEmpty { throw .usage("--driver-versions is empty: name NAME@VERSION releases, or all") }
        }
        var out: [DriverRelease] = []
        for (adapter, spec) in chosen {
            let candidates: [CheckedRelease]
            if let spec {
                let release = try DriverReleases.resolve(adapter, spec: spec, environment: environment)
                if release.isDefault { continue }
                let check = AdapterCatalog.check(adapter, libraryPath: release.libraryPath)
                let metadata = DriverReleases.metadataVersion(
                    layouts: DriverReleases.layouts(adapter) ?? [], check: check)
                candidates = [CheckedRelease(release: release, check: check, metadataVersion: metadata)]
            } else {
                candidates = releases(of: adapter, environment: environment).filter { !$0.release.isDefault }
            }
            for candidate in candidates {
                if let problem = candidate.problem {
                    throw .environment(
                        "the staged release \(candidate.release.label) (\(candidate.release.libraryPath ?? "")) cannot run: \(problem)"
                    )
                }
                out.append(candidate.release)
            }
        }
        return out
    }
}
