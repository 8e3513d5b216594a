import Foundation
import ReproKit
import ReproTestSupport
import Testing

/// repro on a server it did not start (an embedded server this test starts, used through REPRO_DSN as a
/// user's own): it touches only its own sessions and runs only read-only SQL there.
@Suite("A server shared with others", .ownThreads, .serialized, .enabled(if: serverAvailable))
struct SharedServerTests {
    static func dsn(_ server: ManagedServer, query: String = "") -> String {
        "mysql://root@127.0.0.1:\(server.endpoint.port)/\(query)"
    }

    static func connect(_ server: ManagedServer) throws -> MariaDBConnection {
        try MariaDBConnection(
            options: ConnectionOptions(host: "127.0.0.1", port: server.endpoint.port, user: "root", password: ""))
    }

    /// Mirrors every client port that connects to `port` from 127.0.0.1 with a session of its own from
    /// 127.0.0.2 and the same port (same user), for `seconds`; then says how many of those sessions still answer.
    static let mirror = #"""
        import socket, sys, time, pymysql
        port, seconds = int(sys.argv[1]), float(sys.argv[2])
        mirrored, end = {}, time.time() + seconds
        while time.time() < end:
            for line in open('/proc/net/tcp').read().splitlines()[1:]:
                f = line.split()
                local, remote = f[1].split(':'), f[2].split(':')
                if f[3] != '01' or int(remote[1], 16) != port or local[0] != '0100007F':
                    continue
                p = int(local[1], 16)
                if p in mirrored:
                    continue
                s = socket.socket()
                try:
                    s.bind(('127.0.0.2', p)); s.connect(('127.0.0.1', port))
                    c = pymysql.connect(host='127.0.0.1', port=port, user='app', password='pw', defer_connect=True)
                    c.connect(s)
                    mirrored[p] = c
                    print('mirrored', p, c.thread_id(), flush=True)
                except Exception as e:
                    print('not mirrored', p, e, flush=True)
                    mirrored[p] = None
            time.sleep(0.02)
        alive = dead = 0
        for c in mirrored.values():
            if c is None:
                continue
            try:
                c.ping(reconnect=False); alive += 1
            except Exception:
                dead += 1
        print('alive', alive, 'dead', dead, flush=True)
        """#

    @Test("kill-thread --driver kills only the pool's sessions, not another host's sessions on the same ports")
    func bystandersOnCollidingPortsSurvive() async throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        // A user that may connect from any address: the bystanders come from 127.0.0.2.
        let admin = try Self.connect(server)
        try admin.query("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'")
        try admin.query("GRANT ALL ON *.* TO 'app'@'%'")
        admin.close()
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.mirror.write(toFile: dir + "/mirror.py", atomically: true, encoding: .utf8)
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        watcher.arguments = ["python3", dir + "/mirror.py", "\(server.endpoint.port)", "12"]
        let output = Pipe()
        watcher.standardOutput = output
        watcher.standardError = output
        try watcher.run()
        let out = try await ReproBinary.run(
            [
                "kill-thread", "--driver", "node-mysql2", "--pool-size", "2", "--idle", "2", "--json", "--quiet",
                "--report-dir", dir,
            ],
            environment: ["REPRO_DSN": "mysql://app:pw@127.0.0.1:\(server.endpoint.port)/"])
        watcher.waitUntilExit()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(out.status == 0 || out.status == 1, "stderr: \(out.stderr)")
        let mirrored = said.split(separator: "\n").filter { $0.hasPrefix("mirrored") }.count
        #expect(mirrored >= 2, "the bystanders took the pool's ports: \(said)")
        #expect(said.contains("dead 0"), "a bystander session was killed: \(said)")
        let report = (try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8))) as? [String: Any]
        let timeline = ((report?["scenarios"] as? [[String: Any]])?.first?["timeline"] as? [[String: Any]]) ?? []
        let kills = timeline.compactMap { $0["detail"] as? String }.filter { $0.hasPrefix("fault: KILL CONNECTION") }
        #expect(kills.count == 2, "the pool's two threads, no more: \(kills)")
    }

    @Test("--driver with ?socket= in the DSN is refused: the adapter would dial TCP to whatever listens there")
    func socketDSNWithDriverRefused() async throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let socket = try #require(server.endpoint.unixSocket)
        let out = try await ReproBinary.run(
            ["kill-thread", "--driver", "node-mysql2", "--quiet"],
            environment: ["REPRO_DSN": Self.dsn(server, query: "?socket=\(socket)")])
        #expect(out.status == 2, "stderr: \(out.stderr)")
        #expect(out.stderr.contains("?socket="), "stderr: \(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count == 1, "one line: \(out.stderr)")
    }

    @Test("a --query that writes is refused there before anything runs; --allow-writes lets it run")
    func writingQueryRefused() async throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let admin = try Self.connect(server)
        defer { admin.close() }
        try admin.query("CREATE DATABASE precious")
        let load = ["--concurrency", "2", "--duration", "0.5", "--quiet"]
        let out = try await ReproBinary.run(
            ["kill-thread"] + load + ["--query", "DROP DATABASE precious"], environment: ["REPRO_DSN": Self.dsn(server)]
        )
        #expect(out.status == 2, "stderr: \(out.stderr)")
        #expect(out.stderr.contains("--allow-writes") && out.stderr.split(separator: "\n").count == 1, "\(out.stderr)")
        #expect(try admin.query("SHOW DATABASES LIKE 'precious'").count == 1)
        let allowed = try await ReproBinary.run(
            ["kill-thread"] + load + ["--query", "SELECT 1 FROM DUAL FOR UPDATE", "--allow-writes"],
            environment: ["REPRO_DSN": Self.dsn(server)])
        #expect(allowed.status == 0 || allowed.status == 1, "stderr: \(allowed.stderr)")
    }

    @Test("a long --query under load does not outlive the run on the server")
    func leftoverQueriesKilled() async throws {
        let server = try ManagedServer.start()
        defer { server.stop() }
        let admin = try Self.connect(server)
        defer { admin.close() }
        let out = try await ReproBinary.run(
            [
                "kill-thread", "--concurrency", "2", "--pool-size", "2", "--duration", "1", "--query",
                "SELECT SLEEP(40)",
                "--read-timeout", "1", "--quiet",
            ],
            environment: ["REPRO_DSN": Self.dsn(server)])
        #expect(out.status == 0 || out.status == 1, "stderr: \(out.stderr)")
        let running = try admin.query(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(40)%'")
        #expect(running.isEmpty, "sessions still running the query: \(running)")
    }

    @Test("kill-thread under load with every connection busy reports that, not an environment failure")
    func saturatedPoolUnderLoad() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try await ReproBinary.run([
            "kill-thread", "--concurrency", "8", "--pool-size", "2", "--duration", "2", "--query", "SELECT SLEEP(0.3)",
            "--json", "--quiet", "--report-dir", dir,
        ])
        #expect(out.status == 0 || out.status == 1, "stderr: \(out.stderr)")
        let report = (try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8))) as? [String: Any]
        let timeline = ((report?["scenarios"] as? [[String: Any]])?.first?["timeline"] as? [[String: Any]]) ?? []
        let details = timeline.compactMap { $0["detail"] as? String }
        #expect(
            details.contains {
                $0.hasPrefix("fault: KILL CONNECTION") || $0.contains("was idle (between two queries)")
            },
            "\(details.filter { $0.hasPrefix("fault") })")
        #expect(!details.contains { $0.contains("had no open connection") }, "the pool had its connections open")
    }
}

@Suite("Hostile input to repro's own files and flags", .ownThreads)
struct HostileFilesTests {
    @Test("make uninstall refuses a manifest that points outside the prefix, and removes nothing")
    func tamperedManifest() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        for entry in ["file ../outside/keep", "file share/link/keep", "file /etc/hostname"] {
            let dir = ReproBinary.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let prefix = dir + "/prefix"
            try FileManager.default.createDirectory(atPath: prefix + "/share/repro", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
            try "keep".write(toFile: dir + "/outside/keep", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(
                atPath: prefix + "/share/link", withDestinationPath: dir + "/outside")
            try "file share/ours\n\(entry)\n".write(
                toFile: prefix + "/share/repro/install-manifest", atomically: true, encoding: .utf8)
            try "ours".write(toFile: prefix + "/share/ours", atomically: true, encoding: .utf8)
            let out = try await ReproBinary.run(
                ["-c", "PREFIX='\(prefix)' DESTDIR= '\(root)/scripts/uninstall.sh'"], executable: "/bin/bash")
            #expect(out.status == 2, "\(entry): \(out.stderr)")
            #expect(out.stderr.contains("refusing"), "\(entry): \(out.stderr)")
            #expect(FileManager.default.fileExists(atPath: dir + "/outside/keep"), "\(entry) removed a file outside")
            #expect(FileManager.default.fileExists(atPath: prefix + "/share/ours"), "\(entry): removed before refusing")
        }
    }

    @Test("a 100 KB --driver-option key is cut in the one-line error")
    func longDriverOptionCut() async throws {
        let key = String(repeating: "k", count: 100_000)
        let out = try await ReproBinary.run([
            "kill-thread", "--driver", "node-mysql2", "--driver-option", "\(key)=1", "--quiet",
        ])
        #expect(out.status == 2, "stderr: \(out.stderr.prefix(300))")
        #expect(out.stderr.utf8.count < 2000, "stderr is \(out.stderr.utf8.count) bytes")
        #expect(out.stderr.contains("characters)"), "\(out.stderr.prefix(300))")
    }

    @Test("repro report on JSON nested too deeply says so, exit 2")
    func deeplyNestedReport() async throws {
        let dir = ReproBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = "{\"a\":" + String(repeating: "[", count: 700) + String(repeating: "]", count: 700) + "}"
        try text.write(toFile: dir + "/deep.json", atomically: true, encoding: .utf8)
        let out = try await ReproBinary.run(["report", dir + "/deep.json"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("nested too deeply") && out.stderr.contains("limit is 512"), "\(out.stderr)")
    }

    @Test("--node-path's help says the directory's code runs as the user's own library")
    func nodePathHelp() async throws {
        let out = try await ReproBinary.run(["kill-thread", "--help"])
        let words = out.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains("runs as your own library"), "\(out.stdout)")
    }
}
