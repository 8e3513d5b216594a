import Foundation

/// A report file format.
public enum ReportFormat: String, Sendable, CaseIterable {
    case md, json, junit
    /// The timeline charts (`TimelineChart`), every scenario's under the one before.
    case svg

    public var fileExtension: String {
        switch self {
        case .md: "md"
        case .json: "json"
        case .junit: "junit.xml"
        case .svg: "svg"
        }
    }

    /// Parses "md,json"; the usage error names the bad value and the allowed ones.
    public static func parseList(_ text: String) throws(RunError) -> [ReportFormat] {
        var out: [ReportFormat] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() })
        where !part.isEmpty {
            if part == "all" {
                // The charts come with md already (one per scenario, linked from it).
                for f in allCases where f != .svg && !out.contains(f) { out.append(f) }
                continue
            }
            guard let f = ReportFormat(rawValue: part == "markdown" ? "md" : part) else {
                throw .usage("'\(part)' is unknown: use md, json, junit, svg (comma-separated) or all")
            }
            if !out.contains(f) { out.append(f) }
        }
        if out.isEmpty { throw .usage("the list is empty: use md, json or junit, comma-separated") }
        return out
    }
}
