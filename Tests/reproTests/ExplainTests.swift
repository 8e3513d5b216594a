import Foundation
import ReproTestSupport
import Testing

@Suite("repro explain", .ownThreads)
struct ExplainTests {
    @Test("--verbose: a pasted message prints every entry's meaning, where it was measured, and the commands")
    func explains() async throws {
        let out = try await ReproBinary.run([
            "explain", "--verbose", "Can't add new command when connection is in closed state",
        ])
        #expect(out.status == 0)
        #expect(out.stdout.contains("The application was suspended while its idle connections died"))
        #expect(
            out.stdout.contains("node-mysql2 default (mysql2 ")
                && out.stdout.contains("in `held-kill-thread`: reached"),
            "where the message was measured")
        #expect(out.stdout.contains("What real driver stacks do (measured by `make drivers-matrix`"))
        #expect(out.stdout.contains("repro freeze --during kill-thread --driver node-mysql2"))
    }

    @Test("the original report's EPIPE answers with the release, the condition and what survived it")
    func explainsTheOriginalReport() async throws {
        let out = try await ReproBinary.run(["explain", "--verbose", "This socket has been ended by the other party"])
        #expect(out.status == 0)
        #expect(out.stdout.contains("The application was suspended while its idle connections died"))
        #expect(
            out.stdout.contains("node-mysql2@2.2.5 default (mysql2 2.2.5")
                && out.stdout.contains("in `freeze-kill-thread`: reached the application"), "\(out.stdout)")
        let recovered = try #require(
            out.stdout.split(separator: "\n").first {
                $0.contains("`freeze-kill-thread` (the application is suspended")
            })
        #expect(recovered.contains("recovered: ") && recovered.contains("did not: "))
        #expect(recovered.contains("node-mysql2@2.2.5 default"), "2.2.5 did not survive: \(recovered)")
    }

    @Test("PHP's gone-away answers with the worker rows that hit it and the reconnecting worker that recovered")
    func explainsPHPGoneAway() async throws {
        let out = try await ReproBinary.run([
            "explain", "--verbose", "SQLSTATE[HY000]: General error: 2006 MySQL server has gone away",
        ])
        #expect(out.status == 0)
        #expect(out.stdout.contains("php-pdo default (pdo_mysql ") && out.stdout.contains("in `wait-timeout`: reached"))
        let waitTimeout = try #require(
            out.stdout.split(separator: "\n").first { $0.contains("`wait-timeout` (the server's wait_timeout") })
        let recovered = try #require(waitTimeout.components(separatedBy: "; did not: ").first)
        #expect(recovered.contains("php-pdo recommended"), "\(waitTimeout)")
        #expect(!recovered.contains("php-pdo default"), "\(waitTimeout)")
    }

    /// The command of the short answer's "Reproduce it", as `repro` arguments.
    static func reproduceCommand(_ answer: String) throws -> [String] {
        let lines = answer.components(separatedBy: "\n")
        let at = try #require(lines.firstIndex { $0.hasPrefix("Reproduce it") }, "\(answer)")
        let words = lines[at + 1].trimmingCharacters(in: .whitespaces).split(separator: " ").map(String.init)
        try #require(words.first == "repro", "\(lines[at + 1])")
        return Array(words.dropFirst())
    }

    @Test(
        "the short answer fits one screen and its command reproduces the message",
        arguments: [
            ("node-mysql2", "Can't add new command when connection is in closed state"),
            ("node-mysql2", "This socket has been ended by the other party"),
            ("go-sql", "invalid connection"),
        ])
    func shortAnswerReproduces(driver: String, message: String) async throws {
        let out = try await ReproBinary.run(["explain", "--driver", driver, message])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let lines = out.stdout.components(separatedBy: "\n")
        #expect(lines.count <= 25 && out.stdout.count <= 2400, "one screen: \(lines.count) lines\n\(out.stdout)")
        #expect(out.stdout.contains("what survives it (\(driver); measured"), "\(out.stdout)")
        // Run the command it gives, on the embedded server, and find the message among what the application saw.
        let command = try Self.reproduceCommand(out.stdout)
        #expect(command.contains("--driver"), "\(command)")
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ran = try await ReproBinary.run(command + ["--json", "--quiet", "--report-dir", dir], timeout: 240)
        #expect(ran.status == 0, "\(command): \(ran.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(ran.stdout.utf8)) as? [String: Any]
        let errors = ((report?["scenarios"] as? [[String: Any]])?.first?["errors"] as? [[String: Any]]) ?? []
        let messages = errors.compactMap { $0["message"] as? String }
        #expect(messages.contains { $0.contains(message) }, "\(command) saw \(messages)")
    }

    @Test("an unknown --driver is a usage error naming the adapters")
    func unknownDriver() async throws {
        let out = try await ReproBinary.run(["explain", "--driver", "cobol", "2006"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("unknown --driver 'cobol': use one of node-mysql2"), "\(out.stderr)")
    }

    @Test("nonsense exits 1 and names the closest entries")
    func nonsense() async throws {
        let out = try await ReproBinary.run(["explain", "banana", "smoothie"])
        #expect(out.status == 1)
        #expect(out.stderr.contains("no catalog entry matches 'banana smoothie'"))
        #expect(out.stderr.contains("closest:"))
    }

    @Test("with a matrix file, it says which policies recovered")
    func quotesMatrix() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let matrix = root.appendingPathComponent("docs/matrix.json").path
        try #require(FileManager.default.fileExists(atPath: matrix), "docs/matrix.json is committed (make matrix)")
        let out = try await ReproBinary.run(["explain", "--verbose", "2006", "--matrix", matrix])
        #expect(out.status == 0)
        #expect(out.stdout.contains("wait-timeout: recovered with"))
    }

    @Test("repro report renders the committed drivers matrix as Markdown, and refuses JUnit for it")
    func reportDrivers() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let file = root.appendingPathComponent("docs/drivers.json").path
        let md = try await ReproBinary.run(["report", file])
        #expect(md.status == 0, "stderr: \(md.stderr)")
        #expect(md.stdout.hasPrefix("# What real driver stacks do when idle connections die"))
        let junit = try await ReproBinary.run(["report", file, "--format", "junit"])
        #expect(junit.status == 2)
        #expect(junit.stderr.contains("is a drivers matrix"))
    }
}
