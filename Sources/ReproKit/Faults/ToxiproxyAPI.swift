import Foundation
import Synchronization

/// One HTTP request as the API sees it.
public struct APIRequest: Sendable {
    public var method: String
    /// The request target: path and query, percent-encoded as sent.
    public var target: String
    public var body: [UInt8]
    public var userAgent: String?

    public init(method: String, target: String, body: [UInt8] = [], userAgent: String? = nil) {
        self.method = method
        self.target = target
        self.body = body
        self.userAgent = userAgent
    }
}

/// One HTTP response.
public struct APIResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String?
    public var body: String

    public init(status: Int, contentType: String? = nil, body: String = "") {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// The body decoded as JSON (nil when it is not JSON).
    public var json: JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8))
    }
}

/// The Toxiproxy HTTP API over repro's fault proxy (`repro proxy --api`): the routes, status codes, JSON shapes and
/// error bodies of Toxiproxy 2 (its `api.go`), a proxy per name, each a `FaultProxy` while enabled, its toxics put in
/// force on its flows; plus repro's own `half_open` and `idle_cut` toxics and `GET /events`, what each client got.
///
/// `ToxiproxyHTTPServer` hands requests over one at a time, so every answer reflects the requests before it; a toxic
/// is in force on every open flow when its `POST` is answered.
public final class ToxiproxyAPI: Sendable {
    /// The most events kept; older ones are dropped (the answer counts them).
    public static let maxEvents = 10_000
    /// The largest request body read, bytes.
    public static let maxBody = 1 << 20

    private struct Entry {
        var name: String
        var listen: HostPort
        var upstream: HostPort
        var enabled: Bool
        var toxics: [Toxic] = []
        var proxy: FaultProxy?
        /// Flows of this name's earlier runs (it was disabled, or its address changed): flow ids go on from there.
        var flowsBefore = 0

        var json: JSONValue {
            .object([
                "name": .string(name), "listen": .string(listen.description),
                "upstream": .string(upstream.description), "enabled": .bool(enabled),
                "toxics": .array(toxics.map(\.json)),
            ])
        }
    }

    private struct EventBuffer {
        var events: [JSONValue] = []
        var next = 1
        var dropped = 0
    }

    private let proxies = Mutex<[String: Entry]>([:])
    private let events = Mutex(EventBuffer())
    private let start = ContinuousClock.now
    private let version: String
    private let onEvent: @Sendable (_ proxy: String, _ event: FlowEvent) -> Void
    private let log: @Sendable (String) -> Void

    /// `onEvent` sees every flow event of every proxy (on a proxy's loop: return quickly); `log` gets one line per
    /// change a request made ("toxic latency_downstream added to mysql").
    public init(
        version: String = "repro \(ReproVersion.version)",
        onEvent: @escaping @Sendable (_ proxy: String, _ event: FlowEvent) -> Void = { _, _ in },
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.version = version
        self.onEvent = onEvent
        self.log = log
    }

    /// Stops every proxy (their flows are closed); the API answers on, with every proxy disabled.
    public func stopAll() {
        let running = proxies.withLock { entries in
            let running = entries.values.compactMap(\.proxy)
            for name in entries.keys { entries[name]?.proxy = nil }
            return running
        }
        for proxy in running { proxy.stop() }
    }

    /// Creates and enables a proxy, as `POST /proxies` does; returns the port it listens on.
    public func create(name: String, listen: HostPort, upstream: HostPort) throws(ToxiproxyError) -> Int {
        try proxies.withLock { entries throws(ToxiproxyError) in
            let entry = try add(&entries, name: name, listen: listen, upstream: upstream, enabled: true)
            return entry.listen.port
        }
    }

    // MARK: Routing

    /// Answers one request.
    public func handle(_ request: APIRequest) -> APIResponse {
        // Toxiproxy refuses browsers, so a web page cannot drive the proxy through the user's browser.
        if let agent = request.userAgent, agent.hasPrefix("Mozilla/") {
            return APIResponse(status: 403, contentType: "text/plain; charset=utf-8", body: "User agent not allowed\n")
        }
        let (path, query) = Self.split(request.target)
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            String($0).removingPercentEncoding ?? String($0)
        }
        let method = request.method == "PATCH" ? "POST" : request.method
        do throws(ToxiproxyError) {
            switch (parts.count, parts.first ?? "") {
            case (1, "version"):
                guard method == "GET" else { return Self.methodNotAllowed }
                return APIResponse(
                    status: 200, contentType: "application/json;charset=utf-8",
                    body: "{\"version\": \"\(version)\"}\n")
            case (1, "reset"):
                guard method == "POST" else { return Self.methodNotAllowed }
                try reset()
                return APIResponse(status: 204)
            case (1, "events"):
                guard method == "GET" else { return Self.methodNotAllowed }
                return try eventsAnswer(proxy: nil, query: query)
            case (1, "populate"):
                guard method == "POST" else { return Self.methodNotAllowed }
                return populate(try Self.body(request))
            case (1, "proxies"):
                switch method {
                case "GET": return Self.ok(.object(proxies.withLock { $0.mapValues(\.json) }))
                case "POST": return Self.ok(try createProxy(try Self.body(request)), status: 201)
                default: return Self.methodNotAllowed
                }
            case (2, "proxies"):
                let name = parts[1]
                switch method {
                case "GET": return Self.ok(try entry(name).json)
                case "POST": return Self.ok(try updateProxy(name, try Self.body(request)))
                case "DELETE":
                    try deleteProxy(name)
                    return APIResponse(status: 204)
                default: return Self.methodNotAllowed
                }
            case (3, "proxies") where parts[2] == "toxics":
                let name = parts[1]
                switch method {
                case "GET": return Self.ok(.array(try entry(name).toxics.map(\.json)))
                case "POST": return Self.ok(try addToxic(name, try Self.body(request)))
                default: return Self.methodNotAllowed
                }
            case (3, "proxies") where parts[2] == "events":
                guard method == "GET" else { return Self.methodNotAllowed }
                _ = try entry(parts[1])
                return try eventsAnswer(proxy: parts[1], query: query)
            case (4, "proxies") where parts[2] == "toxics":
                let (name, toxic) = (parts[1], parts[3])
                switch method {
                case "GET":
                    guard let found = try entry(name).toxics.first(where: { $0.name == toxic }) else {
                        throw .toxicNotFound
                    }
                    return Self.ok(found.json)
                case "POST": return Self.ok(try updateToxic(name, toxic, try Self.body(request)))
                case "DELETE":
                    try removeToxic(name, toxic)
                    return APIResponse(status: 204)
                default: return Self.methodNotAllowed
                }
            default:
                return APIResponse(status: 404, contentType: "text/plain; charset=utf-8", body: "404 page not found\n")
            }
        } catch {
            return Self.failure(error)
        }
    }

    private static let methodNotAllowed = APIResponse(status: 405)

    private static func ok(_ value: JSONValue, status: Int = 200) -> APIResponse {
        APIResponse(status: status, contentType: "application/json", body: text(value))
    }

    /// Toxiproxy's error answer: `{"error": …, "status": …}` and a newline, written by Go's `http.Error`.
    static func failure(_ error: ToxiproxyError) -> APIResponse {
        let body: JSONValue = .object(["error": .string(error.message), "status": .number(Double(error.status))])
        return APIResponse(status: error.status, contentType: "text/plain; charset=utf-8", body: text(body) + "\n")
    }

    private static func text(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    private static func split(_ target: String) -> (path: String, query: [String: String]) {
        guard let mark = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            query[kv[0]] = kv.count > 1 ? (kv[1].removingPercentEncoding ?? kv[1]) : ""
        }
        return (String(target[..<mark]), query)
    }

    private static func body(_ request: APIRequest) throws(ToxiproxyError) -> JSONValue {
        guard request.body.count <= maxBody else { throw .badBody("larger than \(maxBody) bytes") }
        guard !request.body.isEmpty else { throw .badBody("EOF") }
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(request.body))
        } catch {
            throw .badBody("not JSON")
        }
    }

    // MARK: Proxies

    private func entry(_ name: String) throws(ToxiproxyError) -> Entry {
        guard let found = proxies.withLock({ $0[name] }) else { throw .proxyNotFound }
        return found
    }

    private static func string(_ object: [String: JSONValue], _ key: String) throws(ToxiproxyError) -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw .badBody("\(key) must be a string")
        }
    }

    /// `host:port`; an empty host is every interface, as for Go's `net.Listen`.
    private static func address(_ text: String, field: String, allowZero: Bool) throws(ToxiproxyError) -> HostPort {
        let spelled = text.hasPrefix(":") ? "0.0.0.0" + text : text
        do {
            return try HostPort(parsing: spelled, allowZero: allowZero)
        } catch {
            throw .badBody("\(field) '\(text)' is not host:port (e.g. 127.0.0.1:\(allowZero ? "0" : "3306"))")
        }
    }

    private func createProxy(_ body: JSONValue) throws(ToxiproxyError) -> JSONValue {
        guard let object = body.object else { throw .badBody("expected a JSON object") }
        guard let name = try Self.string(object, "name"), !name.isEmpty else { throw .missingField("name") }
        guard let upstreamText = try Self.string(object, "upstream"), !upstreamText.isEmpty else {
            throw .missingField("upstream")
        }
        let upstream = try Self.address(upstreamText, field: "upstream", allowZero: false)
        let listen = try Self.address(
            try Self.string(object, "listen").flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1:0", field: "listen",
            allowZero: true)
        var enabled = true
        if let given = object["enabled"], !given.isNull {
            guard let flag = given.bool else { throw .badBody("enabled must be true or false") }
            enabled = flag
        }
        return try proxies.withLock { entries throws(ToxiproxyError) in
            try add(&entries, name: name, listen: listen, upstream: upstream, enabled: enabled).json
        }
    }

    private func add(
        _ entries: inout [String: Entry], name: String, listen: HostPort, upstream: HostPort, enabled: Bool
    ) throws(ToxiproxyError) -> Entry {
        guard entries[name] == nil else { throw .proxyExists }
        var entry = Entry(name: name, listen: listen, upstream: upstream, enabled: false)
        if enabled { try enable(&entry) }
        entries[name] = entry
        log("proxy \(name) created: \(entry.listen) -> \(upstream)\(enabled ? "" : " (disabled)")")
        return entry
    }

    /// Starts the entry's proxy on its listen address (the port it got stays its port, as in Toxiproxy).
    private func enable(_ entry: inout Entry) throws(ToxiproxyError) {
        guard !entry.enabled else { return }
        let name = entry.name
        let before = entry.flowsBefore
        let proxy = FaultProxy(
            upstreamHost: entry.upstream.host, upstreamPort: entry.upstream.port, listenHost: entry.listen.host,
            listenPort: entry.listen.port
        ) { [weak self] event in
            var numbered = event
            numbered.flowID += before
            self?.record(name, numbered)
        }
        do {
            entry.listen.port = try proxy.start()
        } catch {
            throw ToxiproxyError("listen tcp \(entry.listen): \(FaultProxy.reason(error))", status: 500)
        }
        if !entry.toxics.isEmpty { proxy.setToxics(entry.toxics) }
        entry.proxy = proxy
        entry.enabled = true
    }

    private func disable(_ entry: inout Entry) {
        entry.proxy?.stop()
        entry.flowsBefore += entry.proxy?.flowsAccepted ?? 0
        entry.proxy = nil
        entry.enabled = false
    }

    private func updateProxy(_ name: String, _ body: JSONValue) throws(ToxiproxyError) -> JSONValue {
        guard let object = body.object else { throw .badBody("expected a JSON object") }
        let listenText = try Self.string(object, "listen")
        let upstreamText = try Self.string(object, "upstream")
        var wantEnabled: Bool?
        if let given = object["enabled"], !given.isNull {
            guard let flag = given.bool else { throw .badBody("enabled must be true or false") }
            wantEnabled = flag
        }
        return try proxies.withLock { entries throws(ToxiproxyError) in
            guard var entry = entries[name] else { throw .proxyNotFound }
            let listen = try listenText.map { text throws(ToxiproxyError) in
                try Self.address(text, field: "listen", allowZero: true)
            }
            let upstream = try upstreamText.map { text throws(ToxiproxyError) in
                try Self.address(text, field: "upstream", allowZero: false)
            }
            let enabled = wantEnabled ?? entry.enabled
            // As Toxiproxy: a new address stops the proxy (its flows close), which then starts again if enabled.
            if (listen != nil && listen != entry.listen) || (upstream != nil && upstream != entry.upstream) {
                disable(&entry)
                entry.listen = listen ?? entry.listen
                entry.upstream = upstream ?? entry.upstream
            }
            if enabled && !entry.enabled {
                do throws(ToxiproxyError) {
                    try enable(&entry)
                } catch {
                    entries[name] = entry
                    throw error
                }
                log("proxy \(name) enabled: \(entry.listen) -> \(entry.upstream)")
            } else if !enabled && entry.enabled {
                disable(&entry)
                log("proxy \(name) disabled: its flows were closed and \(entry.listen) refuses connections")
            }
            entries[name] = entry
            return entry.json
        }
    }

    private func deleteProxy(_ name: String) throws(ToxiproxyError) {
        let removed = proxies.withLock { $0.removeValue(forKey: name) }
        guard let removed else { throw .proxyNotFound }
        removed.proxy?.stop()
        log("proxy \(name) deleted")
    }

    private func reset() throws(ToxiproxyError) {
        try proxies.withLock { entries throws(ToxiproxyError) in
            for name in entries.keys.sorted() {
                guard var entry = entries[name] else { continue }
                entry.toxics = []
                entry.proxy?.setToxics([])
                if !entry.enabled {
                    do throws(ToxiproxyError) {
                        try enable(&entry)
                    } catch {
                        entries[name] = entry
                        throw error
                    }
                }
                entries[name] = entry
            }
        }
        log("reset: every proxy enabled, every toxic removed")
    }

    /// `POST /populate`: every proxy is checked first (name, upstream), then each is created, kept when one of its
    /// name has the same listen and upstream, or replaced; the answer lists them all, as Toxiproxy's does.
    private func populate(_ body: JSONValue) -> APIResponse {
        guard let list = body.array else { return Self.failure(.badBody("expected a JSON array of proxies")) }
        for (index, item) in list.enumerated() {
            let refusal: ToxiproxyError? =
                item["name"]?.string?.isEmpty == false
                ? (item["upstream"]?.string?.isEmpty == false ? nil : .missingField("upstream at proxy \(index + 1)"))
                : .missingField("name at proxy \(index + 1)")
            if let refusal {
                return Self.ok(
                    .object([
                        "error": .string(refusal.message), "status": .number(Double(refusal.status)), "proxies": .null,
                    ]), status: refusal.status)
            }
        }
        var made: [JSONValue] = []
        for item in list {
            let name = item["name"]?.string ?? ""
            do throws(ToxiproxyError) {
                if let existing = proxies.withLock({ $0[name] }) {
                    let same =
                        existing.upstream.description == item["upstream"]?.string
                        && (item["listen"]?.string).map { $0 == existing.listen.description } ?? true
                    if same {
                        made.append(existing.json)
                        continue
                    }
                    try deleteProxy(name)
                }
                made.append(try createProxy(item))
            } catch {
                return Self.ok(
                    .object([
                        "error": .string(error.message), "status": .number(Double(error.status)),
                        "proxies": .array(made),
                    ]), status: error.status)
            }
        }
        return Self.ok(.object(["proxies": .array(made)]), status: 201)
    }

    // MARK: Toxics

    private func addToxic(_ name: String, _ body: JSONValue) throws(ToxiproxyError) -> JSONValue {
        try proxies.withLock { entries throws(ToxiproxyError) in
            guard var entry = entries[name] else { throw .proxyNotFound }
            let toxic = try Toxic.decode(body)
            guard !entry.toxics.contains(where: { $0.name == toxic.name }) else { throw .toxicExists }
            entry.toxics.append(toxic)
            entry.proxy?.setToxics(entry.toxics)
            entries[name] = entry
            log("toxic \(toxic.name) (\(toxic.kind.typeName)) added to \(name)")
            return toxic.json
        }
    }

    private func updateToxic(_ name: String, _ toxicName: String, _ body: JSONValue) throws(ToxiproxyError)
        -> JSONValue
    {
        try proxies.withLock { entries throws(ToxiproxyError) in
            guard var entry = entries[name] else { throw .proxyNotFound }
            guard let index = entry.toxics.firstIndex(where: { $0.name == toxicName }) else {
                throw .toxicNotFound
            }
            entry.toxics[index] = try entry.toxics[index].updated(with: body)
            entry.proxy?.setToxics(entry.toxics)
            entries[name] = entry
            log("toxic \(toxicName) of \(name) updated")
            return entry.toxics[index].json
        }
    }

    private func removeToxic(_ name: String, _ toxicName: String) throws(ToxiproxyError) {
        try proxies.withLock { entries throws(ToxiproxyError) in
            guard var entry = entries[name] else { throw .proxyNotFound }
            guard entry.toxics.contains(where: { $0.name == toxicName }) else { throw .toxicNotFound }
            entry.toxics.removeAll { $0.name == toxicName }
            entry.proxy?.setToxics(entry.toxics)
            entries[name] = entry
        }
        log("toxic \(toxicName) removed from \(name)")
    }

    // MARK: Events

    private func record(_ proxy: String, _ event: FlowEvent) {
        var fields: [String: JSONValue] = [
            "proxy": .string(proxy), "flow": .number(Double(event.flowID)), "event": .string(event.kind.rawValue),
            "client": .string(event.clientAddress),
            "at": .number((EventLog.milliseconds(event.at - start)).rounded() / 1000),
            "bytes_up": .number(Double(event.bytesUp)), "bytes_down": .number(Double(event.bytesDown)),
        ]
        if event.kind != .open {
            fields["client_received"] = event.signal.map { .string($0.rawValue.uppercased()) } ?? .null
        }
        if let mode = event.mode { fields["mode"] = .string(mode.rawValue) }
        if let toxic = event.toxic { fields["toxic"] = .string(toxic) }
        if event.midQuery { fields["mid_query"] = .bool(true) }
        if let problem = event.upstreamError { fields["upstream_error"] = .string(problem) }
        events.withLock { log in
            fields["seq"] = .number(Double(log.next))
            log.next += 1
            log.events.append(.object(fields))
            if log.events.count > Self.maxEvents {
                log.dropped += log.events.count - Self.maxEvents
                log.events.removeFirst(log.events.count - Self.maxEvents)
            }
        }
        onEvent(proxy, event)
    }

    /// `GET /events?since=N`: the events after sequence number N (all kept ones without it), and the cursor to ask
    /// from next.
    private func eventsAnswer(proxy: String?, query: [String: String]) throws(ToxiproxyError) -> APIResponse {
        var since = 0
        if let text = query["since"] {
            guard let number = Int(text), number >= 0 else {
                throw ToxiproxyError("since must be a sequence number, 0 or more", status: 400)
            }
            since = number
        }
        let (list, next, dropped) = events.withLock { log in
            (
                log.events.filter { event in
                    (event["seq"]?.int ?? 0) > since && (proxy == nil || event["proxy"]?.string == proxy)
                }, log.next - 1, log.dropped
            )
        }
        return Self.ok(
            .object([
                "events": .array(list), "next": .number(Double(next)), "dropped": .number(Double(dropped)),
            ]))
    }
}
