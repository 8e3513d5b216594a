import ArgumentParser
import ReproKit

/// Load mode for every scenario command: workers in a loop, the fault once in the middle.
struct LoadOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Load mode: this many workers borrow, query and release in a loop (1 to 256; needs --duration).",
            valueName: "n"))
    var concurrency: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Load mode: seconds of traffic (0.5 to 3600; a wait-timeout's pause comes on top).", valueName: "seconds"))
    var duration: Double?

    @Option(
        name: .customLong("fault-at"), parsing: .unconditional,
        help: ArgumentHelp(
            "Load mode: when the fault hits, seconds into the traffic (default: a third of it).",
            valueName: "seconds"))
    var faultAt: Double?

    @Option(help: ArgumentHelp("Load mode: the SQL each operation runs (default SELECT 1).", valueName: "sql"))
    var query: String?

    func validate() throws {
        _ = try spec()
    }

    /// The load, or nil without --concurrency/--duration; a half-given one is a usage error.
    func spec() throws -> LoadSpec? {
        guard concurrency != nil || duration != nil || faultAt != nil || query != nil else { return nil }
        guard let concurrency, let duration else {
            throw ValidationError(
                "load mode needs both --concurrency and --duration (e.g. --concurrency 8 --duration 10)")
        }
        let spec = LoadSpec(
            concurrency: concurrency, duration: duration, faultAt: faultAt, query: query ?? LoadSpec.defaultQuery)
        do { try spec.validate(prefix: "--") } catch { throw ValidationError(error.message) }
        return spec
    }
}
