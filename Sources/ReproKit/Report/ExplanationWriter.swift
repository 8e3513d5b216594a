import Foundation

/// Writes the plain-words paragraph about one scenario, from what was recorded (never canned per scenario).
public enum ExplanationWriter {
    public static func explain(_ s: ScenarioResult) -> String {
        var parts: [String] = []
        parts.append(faultSentence(s))
        let validationHits = s.errors.filter { $0.handledBy == .validation }
        let retryHits = s.errors.filter { $0.handledBy == .retry }
        let keepaliveHits = s.errors.filter { $0.handledBy == .keepalive }
        let evictions = s.timeline.filter { $0.event == .evict }.count
        let driverEvents = s.timeline.filter { $0.event == .driverEvent }.compactMap(\.detail)
        if let caller = s.firstUnhandledError, caller.operation == nil, caller.phase == .query {
            parts.append(
                "The query in flight failed with \(caller.label) (\"\(caller.message)\"): its connection was alive when borrowed and was killed mid-query, which no validation can prevent."
            )
        } else if let caller = s.firstUnhandledError {
            parts.append(
                "The first error that reached the caller was \(caller.label) (\"\(caller.message)\") at the \(caller.phase.rawValue) step of \(caller.duringFault ? "an operation during the fault" : "operation \(caller.operation.map(String.init) ?? "?")")."
            )
            if caller.phase == .query && s.policy.validation == .none {
                parts.append(
                    "The pool does not check connections on borrow, so it handed out a dead connection without any error; the failure surfaced only when the query was sent."
                )
            }
            if case .acquire = s.policy.retry, caller.phase == .query {
                parts.append(
                    "The policy retries only when getting a connection fails, and getting one never failed here, so that retry never ran."
                )
            }
        } else if s.errors.isEmpty && driverEvents.isEmpty {
            parts.append("No error was seen at all.")
        } else {
            parts.append("No error reached the caller.")
        }
        if !driverEvents.isEmpty {
            // What a real pool dealt with on its own (a pre-ping's 2006, an idle connection's 'error' event).
            parts.append(
                "The pool under test reported \(driverEvents.count) event(s) of its own, the first: \"\(Report.cut(driverEvents[0], limit: 200))\"."
            )
        }
        if !validationHits.isEmpty {
            parts.append(
                "Validation on borrow (\(s.policy.validation)) caught \(validationHits.count) dead connection(s) and replaced them before use."
            )
        }
        if !retryHits.isEmpty {
            parts.append(
                "Retry (\(s.policy.retry)) absorbed \(retryHits.count) error(s) by running the operation again.")
        }
        if !keepaliveHits.isEmpty {
            parts.append(
                "The background keepalive found \(keepaliveHits.count) dead connection(s) before any borrower did.")
        }
        if evictions > 0 {
            parts.append("\(evictions) connection(s) were evicted for age before being handed out.")
        }
        let socketEvictions = s.timeline.filter { $0.event == .evictedSocketEvent }.count
        if socketEvictions > 0 {
            parts.append(
                "The pool's socket watcher dropped \(socketEvictions) idle connection(s) as soon as their sockets reported that the server closed them, before any borrower took them."
            )
        }
        let o = s.operations
        if s.recovered {
            parts.append("All \(o.total) operations after the fault succeeded: the pool recovered.")
        } else {
            parts.append(
                "\(o.failed) of \(o.total) operations after the fault failed: the pool did not recover on its own\(o.succeeded > 0 ? " (later operations succeeded once dead connections had been thrown away)" : "")."
            )
        }
        return parts.joined(separator: " ")
    }

    static func faultSentence(_ s: ScenarioResult) -> String { s.fault?.base.sentence(s) ?? "Fault \(s.kind)." }
}
