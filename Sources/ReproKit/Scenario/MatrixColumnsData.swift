// TEMPORARY: replaced by the build plugin.
enum MatrixColumnsData {
    static let yaml = ##"""
        # The fault columns of `repro matrix` and `repro matrix --drivers`: one entry per column, in the order tables show
        # them. Compiled into repro (docs/ARCHITECTURE.md, "The matrix as data"); a new column is one entry here.
        #
        #   id        the column's name in reports, --scenarios and cell ids
        #   title     what the column does, for the legend
        #   fault     the fault as a scenario file's `fault:` mapping (Scenarios/README.md); each key is also the flag of the
        #             fault's subcommand (`seconds: 3` is `--seconds 3`), which is how a cell's command line is written.
        #             ${name} is a setting of the matrix: waitTimeout, freezeFor (waitTimeout + 1), middleboxTimeout, via
        #             (kernel or proxy), hostKeepaliveTime (a row's; the key is left out when the row has none).
        #   idle      how long the warm pool idles before the fault: matrix (the matrix's idle time, default), cut (past
        #             every threshold a configuration sets, as a middlebox's idle timeout is) or middlebox (2 s past the
        #             middlebox's own idle timeout); faults with their own timing (wait-timeout, freeze) ignore it
        #   pattern   how the application uses the pool after the fault: pool (default) or held
        #   operations  operations after the fault (default: pool size + 1)
        #   readTimeout  repro's pool's read timeout in this column: short (the matrix's short one, or the timeout of the
        #             pool a preset models), or left out (the fault's own default)
        #   catalog   the error catalog entry that explains the column's errors (`repro explain`)
        #   timing    how the fault's moment relates to the thresholds configurations set; ${threshold}, ${idle},
        #             ${cutIdle}, ${waitTimeout}, ${freezeFor}, ${middleboxTimeout} are the row's settings
        #   in        the matrices that run the column: policy (repro matrix), drivers (repro matrix --drivers)

        - id: wait-timeout
          title: the server's wait_timeout closes every idle connection
          fault: {kind: wait-timeout, seconds: "${waitTimeout}"}
          catalog: server-closed-idle
          timing: >-
            the pool idles past the wait_timeout (${waitTimeout} s), which is above every recommended lifetime and idle
            threshold (${threshold} s): those act first
          in: [policy, drivers]

        - id: kill-thread
          title: KILL of every idle connection's server thread
          fault: {kind: kill-thread, target: idle}
          catalog: thread-killed
          timing: &kill >-
            the KILL comes ${idle} s after the last use, before any idle threshold (${threshold} s) acts, as an operator's
            or a watchdog's can at any moment: only validation or a retry can help
          in: [policy, drivers]

        - id: kill-thread-busy
          title: KILL of 2 server threads while they run a query
          fault: {kind: kill-thread, target: busy, count: 2}
          catalog: thread-killed
          timing: *kill
          in: [policy, drivers]

        - id: network-cut-reset
          title: a proxy or load balancer resets every idle flow at once (RST), through repro's proxy
          fault: {kind: network-cut, mode: reset}
          idle: cut
          catalog: connection-reset
          timing: &cut >-
            the cut comes after ${cutIdle} s idle, as a middlebox's idle timeout does: past every recommended idle
            threshold, lifetime and keepalive delay (${threshold} s) and the sweep that applies it
          in: [policy, drivers]

        - id: network-cut-close
          title: every idle flow is closed (FIN), through repro's proxy
          fault: {kind: network-cut, mode: close}
          idle: cut
          catalog: server-closed-idle
          timing: *cut
          in: [policy, drivers]

        - id: network-cut-half-open
          title: "a middlebox forgot the flows: the next packet the client sends gets RST"
          fault: {kind: network-cut, mode: half-open, via: "${via}"}
          idle: cut
          catalog: connection-reset
          timing: *cut
          in: [policy, drivers]

        - id: network-cut-blackhole
          title: a middlebox drops every packet of the flows, silently
          fault: {kind: network-cut, mode: blackhole, via: "${via}"}
          idle: cut
          readTimeout: short
          catalog: blackhole
          timing: *cut
          in: [policy, drivers]

        - id: held-kill-thread
          title: the application kept one connection across the idle period, then its thread was killed
          fault: {kind: kill-thread, target: idle}
          pattern: held
          operations: 2
          catalog: thread-killed
          timing: *kill
          in: [drivers]

        - id: server-restart-graceful
          title: the server is shut down cleanly, down 1 s while the application keeps trying, then back on the same port
          fault: {kind: server-restart, mode: graceful}
          catalog: server-closed-idle
          timing: &restart >-
            the restart comes ${idle} s after the last use, before any threshold (${threshold} s) acts, as a deployment's
            or a failover's can
          in: [policy, drivers]

        - id: server-restart-crash
          title: the server is killed (SIGKILL), down 1 s while the application keeps trying, then back
          fault: {kind: server-restart, mode: crash}
          catalog: server-closed-idle
          timing: *restart
          in: [policy, drivers]

        - id: server-restart-quiet
          title: the server is shut down cleanly and back 1 s later, with no traffic in between (a maintenance window at night)
          fault: {kind: server-restart, mode: graceful, tries-while-down: 0}
          catalog: server-closed-idle
          timing: *restart
          in: [policy, drivers]

        - id: freeze-wait-timeout
          title: >-
            the application is suspended (SIGSTOP) while the wait_timeout closes its idle connections, and resumed with
            its own timer due; it rolls back after a failed query
          fault: {kind: freeze, for: "${freezeFor}", during: wait-timeout}
          catalog: suspended-application
          timing: &freeze >-
            the application is suspended ${freezeFor} s, longer than every threshold (${threshold} s); its own timers cannot
            run while it is suspended, which is the point
          in: [policy, drivers]

        - id: freeze-kill-thread
          title: >-
            the application is suspended while its idle connections' server threads are KILLed, and resumed with its own
            timer due; it rolls back after a failed query
          fault: {kind: freeze, for: "${freezeFor}", during: kill-thread}
          catalog: suspended-application
          timing: *freeze
          in: [policy, drivers]

        - id: freeze-network-cut-half-open
          title: >-
            the application is suspended while a middlebox forgets its flows (the next packet gets RST), and resumed with
            its own timer due; it rolls back after a failed query
          fault: {kind: freeze, for: "${freezeFor}", during: "network-cut:half-open"}
          catalog: suspended-application
          timing: *freeze
          in: [drivers]

        - id: nat-idle-timeout
          title: >-
            through a real NAT (conntrack, in network namespaces) that forgets a flow idle longer than any pool's own
            validation timeout and then drops its packets silently (Azure, GCP Cloud NAT, a node's conntrack); the pool
            idles 2 s longer; TCP keepalive probes keep a flow alive
          fault: {kind: network-cut, via: nat, idle-timeout: "${middleboxTimeout}", keepalive-time: "${hostKeepaliveTime}"}
          idle: middlebox
          readTimeout: short
          catalog: blackhole
          timing: &middlebox >-
            the middlebox's idle timeout (${middleboxTimeout} s) is above every threshold and keepalive interval measured;
            the pool idles 2 s longer
          in: [drivers]

        - id: haproxy-idle-timeout
          title: >-
            through HAProxy in TCP mode, which closes a flow with no payload for longer than any pool's own validation
            timeout (timeout client/server); the pool idles 2 s longer; TCP keepalive probes are not payload
          fault: {kind: network-cut, via: haproxy, idle-timeout: "${middleboxTimeout}"}
          idle: middlebox
          catalog: server-closed-idle
          timing: *middlebox
          in: [drivers]
        """##
}
