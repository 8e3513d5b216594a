import Foundation

/// Where repro's own files are: beside the binary when installed (`<prefix>/share/repro/...`, see
/// `make install`), in the checkout it was built in (`.build/<triple>/<config>/repro`), else the current
/// directory. The binary's own data is preferred: it matches its version.
public enum ReproPaths {
    /// The running executable's directory, symlinks resolved.
    public static var executableDirectory: String? {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return nil
        }
        return (exe as NSString).deletingLastPathComponent
    }

    /// Candidate locations of `relative` (e.g. `adapters`, `docs/matrix.json`), best first.
    public static func candidates(
        _ relative: String, currentDirectory: String = FileManager.default.currentDirectoryPath
    )
        -> [String]
    {
        var out: [String] = []
        if var dir = executableDirectory {
            // <prefix>/bin/repro → <prefix>/share/repro; .build/<triple>/debug/repro → the checkout, 3 levels up.
            for _ in 0..<6 {
                out.append(dir + "/share/repro/" + relative)
                out.append(dir + "/" + relative)
                let parent = (dir as NSString).deletingLastPathComponent
                if parent == dir { break }
                dir = parent
            }
        }
        out.append(currentDirectory + "/" + relative)
        return out
    }

    /// The first existing file or directory among `candidates(relative)`.
    public static func find(_ relative: String, directory: Bool = false) -> String? {
        candidates(relative).first { path in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue == directory
        }
    }
}

extension ReproPaths {
    /// The `repro` executable that serves repro's own pool in a child process (`repro serve-pool`): this
    /// process when it is repro, else `REPRO_EXECUTABLE`, else `repro` beside this executable (a test bundle in
    /// `.build/debug/` has it there); nil when none is found.
    public static var reproExecutable: String? {
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
            (exe as NSString).lastPathComponent == "repro"
        {
            return exe
        }
        if let set = ProcessInfo.processInfo.environment["REPRO_EXECUTABLE"], !set.isEmpty,
            FileManager.default.isExecutableFile(atPath: set)
        {
            return set
        }
        var dir = executableDirectory
        for _ in 0..<3 {
            guard let current = dir else { break }
            let candidate = current + "/repro"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = (current as NSString).deletingLastPathComponent
        }
        return nil
    }
}
