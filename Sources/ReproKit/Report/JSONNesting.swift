import Foundation

/// How deeply a JSON text nests, for a clear message when Foundation's decoder refuses it for that reason
/// alone (it says only "not valid JSON").
public enum JSONNesting {
    /// The deepest nesting Foundation's JSON decoder reads (measured: 512 levels decode, 513 do not).
    public static let decoderLimit = 512

    /// The deepest `[`/`{` nesting outside strings; nil when the brackets do not balance (broken JSON, which
    /// the decoder's own message describes).
    public static func depth(of data: Data) -> Int? {
        var depth = 0
        var deepest = 0
        var inString = false
        var escaped = false
        for byte in data {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                if depth < 0 { return nil }
            default: break
            }
        }
        return depth == 0 ? deepest : nil
    }
}
