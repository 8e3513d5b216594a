import ArgumentParser
import Dispatch
import Foundation
import ReproKit
import Synchronization

extension Repro {
    /// `repro proxy`: the FaultProxy as a long-running command in front of any application.
    struct Proxy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "proxy",
            abstract: "Run the fault proxy in front of your own application to reproduce a cut in your real stack.",
            discussion: """
                Point your application at --listen instead of the database. Without --mode it is a pure \
                pass-through. --after-idle S cuts each flow silent for S seconds in both directions, a query in progress \
                included (a NAT/load balancer idle timeout); \
                --cut-after S cuts every open flow once, S seconds after start; SIGUSR1 (kill -USR1 <pid>) cuts \
                every open flow now with --mode (without it SIGUSR1 is ignored, and stderr says so once). One line per flow event goes to stdout. SIGINT/SIGTERM close every flow and \
                exit 0.

                --api host:port serves a Toxiproxy-compatible HTTP API instead (Toxiproxy's client libraries work \
                against it): create proxies, add toxics (latency, timeout, reset_peer, slow_close, limit_data, and \
                repro's half_open and idle_cut), take a proxy down, read GET /events for what each client received. \
                With --upstream it starts with one proxy, named by --name, on --listen. docs/proxy-api.md says what \
                is compatible.
                """)

        @Option(
            help: ArgumentHelp(
                "Address to listen on (default 127.0.0.1:3307; loopback unless you say otherwise).",
                valueName: "host:port"),
            transform: Parse.listenAddress)
        var listen = HostPort(host: "127.0.0.1", port: 3307)

        @Option(
            help: ArgumentHelp(
                "The database server to forward to (required without --api).", valueName: "host:port"),
            transform: Parse.hostPort)
        var upstream: HostPort?

        @Option(
            help: ArgumentHelp(
                "Serve the Toxiproxy-compatible HTTP API here (e.g. 127.0.0.1:8474; loopback unless you say otherwise).",
                valueName: "host:port"),
            transform: Parse.listenAddress)
        var api: HostPort?

        @Option(
            help: ArgumentHelp("With --api and --upstream: the name of the proxy it starts with.", valueName: "name"))
        var name = "mysql"

        @Option(help: ArgumentHelp("How to cut.", valueName: "mode"))
        var mode: CutMode?

        @Option(
            name: .customLong("after-idle"), parsing: .unconditional,
            help: ArgumentHelp(
                "Cut each flow that carried no payload this long (TCP keepalive probes do not count).",
                valueName: "seconds"))
        var afterIdle: Double?

        @Option(
            name: .customLong("cut-after"), parsing: .unconditional,
            help: ArgumentHelp("Cut every open flow once, this long after start.", valueName: "seconds"))
        var cutAfter: Double?

        func validate() throws {
            if api != nil {
                let given = [
                    ("--mode", mode != nil), ("--after-idle", afterIdle != nil), ("--cut-after", cutAfter != nil),
                ]
                if let flag = given.first(where: { $0.1 })?.0 {
                    throw ValidationError(
                        "\(flag) does not go with --api: cut through the API instead (an idle_cut toxic for a middlebox idle timeout, reset_peer, timeout, half_open; docs/proxy-api.md)"
                    )
                }
                if name.isEmpty { throw ValidationError("--name is empty: give the proxy a name, e.g. --name mysql") }
                return
            }
            guard upstream != nil else {
                throw ValidationError(
                    "missing --upstream: say which database server to forward to, e.g. --upstream 127.0.0.1:3306 (or serve the API with --api 127.0.0.1:8474)"
                )
            }
            for (name, value) in [("--after-idle", afterIdle), ("--cut-after", cutAfter)] {
                guard let value else { continue }
                guard value > 0, value <= FaultProxy.maxTimerSeconds else {
                    throw outOfRange(
                        name, value,
                        use: "seconds greater than 0, at most \(Int(FaultProxy.maxTimerSeconds))")
                }
                if mode == nil {
                    throw ValidationError("\(name) needs --mode: say how to cut (reset, close, blackhole, half-open)")
                }
            }
        }

        func run() throws {
            if let api {
                try serveAPI(at: api)
                return
            }
            guard let upstream else { return }
            // SIGINT, SIGTERM and SIGHUP stop the proxy and exit 0 instead of the cleanup exit. They have been
            // blocked since main, so one that arrives before the proxy listens is not lost: it stops it right away.
            let done = DispatchSemaphore(value: 0)
            CleanupRegistry.shared.divertSignals { _ in done.signal() }
            let listenAt = listen
            let upstreamAt = upstream
            let cut = mode
            let start = ContinuousClock.now
            // An unreachable upstream resets every client: say so once on stderr (each flow line says it too).
            let warned = Atomic<Bool>(false)
            let proxy = FaultProxy(
                upstreamHost: upstreamAt.host, upstreamPort: upstreamAt.port, listenHost: listenAt.host,
                listenPort: listenAt.port, afterIdle: afterIdle.map { .milliseconds(Int($0 * 1000)) },
                idleMode: afterIdle == nil ? nil : cut
            ) { event in
                Console.line(event.logLine(since: start))
                if let problem = event.upstreamError,
                    !warned.exchange(true, ordering: .relaxed)
                {
                    Console.err(
                        "repro: cannot reach the upstream \(upstreamAt): \(problem); clients are reset until it answers (check --upstream and that the server is up)\n"
                    )
                }
            }
            let port: Int
            do {
                port = try proxy.start()
            } catch {
                throw Self.cannotBind(
                    "cannot listen on \(listenAt)", FaultProxy.reason(error), flag: "--listen",
                    example: "127.0.0.1:3307")
            }
            Console.line(
                "listening on \(HostPort(host: listenAt.host, port: port)) -> \(upstreamAt)"
                    + (cut.map { ", mode \($0.rawValue)" } ?? ", pass-through")
                    + (afterIdle.map { ", cut after \($0) s idle" } ?? "")
                    + (cutAfter.map { ", cut all at \($0) s" } ?? "")
                    + (cut == nil
                        ? " (pid \(getpid()); SIGUSR1 cuts only with --mode)" : " (pid \(getpid()); SIGUSR1 cuts now)"))

            let queue = DispatchQueue(label: "repro.proxy.signals")
            let usr1Ignored = Atomic<Bool>(false)
            // SIGUSR1 is blocked since main too (no SIG_IGN: that would drop one already pending).
            let cutNow = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: queue)
            cutNow.setEventHandler {
                if let cut {
                    let events = proxy.cutAll(cut)
                    Console.line(
                        String(format: "%9.3f", EventLog.milliseconds(.now - start) / 1000)
                            + " SIGUSR1: cut \(events.count) flow(s) with \(cut.rawValue)")
                } else if !usr1Ignored.exchange(true, ordering: .relaxed) {
                    // Pass-through means no cut at all; like --after-idle and --cut-after, a cut needs its mode.
                    Console.err(
                        "repro: SIGUSR1 ignored: this proxy is a pure pass-through; start it with --mode reset|close|blackhole|half-open to cut on SIGUSR1\n"
                    )
                }
            }
            cutNow.resume()
            if let cutAfter {
                queue.asyncAfter(deadline: .now() + cutAfter) {
                    let events = proxy.cutAll(cut ?? .reset)
                    Console.line(
                        String(format: "%9.3f", EventLog.milliseconds(.now - start) / 1000)
                            + " cut-after: cut \(events.count) flow(s) with \((cut ?? .reset).rawValue)")
                }
            }
            done.wait()
            proxy.stop()
            Console.line(String(format: "%9.3f", EventLog.milliseconds(.now - start) / 1000) + " stopped")
            withExtendedLifetime(cutNow) {}
        }
    }
}

extension Repro.Proxy {
    /// `repro proxy --api`: the Toxiproxy-compatible API until SIGINT/SIGTERM, then every proxy stopped and exit 0.
    func serveAPI(at address: HostPort) throws {
        let done = DispatchSemaphore(value: 0)
        CleanupRegistry.shared.divertSignals { _ in done.signal() }
        let start = ContinuousClock.now
        let stamp: @Sendable () -> String = { String(format: "%9.3f", EventLog.milliseconds(.now - start) / 1000) }
        let toxiproxy = ToxiproxyAPI(
            onEvent: { proxy, event in
                var line = event.logLine(since: start)
                if let flow = line.range(of: " flow ") { line.replaceSubrange(flow, with: " [\(proxy)] flow ") }
                Console.line(line)
            },
            log: { line in Console.line(stamp() + " " + line) })
        let server = ToxiproxyHTTPServer(api: toxiproxy)
        let port: Int
        do {
            port = try server.start(host: address.host, port: address.port)
        } catch {
            throw Self.cannotBind(
                "cannot serve the API on \(address)", FaultProxy.reason(error), flag: "--api", example: "127.0.0.1:8474"
            )
        }
        Console.line(
            "Toxiproxy-compatible API on http://\(HostPort(host: address.host, port: port)) (pid \(getpid()); docs/proxy-api.md)"
        )
        if let upstream {
            do {
                _ = try toxiproxy.create(name: name, listen: listen, upstream: upstream)
            } catch {
                server.stop()
                throw Self.cannotBind(
                    "cannot start proxy \(name)", error.message, flag: "--listen", example: "127.0.0.1:3307")
            }
        }
        done.wait()
        server.stop()
        toxiproxy.stopAll()
        Console.line(stamp() + " stopped")
    }

    /// Exit 3 for an address that cannot be bound, naming the fix: another port when it is taken, else a local
    /// address.
    static func cannotBind(_ what: String, _ reason: String, flag: String, example: String) -> ReproFailure {
        let fix =
            reason.contains("in use")
            ? "pick a free port with \(flag)" : "give \(flag) a local IPv4 address and port, e.g. \(example)"
        return ReproFailure(code: 3, message: "\(what): \(reason); \(fix)")
    }
}
