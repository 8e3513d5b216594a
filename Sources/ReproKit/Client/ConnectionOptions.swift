/// Where and how one client connection connects: address, credentials and Connector/C timeouts.
public struct ConnectionOptions: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var database: String?
    /// Connect through this Unix socket instead of TCP (a DSN's `?socket=`); nil means TCP to host:port.
    public var unixSocket: String?
    /// Seconds; Connector/C takes whole seconds.
    public var connectTimeout: Int
    public var readTimeout: Int
    public var writeTimeout: Int
    /// Statements the library runs right after every connect (and reconnect), e.g. `SET SESSION wait_timeout=2`.
    public var initCommands: [String]

    public init(
        host: String, port: Int, user: String, password: String, database: String? = nil,
        connectTimeout: Int = 5, readTimeout: Int = 30, writeTimeout: Int = 30,
        initCommands: [String] = []
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.writeTimeout = writeTimeout
        self.initCommands = initCommands
    }
}
