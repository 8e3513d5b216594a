import ReproKit
import ReproTestSupport
import Testing

@Suite("ServerEndpoint DSN parsing", .ownThreads)
struct ServerEndpointTests {
    @Test func parsesAFullDSN() throws {
        let endpoint = try ServerEndpoint(dsn: "mysql://app:secret@db.example.com:3307/shop")
        #expect(endpoint.host == "db.example.com")
        #expect(endpoint.port == 3307)
        #expect(endpoint.user == "app")
        #expect(endpoint.password == "secret")
        #expect(endpoint.database == "shop")
        #expect(endpoint.unixSocket == nil)
        #expect(endpoint.managed == false)
        #expect(endpoint.hostPort == "db.example.com:3307")
        #expect(endpoint.redactedDSN == "mysql://app:***@db.example.com:3307/shop")
    }

    @Test func acceptsTheMariadbSchemeInAnyCase() throws {
        let endpoint = try ServerEndpoint(dsn: "MariaDB://app@host/db")
        #expect(endpoint.host == "host")
        #expect(endpoint.database == "db")
    }

    @Test func defaultsPortUserAndDatabase() throws {
        let endpoint = try ServerEndpoint(dsn: "mysql://localhost")
        #expect(endpoint.port == 3306)
        #expect(endpoint.user == "root")
        #expect(endpoint.password == "")
        #expect(endpoint.database == nil)
        #expect(endpoint.redactedDSN == "mysql://root@localhost:3306")
        #expect(try ServerEndpoint(dsn: "mysql://u@h/").database == nil)
    }

    @Test func percentDecodesUserAndPassword() throws {
        let endpoint = try ServerEndpoint(dsn: "mysql://me%40corp:p%40ss%3Aw%2Frd%25@h:3306/db")
        #expect(endpoint.user == "me@corp")
        #expect(endpoint.password == "p@ss:w/rd%")
        #expect(endpoint.redactedDSN == "mysql://me%40corp:***@h:3306/db")
    }

    @Test func toleratesUnencodedAtAndSlashInThePassword() throws {
        let endpoint = try ServerEndpoint(dsn: "mysql://u:p@s/s@h:3306/db")
        #expect(endpoint.password == "p@s/s")
        #expect(endpoint.host == "h")
        #expect(endpoint.database == "db")
    }

    @Test func parsesBracketedIPv6() throws {
        let endpoint = try ServerEndpoint(dsn: "mysql://root:pw@[::1]:3307/db")
        #expect(endpoint.host == "::1")
        #expect(endpoint.port == 3307)
        #expect(endpoint.hostPort == "[::1]:3307")
        #expect(endpoint.redactedDSN == "mysql://root:***@[::1]:3307/db")
        #expect(try ServerEndpoint(dsn: "mysql://[fe80::1]").port == 3306)
    }

    @Test func readsTheSocketParameter() throws {
        let endpoint = try ServerEndpoint(dsn: "mysql://root@localhost/db?socket=%2Frun%2Fmysqld%2Fmysqld.sock")
        #expect(endpoint.unixSocket == "/run/mysqld/mysqld.sock")
    }

    static let password = "Zq9-UnLikelyPassw0rd"

    @Test(
        "every malformed DSN names its problem and never the password",
        arguments: [
            ("postgres://u:\(password)@h/db", DSNError.Code.unsupportedScheme),
            ("u:\(password)@h:3306/db", .unsupportedScheme),
            ("mysql://u:\(password)@/db", .missingHost),
            ("mysql://u:\(password)@:3306/db", .missingHost),
            ("mysql://u:\(password)@h:99999/db", .invalidPort),
            ("mysql://u:\(password)@h:0/db", .invalidPort),
            ("mysql://u:\(password)@h:abc/db", .invalidPort),
            ("mysql://u:\(password)@h:/db", .invalidPort),
            ("mysql://u:\(password)h:3306/db", .invalidIPv6),
            ("mysql://u@h:\(password)", .invalidPort),
            ("mysql://u:\(password)@::1/db", .invalidIPv6),
            ("mysql://u:\(password)@[::1/db", .invalidIPv6),
            ("mysql://u:\(password)@[::1]x/db", .invalidIPv6),
            ("mysql://u:\(password)%zz@h/db", .invalidPercentEncoding),
            ("mysql://u:\(password)@h/db/extra", .invalidDatabase),
            ("mysql://u:\(password)@h/db?password=\(password)", .unsupportedParameter),
            ("mysql://u:ab?\(password)@h:99999", .invalidPort),
            ("mysql://u:ab/?\(password)@h/db/extra", .invalidDatabase),
        ])
    func rejectsMalformedDSN(dsn: String, code: DSNError.Code) {
        let error = #expect(throws: DSNError.self) { try ServerEndpoint(dsn: dsn) }
        #expect(error?.code == code)
        let shown = [error?.message, error.map { "\($0)" }, error.map { String(reflecting: $0) }]
        for text in shown.compactMap({ $0 }) {
            #expect(!text.contains(Self.password))
            #expect(!text.contains("\n"))
        }
        #expect(error?.message.contains("mysql://") == true || error?.message.contains("DSN") == true)
    }

    @Test func badPortMessageNamesTheFix() {
        let error = #expect(throws: DSNError.self) { try ServerEndpoint(dsn: "mysql://u:\(Self.password)@h:70000/db") }
        #expect(
            error?.message
                == "DSN port must be a number from 1 to 65535; DSN must look like mysql://user:password@host:port/database"
        )
    }

    @Test("an unencoded ? or / in the password stays in the password")
    func unencodedQuestionMarkInPassword() throws {
        let endpoint = try ServerEndpoint(dsn: "mysql://u:ab?\(Self.password)@127.0.0.1:3306")
        #expect(endpoint.password == "ab?\(Self.password)")
        #expect(endpoint.host == "127.0.0.1" && endpoint.port == 3306)
        let slashed = try ServerEndpoint(dsn: "mysql://u:a/b?c\(Self.password)@h:3307/db?socket=/tmp/s.sock")
        #expect(slashed.password == "a/b?c\(Self.password)")
        #expect(slashed.database == "db" && slashed.unixSocket == "/tmp/s.sock")
    }

    @Test func passwordNeverAppearsInAnyRendering() throws {
        let endpoint = try ServerEndpoint(dsn: "mysql://app:\(Self.password)@h:3306/db")
        #expect(endpoint.password == Self.password)
        for text in [endpoint.redactedDSN, "\(endpoint)", String(reflecting: endpoint), endpoint.hostPort] {
            #expect(!text.contains(Self.password))
        }
    }

    @Test("a connect failure to the embedded server does not ask whether the server is running")
    func embeddedConnectMessage() {
        let refused = DatabaseError(code: .connHostError, sqlState: "HY000", message: "Can't connect (111)")
        let embedded = ScenarioRunner(endpoint: ServerEndpoint(host: "127.0.0.1", port: 4000, managed: true))
        let message = embedded.environmentError(refused).message
        #expect(message.hasPrefix("cannot connect to the embedded server at 127.0.0.1:4000"), "\(message)")
        #expect(!message.contains("is the server running"))
        let external = ScenarioRunner(endpoint: ServerEndpoint(host: "127.0.0.1", port: 4000))
        #expect(external.environmentError(refused).message.contains("is the server running and reachable?"))
    }
}
