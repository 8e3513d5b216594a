import Foundation

/// The runner's services for faults that act on the server: which threads are the pool's, KILL.
extension ScenarioRunner {
    /// `KILL CONNECTION` on each thread, recorded in the timeline; a refusal is an environment error.
    func kill(_ threadIDs: [UInt64], admin: MariaDBConnection, context: FaultContext) throws(RunError) {
        context.step("KILL CONNECTION on \(threadIDs.count) pool thread(s)")
        for id in threadIDs {
            do {
                try admin.query("KILL CONNECTION \(id)")
                context.log.record(.scenario, threadID: id, detail: "fault: KILL CONNECTION \(id)")
            } catch {
                throw .environment(
                    "KILL CONNECTION \(id) failed at \(endpoint.address): \(error.message); the user needs to own the thread or have CONNECTION ADMIN"
                )
            }
        }
    }

    /// KILLs those of `threadIDs` that the server still has (a kernel cut leaves them behind).
    func killLeftovers(_ threadIDs: [UInt64], log: EventLog) {
        killRemaining(threadIDs, log: log, condition: "") { "killed \($0) server thread(s) the kernel cut left behind" }
    }

    /// The server threads that are this run's own at its end: the pool's, and those of repro's own sockets (a
    /// proxy's upstream connections), not counting the connection that asks. Empty when they cannot be read.
    func ownThreadsAtEnd(_ pool: any PoolUnderTest, _ context: FaultContext) -> [UInt64] {
        guard let admin = try? adminConnection() else { return [] }
        defer { admin.close() }
        var ids = Set((try? serverThreads(pool, context, admin: admin))?.map(\.id) ?? [])
        if pool.knownServerThreads() == nil, let own = ProcessSockets.ownClientEndpoints(remotePort: endpoint.port),
            let rows = try? admin.query(
                "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER = SUBSTRING_INDEX(USER(), '@', 1)"
            )
        {
            let proxied = Self.poolThreads(
                rows: rows, endpoints: own, baseline: context.baselineThreads, seenAs: nil,
                resolve: Self.addresses(of:))
            ids.formUnion(proxied.map(\.id))
        }
        return ids.sorted()
    }

    /// KILLs those of `threadIDs` still running a statement after the pool closed (a long `--query` outlives
    /// its client on the server: closing the socket does not stop it).
    func killRunningLeftovers(_ threadIDs: [UInt64], log: EventLog) {
        killRemaining(threadIDs, log: log, condition: " AND COMMAND IN ('Query', 'Execute')") {
            "killed \($0) of the pool's server thread(s) still running a query after the pool closed"
        }
    }

    /// KILLs those of `threadIDs` the server still has (and that match `condition`, SQL after the id list), and
    /// records how many with `note`.
    private func killRemaining(
        _ threadIDs: [UInt64], log: EventLog, condition: String, note: (Int) -> String
    ) {
        guard !threadIDs.isEmpty, let admin = try? adminConnection() else { return }
        defer { admin.close() }
        let list = threadIDs.map(String.init).joined(separator: ",")
        let alive =
            (try? admin.query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN (\(list))\(condition)")) ?? []
        var killed = 0
        for id in Self.threadIDs(alive) where (try? admin.query("KILL CONNECTION \(id)")) != nil { killed += 1 }
        if killed > 0 { log.record(.scenario, detail: note(killed)) }
    }

    /// Server thread ids on the server now, to tell the pool's threads from others later.
    func processListIDs() throws(RunError) -> Set<UInt64> {
        let admin = try adminConnection()
        defer { admin.close() }
        let rows = (try? admin.query("SELECT ID FROM information_schema.PROCESSLIST")) ?? []
        return Set(Self.threadIDs(rows))
    }

    /// The thread ids in the first column of processlist rows.
    static func threadIDs(_ rows: [[String?]]) -> [UInt64] {
        rows.compactMap { $0.first ?? nil }.compactMap { UInt64($0) }
    }

    /// The pool's server threads, read on an admin connection of their own.
    func serverThreads(_ pool: any PoolUnderTest, _ context: FaultContext, seenAs: String? = nil) throws(RunError)
        -> [ServerThread]
    {
        let admin = try adminConnection()
        defer { admin.close() }
        return try serverThreads(pool, context, admin: admin, seenAs: seenAs)
    }

    /// The pool's server threads and client ports: from the pool when it knows them, else from the server's
    /// processlist — threads of this user that were not there before the pool opened, whose `HOST` (the client's
    /// address and port as the server sees them) is one of the pool's own sockets. `seenAs`: the address the
    /// server sees the pool's flows come from when something on the way translates them (this run's NAT).
    func serverThreads(
        _ pool: any PoolUnderTest, _ context: FaultContext, admin: MariaDBConnection, seenAs: String? = nil
    ) throws(RunError) -> [ServerThread] {
        if let known = pool.knownServerThreads() { return known }
        // With --jobs, or on a server shared with others, more threads of this user appear: the pool's own
        // sockets tell them apart, by address and port (a client elsewhere can use the same port).
        let endpoints = pool.clientEndpoints(serverPort: endpoint.port)
        let rows: [[String?]]
        do {
            rows = try admin.query(
                "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER = SUBSTRING_INDEX(USER(), '@', 1) AND COMMAND <> 'Daemon' ORDER BY ID"
            )
        } catch {
            throw .environment("cannot read the processlist at \(endpoint.address): \(error.message)")
        }
        return Self.poolThreads(
            rows: rows, endpoints: endpoints, baseline: context.baselineThreads, seenAs: seenAs,
            reported: pool.reportedServerThreads, resolve: Self.addresses(of:))
    }

    /// The processlist rows (`ID`, `HOST`) that are the pool's: new since `baseline`, and — when the pool's
    /// sockets are known — from one of `endpoints` by port *and* address (`seenAs` replaces the sockets' own
    /// address when a translation sits between; a host name in `HOST` counts by what `resolve` gives for it).
    /// Without known sockets every new thread of the user counts (a pool whose sockets cannot be read).
    static func poolThreads(
        rows: [[String?]], endpoints: [ClientEndpoint]?, baseline: Set<UInt64>, seenAs: String?,
        reported: Set<UInt64> = [], resolve: (String) -> [String]
    ) -> [ServerThread] {
        var resolved: [String: Set<String>] = [:]
        return rows.compactMap { row -> ServerThread? in
            guard let idText = row.first ?? nil, let id = UInt64(idText), !baseline.contains(id) else { return nil }
            let client = row.count > 1 ? row[1].flatMap(Self.hostAndPort) : nil
            if reported.contains(id) { return ServerThread(id: id, clientPort: client?.port) }
            guard let endpoints else { return ServerThread(id: id, clientPort: client?.port) }
            guard let client else { return nil }
            let addresses: Set<String>
            if let numeric = ClientEndpoint.normalized(client.host) {
                addresses = [numeric]
            } else if let known = resolved[client.host] {
                addresses = known
            } else {
                addresses = Set(resolve(client.host).compactMap(ClientEndpoint.normalized))
                resolved[client.host] = addresses
            }
            let ours = endpoints.contains { e in
                e.port == client.port && addresses.contains(seenAs.flatMap(ClientEndpoint.normalized) ?? e.address)
            }
            return ours ? ServerThread(id: id, clientPort: client.port) : nil
        }
    }

    /// `127.0.0.1:50412` → (`127.0.0.1`, 50412); `::1:50412` → (`::1`, 50412) (the server writes IPv6 without
    /// brackets; the port is after the last colon); nil for a Unix socket's `localhost`.
    static func hostAndPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    /// The numeric addresses a host name resolves to (a server that resolves client names writes them in
    /// `HOST`); empty when it does not resolve.
    static func addresses(of name: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var out: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(
                info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
                == 0
            {
                out.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            cursor = info.pointee.ai_next
        }
        return out
    }
}
