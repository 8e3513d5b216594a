import Foundation
import Synchronization

/// What the drivers matrix knows about one stack, read from `adapters/<name>/matrix.json`: where it goes in the
/// tables, the options of each configuration and where they come from, the library's own timeouts, the releases
/// the matrix gives rows of their own. A new stack, or a new release of one, is an edit of that file, not of Swift
/// (docs/adapters.md, "The matrix manifest").
public struct AdapterManifest: Sendable, Equatable, Decodable {
    /// Position in tables and in `--drivers all` (lower first).
    public var order: Int
    /// Releases `--driver-versions listed` (`make drivers-matrix`) gives rows of their own, as NAME@VERSION takes
    /// them (`3.1.0`, `6.0.0+3.5.9`).
    public var matrixReleases: [String]?
    /// Options and a note added to every configuration of this stack (mysql2's application pattern: a ROLLBACK
    /// after a failed query, as in the original reports).
    public var everyConfig: Addition?
    /// Configuration name (`recommended`, `keepalive`, …) → its variants: the first whose `since` the release is
    /// at or above, else the first without `since`. A configuration the stack does not list does not apply to it
    /// (`default` always applies: the library's defaults).
    public var configs: [String: [Variant]]
    /// The library's own default timeouts on an established connection: a cell is "hung" only past them.
    public var ownTimeout: OwnTimeout?
    /// The release the variants are chosen for when the installed library's version is not given (the one this
    /// machine's packages install).
    public var installed: String?

    public struct Addition: Sendable, Equatable, Decodable {
        public var options: [String: String]
        /// Appended to every configuration's note.
        public var note: String
    }

    public struct Variant: Sendable, Equatable, Decodable {
        /// The first release this variant applies to; nil: any (including the installed one when no version given).
        public var since: String?
        /// Values may use `${setting}`: thresholdMs, thresholdSeconds, halfThresholdSeconds, poolSize,
        /// poolSizeMinusOne, waitTimeout, cutIdle, middleboxTimeout.
        public var options: [String: String]
        /// Where the options come from; the same `${setting}` names.
        public var note: String
        /// The only columns rows of this configuration run; nil: every column.
        public var columns: [String]?
        /// The shortest threshold (s) the stack accepts for these settings: rows run the matrix scaled to it.
        public var minimumThreshold: Double?
        /// The application host's `net.ipv4.tcp_keepalive_time` in the NAT column (a `${setting}`).
        public var hostKeepaliveTime: String?
        /// What the options mean for releases before `before` (with `${version}`).
        public var caveats: [Caveat]?
    }

    public struct Caveat: Sendable, Equatable, Decodable {
        public var before: String
        public var note: String
    }

    public struct OwnTimeout: Sendable, Equatable, Decodable {
        /// Seconds per dead pooled connection (a validation or ping timeout).
        public var perConnection: Double
        /// At most this many seconds in all (a connection timeout), if the library has one.
        public var atMost: Double?
        public var why: String

        /// Seconds for a pool of `poolSize` dead connections.
        public func bound(poolSize: Int) -> Double {
            let total = perConnection * Double(poolSize)
            return atMost.map { min($0, total) } ?? total
        }
    }

    /// The variant of `config` for `version` (nil: the installed release); nil when the config does not apply.
    public func variant(_ config: String, version: String?) -> Variant? {
        guard let variants = configs[config] else { return nil }
        let release = version ?? installed
        if let release,
            let match = variants.first(where: {
                $0.since.map { DriverReleases.compareVersions(release, $0) != .orderedAscending } ?? false
            })
        {
            return match
        }
        return variants.first { $0.since == nil }
    }

    /// The caveats of `variant` that apply to `version`.
    public func caveats(_ variant: Variant, version: String) -> [String] {
        (variant.caveats ?? []).filter { DriverReleases.compareVersions(version, $0.before) == .orderedAscending }
            .map { $0.note.replacingOccurrences(of: "${version}", with: version) }
    }

    /// A problem with a manifest: the file and what is wrong.
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Reads and checks one manifest: every `${name}` is a setting, every column a column.
    public static func decode(_ data: Data, file: String) throws(LoadError) -> AdapterManifest {
        let manifest: AdapterManifest
        do { manifest = try JSONDecoder().decode(AdapterManifest.self, from: data) } catch {
            throw LoadError(message: "\(file): \(error)")
        }
        for (config, variants) in manifest.configs {
            guard DriverConfig(rawValue: config) != nil else {
                throw LoadError(
                    message:
                        "\(file): configuration '\(config)' is not one of \(DriverConfig.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            for variant in variants {
                let texts =
                    Array(variant.options.values) + [variant.note] + (variant.hostKeepaliveTime.map { [$0] } ?? [])
                for name in texts.flatMap(MatrixColumn.placeholders) where !settingNames.contains(name) {
                    throw LoadError(
                        message:
                            "\(file): \(config): ${\(name)} is not a setting: use \(settingNames.sorted().joined(separator: ", "))"
                    )
                }
                for column in variant.columns ?? [] where MatrixColumn(rawValue: column) == nil {
                    throw LoadError(message: "\(file): \(config): column '\(column)' is not a matrix column")
                }
            }
        }
        return manifest
    }

    static let settingNames: Set<String> = [
        "thresholdMs", "thresholdSeconds", "halfThresholdSeconds", "poolSize", "poolSizeMinusOne", "waitTimeout",
        "cutIdle", "middleboxTimeout",
    ]

    /// The values `${name}` stands for at these settings.
    static func variables(_ settings: DriversMatrix.Settings) -> [String: String] {
        let below = settings.threshold
        return [
            "thresholdMs": "\(Int((below * 1000).rounded()))", "thresholdSeconds": "\(max(1, Int(below)))",
            "halfThresholdSeconds": "\(max(1, Int(below / 2)))", "poolSize": "\(settings.poolSize)",
            "poolSizeMinusOne": "\(max(0, settings.poolSize - 1))", "waitTimeout": "\(settings.waitTimeout)",
            "cutIdle": DriversMatrix.format(settings.cutIdle), "middleboxTimeout": "\(settings.middleboxTimeout)",
        ]
    }

    /// `text` at these settings.
    static func fill(_ text: String, _ settings: DriversMatrix.Settings) -> String {
        MatrixColumn.substitute(text, variables(settings)) ?? text
    }

    // MARK: - Finding them

    /// Each adapter's manifest once read (nil: none, or one that did not read, said once).
    private static let cache = Mutex<[String: AdapterManifest?]>([:])

    /// The manifest of `adapter` in the adapters directory (`AdapterCatalog.directory`); nil when it has none.
    /// A manifest that does not read is said once on stderr, naming the file and the problem, and treated as absent.
    public static func of(_ adapter: String) -> AdapterManifest? {
        if let known = cache.withLock({ $0[adapter] }) { return known }
        var manifest: AdapterManifest?
        if let directory = AdapterCatalog.directory() {
            let file = "\(directory)/\(adapter)/matrix.json"
            if let data = FileManager.default.contents(atPath: file) {
                do { manifest = try decode(data, file: file) } catch {
                    Console.err("repro: \(error.message): fix the file (docs/adapters.md, \"The matrix manifest\")\n")
                }
            }
        }
        cache.withLock { $0[adapter] = .some(manifest) }
        return manifest
    }
}
