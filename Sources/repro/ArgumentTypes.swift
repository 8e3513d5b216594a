import ArgumentParser
import ReproKit

// Every option value with a fixed set of words is typed: ArgumentParser parses it once, `--help` lists the
// allowed values by itself (`allValueStrings`), and a bad value exits 2 with one line naming the allowed ones.
//
// Values with a grammar of their own (validation, retry, host:port, a list of report formats, a kill count,
// a preset) also conform, but their options parse through `transform:` with ReproKit's parser (`Parse`),
// so the line a user reads is that parser's: the bad value and the allowed forms, the same words a scenario
// file's error uses.

extension CutMode: ExpressibleByArgument {}
extension CutVia: ExpressibleByArgument {}
extension NATExpiry: ExpressibleByArgument {}
extension WaitTimeoutScope: ExpressibleByArgument {}
extension KillTarget: ExpressibleByArgument {}
extension WorkloadPattern: ExpressibleByArgument {}
extension DriverConfig: ExpressibleByArgument {}
extension ErrorPhase: ExpressibleByArgument {}
extension ReportFormat: ExpressibleByArgument {}

extension PolicyPreset: ExpressibleByArgument {
    public init?(argument: String) {
        guard let preset = try? PolicyPreset.named(argument) else { return nil }
        self = preset
    }
}

extension PoolPolicy.Validation: ExpressibleByArgument {
    public init?(argument: String) {
        guard let value = try? Self(parsing: argument) else { return nil }
        self = value
    }

    public var defaultValueDescription: String { description }
}

extension PoolPolicy.Retry: ExpressibleByArgument {
    public init?(argument: String) {
        guard let value = try? Self(parsing: argument) else { return nil }
        self = value
    }

    public var defaultValueDescription: String { description }
}

extension HostPort: ExpressibleByArgument {
    public init?(argument: String) {
        guard let value = try? Self(parsing: argument) else { return nil }
        self = value
    }

    public var defaultValueDescription: String { description }
}

extension KillCount: ExpressibleByArgument {
    public init?(argument: String) {
        guard let value = try? Parse.killCount(argument) else { return nil }
        self = value
    }

    public var defaultValueDescription: String { description }
}

/// A comma-separated list of report formats (`--format md,json`, `all`).
struct ReportFormatList: ExpressibleByArgument, Sendable {
    let formats: [ReportFormat]

    init(_ formats: [ReportFormat]) { self.formats = formats }

    init?(argument: String) {
        guard let formats = try? ReportFormat.parseList(argument) else { return nil }
        self.formats = formats
    }

    var defaultValueDescription: String { formats.map(\.rawValue).joined(separator: ",") }
}

/// `repro matrix --configs default,recommended`: each configuration once, in the given order.
struct DriverConfigList: Sendable {
    let configs: [DriverConfig]

    init(_ configs: [DriverConfig]) { self.configs = configs }
}

/// `--driver-option key=value`: a real pool's own setting, in its own words.
struct DriverOption: Sendable {
    let key: String
    let value: String
}

/// The parsers behind `transform:`: each throws ReproKit's own message (the value and what is allowed).
enum Parse {
    static func preset(_ text: String) throws -> PolicyPreset { try PolicyPreset.named(text) }
    static func validation(_ text: String) throws -> PoolPolicy.Validation { try .init(parsing: text) }
    static func retry(_ text: String) throws -> PoolPolicy.Retry { try .init(parsing: text) }
    static func hostPort(_ text: String) throws -> HostPort { try HostPort(parsing: text) }
    /// `--listen`: port 0 picks a free one.
    static func listenAddress(_ text: String) throws -> HostPort { try HostPort(parsing: text, allowZero: true) }
    static func formats(_ text: String) throws -> ReportFormatList {
        ReportFormatList(try ReportFormat.parseList(text))
    }

    static func driverOption(_ text: String) throws -> DriverOption {
        let (key, value) = try DriverChoice.parseOption(text)
        return DriverOption(key: key, value: value)
    }

    static func driverConfigs(_ text: String) throws -> DriverConfigList {
        var chosen: [DriverConfig] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let config = DriverConfig(rawValue: part) else {
                throw ValidationError("'\(part)' is unknown: use default, recommended or both")
            }
            if !chosen.contains(config) { chosen.append(config) }
        }
        if chosen.isEmpty { throw ValidationError("the list is empty: use default, recommended or both") }
        return DriverConfigList(chosen)
    }

    /// `--expect-error`: a number or a name.
    static func errorCode(_ text: String) throws -> DatabaseError.Code {
        guard let code = DatabaseError.Code(parsing: text) else {
            throw ValidationError("not an error code: use a number like 2013 or a name like CR_SERVER_LOST")
        }
        return code
    }

    /// `--count`: `all`, or a number from 1 up (at most `KillThreadFault.countRange`; the pool size is checked
    /// with the scenario).
    static func killCount(_ text: String) throws -> KillCount {
        if text == "all" { return .all }
        guard let n = Int(text), KillThreadFault.countRange.contains(n) else {
            throw ValidationError(
                "use a number from \(KillThreadFault.countRange.lowerBound) to the pool size (at most \(KillThreadFault.countRange.upperBound)), or all"
            )
        }
        return .some(n)
    }
}

/// "--seconds 0 is out of range: use whole seconds from 1 to 86400", for the checks `validate()` makes.
func outOfRange<T>(_ option: String, _ value: T, use: String) -> ValidationError {
    ValidationError("\(option) \(value) is out of range: use \(use)")
}
