/// One toxic of the Toxiproxy-compatible API (`repro proxy --api`): a condition a proxy applies to its flows while
/// the toxic is present, in one direction (`stream`) and to a share of the flows (`toxicity`).
///
/// Toxiproxy's own types keep its names, attributes and meaning (its `toxics/*.go`); `halfOpen` and `idleCut` are
/// repro's: the middlebox that forgot a flow, and a middlebox's idle timeout. `docs/proxy-api.md` says what differs.
public struct Toxic: Sendable, Equatable {
    /// Which direction a toxic acts on: `upstream` is client → server, `downstream` server → client.
    public enum Stream: String, Sendable, Equatable {
        case upstream, downstream
    }

    /// What the toxic does, with its attributes (milliseconds and bytes, as Toxiproxy's JSON has them).
    public enum Kind: Sendable, Equatable {
        /// Each chunk waits `latency` ± `jitter` ms before it is passed on.
        case latency(milliseconds: Int, jitter: Int)
        /// Nothing passes; after `milliseconds` (0 = never) the flow is closed. Removing the toxic closes the flows
        /// it held, as Toxiproxy's does.
        case timeout(milliseconds: Int)
        /// The first chunk after the toxic is applied is swallowed and, `milliseconds` later, both sides are reset.
        case resetPeer(milliseconds: Int)
        /// A peer's close is passed on `milliseconds` late.
        case slowClose(milliseconds: Int)
        /// After `bytes` have passed this way, the flow is closed.
        case limitData(bytes: Int)
        /// The flows open when the toxic is added are forgotten: their upstream is dropped silently and each client's
        /// next bytes are answered with RST. Flows opened later pass.
        case halfOpen
        /// A middlebox idle timeout: while the toxic is present, a flow that carried nothing for `milliseconds` is cut
        /// with `mode`.
        case idleCut(milliseconds: Int, mode: CutMode)

        /// The `type` of the JSON.
        public var typeName: String {
            switch self {
            case .latency: "latency"
            case .timeout: "timeout"
            case .resetPeer: "reset_peer"
            case .slowClose: "slow_close"
            case .limitData: "limit_data"
            case .halfOpen: "half_open"
            case .idleCut: "idle_cut"
            }
        }
    }

    public var name: String
    public var kind: Kind
    public var stream: Stream
    /// The chance, 0 to 1, that the toxic applies to a given flow (drawn per flow when the toxic reaches it).
    public var toxicity: Double

    public init(name: String, kind: Kind, stream: Stream = .downstream, toxicity: Double = 1) {
        self.name = name
        self.kind = kind
        self.stream = stream
        self.toxicity = toxicity
    }

    /// Toxiproxy's types that repro does not implement (they shape bandwidth, not connection failures).
    public static let unimplementedTypes = ["bandwidth", "slicer"]
    /// Every type the API accepts.
    public static let typeNames = [
        "latency", "timeout", "reset_peer", "slow_close", "limit_data", "half_open", "idle_cut",
    ]
    /// The longest time attribute, milliseconds (a day, as `repro proxy`'s timers).
    public static let maxMilliseconds = 86_400_000
}

/// A refusal the API answers with: Toxiproxy's `{"error": …, "status": …}` body and its HTTP status.
public struct ToxiproxyError: Error, Sendable, Equatable {
    public var message: String
    public var status: Int

    public init(_ message: String, status: Int) {
        self.message = message
        self.status = status
    }

    static func badBody(_ detail: String) -> ToxiproxyError {
        ToxiproxyError("bad request body: \(detail)", status: 400)
    }
    static func missingField(_ field: String) -> ToxiproxyError {
        ToxiproxyError("missing required field: \(field)", status: 400)
    }
    static let proxyNotFound = ToxiproxyError("proxy not found", status: 404)
    static let proxyExists = ToxiproxyError("proxy already exists", status: 409)
    static let invalidStream = ToxiproxyError(
        "stream was invalid, can be either upstream or downstream", status: 400)
    static let toxicExists = ToxiproxyError("toxic already exists", status: 409)
    static let toxicNotFound = ToxiproxyError("toxic not found", status: 404)
    static func invalidType(_ type: String) -> ToxiproxyError {
        if Toxic.unimplementedTypes.contains(type) {
            return ToxiproxyError(
                "invalid toxic type: \(type) is a Toxiproxy toxic repro does not implement (see docs/proxy-api.md)",
                status: 400)
        }
        return ToxiproxyError(
            "invalid toxic type: use one of \(Toxic.typeNames.joined(separator: ", "))", status: 400)
    }
}

extension Toxic {
    /// Decodes a toxic as `POST /proxies/{name}/toxics` receives it: `stream` defaults to downstream, `toxicity` to 1,
    /// `name` to `type_stream`; attributes missing are 0, as in Toxiproxy; unknown keys are ignored.
    public static func decode(_ body: JSONValue) throws(ToxiproxyError) -> Toxic {
        guard let object = body.object else { throw .badBody("expected a JSON object") }
        let streamText: String
        switch object["stream"] {
        case nil, .null?: streamText = "downstream"
        case .string(let text)?: streamText = text
        default: throw .badBody("stream must be a string")
        }
        guard let stream = Stream(rawValue: streamText) else { throw .invalidStream }
        let type: String
        switch object["type"] {
        case .string(let text)?: type = text
        case nil, .null?: type = ""
        default: throw .badBody("type must be a string")
        }
        let name: String
        switch object["name"] {
        case nil, .null?: name = "\(type)_\(stream.rawValue)"
        case .string(let text)? where text.isEmpty: name = "\(type)_\(stream.rawValue)"
        case .string(let text)?: name = text
        default: throw .badBody("name must be a string")
        }
        let toxicity = try decodeToxicity(object["toxicity"], default: 1)
        guard typeNames.contains(type) else { throw .invalidType(type) }
        let kind = try decodeKind(type: type, attributes: object["attributes"], current: nil)
        return Toxic(name: name, kind: kind, stream: stream, toxicity: toxicity)
    }

    /// Applies `POST /proxies/{name}/toxics/{toxic}`: attributes given replace the current ones, the others stay;
    /// `toxicity` stays unless given.
    public func updated(with body: JSONValue) throws(ToxiproxyError) -> Toxic {
        guard let object = body.object else { throw .badBody("expected a JSON object") }
        var copy = self
        copy.toxicity = try Self.decodeToxicity(object["toxicity"], default: toxicity)
        copy.kind = try Self.decodeKind(type: kind.typeName, attributes: object["attributes"], current: kind)
        return copy
    }

    private static func decodeToxicity(_ value: JSONValue?, default fallback: Double) throws(ToxiproxyError)
        -> Double
    {
        switch value {
        case nil, .null?: return fallback
        case .number(let number)? where (0...1).contains(number): return number
        default: throw .badBody("toxicity must be a number from 0 to 1")
        }
    }

    private static func decodeKind(type: String, attributes: JSONValue?, current: Kind?) throws(ToxiproxyError)
        -> Kind
    {
        let given: [String: JSONValue]
        switch attributes {
        case nil, .null?: given = [:]
        case .object(let object)?: given = object
        default: throw .badBody("attributes must be a JSON object")
        }
        // The current value of an attribute (an update keeps what it does not name), else 0 as Toxiproxy's zero value.
        func number(_ key: String, _ now: Int, positive: Bool = false) throws(ToxiproxyError) -> Int {
            guard let value = given[key], !value.isNull else {
                if positive && now <= 0 { throw .badBody("attributes.\(key) is required: a number above 0") }
                return now
            }
            let limit = key == "bytes" ? Int(Int32.max) : maxMilliseconds
            let unit = key == "bytes" ? "bytes" : "milliseconds"
            guard let int = value.int, (positive ? 1 : 0)...limit ~= int else {
                throw .badBody(
                    "attributes.\(key) must be a whole number of \(unit), \(positive ? "above 0" : "0 or more"), at most \(limit)"
                )
            }
            return int
        }
        switch type {
        case "latency":
            var (latency, jitter) = (0, 0)
            if case .latency(let l, let j)? = current { (latency, jitter) = (l, j) }
            return .latency(milliseconds: try number("latency", latency), jitter: try number("jitter", jitter))
        case "timeout":
            var now = 0
            if case .timeout(let t)? = current { now = t }
            return .timeout(milliseconds: try number("timeout", now))
        case "reset_peer":
            var now = 0
            if case .resetPeer(let t)? = current { now = t }
            return .resetPeer(milliseconds: try number("timeout", now))
        case "slow_close":
            var now = 0
            if case .slowClose(let t)? = current { now = t }
            return .slowClose(milliseconds: try number("delay", now))
        case "limit_data":
            var now = 0
            if case .limitData(let b)? = current { now = b }
            return .limitData(bytes: try number("bytes", now))
        case "half_open":
            return .halfOpen
        case "idle_cut":
            var (idle, mode) = (0, CutMode.halfOpen)
            if case .idleCut(let i, let m)? = current { (idle, mode) = (i, m) }
            switch given["mode"] {
            case nil, .null?: break
            case .string(let text)?:
                guard let parsed = CutMode(rawValue: text) else {
                    throw .badBody(
                        "attributes.mode must be one of \(CutMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                mode = parsed
            default:
                throw .badBody("attributes.mode must be a string")
            }
            return .idleCut(milliseconds: try number("idle", idle, positive: true), mode: mode)
        default:
            throw .invalidType(type)
        }
    }

    /// The toxic as Toxiproxy writes it: every attribute of its type, zero values included.
    public var json: JSONValue {
        let attributes: [String: JSONValue]
        switch kind {
        case .latency(let latency, let jitter):
            attributes = ["latency": .number(Double(latency)), "jitter": .number(Double(jitter))]
        case .timeout(let ms), .resetPeer(let ms): attributes = ["timeout": .number(Double(ms))]
        case .slowClose(let ms): attributes = ["delay": .number(Double(ms))]
        case .limitData(let bytes): attributes = ["bytes": .number(Double(bytes))]
        case .halfOpen: attributes = [:]
        case .idleCut(let ms, let mode): attributes = ["idle": .number(Double(ms)), "mode": .string(mode.rawValue)]
        }
        return .object([
            "attributes": .object(attributes), "name": .string(name), "type": .string(kind.typeName),
            "stream": .string(stream.rawValue), "toxicity": .number(toxicity),
        ])
    }
}
