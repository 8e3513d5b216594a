import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real HAProxy in TCP mode between the pool and the server, with `timeout client` and `timeout server` set to
/// the idle timeout: the TCP-terminating load balancer of so many deployments (and the model of a cloud load
/// balancer that proxies TCP). Unlike a NAT it sees only payload: a TCP keepalive probe is answered by its own
/// host's kernel and never counts as activity, so a flow idle for longer than the timeout is closed whatever
/// keepalive the client runs.
///
/// It runs from a sandbox directory of its own (`repro-haproxy-*`, with its config), like the embedded server:
/// stopped and removed on success, failure and Ctrl-C, and swept with the server sandboxes after a SIGKILL
/// (`ManagedServer.removeStale` kills every process that names the directory).
public final class HAProxyMiddlebox: Sendable {
    /// Where the pool connects instead of the server.
    public let port: Int
    /// Seconds of silence (no payload either way) after which HAProxy closes a flow.
    public let idleTimeout: Int
    /// `haproxy -v`'s first line, for the report.
    public let version: String
    private let sandbox: ServerSandbox

    /// How long HAProxy may take to listen.
    static let startLimit = Duration.seconds(10)

    /// The haproxy binary, or a message saying how to get one.
    static func locate() throws(RunError) -> String {
        guard let path = FirewallCommand.locate("haproxy") else {
            throw .environment(
                "--via haproxy needs haproxy, which is not installed; run `make setup` (apt-get install haproxy)")
        }
        return path
    }

    /// Starts HAProxy forwarding 127.0.0.1:<free port> to `upstreamHost:upstreamPort`; returns once it listens.
    public init(upstreamHost: String, upstreamPort: Int, idleTimeout: Int) throws(RunError) {
        let haproxy = try Self.locate()
        let versionOutput = FirewallCommand.run(haproxy, ["-v"], timeout: .seconds(5))
        // "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/" → "HAProxy 2.6.12-1+deb12u4"
        let words = versionOutput.stdout.split(separator: "\n").first?.split(separator: " ") ?? []
        version = words.count > 2 && words[1] == "version" ? "HAProxy \(words[2])" : "HAProxy (version unknown)"
        self.idleTimeout = idleTimeout
        let sandbox = ServerSandbox(program: "haproxy")
        self.sandbox = sandbox
        let token = CleanupRegistry.shared.register("haproxy sandbox") { sandbox.teardown(grace: .seconds(2)) }
        sandbox.attach(token)
        do throws(ServerError) {
            let directory = try sandbox.create { () throws(ServerError) in
                try ManagedServer.makeDirectory(prefix: "repro-haproxy-")
            }
            guard let port = LoopbackTCP.freePort() else {
                throw ServerError(.sandboxFailed, "no free TCP port on 127.0.0.1 for haproxy")
            }
            self.port = port
            let config = directory + "/haproxy.cfg"
            let text = Self.configuration(
                listenPort: port, upstreamHost: upstreamHost, upstreamPort: upstreamPort, idleTimeout: idleTimeout)
            guard (try? text.write(toFile: config, atomically: true, encoding: .utf8)) != nil else {
                throw ServerError(.sandboxFailed, "cannot write \(config)")
            }
            let log = directory + "/haproxy.out"
            // -db: stay in the foreground (no daemon), so it is our child and stops with its sandbox.
            let child = try sandbox.launch { () throws(ServerError) in
                try ChildProcess.spawn(haproxy, ["-db", "-f", config], outputPath: log)
            }
            let deadline = ContinuousClock.now + Self.startLimit
            while !LoopbackTCP.accepts(port: port) {
                if let exit = child.poll() {
                    sandbox.release(child)
                    throw ServerError(
                        .startFailed, "haproxy exited at start (\(exit)): \(ManagedServer.tail(of: log))")
                }
                guard ContinuousClock.now < deadline else {
                    throw ServerError(
                        .startTimedOut,
                        "haproxy did not listen on 127.0.0.1:\(port) within \(Self.startLimit): \(ManagedServer.tail(of: log))"
                    )
                }
                usleep(20_000)
            }
        } catch {
            sandbox.teardown(grace: .seconds(1))
            throw .environment("--via haproxy: \(error.message)")
        }
    }

    /// The whole configuration: one TCP listener, one server, the idle timeout on both sides.
    static func configuration(listenPort: Int, upstreamHost: String, upstreamPort: Int, idleTimeout: Int) -> String {
        """
        # Written by repro for one run; removed with its directory.
        global
            maxconn 4096

        defaults
            mode tcp
            timeout connect 5s
            timeout client \(idleTimeout)s
            timeout server \(idleTimeout)s

        listen repro
            bind 127.0.0.1:\(listenPort)
            server db \(upstreamHost):\(upstreamPort)

        """
    }

    /// Stops HAProxy and removes its directory; safe to call again.
    public func stop() { sandbox.teardown(grace: .seconds(2)) }
}
