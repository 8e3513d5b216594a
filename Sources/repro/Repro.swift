import ArgumentParser
import Foundation
import ReproKit

/// `repro`: reproduce idle-connection failures of MySQL/MariaDB pools, on purpose and every time.
struct Repro: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repro",
        abstract: "Reproduce idle-connection failures of MySQL/MariaDB connection pools, on purpose and every time.",
        discussion: """
            Exit codes: 0 ran and every expectation held; 1 an expectation failed; \
            2 bad usage or bad scenario file; 3 the environment failed.
            """,
        version: ReproVersion.full,
        subcommands: [
            WaitTimeout.self, KillThread.self, NetworkCut.self, ServerRestart.self, Freeze.self, All.self,
            ReportCommand.self,
            Proxy.self,
            Bisect.self, MatrixCommand.self, Explain.self, Drivers.self, Init.self, ServePool.self,
        ]
    )
}

@main
enum Main {
    static func main() {
        // First of all, while no other thread exists (each later one inherits the mask): from here on SIGINT,
        // SIGTERM and SIGHUP stay pending until the handlers below read them, so none is lost or kills us halfway.
        CleanupRegistry.blockSignals()
        Console.adoptClosedStandardDescriptors()
        signal(SIGPIPE, SIG_IGN)
        // For every command, also those with nothing to clean up: with the signals blocked, a command without
        // handlers would not die on Ctrl-C. `repro proxy` diverts them to its own shutdown.
        CleanupRegistry.shared.installSignalHandlers()
        do {
            var command = try Repro.parseAsRoot()
            try command.run()
        } catch {
            // After Ctrl-C this error is an echo of the teardown (a reaped child, a closed socket): stay quiet
            // and let the signal handler exit with 128 + signal.
            CleanupRegistry.shared.parkIfInterrupted()
            CleanupRegistry.shared.exit(outputCheckedExitCode(cleanupCheckedExitCode(Self.exitCode(for: error))))
        }
        CleanupRegistry.shared.parkIfInterrupted()
        // Through the registry: a signal landing now either finds us exiting or makes the exit its own (130).
        CleanupRegistry.shared.exit(outputCheckedExitCode(cleanupCheckedExitCode(0)))
    }

    /// Exit 3 when the run could not put back what it changed (a global wait_timeout): each line says what is
    /// left, where, and the command to run by hand, and comes last so it is not lost among the progress lines.
    static func cleanupCheckedExitCode(_ code: Int32) -> Int32 {
        let failures = CleanupRegistry.shared.failures
        guard !failures.isEmpty else { return code }
        for line in failures { Console.err("repro: \(line)\n") }
        return code <= 1 ? 3 : code
    }

    /// Exit 3 when output was lost (a full disk, an I/O error) on a run that would otherwise look fine.
    static func outputCheckedExitCode(_ code: Int32) -> Int32 {
        guard code <= 1, let reason = Console.writeFailure else { return code }
        Console.err("repro: cannot write the output: \(reason); check the disk or where stdout goes\n")
        return 3
    }

    /// Prints the one-line error and maps it to the documented exit code.
    static func exitCode(for error: any Error) -> Int32 {
        if let failure = error as? ReproFailure {
            if !failure.message.isEmpty { Console.err("repro: \(failure.message)\n") }
            return failure.code
        }
        let code = Repro.exitCode(for: error)
        if code == .success {
            // --help and --version
            print(Repro.fullMessage(for: error))
            return 0
        }
        let message = Repro.message(for: error).replacingOccurrences(of: "\n", with: " ")
        Console.err("repro: \(message) (see repro --help)\n")
        return 2
    }
}

/// An error the CLI turns into a line on stderr and an exit code.
struct ReproFailure: Error {
    let code: Int32
    let message: String

    init(_ error: RunError) {
        code = error.exitCode
        message = error.message
    }

    init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }
}
