import ArgumentParser
import Foundation

/// Which server to use: the user's (`--dsn` / REPRO_DSN) or an embedded one.
struct ServerOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Use this server instead of starting one: mysql://user:password@host:port/database (or set REPRO_DSN).",
            valueName: "url"))
    var dsn: String?

    @Flag(
        name: .customLong("allow-writes"),
        help:
            "On a server this tool did not start, allow --query (and a driver's app.followUp) to be SQL that writes or locks; without it only read-only statements run there."
    )
    var allowWrites = false

    /// The DSN from the flag, else from the environment; nil means the embedded server.
    var resolvedDSN: String? {
        if let dsn, !dsn.isEmpty { return dsn }
        if let env = ProcessInfo.processInfo.environment["REPRO_DSN"], !env.isEmpty { return env }
        return nil
    }
}
