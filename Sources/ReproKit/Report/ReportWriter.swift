import Foundation

/// Writes a report's files into a directory.
public enum ReportWriter {
    /// Creates the directory if needed and checks it is writable, so a run never ends unable to report.
    public static func prepare(directory: String) throws(RunError) {
        guard !directory.isEmpty else { throw .usage("--report-dir is empty: give a writable directory") }
        do {
            try FileOutput.makeDirectories(directory)
        } catch {
            throw .environment("cannot use --report-dir '\(directory)': \(error.message); use a writable directory")
        }
        guard access(directory, W_OK) == 0 else {
            throw .environment(
                "--report-dir '\(directory)' is not writable: \(String(cString: strerror(errno))); use a writable directory"
            )
        }
        do { try FileOutput.probeWritable(directory) } catch {
            throw .environment(
                "--report-dir '\(directory)' is not writable: \(error.message); use a writable directory")
        }
    }

    /// Writes `<basename>.<ext>` for each format, and with md one timeline chart per scenario beside it
    /// (`chartNames`), as one set; returns the paths written.
    public static func write(_ report: Report, to directory: String, basename: String, formats: [ReportFormat])
        throws(RunError) -> [String]
    {
        try prepare(directory: directory)
        let charts = formats.contains(.md) && report.policyCosts == nil ? chartNames(report, basename: basename) : []
        var files: [(Data, String)] = []
        for format in formats {
            let path = (directory as NSString).appendingPathComponent("\(basename).\(format.fileExtension)")
            do {
                files.append((try render(report, as: format, charts: charts), path))
            } catch let error as RunError {
                throw error
            } catch {
                throw .environment("cannot render the \(format.rawValue) report: \(error)")
            }
        }
        for (scenario, name) in zip(report.scenarios, charts) {
            let path = (directory as NSString).appendingPathComponent(name)
            if !files.contains(where: { $0.1 == path }) { files.append((Data(TimelineChart.svg(scenario).utf8), path)) }
        }
        try FileOutput.writeAll(files)
        return files.map(\.1)
    }

    /// File names of the scenarios' charts: `<basename>.svg` for a scenario command's report (its basename is
    /// the scenario's name and pool, `wait-timeout-naive`), else `<scenario>.svg` (names are unique in a batch),
    /// made safe as file names.
    public static func chartNames(_ report: Report, basename: String) -> [String] {
        if report.scenarios.count == 1, basename.hasPrefix(report.scenarios[0].name) {
            return [safeFileName(basename) + ".svg"]
        }
        return report.scenarios.map { safeFileName($0.name) + ".svg" }
    }

    static func safeFileName(_ name: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let cleaned = String(name.map { allowed.contains($0) ? $0 : "-" }.prefix(120))
        return cleaned.isEmpty || cleaned.hasPrefix(".") ? "scenario" + cleaned : cleaned
    }

    /// The bytes of one format; `charts` are the chart files the Markdown links (none: no links).
    public static func render(_ report: Report, as format: ReportFormat, charts: [String] = []) throws -> Data {
        switch format {
        case .json: try report.jsonData()
        case .md:
            Data(
                (report.policyCosts == nil
                    ? try MarkdownRenderer.render(report, charts: charts) : try MatrixRenderer.render(report)).utf8)
        case .junit: Data(JUnitRenderer.render(report).utf8)
        case .svg: Data(TimelineChart.svg(report.scenarios).utf8)
        }
    }
}
