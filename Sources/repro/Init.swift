import ArgumentParser
import Foundation
import ReproKit

extension Repro {
    /// `repro init`: a starter scenario directory, so a team does not begin from a blank page.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a starter scenario directory: a README and one scenario per common idle failure.",
            discussion: """
                With --driver the scenarios run that real stack, and each expectation is what repro measured \
                for it with its defaults (docs/drivers.md). Existing files are never overwritten.
                """)

        @Argument(
            help: ArgumentHelp("Directory to create (default repro-scenarios).", valueName: "dir"),
            completion: .directory)
        var directory: String = "repro-scenarios"

        @Option(
            help: ArgumentHelp(
                "A real driver stack: node-mysql2, node-mysql, go-sql, hikari, sqlalchemy, django, php-pdo, activerecord (default: repro's own pool).",
                valueName: "name"),
            completion: .list(AdapterCatalog.preferredOrder))
        var driver: String?

        @Option(
            help: ArgumentHelp(
                "repro's pool preset when no --driver is given (default ping-on-borrow, which recovers from all three).",
                valueName: "preset"),
            completion: .list(PolicyPreset.allCases.map(\.rawValue)),
            transform: Parse.preset)
        var policy: PolicyPreset = .pingOnBorrow

        func run() throws {
            // Here, not in validate(): the stacks --driver may name come from the compiled-in drivers matrix, and
            // an error thrown from validate() is always a usage error (exit 2).
            let measured: DriversReport
            do { measured = try MeasuredDrivers.report } catch { throw ReproFailure(error) }
            let known = StarterScenarios.knownDrivers(measured: measured)
            if let driver, !known.contains(driver) {
                throw ReproFailure(
                    code: 2,
                    message:
                        "--driver '\(driver)' is unknown: use one of \(known.joined(separator: ", ")) (see repro --help)"
                )
            }
            let files = StarterScenarios.files(driver: driver, preset: policy, measured: measured)
            let fm = FileManager.default
            let existing = files.map { directory + "/" + $0.name }.filter { fm.fileExists(atPath: $0) }
            guard existing.isEmpty else {
                throw ReproFailure(
                    code: 2,
                    message:
                        "\(existing.joined(separator: ", ")) already exist(s): pick another directory or remove them")
            }
            do {
                try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw ReproFailure(
                    code: 3,
                    message: "cannot create \(directory): \(error.localizedDescription); pick another directory")
            }
            for file in files {
                do { try FileOutput.write(Data(file.text.utf8), to: directory + "/" + file.name) } catch {
                    throw ReproFailure(error)
                }
            }
            for file in files { Console.line("wrote \(directory)/\(file.name)") }
            Console.line("next: repro all \(directory)   (REPRO_DSN=mysql://… for your own server)")
        }
    }
}
