import ArgumentParser
import ReproKit

extension Repro {
    /// `repro serve-pool`: repro's own pool in a process of its own, speaking the adapter protocol on stdin/stdout.
    struct ServePool: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve-pool",
            abstract:
                "repro's own pool behind the adapter protocol (docs/adapters.md), for faults that suspend the application's process.",
            discussion: """
                Reads adapter requests (hello, open, warm, run, hold, busy, arm, collect, close), one JSON object \
                per line, on stdin and writes answers and events on stdout, nothing else; the pool's policy comes \
                in the open request. repro starts it as the pool under test for a fault that stops and resumes \
                the application's process group, as it starts a real driver's adapter. Exits 0 at EOF on stdin, \
                after closing the pool; SIGTERM, SIGINT and SIGHUP end it at once.
                """,
            shouldDisplay: false)

        func run() throws {
            // The signal handlers main installed stay in force: SIGTERM from the parent exits at once (128 + 15).
            PoolServer(input: 0, output: 1).run()
        }
    }
}
