import Foundation
import ReproTestSupport
import Testing

@testable import ReproKit

@Suite("Error codes")
struct DatabaseErrorTests {
    @Test(
        "codes map to their symbolic names",
        arguments: [
            (2006, "CR_SERVER_GONE_ERROR"), (2013, "CR_SERVER_LOST"), (1927, "ER_CONNECTION_KILLED"),
            (4031, "ER_CLIENT_INTERACTION_TIMEOUT"), (2003, "CR_CONN_HOST_ERROR"), (1045, "ER_ACCESS_DENIED_ERROR"),
            (1317, "ER_QUERY_INTERRUPTED"), (2026, "CR_SSL_CONNECTION_ERROR"), (5013, "CR_ERR_NET_READ"),
        ])
    func names(code: Int, name: String) {
        #expect(DatabaseError.Code(code).name == name)
        #expect(DatabaseError.Code(parsing: name) == DatabaseError.Code(code))
        #expect(DatabaseError.Code(parsing: name.lowercased()) == DatabaseError.Code(code))
        #expect(DatabaseError.Code(parsing: "\(code)") == DatabaseError.Code(code))
    }

    @Test("an unknown number still gets a name; nonsense does not parse")
    func unknown() {
        #expect(DatabaseError.Code(9999).name == "ERROR_9999")
        #expect(DatabaseError.Code(parsing: "SERVER_HAS_GONE") == nil)
    }

    @Test("connection-level errors are the ones a pool must destroy for")
    func connectionLevel() {
        for code in [2006, 2013, 1927, 4031, 2003, 2055] {
            #expect(DatabaseError(code: .init(code), sqlState: "HY000", message: "").isConnectionLevel, "\(code)")
        }
        #expect(!DatabaseError(code: .init(1064), sqlState: "42000", message: "").isConnectionLevel)
        #expect(!DatabaseError(code: .init(1146), sqlState: "42S02", message: "").isConnectionLevel)
        #expect(DatabaseError(code: .init(1234), sqlState: "08S01", message: "").isConnectionLevel)
    }

    @Test("JSON carries code, name, sqlstate and message, and reads back")
    func json() throws {
        let e = DatabaseError(code: .serverLost, sqlState: "HY000", message: "Lost connection to server during query")
        let data = try JSONEncoderForTests.encode(e)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"name\":\"CR_SERVER_LOST\""))
        #expect(text.contains("\"code\":2013"))
        #expect(try JSONDecoder().decode(DatabaseError.self, from: data) == e)
    }
}
