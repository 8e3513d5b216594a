import Foundation

/// Writes a report's files into a directory.
public enum ReportWriter {
    /// Writes `<basename>.<ext>` for each format; returns the paths written.
    public static func write(_ report: Report, to directory: String, basename: String, formats: [ReportFormat])
        throws(RunError) -> [String]
    {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .environment("cannot create report directory '\(directory)': \(error.localizedDescription)")
        }
        var written: [String] = []
        for format in formats {
            let path = (directory as NSString).appendingPathComponent("\(basename).\(format.fileExtension)")
            let data: Data
            do {
                data = try render(report, as: format)
                try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw .environment("cannot write report '\(path)': \(error.localizedDescription)")
            }
            written.append(path)
        }
        return written
    }

    /// The bytes of one format.
    public static func render(_ report: Report, as format: ReportFormat) throws -> Data {
        switch format {
        case .json: try report.jsonData()
        case .md: Data((report.policyCosts == nil ? MarkdownRenderer.render(report) : MatrixRenderer.render(report)).utf8)
        case .junit: Data(JUnitRenderer.render(report).utf8)
        }
    }
}
