/// The tool's name and version as reports print them.
public enum ReproVersion {
    public static let name = "repro"
    public static let version = "0.1.0"
    /// The git commit the binary was built from (`git describe --always --dirty`), stamped by the Makefile into
    /// the git-ignored `BuildCommit.swift`; a plain `swift build` says so instead.
    public static let commit: String = {
        #if REPRO_BUILD_COMMIT
            return reproBuildCommit
        #else
            return "unknown (built without make)"
        #endif
    }()

    /// `0.1.0 (commit 5e82b13)`: what `repro --version` prints.
    public static var full: String { "\(version) (commit \(commit))" }
}
