import Foundation

/// `--filter`: a glob (`*`, `?`, `[...]`) when it has glob characters, else a substring.
public enum ScenarioFilter {
    public static func matches(_ name: String, pattern: String?) -> Bool {
        guard let pattern, !pattern.isEmpty else { return true }
        if pattern.contains(where: { "*?[".contains($0) }) {
            return fnmatch(pattern, name, 0) == 0
        }
        return name.contains(pattern)
    }
}
