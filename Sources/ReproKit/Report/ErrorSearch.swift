import Foundation

/// Forgiving lookup in the error catalog: codes, symbolic names, pasted message text (case, punctuation, partial).
public enum ErrorSearch {
    /// One entry and how well it matched (0–100).
    public struct Hit: Sendable {
        public var entry: CatalogEntry
        public var score: Int
    }

    /// Entries that match, best first.
    /// A message a real stack produced in `measured` (docs/drivers.json, `MeasuredDrivers.report`) matches the
    /// entries of the columns where it was seen, so every verbatim message repro has recorded is recognised.
    public static func search(
        _ query: String, in entries: [CatalogEntry] = ErrorCatalog.entries, measured: DriversReport?
    ) -> [Hit] {
        // repro's own codes are negative: "-1" must not normalize to "1".
        if let n = Int(query.trimmingCharacters(in: .whitespaces)), n < 0 {
            return entries.filter { $0.codes.contains(n) }.map { Hit(entry: $0, score: 100) }
        }
        let q = normalize(query)
        guard !q.isEmpty else { return [] }
        let seenIn = measured.map { MeasuredDrivers.entries(seeing: query, in: $0) } ?? []
        var hits: [Hit] = []
        for (index, entry) in entries.enumerated() {
            let s = max(score(q, entry), seenIn.contains(entry.id) ? 90 : 0)
            if s >= 40 { hits.append(Hit(entry: entry, score: s * 100 - index)) }
        }
        return hits.sorted { $0.score > $1.score }.map { Hit(entry: $0.entry, score: $0.score / 100 + 1) }
    }

    /// The entries most like the query, for "did you mean" when nothing matches.
    public static func closest(_ query: String, in entries: [CatalogEntry] = ErrorCatalog.entries, limit: Int = 3)
        -> [CatalogEntry]
    {
        let q = trigrams(normalize(query))
        let ranked = entries.map { entry -> (CatalogEntry, Double) in
            let best = ([entry.title] + entry.phrases).map { similarity(q, trigrams(normalize($0))) }.max() ?? 0
            return (entry, best)
        }
        return ranked.sorted { $0.1 > $1.1 }.prefix(limit).map(\.0)
    }

    static func score(_ q: String, _ entry: CatalogEntry) -> Int {
        if let n = Int(q.replacingOccurrences(of: " ", with: "")) {
            return entry.codes.contains(n) ? 100 : 0
        }
        let words = Set(q.split(separator: " ").map(String.init)).subtracting(stopWords)
        var best = 0
        for phrase in entry.phrases + [entry.title] {
            let p = normalize(phrase)
            if p == q { return 100 }
            if q.count >= 3 && p.contains(q) { best = max(best, 85) }
            if p.count >= 4 && q.contains(p) { best = max(best, 75) }
            let pw = Set(p.split(separator: " ").map(String.init)).subtracting(stopWords)
            if !words.isEmpty && !pw.isEmpty {
                let overlap = Double(words.intersection(pw).count) / Double(words.union(pw).count)
                best = max(best, Int(overlap * 70))
            }
        }
        return best
    }

    static let stopWords: Set<String> = [
        "the", "a", "an", "to", "of", "in", "is", "was", "by", "when", "error", "mysql",
    ]

    /// Lowercase, punctuation and underscores to spaces, spaces collapsed.
    public static func normalize(_ text: String) -> String {
        let mapped = text.lowercased().unicodeScalars.map {
            CharacterSet.alphanumerics.contains($0) ? Character($0) : " "
        }
        return String(mapped).split(separator: " ").joined(separator: " ")
    }

    static func trigrams(_ text: String) -> Set<String> {
        let chars = Array("  " + text + " ")
        guard chars.count >= 3 else { return [] }
        return Set((0...(chars.count - 3)).map { String(chars[$0..<$0 + 3]) })
    }

    static func similarity(_ a: Set<String>, _ b: Set<String>) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        return Double(a.intersection(b).count) / Double(a.union(b).count)
    }
}
