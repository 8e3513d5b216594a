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

    /// Writes `<basename>.<ext>` for each format; returns the paths written.
    public static func write(_ report: Report, to directory: String, basename: String, formats: [ReportFormat])
        throws(RunError) -> [String]
    {
        try prepare(directory: directory)
        var files: [(Data, String)] = []
        for format in formats {
            let path = (directory as NSString).appendingPathComponent("\(basename).\(format.fileExtension)")
            do {
                files.append((try render(report, as: format), path))
            } catch {
                throw .environment("cannot render the \(format.rawValue) report: \(error)")
            }
        }
        try FileOutput.writeAll(files)
        return files.map(\.1)
    }

    /// The bytes of one format.
    public static func render(_ report: Report, as format: ReportFormat) throws -> Data {
        switch format {
        case .json: try report.jsonData()
        case .md:
            Data((report.policyCosts == nil ? MarkdownRenderer.render(report) : MatrixRenderer.render(report)).utf8)
        case .junit: Data(JUnitRenderer.render(report).utf8)
        }
    }
}
