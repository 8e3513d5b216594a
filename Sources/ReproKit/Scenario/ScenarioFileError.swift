/// Everything wrong with one or more scenario files, each problem as `file:line: message`.
public struct ScenarioFileError: Error, Sendable, CustomStringConvertible {
    /// One problem at one place in one file.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
    }

    public var problems: [Problem]

    public init(problems: [Problem]) { self.problems = problems }

    /// One line per problem.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
