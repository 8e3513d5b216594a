import Foundation
import ReproKit
import ReproTestSupport
import Testing

private let required = ProcessInfo.processInfo.environment["REPRO_REQUIRE_SERVER"] == "1"

/// `repro proxy --api` started on free ports in front of an embedded server, stopped with SIGTERM at the end.
private final class APIProxy {
    let process = Process()
    let apiPort: Int
    private let log = Pipe()

    init() throws {
        apiPort = try #require(LoopbackTCP.freePort())
        process.executableURL = URL(fileURLWithPath: ReproBinary.path)
        process.arguments = ["proxy", "--api", "127.0.0.1:\(apiPort)"]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        // Ready once the API answers.
        var tries = 0
        while !LoopbackTCP.accepts(port: apiPort) && tries < 100 && process.isRunning {
            usleep(50_000)
            tries += 1
        }
    }

    /// SIGTERM, the exit status, and everything it printed.
    func stop() -> (status: Int32, output: String) {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

/// Runs `arguments` through /usr/bin/env (a bounded wait, as every end-to-end test) and returns its exit status and
/// everything it printed.
private func run(_ arguments: [String]) async throws -> (Int32, String) {
    let outcome = try await ReproBinary.run(arguments, executable: "/usr/bin/env")
    return (outcome.status, outcome.stdout + outcome.stderr)
}

@Suite("repro proxy --api driven by Toxiproxy's own client and by plain HTTP", .ownThreads, .serialized)
struct ProxyAPICommandTests {
    @Test(
        "toxiproxy-python makes a proxy and a reset_peer toxic; PyMySQL behind it gets the reset, then recovers",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"),
        .enabled(if: required || pythonImports("toxiproxy"), "toxiproxy-python not installed: run `make setup`"))
    func toxiproxyClientResetsPyMySQL() async throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        let proxy = try APIProxy()
        let script = """
            import sys, time, pymysql, pymysql.err
            from toxiproxy import Toxiproxy
            server = Toxiproxy()
            server.update_api_consumer("127.0.0.1", \(proxy.apiPort))
            assert server.running(), "API not answering"
            p = server.create(upstream="\(session.endpoint.hostPort)", name="mysql")
            host, port = p.listen.rsplit(":", 1)
            c = pymysql.connect(host=host, port=int(port), user="root", password="", read_timeout=5)
            cur = c.cursor()
            cur.execute("SELECT 1")
            print("before", cur.fetchone()[0])
            p.add_toxic(type="reset_peer", attributes={"timeout": 0})
            print("toxics", sorted(p.toxics()))
            try:
                cur.execute("SELECT 2")
                print("after ok")
            except pymysql.err.OperationalError as e:
                print("error", e.args[0], e.args[1])
            p.destroy_toxic("reset_peer_downstream")
            c = pymysql.connect(host=host, port=int(port), user="root", password="", read_timeout=5)
            cur = c.cursor()
            cur.execute("SELECT 3")
            print("recovered", cur.fetchone()[0])
            with p.down():
                try:
                    pymysql.connect(host=host, port=int(port), user="root", password="", connect_timeout=2)
                    print("down but connected")
                except pymysql.err.OperationalError as e:
                    print("down", e.args[0])
            server.reset()
            p.destroy()
            print("proxies left", len(server.proxies()))
            """
        let (status, text) = try await run(["python3", "-c", script])
        let (exit, log) = proxy.stop()
        #expect(status == 0, "\(text)")
        #expect(text.contains("before 1"), "\(text)")
        #expect(text.contains("toxics ['reset_peer_downstream']"), "\(text)")
        // PyMySQL's words for a reset mid-query: 2013 Lost connection … (Connection reset by peer).
        #expect(text.contains("error 2013") && text.contains("Connection reset by peer"), "\(text)")
        #expect(
            text.contains("recovered 3") && text.contains("down 2003") && text.contains("proxies left 0"), "\(text)")
        #expect(exit == 0)
        #expect(log.contains("cut reset by toxic reset_peer_downstream: client got rst"), "\(log)")
        #expect(log.contains("toxic reset_peer_downstream (reset_peer) added to mysql"), "\(log)")
    }

    @Test(
        "Node over plain HTTP: an idle_cut toxic cuts mysql2's idle connection, and GET /events says what it got",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"))
    func nodeDrivesIdleCut() async throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        let proxy = try APIProxy()
        let script = """
            const http = require('http');
            const mysql = require('mysql2');
            function call(method, path, body) {
              return new Promise((resolve, reject) => {
                const req = http.request({ host: '127.0.0.1', port: \(proxy.apiPort), method, path,
                  headers: { 'Content-Type': 'application/json' } }, (res) => {
                  let text = '';
                  res.on('data', (d) => { text += d; });
                  res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
                });
                req.on('error', reject);
                if (body) req.write(JSON.stringify(body));
                req.end();
              });
            }
            (async () => {
              const made = await call('POST', '/proxies', { name: 'mysql', upstream: '\(session.endpoint.hostPort)' });
              console.log('created', made.status);
              const [host, port] = made.body.listen.split(':');
              const toxic = await call('POST', '/proxies/mysql/toxics',
                { type: 'idle_cut', attributes: { idle: 1000, mode: 'half-open' } });
              console.log('toxic', toxic.status, toxic.body.name, toxic.body.attributes.mode);
              const c = mysql.createConnection({ host, port: Number(port), user: 'root', password: '' });
              c.on('error', () => {});
              const query = (sql) => new Promise((resolve) => c.query(sql, (err, rows) => resolve(err || rows)));
              console.log('first', JSON.stringify(await query('SELECT 1 AS one')));
              await new Promise((r) => setTimeout(r, 1600));
              const second = await query('SELECT 2');
              console.log('second', second.code || 'ok', second.message || '');
              // The flow's close is recorded on the proxy's event loop once the RST is out: the client can see
              // the RST first. Asked again for up to 5 s.
              let events;
              for (let i = 0; i < 50; i++) {
                events = await call('GET', '/events');
                if (events.body.events.some((e) => e.event === 'close')) break;
                await new Promise((r) => setTimeout(r, 100));
              }
              const cut = events.body.events.find((e) => e.event === 'cut');
              console.log('cut', cut.mode, cut.toxic, cut.client_received);
              const close = events.body.events.find((e) => e.event === 'close');
              console.log('close', close ? close.client_received : 'not recorded within 5 s');
              c.destroy();
            })().catch((e) => { console.log('failed', e.stack); process.exit(1); });
            """
        let (status, text) = try await run(["node", "-e", script])
        let (exit, _) = proxy.stop()
        #expect(status == 0, "\(text)")
        #expect(text.contains("created 201") && text.contains("toxic 200 idle_cut_downstream half-open"), "\(text)")
        #expect(text.contains(#"first [{"one":1}]"#), "\(text)")
        // A forgotten flow: silence at the cut, RST for the next query.
        #expect(text.contains("second ECONNRESET"), "\(text)")
        #expect(text.contains("cut half-open idle_cut_downstream NONE"), "\(text)")
        #expect(text.contains("close RST"), "\(text)")
        #expect(exit == 0)
    }

    @Test("--api refuses the cut options of the plain proxy, a bad --api address and a taken port, with one line each")
    func apiUsageErrors() async throws {
        let (status, text) = try await run([
            ReproBinary.path, "proxy", "--api", "127.0.0.1:0", "--mode", "reset", "--after-idle", "1",
        ])
        #expect(status == 2 && text.contains("--mode does not go with --api"), "\(text)")
        let (missing, words) = try await run([ReproBinary.path, "proxy"])
        #expect(missing == 2 && words.contains("missing --upstream"), "\(words)")
        let (bad, badWords) = try await run([ReproBinary.path, "proxy", "--api", "nowhere"])
        #expect(bad == 2 && badWords.contains("is not host:port"), "\(badWords)")
        // A taken API port: exit 3, one line naming it and the fix.
        let first = try APIProxy()
        let (taken, takenWords) = try await run([ReproBinary.path, "proxy", "--api", "127.0.0.1:\(first.apiPort)"])
        _ = first.stop()
        #expect(taken == 3, "\(takenWords)")
        #expect(
            takenWords.contains("cannot serve the API on 127.0.0.1:\(first.apiPort)")
                && takenWords.contains("pick a free port with --api"), "\(takenWords)")
    }
}
