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
        guard !threadIDs.isEmpty, let admin = try? adminConnection() else { return }
        defer { admin.close() }
        let list = threadIDs.map(String.init).joined(separator: ",")
        let alive = (try? admin.query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN (\(list))")) ?? []
        for row in alive {
            if let id = row.first ?? nil { _ = try? admin.query("KILL CONNECTION \(id)") }
        }
        if !alive.isEmpty {
            log.record(.scenario, detail: "killed \(alive.count) server thread(s) the kernel cut left behind")
        }
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
    func serverThreads(_ pool: any PoolUnderTest, _ context: FaultContext) throws(RunError) -> [ServerThread] {
        let admin = try adminConnection()
        defer { admin.close() }
        return try serverThreads(pool, context, admin: admin)
    }

    /// The pool's server threads and client ports: from the pool when it knows them, else from the server's
    /// processlist — threads of this user that were not there before the pool opened (its `HOST` column
    /// carries the client port).
    func serverThreads(_ pool: any PoolUnderTest, _ context: FaultContext, admin: MariaDBConnection)
        throws(RunError) -> [ServerThread]
    {
        if let known = pool.knownServerThreads() { return known }
        // With --jobs other scenarios' threads appear too: the pool's own sockets tell them apart.
        let ports = pool.clientPorts(serverPort: endpoint.port)
        let rows: [[String?]]
        do {
            rows = try admin.query(
                "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER = SUBSTRING_INDEX(USER(), '@', 1) AND COMMAND <> 'Daemon' ORDER BY ID"
            )
        } catch {
            throw .environment("cannot read the processlist at \(endpoint.address): \(error.message)")
        }
        return rows.compactMap { row -> ServerThread? in
            guard let idText = row.first ?? nil, let id = UInt64(idText), !context.baselineThreads.contains(id) else {
                return nil
            }
            let host = row.count > 1 ? row[1] : nil
            let port = host.flatMap { $0.split(separator: ":").last }.flatMap { Int($0) }
            if let ports, !ports.contains(port ?? -1) { return nil }
            return ServerThread(id: id, clientPort: port)
        }
    }

}
