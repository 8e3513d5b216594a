import Foundation
import ReproKit
import ReproTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("ManagedServer", .ownThreads)
struct ManagedServerTests {
    @Test(.requiresServer) func startsAServerThatAnswersAndStopRemovesEverything() throws {
        let server = try ManagedServer.start()
        #expect(server.version.contains("MariaDB"))
        #expect(server.endpoint.host == "127.0.0.1")
        #expect(server.endpoint.user == "root")
        #expect(server.endpoint.password == "")
        #expect(server.endpoint.managed)
        #expect(server.endpoint.unixSocket == server.directory + "/mariadbd.sock")
        #expect(server.directory.contains("repro-mariadb-"))
        #expect(FileManager.default.fileExists(atPath: server.directory))
        #expect(kill(server.pid, 0) == 0)
        #expect(CleanupRegistry.shared.pendingNames.contains { $0.contains(server.directory) })

        #expect(try runClient(port: server.endpoint.port, sql: "select 1") == "1")

        server.stop()
        #expect(server.isStopped)
        #expect(kill(server.pid, 0) == -1 && errno == ESRCH)
        #expect(!FileManager.default.fileExists(atPath: server.directory))
        #expect(!CleanupRegistry.shared.pendingNames.contains { $0.contains(server.directory) })
        server.stop()
    }

    @Test(
        "the first start installs and keeps the data directory as a template; the next copies it, untouched by the first",
        .requiresServer)
    func laterStartsCopyTheInstalledTemplate() throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("repro-template-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let first = try ManagedServer.start(templateRoot: cache)
        defer { first.stop() }
        #expect(!first.dataDirectoryFromTemplate)
        let keys = try FileManager.default.contentsOfDirectory(atPath: cache)
        #expect(keys.count == 1 && keys.first?.hasPrefix("v1-") == true, "\(keys)")
        // What the first server writes stays in its own directory: the template was taken before it started.
        #expect(try runClient(port: first.endpoint.port, sql: "create database written_by_the_first") == "")

        let second = try ManagedServer.start(templateRoot: cache)
        defer { second.stop() }
        #expect(second.dataDirectoryFromTemplate)
        #expect(try runClient(port: second.endpoint.port, sql: "select 1") == "1")
        let databases = try runClient(port: second.endpoint.port, sql: "show databases")
        #expect(!databases.contains("written_by_the_first"), "\(databases)")
        #expect(databases.contains("mysql"))
        #expect(!FileManager.default.fileExists(atPath: second.directory + "/data/repro-template"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache) == keys, "no staging copy left")

        let installing = try ManagedServer.start(templateRoot: nil)
        defer { installing.stop() }
        #expect(!installing.dataDirectoryFromTemplate)
    }

    @Test(.requiresServer) func twoServersRunSideBySideOnDifferentPorts() async throws {
        async let starting = ManagedServer.startInBackground()
        let second = try await ManagedServer.startInBackground()
        let first = try await starting
        #expect(first.endpoint.port != second.endpoint.port)
        #expect(first.directory != second.directory)
        #expect(try runClient(port: first.endpoint.port, sql: "select 1") == "1")
        #expect(try runClient(port: second.endpoint.port, sql: "select 2") == "2")
        await first.stopInBackground()
        await second.stopInBackground()
        #expect(first.isStopped && second.isStopped)
    }

    @Test(.requiresServer) func droppingTheLastReferenceStopsTheServer() async throws {
        var server: ManagedServer? = try await ManagedServer.startInBackground()
        let pid = try #require(server?.pid)
        let directory = try #require(server?.directory)
        server = nil
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func missingBinariesPointToMakeSetup() {
        let error = #expect(throws: ServerError.self) { try ManagedServer.start(searchPath: ["/nonexistent"]) }
        #expect(error?.code == .binaryNotFound)
        #expect(error?.message == "mariadbd not found; run `make setup` (installs mariadb-server)")
    }

    @Test(.requiresServer) func aServerThatDiesDuringStartupReportsItsLogAndLeavesNothingBehind() async throws {
        let fake = try FakeServer(
            script: """
                echo "[ERROR] fake mariadbd refused to start" >> "$log"
                exit 1
                """)
        defer { fake.remove() }
        let error = await #expect(throws: ServerError.self) {
            try await ManagedServer.startInBackground(searchPath: [fake.binDirectory], templateRoot: nil)
        }
        #expect(error?.code == .startFailed)
        #expect(error?.message.contains("exited during startup (exit status 1)") == true)
        #expect(error?.message.contains("fake mariadbd refused to start") == true)
        #expect(error?.message.contains("\n") == false)
        let sandbox = try fake.sandboxDirectory()
        #expect(sandbox.contains("repro-mariadb-"))
        #expect(!FileManager.default.fileExists(atPath: sandbox))
    }

    @Test(.requiresServer) func aServerThatNeverAnswersIsKilledAtTheTimeout() async throws {
        // A fake install-db too, so the short timeout is spent on the server, not on a slow bootstrap.
        let fake = try FakeServer(script: "exec sleep 60", fakeInstall: true)
        defer { fake.remove() }
        let error = await #expect(throws: ServerError.self) {
            try await ManagedServer.startInBackground(
                timeout: .seconds(2), searchPath: [fake.binDirectory], templateRoot: nil)
        }
        #expect(error?.code == .startTimedOut, "\(String(describing: error))")
        let pid = try #require(pid_t(try fake.recorded("pid")))
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
        #expect(!FileManager.default.fileExists(atPath: try fake.sandboxDirectory()))
    }

    @Test(.requiresServer) func aPortTakenEveryTimeGivesUpAfterThreeAttempts() async throws {
        let fake = try FakeServer(
            script: """
                echo x >> "$bin/attempts"
                echo "[ERROR] Can't start server: Bind on TCP/IP port. Got error: 98: Address already in use" >> "$log"
                exit 1
                """)
        defer { fake.remove() }
        let error = await #expect(throws: ServerError.self) {
            try await ManagedServer.startInBackground(searchPath: [fake.binDirectory], templateRoot: nil)
        }
        #expect(error?.code == .startFailed)
        #expect(error?.message.contains("3 times") == true)
        #expect(try fake.recorded("attempts").split(separator: "\n").count == 3)
    }

    /// Runs the real `mariadb` client against 127.0.0.1:port and returns its trimmed output.
    private func runClient(port: Int, sql: String) throws -> String {
        let client = try #require(ServerRequirement.locate("mariadb"), "mariadb client not installed")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: client)
        process.arguments = ["--no-defaults", "-uroot", "-h127.0.0.1", "-P\(port)", "-N", "-B", "-e", sql]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(process.terminationStatus == 0, "mariadb client failed: \(text)")
        return text
    }
}

/// A bin directory holding the real `mariadb-install-db` and a shell-script `mariadbd` that misbehaves on purpose.
private struct FakeServer {
    let binDirectory: String

    init(script: String, fakeInstall: Bool = false) throws {
        binDirectory = NSTemporaryDirectory() + "repro-fake-bin-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: binDirectory, withIntermediateDirectories: true)
        if fakeInstall {
            try Self.writeScript(
                binDirectory + "/mariadb-install-db",
                """
                #!/bin/sh
                for arg; do case "$arg" in --datadir=*) mkdir -p "${arg#--datadir=}" ;; esac; done

                """)
        } else {
            let installDB = try #require(ServerRequirement.locate("mariadb-install-db"))
            try FileManager.default.createSymbolicLink(
                atPath: binDirectory + "/mariadb-install-db", withDestinationPath: installDB)
        }
        // The script records its pid and sandbox so the test can check both are gone afterwards.
        let body = """
            #!/bin/sh
            bin='\(binDirectory)'
            for arg; do
              case "$arg" in
                --log-error=*) log="${arg#--log-error=}" ;;
                --datadir=*) echo "${arg#--datadir=}" > "$bin/datadir" ;;
              esac
            done
            echo $$ > "$bin/pid"
            \(script)

            """
        try Self.writeScript(binDirectory + "/mariadbd", body)
    }

    /// Written with O_CLOEXEC: a child spawned meanwhile by a parallel test must not inherit the write fd,
    /// or executing the script fails with ETXTBSY ("Text file busy").
    private static func writeScript(_ path: String, _ body: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let bytes = Array(body.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw POSIXError(.EIO) }
    }

    func recorded(_ name: String) throws -> String {
        try String(contentsOfFile: binDirectory + "/" + name, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The sandbox directory `ManagedServer` created (parent of the data directory).
    func sandboxDirectory() throws -> String {
        (try recorded("datadir") as NSString).deletingLastPathComponent
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: binDirectory)
    }
}
