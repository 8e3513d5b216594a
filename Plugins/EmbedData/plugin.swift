import Foundation
import PackagePlugin

/// Compiles repro's data files into ReproKit: docs/drivers.json (the drivers matrix `make drivers-matrix` measured)
/// as `MeasuredDriversData.json`, and matrix/columns.yaml (the matrices' columns) as `MatrixColumnsData.yaml`.
/// repro-embed writes each as a raw string literal into the plugin's work directory (under .build, never Sources),
/// and the build reruns it, then recompiles ReproKit, whenever the file changes.
@main
struct EmbedData: BuildToolPlugin {
    static let files = [
        (path: "docs/drivers.json", type: "MeasuredDriversData", property: "json"),
        (path: "matrix/columns.yaml", type: "MatrixColumnsData", property: "yaml"),
    ]

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let tool = try context.tool(named: "repro-embed").url
        return try Self.files.map { file in
            let input = context.package.directoryURL.appending(path: file.path)
            guard FileManager.default.fileExists(atPath: input.path) else { throw Missing(path: file.path) }
            let output = context.pluginWorkDirectoryURL.appending(path: "\(file.type).swift")
            return .buildCommand(
                displayName: "Compiling \(file.path) into \(target.name)",
                executable: tool,
                arguments: [input.path, output.path, file.type, file.property],
                inputFiles: [input],
                outputFiles: [output])
        }
    }

    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is missing: restore it from git (git checkout -- \(path))" }
    }
}
