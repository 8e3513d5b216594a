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
                in. Exit 0 when every adapter is available, 1 when one is not. docs/adapters.md describes the protocol.
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
            Console.line("adapters in \(directory):")
            for adapter in adapters {
                let check = AdapterCatalog.check(adapter, nodePath: runtime.nodePath)
                if !check.available { missing += 1 }
                Console.line("\(check.available ? "✓" : "✗") \(adapter.name)")
                for line in check.lines { Console.line("    \(line)") }
            }
            if missing > 0 {
                throw ReproFailure(
                    code: 1,
                    message:
                        "\(missing) of \(adapters.count) adapter(s) cannot run here: install what is marked missing (make setup installs all of them)"
                )
            }
        }
    }
}
