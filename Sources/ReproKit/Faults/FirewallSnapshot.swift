import Foundation

/// The iptables rule set as text without comments or packet counters, so two snapshots compare equal when the rules do.
public struct FirewallSnapshot: Sendable, Equatable, CustomStringConvertible {
    /// Normalized `iptables-save` output, one line per chain or rule.
    public let text: String

    /// Reads the current rule set with `iptables-save` (root only).
    public static func capture() throws(KernelCutError) -> FirewallSnapshot {
        guard let save = FirewallCommand.locate("iptables-save") else {
            throw KernelCutError("iptables-save is not installed; run `make setup`")
        }
        let output = FirewallCommand.run(save, [])
        guard output.succeeded else {
            throw KernelCutError("iptables-save failed: \(output.problem)")
        }
        return FirewallSnapshot(iptablesSave: output.stdout)
    }

    /// Normalizes raw `iptables-save` (or `iptables-save -c`) output.
    ///
    /// A table holding only its built-in chains, all ACCEPT, with no rules, is left out: it filters nothing, and
    /// the nft backend creates it on first use and keeps it after our chain is deleted, so "before the first cut"
    /// (no table at all) and "after remove()" (empty table) must compare equal.
    ///
    /// Chains of other repro processes (`REPRO-<other pid>-<n>`, runs going on at the same time) are left out
    /// too: a snapshot answers "did *this* process leave anything behind?".
    public init(iptablesSave raw: String, ownPID: pid_t = getpid()) {
        var kept: [String] = []
        var table: [String] = []
        for rawLine in raw.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = Self.withoutCounters(rawLine.trimmingCharacters(in: .whitespaces))
            if line.isEmpty || line.hasPrefix("#") { continue }
            if Self.namesOtherRun(line, ownPID: ownPID) || Self.namesNATBlock(line) { continue }
            table.append(line)
            if line == "COMMIT" {
                if !Self.isEmptyTable(table) { kept += table }
                table = []
            }
        }
        kept += table
        text = kept.joined(separator: "\n")
    }

    /// True when the line names a `REPRO-<pid>-<n>` chain of another process.
    static func namesOtherRun(_ line: String, ownPID: pid_t) -> Bool {
        line.split(whereSeparator: { $0 == " " || $0 == ":" }).contains { word in
            let parts = word.split(separator: "-")
            guard parts.count == 3, parts[0] == "REPRO", let pid = pid_t(parts[1]), Int(parts[2]) != nil else {
                return false
            }
            return pid != ownPID
        }
    }

    /// True when some line names `word` (a chain name, say).
    /// True for a line of a NAT block's host chains (`RNAT<n>-PRE`, `RNAT<n>-IN`): an `IdleTimeoutNAT` of a
    /// `--via nat` run that may live meanwhile, which removes them itself (its lock file tells a live one).
    static func namesNATBlock(_ line: String) -> Bool {
        line.split(whereSeparator: { $0 == " " || $0 == ":" }).contains { word in
            guard word.hasPrefix("RNAT") else { return false }
            let parts = word.dropFirst(4).split(separator: "-")
            return parts.count == 2 && Int(parts[0]) != nil && (parts[1] == "PRE" || parts[1] == "IN")
        }
    }

    public func mentions(_ word: String) -> Bool {
        text.split(separator: "\n").contains { $0.split(separator: " ").contains { $0 == word || $0 == ":" + word } }
    }

    public var description: String { text }

    /// `:INPUT ACCEPT [12:345]` → `:INPUT ACCEPT`; `[12:345] -A ...` (from -c) → `-A ...`.
    private static func withoutCounters(_ line: String) -> String {
        var words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        words.removeAll { isCounter($0) }
        return words.joined(separator: " ")
    }

    private static func isCounter(_ word: String) -> Bool {
        guard word.hasPrefix("["), word.hasSuffix("]") else { return false }
        let inner = word.dropFirst().dropLast().split(separator: ":", omittingEmptySubsequences: false)
        return inner.count == 2 && inner.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }

    private static let builtinChains: Set<String> = [
        "INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING",
    ]

    private static func isEmptyTable(_ lines: [String]) -> Bool {
        lines.allSatisfy { line in
            if line.hasPrefix("*") || line == "COMMIT" { return true }
            guard line.hasPrefix(":") else { return false }
            let words = line.dropFirst().split(separator: " ")
            return words.count == 2 && builtinChains.contains(String(words[0])) && words[1] == "ACCEPT"
        }
    }
}
