import Foundation
import ReproKit
import ReproTestSupport
import Testing
import Yams

private let nodePath = ProcessInfo.processInfo.environment["NODE_PATH"] ?? ""

/// `repro matrix --drivers … --shard K/N` on separate servers side by side, as CI machines run them, and
/// `repro report --merge`: the merge is the unsharded run's report, cell for cell.
@Suite("a sharded drivers matrix, merged", .ownThreads, .enabled(if: serverAvailable))
struct MatrixShardCommandTests {
    /// A small plan with a real stack, Go, a preset and a column that needs the server alone (a restart).
    static let plan = [
        "matrix", "--drivers", "node-mysql2,go-sql", "--configs", "default", "--scenarios",
        "wait-timeout,kill-thread,server-restart-quiet", "--policies", "naive", "--via", "proxy", "--jobs", "2",
        "--node-path", nodePath, "--quiet",
    ]

    static let workflowPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/github-actions-drivers-matrix.yml").path

    /// The sharded workflow's jobs.
    static func workflow() throws -> (yaml: [String: Any], jobs: [String: [String: Any]]) {
        let text = try String(contentsOfFile: workflowPath, encoding: .utf8)
        let yaml = try #require(try Yams.load(yaml: text) as? [String: Any])
        let jobs = try #require(yaml["jobs"] as? [String: [String: Any]])
        return (yaml, jobs)
    }

    /// A `run:` step of a job of the sharded workflow, by name.
    static func step(_ job: String, _ name: String) throws -> String {
        let steps = try #require(try workflow().jobs[job]?["steps"] as? [[String: Any]])
        return try #require(steps.first { $0["name"] as? String == name }?["run"] as? String, "\(job): \(name)")
    }

    /// What a cell's verdict is, whatever the timings: survived, and the first error's code.
    static func verdicts(_ report: DriversReport) -> [String] {
        report.rows.flatMap { row in
            row.cells.map { "\(row.id)/\($0.column.id) \($0.survived) \($0.firstError.map { "\($0.code)" } ?? "-")" }
        }
    }

    @Test("shards 1/3, 2/3 and 3/3 run side by side and merge into the unsharded matrix, cell for cell")
    func threeShardsMergeToTheWhole() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runs = ["whole", "1", "2", "3"]
        // The shards run as the workflow's own step runs them, with this plan's flags and 3 shards.
        let shardStep = try Self.step("shard", "Run the shard")
        let bin = URL(fileURLWithPath: ReproBinary.path).deletingLastPathComponent().path
        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let flags = Self.plan.dropFirst().map { $0.isEmpty ? "''" : $0 }.joined(separator: " ")
        let outcomes = await withTaskGroup(of: (Int, ReproBinary.Outcome?).self) { group in
            for (index, name) in runs.enumerated() {
                group.addTask {
                    if name == "whole" {
                        return (
                            index,
                            try? await ReproBinary.run(Self.plan + ["--report-dir", "\(dir)/whole"], timeout: 300)
                        )
                    }
                    return (
                        index,
                        try? await ReproBinary.run(
                            ["-c", shardStep],
                            environment: ["SHARD": name, "SHARDS": "3", "REPRO_MATRIX_FLAGS": flags, "PATH": path],
                            timeout: 300, executable: "/bin/bash", directory: dir)
                    )
                }
            }
            var outcomes: [ReproBinary.Outcome?] = Array(repeating: nil, count: runs.count)
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }
        for (name, outcome) in zip(runs, outcomes) {
            #expect(outcome?.status == 0, "\(name): \(outcome?.stderr ?? "did not run")")
        }
        func load(_ name: String) throws -> DriversReport {
            let folder = name == "whole" ? "whole" : "shards/\(name)"
            return try DriversReport.decode(Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(folder)/drivers.json")))
        }
        let whole = try load("whole")
        #expect(whole.shard == nil && whole.plan != nil)
        #expect(whole.rows.map(\.id) == ["node-mysql2 default", "go-sql default", "repro naive"])
        #expect(whole.rows.allSatisfy { $0.cells.count == 3 })
        var cellsPerShard: [Int] = []
        for name in ["1", "2", "3"] {
            let shard = try load(name)
            #expect(shard.shard == MatrixShard(index: Int(name)!, count: 3))
            #expect(shard.plan == whole.plan)
            #expect(shard.commands == whole.commands, "every shard carries the plan's commands")
            cellsPerShard.append(shard.rows.map(\.cells.count).reduce(0, +))
        }
        #expect(cellsPerShard.reduce(0, +) == 9 && cellsPerShard.allSatisfy { $0 > 0 }, "9 cells: \(cellsPerShard)")

        // The merge job's own step: the report, its Markdown and SVG, the step summary.
        let summary = dir + "/summary.md"
        let merge = try await ReproBinary.run(
            ["-c", try Self.step("merge", "Merge")], environment: ["GITHUB_STEP_SUMMARY": summary, "PATH": path],
            executable: "/bin/bash", directory: dir)
        #expect(merge.status == 0, "\(merge.stdout) \(merge.stderr)")
        for file in ["drivers.json", "drivers.md", "drivers.svg"] {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/reports/\(file)"), "\(file)")
        }
        let table = (try? String(contentsOfFile: summary, encoding: .utf8)) ?? ""
        #expect(table.contains("go-sql"), "the matrix on the run's summary page")

        // The same, given in any order.
        let merged = "\(dir)/merged.json"
        let out = try await ReproBinary.run(
            [
                "report", "--merge", "\(dir)/shards/3/drivers.json", "\(dir)/shards/1/drivers.json",
                "\(dir)/shards/2/drivers.json", "-o", merged,
            ])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: merged))
                == Data(contentsOf: URL(fileURLWithPath: "\(dir)/reports/drivers.json")))
        let result = try DriversReport.decode(Data(contentsOf: URL(fileURLWithPath: merged)))
        #expect(result.shard == nil)
        #expect(result.plan == whole.plan)
        #expect(result.rows.map(\.id) == whole.rows.map(\.id))
        #expect(result.commands == whole.commands)
        #expect(result.columns == whole.columns)
        #expect(Self.verdicts(result) == Self.verdicts(whole))
        #expect(result.rows.map(\.client.library) == whole.rows.map(\.client.library))

        // The merged report renders as the unsharded one does.
        let markdown = try await ReproBinary.run(["report", merged])
        #expect(markdown.status == 0 && markdown.stdout.contains("node-mysql2"))

        // Two shards of three are not the matrix.
        let partial = try await ReproBinary.run([
            "report", "--merge", "\(dir)/shards/1/drivers.json", "\(dir)/shards/2/drivers.json",
        ])
        #expect(partial.status == 2)
        #expect(partial.stderr.contains("shard 3/3 is missing: give all 3 shards' reports"), "\(partial.stderr)")
        // An unsharded report is not a shard.
        let notShard = try await ReproBinary.run(["report", "--merge", "\(dir)/whole/drivers.json"])
        #expect(notShard.status == 2)
        #expect(notShard.stderr.contains("is not a shard's report"), "\(notShard.stderr)")
    }

    @Test("the sharded workflow: a job per shard that never stops the others, a merge job after them all")
    func workflowShape() throws {
        let (yaml, jobs) = try Self.workflow()
        let env = try #require(yaml["env"] as? [String: Any])
        #expect(env["REPRO_VERSION"] is String && env["REPRO_MATRIX_FLAGS"] is String, "one place to change")
        let shard = try #require(jobs["shard"])
        let strategy = try #require(shard["strategy"] as? [String: Any])
        #expect(strategy["fail-fast"] as? Bool == false)
        let shards = try #require((strategy["matrix"] as? [String: Any])?["shard"] as? [Int])
        #expect(shards == Array(1...shards.count) && shards.count > 1)
        let steps = try #require(shard["steps"] as? [[String: Any]])
        #expect(
            steps.compactMap { $0["name"] as? String } == [
                "Check out", "Cache repro", "Install repro", "Run the shard", "Upload the shard",
            ])
        let run = try #require(steps.first { $0["name"] as? String == "Run the shard" })
        let runEnv = try #require(run["env"] as? [String: String])
        #expect(runEnv["SHARD"] == "${{ matrix.shard }}" && runEnv["SHARDS"] == "${{ strategy.job-total }}")
        #expect((run["run"] as? String)?.contains("--shard \"$SHARD/$SHARDS\"") == true)
        let upload = try #require(
            steps.first { $0["name"] as? String == "Upload the shard" }?["with"] as? [String: Any])
        #expect(upload["name"] as? String == "drivers-shard-${{ matrix.shard }}", "one artifact per shard")
        let merge = try #require(jobs["merge"])
        #expect(merge["needs"] as? String == "shard")
        let mergeSteps = try #require(merge["steps"] as? [[String: Any]])
        let download = try #require(
            mergeSteps.first { $0["name"] as? String == "Download the shards" }?["with"] as? [String: Any])
        #expect(download["pattern"] as? String == "drivers-shard-*" && download["merge-multiple"] as? Bool == true)
        #expect(try Self.step("merge", "Merge").contains("repro report --merge shards/*/drivers.json"))
        #expect(try Self.step("shard", "Install repro").contains("mariadb-server"), "the embedded server")
    }

    @Test(
        "--shard and --merge refuse bad input in one line, exit 2, before anything runs",
        arguments: [
            (["matrix", "--shard", "1/2"], "--shard splits the drivers matrix: add --drivers"),
            (["matrix", "--drivers", "go-sql", "--shard", "3/2"], "--shard '3/2': the shard must be 1 to 2"),
            (["matrix", "--drivers", "go-sql", "--shard", "half"], "--shard 'half' is not K/N"),
            (["report", "a.json", "b.json"], "give one report (or --merge with every shard's drivers.json): got 2"),
            (["report", "--merge", "/nonexistent/a.json"], "cannot read '/nonexistent/a.json'"),
        ])
    func badInput(arguments: [String], message: String) async throws {
        let out = try await ReproBinary.run(arguments)
        #expect(out.status == 2)
        #expect(out.stderr.contains(message), "\(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count <= 2, "one line (and usage): \(out.stderr)")
    }

    @Test("REPRO_MATRIX_COLUMNS: a columns file of the user's own is read, and one that does not read is one line")
    func columnsOfYourOwn() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = try await ReproBinary.run(
            ["matrix", "--scenarios", "kill-thread", "--quiet"],
            environment: ["REPRO_MATRIX_COLUMNS": dir + "/none.yaml"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("REPRO_MATRIX_COLUMNS '\(dir)/none.yaml' cannot be read"), "\(missing.stderr)")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var text = try String(contentsOf: root.appendingPathComponent("matrix/columns.yaml"), encoding: .utf8)
        text += """

            - id: kill-thread-one
              title: KILL of one idle connection's server thread
              fault: {kind: kill-thread, target: idle, count: 1}
              catalog: thread-killed
              timing: the KILL comes ${idle} s after the last use
              in: [policy, drivers]

            """
        try text.write(toFile: dir + "/columns.yaml", atomically: true, encoding: .utf8)
        let help = try await ReproBinary.run(
            ["matrix", "--help"], environment: ["REPRO_MATRIX_COLUMNS": dir + "/columns.yaml"])
        #expect(help.stdout.contains("kill-thread-one"), "the new column is offered: \(help.stdout)")
        try (text + "- id: broken\n").write(toFile: dir + "/broken.yaml", atomically: true, encoding: .utf8)
        let broken = try await ReproBinary.run(
            ["matrix", "--scenarios", "kill-thread", "--quiet"],
            environment: ["REPRO_MATRIX_COLUMNS": dir + "/broken.yaml"])
        #expect(broken.status == 2)
        #expect(broken.stderr.contains("column broken: title, catalog and timing are required"), "\(broken.stderr)")
        #expect(broken.stderr.split(separator: "\n").count == 1, "\(broken.stderr)")
    }
}
