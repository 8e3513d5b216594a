import Foundation
import PackagePlugin

/// Compiles docs/drivers.json (the drivers matrix `make drivers-matrix` measured) into ReproKit as
/// `MeasuredDriversData.json`: repro-embed writes it as a raw string literal into the plugin's work directory
/// (under .build, never Sources), and the build reruns it, then recompiles ReproKit, whenever the JSON changes.
@main
struct EmbedMeasuredDrivers: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let input = context.package.directoryURL.appending(path: "docs/drivers.json")
        guard FileManager.default.fileExists(atPath: input.path) else { throw Missing(path: input.path) }
        let output = context.pluginWorkDirectoryURL.appending(path: "MeasuredDriversJSON.swift")
        return [
            .buildCommand(
                displayName: "Compiling docs/drivers.json into \(target.name)",
                executable: try context.tool(named: "repro-embed").url,
                arguments: [input.path, output.path, "MeasuredDriversData", "json"],
                inputFiles: [input],
                outputFiles: [output])
        ]
    }

    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is missing: restore it from git (git checkout -- docs/drivers.json)" }
    }
}
