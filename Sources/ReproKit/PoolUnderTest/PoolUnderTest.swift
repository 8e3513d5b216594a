#if canImport(Glibc)
    import Glibc
#endif

/// The seam between the scenario runner and the pool whose behaviour it records: repro's own Swift pool
/// (`SwiftPoolUnderTest`) or a real driver stack in a child process (`AdapterPool`).
///
/// Every call blocks: call from a dedicated thread. Implementations record what they see — operations,
/// errors, their own events — into the run's `EventLog`.
public protocol PoolUnderTest: AnyObject, Sendable {
    /// The client as the report names it (library, pool, versions, options).
    var client: Report.Client { get }
    /// Connections the pool may hold.
    var size: Int { get }

    /// Opens `size` connections at once; returns the server thread ids the pool reported (may be empty).
    func warm() throws(RunError) -> [UInt64]
    /// One operation as the application does it (borrow, query, release; or on the held connection).
    func execute(_ sql: String, operation: Int, held: Bool) throws(RunError) -> OperationRecord
    /// Borrows one connection and keeps it, for operations with `held: true`.
    func hold() throws(RunError)
    /// Starts `sql` on `count` borrowed connections at once; `wait` returns when all have ended.
    func startBusy(count: Int, sql: String) throws(RunError) -> any BusyQueries
    /// The server threads and client ports of the open connections, when the pool knows them itself;
    /// nil when the runner must find them on the server (a pool in another process).
    func knownServerThreads() -> [ServerThread]?
    /// The local address and port of each of the pool's TCP connections to `serverPort`, when the pool does not
    /// know its threads but its sockets can be found (an adapter's process group); nil otherwise.
    func clientEndpoints(serverPort: Int) -> [ClientEndpoint]?
    /// Server thread ids the pool reported for its own connections (an adapter's `warm`); they count as the
    /// pool's while the server still has them, whatever its sockets show.
    var reportedServerThreads: Set<UInt64> { get }
    /// The process group the pool runs in when it is a child process (a freeze stops it); nil: inside repro.
    var processGroup: pid_t? { get }
    /// Work the application starts by itself (docs/adapters.md `arm`): `count` operations one after another,
    /// `delayMs` from now on the pool process's own timer, or as soon as the request is read (nil). `confirm`:
    /// wait until the pool process took the request (it is running); false only writes it (it is stopped).
    func arm(count: Int, sql: String, delayMs: Int?, confirm: Bool) throws(RunError) -> any ArmedOperations
    /// Closes every connection and stops whatever the pool runs; idempotent.
    func close()
    /// After `close`: why the pool did not close as its protocol promises (an adapter that left `close`
    /// unanswered), an environment failure of the run; nil when it closed.
    var closeFailure: String? { get }
}

extension PoolUnderTest {
    public var closeFailure: String? { nil }
    public var reportedServerThreads: Set<UInt64> { [] }
    public func clientEndpoints(serverPort: Int) -> [ClientEndpoint]? { nil }
    /// The client ports of `clientEndpoints`.
    public func clientPorts(serverPort: Int) -> Set<Int>? {
        clientEndpoints(serverPort: serverPort).map { Set($0.map(\.port)) }
    }
    public var processGroup: pid_t? { nil }
    public func arm(count: Int, sql: String, delayMs: Int?, confirm: Bool) throws(RunError) -> any ArmedOperations {
        throw .environment("this pool runs inside repro: it cannot take work to run by itself")
    }
}

/// Operations handed to the pool's process with `PoolUnderTest.arm`.
public protocol ArmedOperations: Sendable {
    /// Waits (bounded) until every armed operation ran; their records, numbered from `firstOperation`.
    func collect(firstOperation: Int) throws(RunError) -> [OperationRecord]
}

/// Queries started by `PoolUnderTest.startBusy`.
public protocol BusyQueries: Sendable {
    /// Waits (bounded) until every query ended; their errors are in the run's log. Throws when the pool
    /// itself broke (an adapter that exited).
    func wait() throws(RunError)
}

/// One server thread of the pool under test.
public struct ServerThread: Sendable, Equatable {
    public var id: UInt64
    /// The client's TCP port of that connection, when it is TCP.
    public var clientPort: Int?

    public init(id: UInt64, clientPort: Int?) {
        self.id = id
        self.clientPort = clientPort
    }
}

/// How the application uses the pool after the fault.
public enum WorkloadPattern: String, Sendable, Codable, CaseIterable {
    /// Borrow, query, release for every operation.
    case pool
    /// One connection borrowed before the idle period and kept: every operation runs on it.
    case held
}

/// A real driver stack chosen with `--driver` / `driver:`: the adapter's name and the pool's own options.
public struct DriverChoice: Sendable, Equatable {
    public var name: String
    /// The pool's settings in its own words (`maxIdle=3`, `SetConnMaxLifetime=500ms`).
    public var options: [String: String]
    /// Seconds an operation may take before it is recorded as hung.
    public var deadline: Double
    /// Where the adapter loads its library from for this scenario (`--library`, `driver.library`; the adapter's
    /// `REPRO_LIBRARY_PATH`: a node_modules, a GOPATH tree, jars, Python folders); nil: the installed one, or the
    /// staged release `version` names.
    public var libraryPath: String?
    /// The release this scenario is about (`3.1.0`, `6.0.0+3.5.9`: the pool's, then its driver's): without
    /// `libraryPath` it is looked up among the staged releases (`REPRO_DRIVER_VERSIONS`) and the installed one; a
    /// run that loads another one fails (exit 3). nil: whatever is installed.
    public var version: String?
    /// Options applied when the adapter lists them and `options` does not set them (the fault's application
    /// pattern, `FaultKind.applicationOptions`).
    public var defaultOptions: [String: String] = [:]

    public static let defaultDeadline = 10.0
    public static let deadlineRange = 0.5...600.0

    public init(name: String, options: [String: String] = [:], deadline: Double = DriverChoice.defaultDeadline) {
        self.name = name
        self.options = options
        self.deadline = deadline
    }

    /// `NAME` or `NAME@VERSION` (`hikari@6.0.0`, `sqlalchemy@1.4.54+1.0.2`): the adapter and the release asked for.
    public static func parseName(_ text: String) throws(RunError) -> (name: String, version: String?) {
        guard let at = text.firstIndex(of: "@") else { return (text, nil) }
        let name = String(text[..<at])
        let version = String(text[text.index(after: at)...])
        guard !name.isEmpty, !version.isEmpty, !version.contains("@") else {
            throw .usage(
                "'\(text)' is not NAME or NAME@VERSION: write it as e.g. hikari@6.0.0 (repro drivers lists the releases)"
            )
        }
        return (name, version)
    }

    /// Parses `key=value`; a usage error names the problem.
    public static func parseOption(_ text: String) throws(RunError) -> (String, String) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw .usage("'\(text)' is not key=value: write it as e.g. maxIdle=3")
        }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }
}
