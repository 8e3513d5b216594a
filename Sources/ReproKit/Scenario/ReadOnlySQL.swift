/// Whether a statement only reads, for SQL repro runs on a server it did not start (`--query`, `workload.query`,
/// a driver's `app.followUp`): repro promises to touch only its own connections and session settings there.
///
/// A conservative lexical check, not a parser: one statement whose first keyword reads (SELECT, SHOW, DO,
/// EXPLAIN, DESCRIBE, VALUES, or ROLLBACK of the session's own transaction), with no second statement and no
/// clause that writes or locks (`INTO OUTFILE`/`DUMPFILE`, `FOR UPDATE`, `LOCK IN SHARE MODE`). Quoted text and
/// comments are ignored for the checks. A statement it refuses can still be run with `--allow-writes`.
public enum ReadOnlySQL {
    public static let readingKeywords: Set<String> = [
        "SELECT", "SHOW", "DO", "EXPLAIN", "DESCRIBE", "DESC", "VALUES", "ROLLBACK",
    ]

    /// Why `sql` is not read-only, in words for an error message; nil when it is.
    public static func refusal(_ sql: String) -> String? {
        let code = stripped(sql)
        let words = code.split { !($0.isLetter || $0.isNumber || $0 == "_") }.map { $0.uppercased() }
        guard let first = words.first else { return "is empty" }
        guard readingKeywords.contains(first) else { return "starts with \(first), which is not a read-only statement" }
        if let semicolon = code.firstIndex(of: ";"),
            code[code.index(after: semicolon)...].contains(where: { !$0.isWhitespace && $0 != ";" })
        {
            return "holds more than one statement"
        }
        for (index, word) in words.enumerated() {
            let next = index + 1 < words.count ? words[index + 1] : ""
            if word == "INTO", next == "OUTFILE" || next == "DUMPFILE" { return "writes a file (INTO \(next))" }
            if word == "FOR", next == "UPDATE" { return "locks rows (FOR UPDATE)" }
            if word == "LOCK", next == "IN" { return "locks rows (LOCK IN SHARE MODE)" }
        }
        return nil
    }

    /// `sql` with string literals, quoted identifiers and comments blanked out, and leading `(` dropped.
    static func stripped(_ sql: String) -> String {
        var out = ""
        var chars = Array(sql)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            switch c {
            case "'", "\"", "`":
                // Up to the closing quote; a backslash escapes the next character, a doubled quote is one.
                while let d = chars.first {
                    chars = chars.dropFirst()
                    if d == "\\" && c != "`" {
                        chars = chars.dropFirst()
                    } else if d == c {
                        if chars.first == c { chars = chars.dropFirst() } else { break }
                    }
                }
                out += " '' "
            case "#":
                while let d = chars.first, d != "\n" { chars = chars.dropFirst() }
                out += " "
            case "-" where chars.first == "-" && (chars.dropFirst().first.map { $0.isWhitespace } ?? true):
                while let d = chars.first, d != "\n" { chars = chars.dropFirst() }
                out += " "
            case "/" where chars.first == "*":
                chars = chars.dropFirst()
                while !chars.isEmpty && !(chars.first == "*" && chars.dropFirst().first == "/") {
                    chars = chars.dropFirst()
                }
                chars = chars.dropFirst(2)
                out += " "
            case "(" where out.allSatisfy({ $0.isWhitespace || $0 == "(" }):
                out += " "
            default:
                out.append(c)
            }
        }
        return out
    }
}
