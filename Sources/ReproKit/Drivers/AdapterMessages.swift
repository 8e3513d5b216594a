import Foundation

/// The adapter protocol's messages (docs/adapters.md "Operations"), typed. `AdapterProcess` routes lines by id and
/// event as `JSONValue`; everything that reads or writes a message's fields goes through these types. Fields an
/// adapter may leave out are optional: what the protocol requires of them is checked by `AdapterConformance`, not
/// by failing to decode.
public enum AdapterMessage {
    /// `hello`'s answer: who the adapter is and which option keys it takes.
    public struct Hello: Codable, Sendable, Equatable {
        public var `protocol`: Int?
        public var driver: String?
        public var driverVersion: String?
        public var pool: String?
        public var poolVersion: String?
        public var runtime: String?
        public var runtimeVersion: String?
        /// Every option key the adapter accepts, with its one-line description.
        public var options: [String: String]?

        public init(
            protocol: Int? = 1, driver: String?, driverVersion: String?, pool: String? = nil,
            poolVersion: String? = nil, runtime: String? = nil, runtimeVersion: String? = nil,
            options: [String: String]? = [:]
        ) {
            self.protocol = `protocol`
            self.driver = driver
            self.driverVersion = driverVersion
            self.pool = pool
            self.poolVersion = poolVersion
            self.runtime = runtime
            self.runtimeVersion = runtimeVersion
            self.options = options
        }

        /// The version a releases file's `hello field` names (`driverVersion`, `poolVersion`).
        public func version(field: String) -> String? {
            switch field {
            case "driverVersion": driverVersion
            case "poolVersion": poolVersion
            case "runtimeVersion": runtimeVersion
            default: nil
            }
        }

        /// The option keys, sorted.
        public var optionKeys: [String] { (options ?? [:]).keys.sorted() }
    }

    /// `open`'s request. The password travels here and only here (never logged: this type has no description).
    public struct Open: Encodable, Sendable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String
        public var database: String?
        public var poolSize: Int
        public var initSql: [String]
        public var options: [String: String]

        public init(target: AdapterTarget, poolSize: Int, initSql: [String], options: [String: String]) {
            host = target.host
            port = target.port
            user = target.user
            password = target.password
            database = target.database
            self.poolSize = poolSize
            self.initSql = initSql
            self.options = options
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(host, forKey: .host)
            try c.encode(port, forKey: .port)
            try c.encode(user, forKey: .user)
            try c.encode(password, forKey: .password)
            try c.encode(database, forKey: .database)  // null when there is none, as adapters expect
            try c.encode(poolSize, forKey: .poolSize)
            try c.encode(initSql, forKey: .initSql)
            try c.encode(options, forKey: .options)
        }

        enum CodingKeys: String, CodingKey { case host, port, user, password, database, poolSize, initSql, options }
    }

    /// The error object of a failed answer: a usage refusal (`usage: true`), or what the application caught.
    public struct ErrorObject: Codable, Sendable, Equatable {
        public var usage: Bool?
        public var errorClass: String?
        /// The library's symbolic code; a number an adapter sent there is kept as its text.
        public var code: String?
        public var errno: Int?
        public var sqlState: String?
        public var message: String?
        public var fatal: Bool?
        public var phase: String?
        public var cause: String?

        enum CodingKeys: String, CodingKey {
            case usage, errorClass = "class", code, errno, sqlState, message, fatal, phase, cause
        }

        public init(usage: Bool? = nil, errorClass: String? = nil, message: String?, phase: String? = nil) {
            self.usage = usage
            self.errorClass = errorClass
            self.message = message
            self.phase = phase
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            usage = try c.decodeIfPresent(Bool.self, forKey: .usage)
            errorClass = try c.decodeIfPresent(String.self, forKey: .errorClass)
            if let text = try? c.decodeIfPresent(String.self, forKey: .code) {
                code = text
            } else {
                code = (try? c.decodeIfPresent(Int.self, forKey: .code)).flatMap { $0.map(String.init) }
            }
            errno = try? c.decodeIfPresent(Int.self, forKey: .errno)
            sqlState = try? c.decodeIfPresent(String.self, forKey: .sqlState)
            message = try? c.decodeIfPresent(String.self, forKey: .message)
            fatal = try? c.decodeIfPresent(Bool.self, forKey: .fatal)
            phase = try? c.decodeIfPresent(String.self, forKey: .phase)
            cause = try? c.decodeIfPresent(String.self, forKey: .cause)
        }

        /// The error as the application saw it; nil when it has no message (not a driver error).
        public var detail: DriverErrorDetail? {
            guard let message else { return nil }
            return DriverErrorDetail(
                errorClass: errorClass ?? "unknown", code: code, errno: errno, sqlState: sqlState, message: message,
                fatal: fatal, cause: cause)
        }
    }

    /// An error the application code absorbed (`app.retryQuery` and the like), beside the operation's result.
    public struct Handled: Codable, Sendable, Equatable {
        public var by: String?
        public var error: ErrorObject?
    }

    /// What `app.followUp` did on the connection whose query failed.
    public struct FollowUp: Codable, Sendable, Equatable {
        public var ok: Bool?
        public var error: ErrorObject?
    }

    /// One operation's result: `run`'s answer, and each entry of `busy`'s and `collect`'s `results`.
    public struct RunResult: Codable, Sendable, Equatable {
        public var ok: Bool?
        public var ms: Double?
        public var error: ErrorObject?
        public var handled: [Handled]?
        public var followUp: FollowUp?
        /// repro's own pool in a child: how many attempts it made, and when it started (the run's clock).
        public var attempts: Int?
        public var atMs: Double?
        /// The server thread id of the connection that served the operation (or the last one tried); adapters
        /// that can read it without a query report it, so timelines get a lane per connection.
        public var threadId: UInt64?
    }

    /// Any answer's envelope: whether it succeeded and, when not, why.
    public struct Status: Codable, Sendable, Equatable {
        public var ok: Bool?
        public var error: ErrorObject?

        /// The refusal's message, or a placeholder.
        public var message: String { error?.message ?? "no message" }
    }

    /// `warm`'s answer.
    public struct Warmed: Codable, Sendable, Equatable {
        public var threadIds: [UInt64]?
    }

    /// `hold`'s answer.
    public struct Held: Codable, Sendable, Equatable {
        public var threadId: UInt64?
    }

    /// `busy`'s and `collect`'s answer.
    public struct Results: Codable, Sendable, Equatable {
        public var results: [RunResult]?
    }

    /// A line with no id: something the pool or driver did on its own.
    public struct Event: Sendable, Equatable {
        public var kind: String?
        public var message: String?
        /// Every other field, as sent.
        public var fields: [String: JSONValue]

        public init(_ line: JSONValue) {
            var object = line.object ?? [:]
            kind = object.removeValue(forKey: "event")?.string
            message = object.removeValue(forKey: "message")?.string
            fields = object
        }

        /// The event as one timeline line: its kind and verbatim message, then the other fields that are set.
        public var description: String {
            let rest = fields.keys.sorted().compactMap { key -> String? in
                guard let v = fields[key], !v.isNull else { return nil }
                return "\(key)=\(v.string ?? AdapterPool.describe(v))"
            }
            return
                ([(kind ?? "event") + (message.map { ": \($0)" } ?? "")]
                + (rest.isEmpty ? [] : ["(\(rest.joined(separator: ", ")))"]))
                .joined(separator: " ")
        }
    }
}

extension JSONValue {
    /// This value read as `type`; the decoding error's text when it does not fit.
    public func decoded<T: Decodable>(as type: T.Type) -> Result<T, DecodingFailure> {
        do {
            var line = self.line()
            line.removeLast()
            return .success(try JSONDecoder().decode(type, from: line))
        } catch {
            return .failure(DecodingFailure(reason: Self.reason(error)))
        }
    }

    /// `value` as a protocol value (an object for a struct).
    public init<T: Encodable>(encoding value: T) {
        self = (try? JSONEncoder().encode(value)).flatMap(JSONValue.parse) ?? .null
    }

    /// Why a line did not decode, in one line: the field and what was wrong with it.
    static func reason(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the message" : "'\(keys.joined(separator: "."))'"
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context)) is not \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)) is null, expected \(type)"
        case .keyNotFound(let key, _): return "'\(key.stringValue)' is missing"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// A protocol line whose fields do not have the types the protocol gives them.
public struct DecodingFailure: Error, Sendable, Equatable {
    public var reason: String
}
