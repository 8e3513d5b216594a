/// What a scenario should observe; every field is optional.
public struct Expectations: Sendable, Equatable, Codable {
    /// The first error's code must be one of these.
    public var firstError: [DatabaseError.Code]?
    /// The first error's normalized kind must be one of these (compares across drivers).
    public var kind: [ErrorKind]?
    /// The first error's message (verbatim, as the application saw it) must contain this text.
    public var message: String?
    /// The first error must surface in this phase.
    public var phase: ErrorPhase?
    /// Every operation after the fault must (true) or must not all (false) succeed.
    public var recovered: Bool?
    /// The errors that reached the application must include messages containing these texts, in this order
    /// (other errors may come between them): an error and the one its follow-up command got, verbatim.
    public var messages: [String]?

    public init(
        firstError: [DatabaseError.Code]? = nil, kind: [ErrorKind]? = nil, message: String? = nil,
        phase: ErrorPhase? = nil, recovered: Bool? = nil, messages: [String]? = nil
    ) {
        self.messages = messages
        self.firstError = firstError
        self.kind = kind
        self.message = message
        self.phase = phase
        self.recovered = recovered
    }

    public var isEmpty: Bool {
        firstError == nil && kind == nil && message == nil && phase == nil && recovered == nil && messages == nil
    }

    /// Checks each expectation against what the run observed; `reachedCaller` are the errors the application saw,
    /// in order.
    public func evaluate(firstError observed: ObservedError?, recovered: Bool, reachedCaller: [ObservedError] = [])
        -> [ExpectationResult]
    {
        var results: [ExpectationResult] = []
        let actualError = observed.map { "\($0.error.code)" } ?? "none"
        if let codes = firstError {
            let wanted = codes.map(\.description).joined(separator: " or ")
            let ok = observed.map { codes.contains($0.error.code) } ?? false
            results.append(ExpectationResult(name: "firstError", expected: wanted, actual: actualError, passed: ok))
        }
        if let kinds = kind {
            let ok = observed.map { kinds.contains($0.kind) } ?? false
            results.append(
                ExpectationResult(
                    name: "kind", expected: kinds.map(\.rawValue).joined(separator: " or "),
                    actual: observed?.kind.rawValue ?? "none", passed: ok))
        }
        if let message {
            let ok = observed.map { $0.message.contains(message) } ?? false
            results.append(
                ExpectationResult(
                    name: "message", expected: "contains '\(message)'", actual: observed?.message ?? "none", passed: ok)
            )
        }
        if let phase {
            let ok = observed?.phase == phase
            results.append(
                ExpectationResult(
                    name: "phase", expected: phase.rawValue, actual: observed?.phase.rawValue ?? "none", passed: ok))
        }
        if let messages {
            var found = 0
            for error in reachedCaller where found < messages.count && error.message.contains(messages[found]) {
                found += 1
            }
            let seen = reachedCaller.map { "'\($0.message)'" }
            results.append(
                ExpectationResult(
                    name: "messages", expected: "in order: " + messages.map { "'\($0)'" }.joined(separator: ", "),
                    actual: seen.isEmpty ? "none" : seen.joined(separator: ", "), passed: found == messages.count))
        }
        if let want = self.recovered {
            results.append(
                ExpectationResult(
                    name: "recovered", expected: "\(want)", actual: "\(recovered)", passed: want == recovered))
        }
        return results
    }
}

/// One checked expectation.
public struct ExpectationResult: Sendable, Equatable, Codable {
    public var name: String
    public var expected: String
    public var actual: String
    public var passed: Bool

    public init(name: String, expected: String, actual: String, passed: Bool) {
        self.name = name
        self.expected = expected
        self.actual = actual
        self.passed = passed
    }
}
