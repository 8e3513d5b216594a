import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("driver errors and the adapter protocol, without a server")
struct DriverUnitTests {
    @Test(
        "measured driver messages classify into comparable kinds",
        arguments: [
            (nil, "ECONNRESET", "read ECONNRESET", ErrorKind.reset),
            (nil, "PROTOCOL_CONNECTION_LOST", "Connection lost: The server closed the connection.", .lost),
            (nil, "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR", "Cannot enqueue Query after fatal error.", .usedAfterFatal),
            (nil, nil, "Can't add new command when connection is in closed state", .usedAfterFatal),
            (nil, "ErrInvalidConn", "invalid connection", .lost),
            (nil, "ErrConnDone", "sql: connection is already closed", .usedAfterFatal),
            (0, nil, "(conn=22) unexpected end of stream, read 0 bytes from 4 (socket was closed by server)", .lost),
            (nil, "PROTOCOL_SEQUENCE_TIMEOUT", "Query inactivity timeout", .timeout),
            (
                2013, "e3q8", "(pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server during query')",
                .lost
            ),
            (2006, nil, "MySQL server has gone away", .goneAway),
            (111, nil, "dial tcp 127.0.0.1:1: connect: connection refused", .refused),
            (-4, nil, "no answer within 10 s", .hung),
            (1927, nil, "Connection was killed", .killed),
            (nil, nil, "You have an error in your SQL syntax", .other),
        ] as [(Int?, String?, String, ErrorKind)])
    func classify(errno: Int?, code: String?, message: String, kind: ErrorKind) {
        #expect(ErrorKind.classify(errno: errno, code: code, message: message) == kind)
    }

    @Test("a protocol line round-trips, whole numbers go out as integers")
    func jsonLine() throws {
        let value = JSONValue.object([
            "id": .number(3), "op": .string("run"), "ms": .number(1.5), "held": .bool(false), "db": .null,
            "list": .array([.string("a\nb")]),
        ])
        let line = value.line()
        #expect(line.last == 0x0A)
        #expect(!line.dropLast().contains(0x0A), "one line, no newline inside")
        #expect(String(decoding: line, as: UTF8.self).contains("\"id\":3"))
        #expect(JSONValue.parse(line) == value)
        #expect(JSONValue.parse(Data("not json".utf8)) == nil)
    }

    @Test("the adapter's environment carries no DSN or password variables, and a library path only when given")
    func childEnvironment() {
        let base = [
            "REPRO_DSN": "mysql://u:pw@h/db", "MYSQL_PWD": "pw", "PATH": "/bin", "NODE_PATH": "/y",
            "REPRO_LIBRARY_PATH": "/inherited",
        ]
        let env = AdapterCatalog.childEnvironment(nodePath: "/x/node_modules", base: base)
        #expect(!env.contains { $0.contains("pw") })
        #expect(env.contains("NODE_PATH=/x/node_modules:/y"))
        #expect(env.contains("PATH=/bin"))
        #expect(!env.contains { $0.hasPrefix("REPRO_LIBRARY_PATH=") }, "an inherited one would pick a release unasked")
        let pinned = AdapterCatalog.childEnvironment(nodePath: nil, libraryPath: "/a.jar:/b.jar", base: base)
        #expect(pinned.contains("REPRO_LIBRARY_PATH=/a.jar:/b.jar"))
    }

    @Test("an error from a driver keeps its verbatim fields and takes its MySQL number as the code")
    func driverErrorRecord() {
        let log = EventLog()
        let detail = DriverErrorDetail(
            errorClass: "sqlalchemy.exc.OperationalError", code: "e3q8", errno: 2013, message: "(2013, 'Lost')")
        let observed = log.record(driverError: detail, phase: .query, handledBy: nil, operation: 1)
        #expect(observed.error.code == .serverLost)
        #expect(observed.driver == detail)
        let node = log.record(
            driverError: DriverErrorDetail(
                errorClass: "Error", code: "ECONNRESET", errno: -104, message: "read ECONNRESET"),
            phase: .query, handledBy: nil, operation: 2)
        #expect(node.error.code == .driverError)
        #expect(node.kind == .reset)
        #expect(node.label == "ECONNRESET (reset)")
    }
}
