/// The one failure a scenario injects.
public enum Fault: Sendable, Equatable {
    /// The server's `wait_timeout` closes the idle pool.
    case waitTimeout(seconds: Int, margin: Double, scope: WaitTimeoutScope)
    /// `KILL CONNECTION` on the pool's own server threads.
    case killThread(target: KillTarget, count: KillCount)
    /// The network between pool and server is cut.
    case networkCut(mode: CutMode, via: CutVia)

    /// The fault's kind as scenario files and reports name it.
    public var kind: String {
        switch self {
        case .waitTimeout: "wait-timeout"
        case .killThread: "kill-thread"
        case .networkCut: "network-cut"
        }
    }

    /// True when the fault changes the whole server (a global `wait_timeout`): with `--jobs`, it runs with
    /// nothing else in flight, since every other pool on the server would feel it too.
    public var needsServerAlone: Bool {
        if case .waitTimeout(_, _, .global) = self { return true }
        return false
    }

    /// The fault's parameters as text, for reports.
    public var parameters: [String: String] {
        switch self {
        case .waitTimeout(let seconds, let margin, let scope):
            ["seconds": "\(seconds)", "margin": "\(margin)", "scope": scope.rawValue]
        case .killThread(let target, let count):
            ["target": target.rawValue, "count": count.description]
        case .networkCut(let mode, let via):
            ["mode": mode.rawValue, "via": via.rawValue]
        }
    }
}

extension Fault {
    /// The fault in words: `kill-thread target=idle count=all`.
    public var summary: String {
        ([kind] + parameters.keys.sorted().map { "\($0)=\(parameters[$0]!)" }).joined(separator: " ")
    }
}

/// Where `wait_timeout` is set: on the pool's own sessions, or server-wide.
public enum WaitTimeoutScope: String, Sendable, Codable, CaseIterable {
    case session, global
}

/// Which connections `kill-thread` kills: idle ones, or ones busy in a query.
public enum KillTarget: String, Sendable, Codable, CaseIterable {
    case idle, busy
}

/// How many of the pool's connections to kill.
public enum KillCount: Sendable, Equatable, CustomStringConvertible {
    case all
    case some(Int)

    public var description: String {
        switch self {
        case .all: "all"
        case .some(let n): "\(n)"
        }
    }
}

/// Where a network cut happens: the in-process proxy or kernel packet filtering.
public enum CutVia: String, Sendable, Codable, CaseIterable {
    case proxy, kernel
}
