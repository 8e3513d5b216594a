import Foundation

/// Writes a report's files into a directory.
public enum ReportWriter {
    /// Creates the directory if needed and checks it is writable, so a run never ends unable to report.
    public static func prepare(directory: String) throws(RunError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw .environment("--report-dir '\(directory)' is a file, not a directory: use a writable directory")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .environment(
                    "cannot create --report-dir '\(directory)': \(reason(error)); use a writable directory")
            }
        }
        guard access(directory, W_OK) == 0 else {
            throw .environment(
                "--report-dir '\(directory)' is not writable: \(String(cString: strerror(errno))); use a writable directory"
            )
        }
    }

    static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return ns.localizedDescription
    }

    /// Writes `<basename>.<ext>` for each format; returns the paths written.
    public static func write(_ report: Report, to directory: String, basename: String, formats: [ReportFormat])
        throws(RunError) -> [String]
    {
        try prepare(directory: directory)
        var written: [String] = []
        for format in formats {
            let path = (directory as NSString).appendingPathComponent("\(basename).\(format.fileExtension)")
            let data: Data
            do {
                data = try render(report, as: format)
                try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw .environment("cannot write report '\(path)': \(reason(error)); use a writable --report-dir")
            }
            written.append(path)
        }
        return written
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
