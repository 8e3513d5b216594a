/// The scenarios a matrix runs, by the names reports use.
public enum MatrixScenario: String, CaseIterable, Sendable {
    case waitTimeout = "wait-timeout"
    case killThread = "kill-thread"
    case killThreadBusy = "kill-thread-busy"
    case networkCutReset = "network-cut-reset"
    case networkCutClose = "network-cut-close"
    case networkCutBlackhole = "network-cut-blackhole"
    case networkCutHalfOpen = "network-cut-half-open"
    case serverRestartGraceful = "server-restart-graceful"
    case serverRestartCrash = "server-restart-crash"
    case serverRestartQuiet = "server-restart-quiet"
    /// The application (repro's pool, in a child process) is suspended while the wait_timeout closes its connections.
    case freezeWaitTimeout = "freeze-wait-timeout"
    /// The application is suspended while its idle connections' server threads are KILLed.
    case freezeKillThread = "freeze-kill-thread"

    /// Columns that stop and start the server: only on the embedded one, and each with the server to itself.
    public var restartsServer: Bool { fault(seconds: 1).as(ServerRestartFault.self) != nil }

    /// The fault this column injects; `seconds` is the wait_timeout of the wait-timeout column.
    public func fault(seconds: Int) -> Fault {
        switch self {
        case .waitTimeout: .waitTimeout(seconds: seconds, margin: WaitTimeoutFault.defaultMargin, scope: .session)
        case .killThread: .killThread(target: .idle, count: .all)
        case .killThreadBusy: .killThread(target: .busy, count: .some(2))
        case .networkCutReset: .networkCut(mode: .reset, via: .proxy)
        case .networkCutClose: .networkCut(mode: .close, via: .proxy)
        case .networkCutBlackhole: .networkCut(mode: .blackhole, via: .proxy)
        case .networkCutHalfOpen: .networkCut(mode: .halfOpen, via: .proxy)
        case .serverRestartGraceful: .serverRestart(mode: .graceful, down: 1)
        case .serverRestartCrash: .serverRestart(mode: .crash, down: 1)
        case .serverRestartQuiet: .serverRestart(mode: .graceful, down: 1, tries: 0)
        case .freezeWaitTimeout: .freeze(seconds: Double(seconds + 1), during: .waitTimeout)
        case .freezeKillThread: .freeze(seconds: Double(seconds + 1), during: .killThread)
        }
    }

    /// The `repro` command that reproduces this column with a policy.
    public func command(policy: String, seconds: Int) -> String {
        switch self {
        case .waitTimeout: "repro wait-timeout --seconds \(seconds) --policy \(policy)"
        case .killThread: "repro kill-thread --target idle --policy \(policy)"
        case .killThreadBusy: "repro kill-thread --target busy --count 2 --policy \(policy)"
        case .networkCutReset: "repro network-cut --mode reset --policy \(policy)"
        case .networkCutClose: "repro network-cut --mode close --policy \(policy)"
        case .networkCutBlackhole: "repro network-cut --mode blackhole --read-timeout 1 --policy \(policy)"
        case .networkCutHalfOpen: "repro network-cut --mode half-open --policy \(policy)"
        case .serverRestartGraceful: "repro server-restart --mode graceful --policy \(policy)"
        case .serverRestartCrash: "repro server-restart --mode crash --policy \(policy)"
        case .serverRestartQuiet: "repro server-restart --mode graceful --tries-while-down 0 --policy \(policy)"
        case .freezeWaitTimeout: "repro freeze --for \(seconds + 1) --during wait-timeout --policy \(policy)"
        case .freezeKillThread: "repro freeze --for \(seconds + 1) --during kill-thread --policy \(policy)"
        }
    }

    /// Parses a comma-separated list; the error names the bad entry and the allowed ones.
    public static func parseList(_ text: String) throws(RunError) -> [MatrixScenario] {
        try parseScenarioList(text)
    }
}

/// Parses `--scenarios a,b`: each name once, in the given order; the error names the bad entry and the allowed ones.
func parseScenarioList<Column: RawRepresentable & CaseIterable & Equatable>(_ text: String) throws(RunError)
    -> [Column] where Column.RawValue == String
{
    var out: [Column] = []
    for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
        guard let column = Column(rawValue: part) else {
            throw .usage(
                "--scenarios '\(part)' is unknown: use any of \(Column.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        if !out.contains(column) { out.append(column) }
    }
    if out.isEmpty { throw .usage("--scenarios is empty: name at least one scenario") }
    return out
}

/// Whether a matrix cell counts as survived: every operation succeeded and no error reached the caller. Errors of
/// operations during the fault itself (operation 0: while a restarted server was down, every pool fails) do not
/// count: the question is what the pool does once the server is back.
extension ScenarioResult {
    public var survived: Bool { recovered && firstCallerErrorOnceBack == nil }

    /// The first error that reached the caller outside the fault itself: what a ✗ cell names.
    public var firstCallerErrorOnceBack: ObservedError? { errors.first { $0.handledBy == nil && $0.operation != 0 } }
}

extension Report {
    /// For a matrix report: the policies that survived `scenario`, and those that did not; nil when it never ran.
    public func policyOutcome(scenario: String) -> (recovered: [String], failed: [String])? {
        let cells = scenarios.filter { $0.name == scenario }
        guard !cells.isEmpty else { return nil }
        return (cells.filter(\.survived).map(\.policy.name), cells.filter { !$0.survived }.map(\.policy.name))
    }
}
