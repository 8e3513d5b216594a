import ArgumentParser
import Foundation
import ReproKit

extension Repro {
    /// `repro drivers`: which real driver stacks can run here, with versions, and how to install the rest.
    struct Drivers: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drivers",
            abstract:
                "List the real driver adapters, whether each runtime and library is installed, and their versions.",
            discussion: """
                Each adapter's `check` script reports what it needs (`ok WHAT VERSION` or `missing WHAT: HOW TO \
                INSTALL`). Adapters are found in REPRO_ADAPTERS, else in adapters/ of the checkout repro was built \
                in. Below each adapter are the releases of its library staged in REPRO_DRIVER_VERSIONS (folders named \
                NAME-VERSION, docs/adapters.md "Releases"), each checked: --driver NAME@VERSION runs one of them. \
                Versions are read from each library's own metadata. Exit 0 when every adapter and staged release is \
                usable, 1 when one is not. docs/adapters.md describes the protocol.
                """)

        @OptionGroup var runtime: RuntimeOptions

        func run() throws {
            guard let directory = AdapterCatalog.directory() else {
                throw ReproFailure(
                    code: 3,
                    message:
                        "no adapters directory found: set REPRO_ADAPTERS to the folder that holds adapters/<name>/run")
            }
            let adapters = AdapterCatalog.definitions(in: directory)
            var missing = 0
            var broken: [String] = []
            Console.line("adapters in \(directory):")
            let staging = DriverReleases.directories()
            for adapter in adapters {
                let releases = DriverReleaseList.releases(of: adapter, nodePath: runtime.nodePath)
                guard let installed = releases.first else { continue }
                if !installed.check.available { missing += 1 }
                let version = installed.release.components.isEmpty ? "" : "@" + installed.release.version
                Console.line("\(installed.check.available ? "✓" : "✗") \(adapter.name)\(version) (default)")
                for line in installed.check.lines { Console.line("    \(line)") }
                for staged in releases.dropFirst() {
                    let mark = staged.usable ? "✓" : "✗"
                    Console.line("  \(mark) \(staged.release.label)  \(staged.release.libraryPath ?? "")")
                    if let problem = staged.problem {
                        broken.append(staged.release.label)
                        Console.line("      \(problem)")
                    }
                }
            }
            if staging.isEmpty {
                Console.line(
                    "no staged releases: set \(DriverReleases.variable) to folders holding NAME-VERSION releases (make sets it to the ones beside the checkout)"
                )
            }
            if missing > 0 {
                throw ReproFailure(
                    code: 1,
                    message:
                        "\(missing) of \(adapters.count) adapter(s) cannot run here: install what is marked missing (make setup installs all of them)"
                )
            }
            if !broken.isEmpty {
                throw ReproFailure(
                    code: 1,
                    message:
                        "staged release(s) \(broken.joined(separator: ", ")) cannot run: see the line under each (make setup installs what they need)"
                )
            }
        }
    }
}
