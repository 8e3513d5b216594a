/// The tool's name and version as reports print them.
public enum ReproVersion {
    public static let name = "repro"
    public static let version = "0.1.0"
}
