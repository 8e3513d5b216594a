import Foundation
import ReproKit
import ReproTestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Writes scenario files into a fresh directory.
func scenarioDirectory(_ files: [String: String]) throws -> String {
    let dir = ReproBinary.temporaryDirectory()
    for (name, body) in files {
        try body.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    }
    return dir
}

let passingKill = """
    name: kill-ok
    fault:
      kind: kill-thread
    policy: ping-on-borrow
    expect:
      recovered: true
    """

let failingKill = """
    name: kill-wrong
    fault:
      kind: kill-thread
    policy: naive
    expect:
      recovered: true
      firstError: [1927]
    """

/// Counts testcases and failures in a JUnit file by parsing it as XML.
final class JUnitCounter: NSObject, XMLParserDelegate {
    var testcases = 0
    var failures = 0
    var suiteTests: Int?
    var suiteFailures: Int?
    var properties: [String: String] = [:]

    func parser(
        _ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String]
    ) {
        switch element {
        case "testcase": testcases += 1
        case "failure": failures += 1
        case "testsuite":
            suiteTests = attributes["tests"].flatMap(Int.init)
            suiteFailures = attributes["failures"].flatMap(Int.init)
        case "property": properties[attributes["name"] ?? ""] = attributes["value"]
        default: break
        }
    }
}

@Suite("repro all, JUnit and repro report", .ownThreads)
struct AllCommandTests {
    @Test("an unknown key exits 2 naming the file and line, before anything runs")
    func unknownKey() async throws {
        let dir = try scenarioDirectory(["bad.yml": "name: x\nfault:\n  kind: kill-thread\ncolour: red\n"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(["all", dir, "--report-dir", dir + "/r"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("bad.yml:4: unknown key 'colour'"), "\(out.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/r"), "nothing ran")
    }

    @Test("a real stack that cannot run here is found before the server starts, naming the scenarios that need it")
    func adapterPreflight() async throws {
        let dir = try scenarioDirectory([
            "a.yml": passingKill,
            "b.yml": "name: on-broken\nfault: {kind: kill-thread}\ndriver: broken\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let adapter = dir + "/adapters/broken"
        try FileManager.default.createDirectory(atPath: adapter, withIntermediateDirectories: true)
        try "#!/bin/sh\nexit 1\n".write(toFile: adapter + "/run", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho 'missing brokenlang: apt-get install brokenlang'\nexit 1\n".write(
            toFile: adapter + "/check", atomically: true, encoding: .utf8)
        chmod(adapter + "/run", 0o755)
        chmod(adapter + "/check", 0o755)
        let out = try await ReproBinary.run(
            ["all", dir + "/a.yml", dir + "/b.yml", "--report-dir", dir + "/r"],
            environment: ["REPRO_ADAPTERS": dir + "/adapters"])
        #expect(out.status == 3, "\(out.stderr)")
        #expect(out.stderr.contains("the broken adapter cannot run here (missing brokenlang"), "\(out.stderr)")
        #expect(out.stderr.contains("/b.yml:"), "names the scenario that needs it: \(out.stderr)")
        #expect(!out.stderr.contains("warming"), "nothing ran: \(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count == 1, "one line: \(out.stderr)")
    }

    @Test("--filter matching nothing exits 2 listing the names")
    func filterMatchesNothing() async throws {
        let dir = try scenarioDirectory(["a.yml": passingKill])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(["all", dir, "--filter", "zzz*"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("kill-ok"))
    }

    @Test(
        "one failing expectation: exit 1, a JUnit <failure>, counts right, step summary appended",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func failingExpectation() async throws {
        let dir = try scenarioDirectory(["a.yml": passingKill, "b.yml": failingKill])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let summary = dir + "/summary.md"
        let out = try await ReproBinary.run(
            ["all", dir, "--report-dir", dir + "/r", "--quiet"], environment: ["GITHUB_STEP_SUMMARY": summary])
        #expect(out.status == 1, "\(out.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/r").sorted()
        #expect(files == ["kill-ok.svg", "kill-wrong.svg", "repro-all.json", "repro-all.junit.xml", "repro-all.md"])
        // Each scenario's section links its chart, written beside the report.
        let markdown = try String(contentsOfFile: dir + "/r/repro-all.md", encoding: .utf8)
        #expect(markdown.contains("](kill-ok.svg)") && markdown.contains("](kill-wrong.svg)"))
        for chart in ["kill-ok.svg", "kill-wrong.svg"] {
            let svg = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: dir + "/r/" + chart)))
            #expect(svg.parse(), "\(chart) must be well-formed XML")
        }
        let both = try await ReproBinary.run(["report", dir + "/r/repro-all.json", "--format", "svg"])
        #expect(both.status == 0)
        #expect(both.stdout.components(separatedBy: "<svg ").count - 1 == 3, "one picture holding both charts")
        #expect(XMLParser(data: Data(both.stdout.utf8)).parse())
        let xml = try Data(contentsOf: URL(fileURLWithPath: dir + "/r/repro-all.junit.xml"))
        let parser = XMLParser(data: xml)
        let counter = JUnitCounter()
        parser.delegate = counter
        #expect(parser.parse(), "JUnit must be well-formed XML")
        #expect(counter.testcases == 2)
        #expect(counter.failures == 1)
        #expect(counter.suiteTests == 2)
        #expect(counter.suiteFailures == 1)
        #expect(counter.properties["fault.kind"] == "kill-thread")
        #expect(counter.properties["server.version"]?.contains("MariaDB") == true)
        let text = String(decoding: xml, as: UTF8.self)
        #expect(text.contains("recovered: expected true, observed false"))
        let step = try String(contentsOfFile: summary, encoding: .utf8)
        #expect(step.contains("| kill-wrong |"))
        #expect(step.contains("✗"))
    }

    @Test(
        "without GITHUB_STEP_SUMMARY nothing is written there; --fail-fast stops at the first failure",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func noSummaryAndFailFast() async throws {
        let dir = try scenarioDirectory(["a.yml": failingKill, "b.yml": passingKill])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(
            ["all", dir, "--report-dir", dir + "/r", "--quiet", "--fail-fast", "--json", "--jobs", "1"])
        #expect(out.status == 1)
        let report = try Report.decode(Data(out.stdout.utf8))
        #expect(report.scenarios.map(\.name) == ["kill-wrong"])
        #expect(!FileManager.default.fileExists(atPath: dir + "/summary.md"))
    }

    @Test(
        "--fail-fast with --jobs: nothing starts after the failure, the scenario running beside it finishes",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func failFastWithJobs() async throws {
        let slow =
            "name: slow-ok\nfault: {kind: kill-thread, idle: 3}\npolicy: ping-on-borrow\nexpect: {recovered: true}\n"
        let dir = try scenarioDirectory([
            "a.yml": failingKill, "b.yml": slow, "c.yml": passingKill,
            "d.yml": passingKill.replacingOccurrences(of: "kill-ok", with: "kill-ok-2"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run(
            ["all", dir, "--report-dir", dir + "/r", "--quiet", "--fail-fast", "--json", "--jobs", "2"])
        #expect(out.status == 1)
        let report = try Report.decode(Data(out.stdout.utf8))
        #expect(report.scenarios.map(\.name) == ["kill-wrong", "slow-ok"])
        #expect(report.scenarios.last?.passed == true, "the scenario in flight ran to its end")
    }

    @Test("repro report re-renders a saved JSON report as Markdown and JUnit")
    func reportRoundTrip() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let report = Report(
            server: .init(version: "10.11.19-MariaDB", managed: true, address: "127.0.0.1:3306"),
            client: .init(library: "MariaDB Connector/C", version: "3.3.8"), scenarios: [])
        let path = dir + "/r.json"
        try report.jsonData().write(to: URL(fileURLWithPath: path))
        let md = try await ReproBinary.run(["report", path])
        #expect(md.status == 0)
        #expect(try md.stdout == MarkdownRenderer.render(report))
        let junit = try await ReproBinary.run(["report", path, "--format", "junit"])
        #expect(junit.stdout == JUnitRenderer.render(report))
        let json = try await ReproBinary.run(["report", path, "--format", "json"])
        #expect(try Report.decode(Data(json.stdout.utf8)) == report)
        try " async {\"schemaVersion\": 1}".write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        let bad = try await ReproBinary.run(["report", dir + "/bad.json"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("not a repro JSON report"))
    }
}
