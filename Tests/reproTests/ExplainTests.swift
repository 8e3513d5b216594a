import Foundation
import Testing

@Suite("repro explain")
struct ExplainTests {
    @Test("a pasted message prints meaning, drivers and the repro command")
    func explains() throws {
        let out = try ReproBinary.run(["explain", "Can't add new command when connection is in closed state"])
        #expect(out.status == 0)
        #expect(out.stdout.contains("The server closed an idle connection"))
        #expect(
            out.stdout.contains("node-mysql2 default (mysql2 ")
                && out.stdout.contains("in `held-kill-thread`: reached"),
            "where the message was measured")
        #expect(out.stdout.contains("What real driver stacks do (measured by `make drivers-matrix`"))
        #expect(out.stdout.contains("repro wait-timeout --seconds 2 --policy naive"))
    }

    @Test("nonsense exits 1 and names the closest entries")
    func nonsense() throws {
        let out = try ReproBinary.run(["explain", "banana", "smoothie"])
        #expect(out.status == 1)
        #expect(out.stderr.contains("no catalog entry matches 'banana smoothie'"))
        #expect(out.stderr.contains("closest:"))
    }

    @Test("with a matrix file, it says which policies recovered")
    func quotesMatrix() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let matrix = root.appendingPathComponent("docs/matrix.json").path
        try #require(FileManager.default.fileExists(atPath: matrix), "docs/matrix.json is committed (make matrix)")
        let out = try ReproBinary.run(["explain", "2006", "--matrix", matrix])
        #expect(out.status == 0)
        #expect(out.stdout.contains("wait-timeout: recovered with"))
    }

    @Test("repro report renders the committed drivers matrix as Markdown, and refuses JUnit for it")
    func reportDrivers() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let file = root.appendingPathComponent("docs/drivers.json").path
        let md = try ReproBinary.run(["report", file])
        #expect(md.status == 0, "stderr: \(md.stderr)")
        #expect(md.stdout.hasPrefix("# What real driver stacks do when idle connections die"))
        let junit = try ReproBinary.run(["report", file, "--format", "junit"])
        #expect(junit.status == 2)
        #expect(junit.stderr.contains("is a drivers matrix"))
    }
}
