import Foundation
import ReproKit
import Testing

/// A loopback port nobody listens on right now.
func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

let pymysqlAvailable: Bool = {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import pymysql"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}()

@Suite("repro proxy in front of a client that is not ours")
struct ProxyCommandTests {
    @Test(
        "PyMySQL through `repro proxy --after-idle` sees the idle cut; SIGTERM exits 0",
        .enabled(if: serverAvailable, "mariadbd not installed: run `make setup`"),
        .enabled(
            if: pymysqlAvailable || ProcessInfo.processInfo.environment["REPRO_REQUIRE_SERVER"] == "1",
            "PyMySQL not installed: run `make setup`"))
    func pymysqlSeesIdleCut() throws {
        let session = try ReproSession.open(dsn: nil)
        defer { session.close() }
        let port = freeLoopbackPort()
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: ReproBinary.path)
        proxy.arguments = [
            "proxy", "--listen", "127.0.0.1:\(port)", "--upstream", session.endpoint.hostPort, "--mode", "reset",
            "--after-idle", "1",
        ]
        let log = Pipe()
        proxy.standardOutput = log
        proxy.standardError = FileHandle.nullDevice
        try proxy.run()
        defer { if proxy.isRunning { proxy.terminate() } }
        let script = """
            import pymysql, time, sys
            for attempt in range(50):
                try:
                    c = pymysql.connect(host="127.0.0.1", port=\(port), user="root", password="", read_timeout=5)
                    break
                except pymysql.err.OperationalError:
                    time.sleep(0.1)
            cur = c.cursor()
            cur.execute("SELECT 1")
            print("first", cur.fetchone()[0])
            time.sleep(1.6)
            try:
                cur.execute("SELECT 1")
                print("second ok")
            except pymysql.err.OperationalError as e:
                print("error", e.args[0])
            """
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", script]
        let out = Pipe()
        python.standardOutput = out
        python.standardError = out
        try python.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        #expect(text.contains("first 1"), "\(text)")
        let code = text.split(separator: "\n").first { $0.hasPrefix("error ") }.map { String($0.dropFirst(6)) }
        #expect(code == "2006" || code == "2013", "PyMySQL output: \(text)")
        proxy.terminate()
        proxy.waitUntilExit()
        #expect(proxy.terminationStatus == 0)
        let lines = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(lines.contains("flow 1 open"))
        #expect(lines.contains("flow 1 cut reset: client got rst"))
        #expect(lines.contains("stopped"))
    }

    @Test(
        "proxy usage errors exit 2",
        arguments: [
            (["proxy", "--upstream", "nohost"], "not host:port"),
            (["proxy", "--upstream", "127.0.0.1:3306", "--after-idle", "5"], "needs --mode"),
            (["proxy", "--upstream", "127.0.0.1:3306", "--mode", "snip"], "'snip'"),
            (["proxy", "--upstream", "127.0.0.1:99999"], "out of range"),
        ])
    func usage(arguments: [String], mention: String) throws {
        let out = try ReproBinary.run(arguments)
        #expect(out.status == 2)
        #expect(out.stderr.contains(mention), "\(out.stderr)")
    }
}
