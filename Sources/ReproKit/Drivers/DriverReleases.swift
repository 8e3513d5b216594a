import Foundation

/// How a stack's library releases sit in a versions directory: one line of the adapter's `releases` file
/// (docs/adapters.md "Releases"). The first line is the library the stack's version is named after (mysql2, the
/// pool for HikariCP and SQLAlchemy), the others the libraries it runs over (Connector/J, PyMySQL).
public struct ReleaseLayout: Sendable, Equatable {
    public enum Shape: String, Sendable, CaseIterable {
        /// `<prefix>-<version>/node_modules/<prefix>`: the release is the `node_modules` folder.
        case nodeModules = "node_modules"
        /// `<prefix>-<version>/src/…`: a GOPATH tree.
        case gopath
        /// `<prefix>-<version>.jar`.
        case jar
        /// `<prefix>-<version>/`: a folder (a `pip install --target`).
        case dir
    }

    /// The folder or file name before `-<version>` (`mysql2`, `HikariCP`).
    public var prefix: String
    public var shape: Shape
    /// The `hello` field that names the version loaded (`driverVersion`, `poolVersion`).
    public var helloField: String
    /// The name `check` prints before the version (`ok go-sql-driver/mysql 1.5.0`).
    public var checkName: String

    public init(prefix: String, shape: Shape, helloField: String, checkName: String) {
        self.prefix = prefix
        self.shape = shape
        self.helloField = helloField
        self.checkName = checkName
    }
}

/// One library of a release: its version (from the entry's name; the adapter reads the real one) and where it is.
public struct ReleaseComponent: Sendable, Equatable, Codable {
    public var library: String
    public var version: String
    public var path: String
}

/// A release of a stack repro can run: the default one (what the system has installed, no library path) or
/// one staged in a versions directory.
public struct DriverRelease: Sendable, Equatable, Codable {
    public var adapter: String
    /// Empty for the default release until its `check` is read.
    public var components: [ReleaseComponent]
    public var isDefault: Bool

    /// `3.1.0`, `6.0.0+3.5.9` (the pool's, then its driver's).
    public var version: String { components.map(\.version).joined(separator: "+") }
    /// `node-mysql2@3.1.0`.
    public var label: String { "\(adapter)@\(version)" }
    /// What the adapter gets as `REPRO_LIBRARY_PATH`; nil for the default release.
    public var libraryPath: String? { isDefault ? nil : components.map(\.path).joined(separator: ":") }
}

/// Finds the releases of each stack: the default one and those staged in `REPRO_DRIVER_VERSIONS`.
public enum DriverReleases {
    /// The environment variable naming the versions directories (colon-separated).
    public static let variable = "REPRO_DRIVER_VERSIONS"

    /// The adapter's `releases` file, or nil when it has none (its library cannot be staged).
    public static func layouts(_ adapter: AdapterDefinition) -> [ReleaseLayout]? {
        guard let text = try? String(contentsOfFile: adapter.directory + "/releases", encoding: .utf8) else {
            return nil
        }
        let layouts = parseLayouts(text)
        return layouts.isEmpty ? nil : layouts
    }

    /// Lines `prefix shape helloField checkName`; `#` starts a comment; malformed lines are ignored.
    public static func parseLayouts(_ text: String) -> [ReleaseLayout] {
        text.split(separator: "\n").compactMap { raw in
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(separator: " ").map(String.init)
            guard words.count == 4, let shape = ReleaseLayout.Shape(rawValue: words[1]) else { return nil }
            return ReleaseLayout(prefix: words[0], shape: shape, helloField: words[2], checkName: words[3])
        }
    }

    /// `REPRO_DRIVER_VERSIONS`, split; relative entries are taken from the current directory.
    public static func directories(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        (environment[variable] ?? "").split(separator: ":").map { absolute(String($0)) }
    }

    /// `path` made absolute from the current directory, and standardized.
    public static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return (full as NSString).standardizingPath
    }

    /// What `check` read from the libraries' metadata, in release form (`6.0.0+3.5.9`); nil when one is missing.
    public static func metadataVersion(layouts: [ReleaseLayout], check: AdapterCheck) -> String? {
        let versions = layouts.map { checkedVersion($0.checkName, in: check) }
        return versions.contains(nil) ? nil : versions.compactMap { $0 }.joined(separator: "+")
    }

    /// Every staged entry of one library in `directories`, newest version first (the first directory wins a tie).
    public static func components(_ layout: ReleaseLayout, in directories: [String]) -> [ReleaseComponent] {
        var found: [ReleaseComponent] = []
        for directory in directories {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            for name in names {
                guard let version = version(of: name, layout: layout) else { continue }
                let entry = directory + "/" + name
                let path: String
                switch layout.shape {
                case .nodeModules:
                    path = entry + "/node_modules"
                    guard isDirectory(path + "/" + layout.prefix) else { continue }
                case .gopath:
                    path = entry
                    guard isDirectory(entry + "/src") else { continue }
                case .jar:
                    path = entry
                    guard !isDirectory(entry) else { continue }
                case .dir:
                    path = entry
                    guard isDirectory(entry) else { continue }
                }
                if !found.contains(where: { $0.version == version }) {
                    found.append(ReleaseComponent(library: layout.prefix, version: version, path: path))
                }
            }
        }
        return found.sorted { compareVersions($0.version, $1.version) == .orderedDescending }
    }

    /// The version in an entry's name (`mysql2-3.1.0` → `3.1.0`, `HikariCP-6.0.0.jar` → `6.0.0`), or nil.
    static func version(of name: String, layout: ReleaseLayout) -> String? {
        guard name.hasPrefix(layout.prefix + "-") else { return nil }
        var rest = String(name.dropFirst(layout.prefix.count + 1))
        if layout.shape == .jar {
            guard rest.hasSuffix(".jar") else { return nil }
            rest.removeLast(4)
        }
        guard let first = rest.first, first.isNumber, !rest.contains("/") else { return nil }
        return rest
    }

    /// The staged releases of a stack, oldest first: each staged version of its first library over the newest
    /// staged version of each other one (a release that lacks one of them is not listed).
    public static func staged(adapter: String, layouts: [ReleaseLayout], in directories: [String]) -> [DriverRelease] {
        guard let primary = layouts.first else { return [] }
        let others = layouts.dropFirst().map { components($0, in: directories) }
        if others.contains(where: \.isEmpty) { return [] }
        return components(primary, in: directories).reversed().map { first in
            DriverRelease(adapter: adapter, components: [first] + others.map { $0[0] }, isDefault: false)
        }
    }

    /// The staged release `spec` names: `3.1.0` (its first library's version; the others the newest staged),
    /// or every library's, `6.0.0+3.5.9`. Nil when none is staged.
    public static func stagedRelease(
        adapter: String, spec: String, layouts: [ReleaseLayout], in directories: [String]
    ) -> DriverRelease? {
        let wanted = spec.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        guard !wanted.isEmpty, wanted.count <= layouts.count else { return nil }
        var parts: [ReleaseComponent] = []
        for (index, layout) in layouts.enumerated() {
            let found = components(layout, in: directories)
            if index < wanted.count {
                guard let match = found.first(where: { $0.version == wanted[index] }) else { return nil }
                parts.append(match)
            } else {
                guard let newest = found.first else { return nil }
                parts.append(newest)
            }
        }
        return DriverRelease(adapter: adapter, components: parts, isDefault: false)
    }

    /// The default release as `check` found it (`ok <checkName> <version>` lines), or nil when a library is missing.
    public static func defaultRelease(adapter: String, layouts: [ReleaseLayout], check: AdapterCheck) -> DriverRelease?
    {
        var parts: [ReleaseComponent] = []
        for layout in layouts {
            guard let version = checkedVersion(layout.checkName, in: check) else { return nil }
            parts.append(ReleaseComponent(library: layout.prefix, version: version, path: ""))
        }
        return DriverRelease(adapter: adapter, components: parts, isDefault: true)
    }

    /// The version `check` printed for `name` (`ok <name> <version>`).
    public static func checkedVersion(_ name: String, in check: AdapterCheck) -> String? {
        for line in check.lines {
            let words = line.split(separator: " ")
            if words.count >= 3, words[0] == "ok", words[1] == name { return String(words[2]) }
        }
        return nil
    }

    /// Whether `spec` (`3.1.0`, `6.0.0+3.5.9`) names what `hello` says was loaded (each library's field).
    public static func matches(spec: String, hello: AdapterMessage.Hello, layouts: [ReleaseLayout]?) -> Bool {
        let wanted = spec.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        let fields = layouts?.map(\.helloField) ?? ["driverVersion"]
        guard wanted.count <= fields.count else { return false }
        return zip(wanted, fields).allSatisfy { hello.version(field: $0.1) == $0.0 }
    }

    /// What `hello` says was loaded, in `spec` form (`6.0.0+3.5.9`).
    public static func loaded(hello: AdapterMessage.Hello, layouts: [ReleaseLayout]?) -> String {
        let fields = layouts?.map(\.helloField) ?? ["driverVersion"]
        return fields.map { hello.version(field: $0) ?? "unknown" }.joined(separator: "+")
    }

    /// Where the release `spec` of `adapter` is: a staged one's library path, or nil for the default release
    /// when its versions are `spec`. Otherwise an environment error naming what there is.
    public static func resolve(
        _ adapter: AdapterDefinition, spec: String, nodePath: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(RunError) -> DriverRelease {
        guard let layouts = layouts(adapter) else {
            throw .usage(
                "the \(adapter.name) adapter has no releases file, so no release can be chosen for it: leave @\(spec) out, or give --library DIR"
            )
        }
        let dirs = directories(environment: environment)
        if let staged = stagedRelease(adapter: adapter.name, spec: spec, layouts: layouts, in: dirs) { return staged }
        let check = AdapterCatalog.check(adapter, nodePath: nodePath, libraryPath: nil)
        if let installed = defaultRelease(adapter: adapter.name, layouts: layouts, check: check),
            matches(spec: spec, version: installed.version)
        {
            return installed
        }
        var known = staged(adapter: adapter.name, layouts: layouts, in: dirs).map(\.version)
        if let installed = defaultRelease(adapter: adapter.name, layouts: layouts, check: check) {
            known.insert(installed.version + " (default)", at: 0)
        }
        let where_ = dirs.isEmpty ? "\(variable) is not set" : "\(variable)=\(dirs.joined(separator: ":"))"
        throw .environment(
            "no \(adapter.name) release \(spec) found (\(where_); found \(known.isEmpty ? "none" : known.joined(separator: ", "))): stage it in a versions directory (docs/adapters.md \"Releases\"), or give --library PATH"
        )
    }

    /// `spec` names `version` (`6.0.0` names `6.0.0+2.7.6`; `6.0.0+3.5.9` only itself).
    static func matches(spec: String, version: String) -> Bool {
        let wanted = spec.split(separator: "+", omittingEmptySubsequences: false)
        let have = version.split(separator: "+", omittingEmptySubsequences: false)
        return wanted.count <= have.count && zip(wanted, have).allSatisfy { $0 == $1 }
    }

    /// The major version (`6` of `6.0.0`; 0 when it is not a number).
    public static func major(_ version: String) -> Int {
        Int(version.split(separator: ".").first ?? "") ?? 0
    }

    /// Numeric-aware order of dotted versions (`2.10.0` after `2.9.1`; `3.0.0-rc1` before `3.0.0`).
    public static func compareVersions(_ a: String, _ b: String) -> ComparisonResult {
        let split = { (v: String) -> (numbers: [Int], suffix: String) in
            let main = v.split(separator: "+", maxSplits: 1).first.map(String.init) ?? v
            let dash = main.firstIndex(of: "-")
            let core = dash.map { String(main[..<$0]) } ?? main
            let suffix = dash.map { String(main[main.index(after: $0)...]) } ?? ""
            return (core.split(separator: ".").map { Int($0) ?? 0 }, suffix)
        }
        let (x, y) = (split(a), split(b))
        for i in 0..<max(x.numbers.count, y.numbers.count) {
            let (p, q) = (i < x.numbers.count ? x.numbers[i] : 0, i < y.numbers.count ? y.numbers[i] : 0)
            if p != q { return p < q ? .orderedAscending : .orderedDescending }
        }
        if x.suffix != y.suffix {
            if x.suffix.isEmpty { return .orderedDescending }
            if y.suffix.isEmpty { return .orderedAscending }
            return x.suffix < y.suffix ? .orderedAscending : .orderedDescending
        }
        return .orderedSame
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}
