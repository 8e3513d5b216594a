/// One failure as different drivers report it: the data behind report explanations and `repro explain`.
public struct CatalogEntry: Sendable, Equatable, Codable {
    /// What one driver shows for this failure.
    public struct DriverMessage: Sendable, Equatable, Codable {
        public var driver: String
        public var message: String
    }

    public var id: String
    public var title: String
    /// Error numbers that belong to this entry.
    public var codes: [Int]
    /// Symbolic names, driver codes and message texts people paste into a search engine.
    public var phrases: [String]
    public var meaning: String
    /// What stacks repro does not measure show, from their documentation: every line says it is not measured.
    /// What the measured stacks show comes from `MeasuredDrivers` (docs/drivers.json).
    public var drivers: [DriverMessage]
    /// The `repro` commands that reproduce it.
    public var commands: [String]
    /// Scenario names (as in reports and the matrix) that reproduce it.
    public var scenarios: [String]
}

/// The catalog, kept as data in one place.
public enum ErrorCatalog {
    private static func d(_ driver: String, _ message: String) -> CatalogEntry.DriverMessage {
        .init(driver: driver, message: message)
    }

    public static let entries: [CatalogEntry] = [
        CatalogEntry(
            id: "server-closed-idle",
            title: "The server closed an idle connection (wait_timeout, a restart)",
            codes: [2006, 2013, 4031],
            phrases: [
                "CR_SERVER_GONE_ERROR", "CR_SERVER_LOST", "MySQL server has gone away", "Server has gone away",
                "Lost connection to server during query", "Lost connection to MySQL server during query",
                "The client was disconnected by the server because of inactivity", "ER_CLIENT_INTERACTION_TIMEOUT",
                "PROTOCOL_CONNECTION_LOST", "Communications link failure",
                "No operations allowed after connection closed", "invalid connection",
                "unexpected EOF", "driver: bad connection", "ErrBadConn",
            ],
            meaning:
                "The server ended a connection that sat idle longer than its wait_timeout; a pool that hands out that connection without checking it fails on the next query. MariaDB 10.11 sends no error packet and aborts the connection with an RST, not a FIN (it sets SO_LINGER 0 when the wait for a command times out), whether the connection sat idle right after connecting or after a fully read result (measured by ServerCloseWireTests). So the next send already fails with ECONNRESET: Connector/C reports 2006, drivers that read first see a connection reset (ECONNRESET). A connection closed with a FIN instead (a proxy closing it, KILL, a server that shut down or crashed) takes the send and fails at the read: 2013 / EOF. MySQL 8.0.24+ first sends 4031. A restart nobody noticed (no traffic while the server was down) leaves a pool of such connections: the server-restart-quiet column.",
            drivers: [
                d(
                    "MySQL Connector/J (Java; HikariCP here runs MariaDB Connector/J, measured above)",
                    "CommunicationsException: Communications link failure (SQLSTATE 08S01), \"The last packet successfully received from the server was N milliseconds ago\""
                ),
                d(
                    "MySQL 8.0.24+ server (repro runs MariaDB)",
                    "4031 ER_CLIENT_INTERACTION_TIMEOUT: The client was disconnected by the server because of inactivity"
                ),
            ],
            commands: [
                "repro wait-timeout --seconds 2 --policy naive", "repro network-cut --mode close --policy naive",
                "repro server-restart --tries-while-down 0 --policy naive",
                "repro network-cut --via haproxy --idle-timeout 2 --idle 4 --policy naive",
            ],
            scenarios: ["wait-timeout", "network-cut-close", "server-restart-quiet"]
        ),
        CatalogEntry(
            id: "thread-killed",
            title: "The connection's server thread was killed",
            codes: [1927, 1317, 2013, 2006],
            phrases: [
                "ER_CONNECTION_KILLED", "Connection was killed", "ER_QUERY_INTERRUPTED",
                "Query execution was interrupted",
                "KILL CONNECTION", "KILL", "Lost connection to server during query", "PROTOCOL_CONNECTION_LOST",
                "Communications link failure", "invalid connection",
            ],
            meaning:
                "Someone (an operator, a proxy, a watchdog like pt-kill) ran KILL on the connection's server thread. MariaDB 10.11 shuts the socket down first (FIN, no RST), so no error packet reaches the client, idle or busy: neither 1927 ER_CONNECTION_KILLED nor the busy query's result (measured by ServerCloseWireTests; the killed thread's own write of them fails inside the server). Idle: the next query's send goes through, the server answers it with an RST, and the read finds EOF: Connector/C reports 2013 (not 2006 as after wait_timeout's RST). Busy: the query in flight reads EOF: 2013. A client sees 1927 only if the server gets to write it before the socket is shut. KILL QUERY (not CONNECTION) sends 1317 and keeps the connection.",
            drivers: [
                d(
                    "MySQL Connector/J (Java; HikariCP here runs MariaDB Connector/J, measured above)",
                    "Communications link failure (08S01) / \"Connection was killed\" (70100)"),
                d(
                    "Other server versions (MySQL; MariaDB before 10.11)",
                    "1927 ER_CONNECTION_KILLED \"Connection was killed\" for a query in flight"),
            ],
            commands: [
                "repro kill-thread --target idle --policy naive", "repro kill-thread --target busy --policy naive",
            ],
            scenarios: ["kill-thread", "kill-thread-busy"]
        ),
        CatalogEntry(
            id: "connection-reset",
            title: "The connection was reset (RST) by a firewall, proxy or load balancer",
            codes: [2013, 2006],
            phrases: [
                "ECONNRESET", "Connection reset by peer", "read ECONNRESET", "write ECONNRESET", "Connection reset",
                "broken pipe", "Communications link failure", "invalid connection",
                "Lost connection to server during query",
            ],
            meaning:
                "Something between client and server dropped the flow and answered with a TCP reset: a proxy restart, a NAT or load balancer that forgot an idle flow (half-open), a firewall. The socket errors with ECONNRESET on the next read or write.",
            drivers: [
                d(
                    "MySQL Connector/J (Java; HikariCP here runs MariaDB Connector/J, measured above)",
                    "Communications link failure (08S01), caused by java.net.SocketException: Connection reset")
            ],
            commands: [
                "repro network-cut --mode reset --policy naive", "repro network-cut --mode half-open --policy naive",
            ],
            scenarios: ["network-cut-reset", "network-cut-half-open"]
        ),
        CatalogEntry(
            id: "blackhole",
            title: "The network silently stopped delivering (blackhole): the client waits for its read timeout",
            codes: [2013, 5013],
            phrases: [
                "timed out", "read timeout", "i/o timeout", "ETIMEDOUT", "PROTOCOL_SEQUENCE_TIMEOUT",
                "Query inactivity timeout", "SocketTimeoutException", "Read timed out",
                "Lost connection to server during query", "Communications link failure",
            ],
            meaning:
                "Packets stop flowing but no FIN or RST arrives: a NAT or load balancer forgot an idle flow and drops its packets (Azure's and GCP's NAT and load balancers by default, conntrack on a node), a stateful firewall dropped the flow, a cable or VM vanished. Nothing fails until the client's read timeout fires; without one the query hangs for the TCP retransmission timeout (many minutes). TCP keepalive probes sent more often than the middlebox's idle timeout keep the flow alive (the nat-idle-timeout column measures which settings do).",
            drivers: [
                d(
                    "MySQL Connector/J (Java; HikariCP here runs MariaDB Connector/J, measured above)",
                    "Communications link failure caused by java.net.SocketTimeoutException: Read timed out")
            ],
            commands: [
                "repro network-cut --mode blackhole --read-timeout 2 --policy naive",
                "repro network-cut --via nat --idle-timeout 2 --idle 4 --read-timeout 2 --policy naive",
            ],
            scenarios: ["network-cut-blackhole"]
        ),
        CatalogEntry(
            id: "suspended-application",
            title: "The application was suspended while its idle connections died, and resumed with work due",
            codes: [2006, 2013],
            phrases: [
                "This socket has been ended by the other party", "EPIPE",
                "Can't add new command when connection is in closed state", "write ECONNRESET",
                "Thread starvation or clock leap detected", "freeze", "SIGSTOP", "suspended", "Lambda freeze",
                "laptop sleep", "docker pause",
            ],
            meaning:
                "The process that owns the pool did not run while its connections died: a laptop asleep overnight with the service still running, an AWS Lambda environment frozen between invocations, a paused VM or container (docker pause, the cgroup freezer), a long stop-the-world pause. None of the pool's own timers ran (idle sweeps, keepalive, housekeeping), and the close the server sent (the FIN of a KILL, the RST of wait_timeout) waited unread in the socket. On resume the application's work (its own timer falling due, or requests that queued meanwhile) races the socket events that would have told the pool: a pool that does not check a connection on borrow hands out the dead ones. mysql2 before 3.0.0 kept a connection whose socket had ended until its 'close' event, so the next query wrote to an ended socket (EPIPE, \"This socket has been ended by the other party\") and the application's ROLLBACK on it got \"Can't add new command when connection is in closed state\". The experiments people try by hand with the application running do not give the pair: after a short wait_timeout or a KILL the running pool reads the close while idle and nothing fails; a network cut gives read ECONNRESET (then the closed-state error on the ROLLBACK), never the EPIPE. repro freeze reproduces it (SIGSTOP of the pool's process group, SIGCONT with work due).",
            drivers: [],
            commands: [
                "repro freeze --during kill-thread --driver node-mysql2@2.2.5",
                "repro freeze --during wait-timeout --policy naive",
                "repro freeze --during wait-timeout --policy ping-on-borrow",
            ],
            scenarios: ["freeze-wait-timeout", "freeze-kill-thread"]
        ),
        CatalogEntry(
            id: "cannot-connect",
            title: "The client cannot open a new connection",
            codes: [2002, 2003, 2005, 1045],
            phrases: [
                "CR_CONN_HOST_ERROR", "Can't connect to MySQL server", "Can't connect to server", "ECONNREFUSED",
                "connection refused", "ER_ACCESS_DENIED_ERROR", "Access denied for user",
            ],
            meaning:
                "Opening a connection failed: nothing listens at host:port (2002/2003, ECONNREFUSED; a server that is restarting), the name does not resolve (2005), or the credentials are wrong (1045). This is the error a retry on acquire can help with; it does not help with dead pooled connections. While a server restarts every pool fails this way, or holds the caller until the server is back (HikariCP waits up to its connectionTimeout): the server-restart columns of the drivers matrix measure which.",
            drivers: [
                d(
                    "MySQL Connector/J (Java; HikariCP here runs MariaDB Connector/J, measured above)",
                    "Communications link failure: The driver has not received any packets from the server")
            ],
            commands: [
                "repro server-restart --mode crash --driver node-mysql2",
                "repro server-restart --mode graceful --policy ping-on-borrow",
            ],
            scenarios: ["server-restart-graceful", "server-restart-crash"]
        ),
        CatalogEntry(
            id: "repro-codes",
            title: "Codes repro itself reports (negative numbers: not a server or driver error number)",
            codes: [-1, -2, -3, -4],
            phrases: [
                "REPRO_LIVENESS_CLOSED", "REPRO_POOL_TIMEOUT", "REPRO_DRIVER_ERROR", "REPRO_HUNG",
                "liveness check", "no answer within", "no connection became free",
            ],
            meaning:
                "-1 REPRO_LIVENESS_CLOSED: repro's pool peeked at an idle connection's socket without a round trip (the liveness check) and found it closed (FIN), reset (RST) or holding bytes nobody asked for; the connection is destroyed, and the error is recorded as handled by validation. -2 REPRO_POOL_TIMEOUT: no connection became free within the pool's acquire timeout. -3 REPRO_DRIVER_ERROR: a real driver (an adapter) raised an error without a MySQL error number; its class, code and message are in the report verbatim. -4 REPRO_HUNG: a real driver's operation gave no answer within --driver-deadline, i.e. no timeout of the library's own fired (a blackhole against a pool without a read timeout).",
            drivers: [],
            commands: [
                "repro network-cut --mode reset --policy liveness-check",
                "repro network-cut --mode blackhole --via kernel --driver node-mysql2 --driver-deadline 3",
            ],
            scenarios: []
        ),
    ]

    /// The entry that explains a scenario's outcome (by fault kind and mode).
    public static func entry(forKind kind: String, parameters: [String: String]) -> CatalogEntry? {
        guard let fault = Fault(kind: kind, parameters: parameters) else { return nil }
        return entries.first { $0.id == fault.base.catalogEntryID }
    }

}
