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

                --conformance NAME,... (or all) checks those adapters against the protocol instead: each is driven \
                through every operation on an embedded server of its own, with an account whose password is watched \
                for in the adapter's argv, environment and stderr (docs/adapters.md "Checking an adapter"). Exit 0 \
                when every check passes, 1 when one fails.
                """)

        @OptionGroup var runtime: RuntimeOptions

        @Option(
            help: ArgumentHelp(
                "Check these adapters (comma-separated, or all) against the adapter protocol on an embedded server.",
                valueName: "names"))
        var conformance: String?

        func run() throws {
            if let conformance {
                try checkConformance(conformance)
                return
            }
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

        /// `--conformance`: every promise of docs/adapters.md, checked on each named adapter.
        func checkConformance(_ list: String) throws {
            guard let directory = AdapterCatalog.directory() else {
                throw ReproFailure(
                    code: 3,
                    message:
                        "no adapters directory found: set REPRO_ADAPTERS to the folder that holds adapters/<name>/run")
            }
            let known = AdapterCatalog.definitions(in: directory)
            var chosen: [AdapterDefinition] = []
            for name in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty
            {
                if name == "all" {
                    chosen += known
                } else if let adapter = known.first(where: { $0.name == name }) {
                    chosen.append(adapter)
                } else {
                    throw ReproFailure(
                        code: 2,
                        message:
                            "--conformance '\(name)' is unknown: use all or any of \(known.map(\.name).joined(separator: ", "))"
                    )
                }
            }
            guard !chosen.isEmpty else {
                throw ReproFailure(code: 2, message: "--conformance is empty: name an adapter, or all")
            }
            var failed: [String] = []
            do throws(RunError) {
                try AdapterConformance.onEmbeddedServer(nodePath: runtime.nodePath) { setup in
                    for adapter in chosen {
                        let checks = AdapterConformance.run(adapter, setup: setup)
                        let passed = checks.filter(\.passed).count
                        Console.line(
                            "\(passed == checks.count ? "✓" : "✗") \(adapter.name): \(passed) of \(checks.count) checks passed"
                        )
                        for check in checks {
                            Console.line("    \(check.passed ? "ok" : "FAIL") \(check.name): \(check.detail)")
                        }
                        if passed < checks.count { failed.append(adapter.name) }
                    }
                }
            } catch {
                throw ReproFailure(error)
            }
            if !failed.isEmpty {
                throw ReproFailure(
                    code: 1,
                    message:
                        "\(failed.joined(separator: ", ")) broke the adapter protocol: fix what is marked FAIL (docs/adapters.md)"
                )
            }
        }
    }
}
