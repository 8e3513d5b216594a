import Foundation

// `repro-embed INPUT OUTPUT TYPE PROPERTY`: writes OUTPUT, a Swift source declaring
// `enum TYPE { static let PROPERTY = "…" }` whose string is INPUT's text exactly, as a raw string literal.
// The EmbedData build-tool plugin runs it on docs/drivers.json at every build where that file changed,
// so ReproKit compiles the measurement in with no generated source in Sources. A string literal, not the byte
// array of SwiftPM's `.embedInCode` resources: the compiler types a 750 KB literal in seconds, the array not in
// ten minutes. It does not read the JSON: a file repro cannot decode still builds, so `make drivers-matrix` can
// rewrite it, and repro says so when a command needs it (`MeasuredDrivers.report`).

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("repro-embed: \(message)\n".utf8))
    exit(1)
}

/// One more `#` than the longest run of them in `text`: then neither the closing delimiter (`"""` and that
/// many `#`) nor an escape or interpolation (`\` and that many `#`) can occur in it.
func delimiter(for text: String) -> String {
    var longest = 0
    var run = 0
    for byte in text.utf8 {
        run = byte == UInt8(ascii: "#") ? run + 1 : 0
        longest = max(longest, run)
    }
    return String(repeating: "#", count: longest + 1)
}

/// `text` as the body of a multi-line raw string literal with `hashes`: verbatim but for the control characters
/// a literal cannot hold as they are (a carriage return would be read as a line break, others are refused),
/// which become `\#u{D}` escapes. Line feeds and tabs stay.
func literalBody(_ text: String, hashes: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        if (scalar.value < 0x20 && scalar != "\n" && scalar != "\t") || scalar.value == 0x7F {
            out += "\\\(hashes)u{\(String(scalar.value, radix: 16, uppercase: true))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// The whole generated file. The closing delimiter sits in column 0, so no line of the text needs indenting;
/// the line break before it is not part of the string, so the string ends exactly where the file does.
func source(for text: String, from input: String, type: String, property: String) -> String {
    let hashes = delimiter(for: text)
    return """
        // Generated at build time by repro-embed from \(input): do not edit.

        /// \(input), verbatim.
        enum \(type) {
            static let \(property) = \(hashes)\"\"\"
        \(literalBody(text, hashes: hashes))
        \"\"\"\(hashes)
        }

        """
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 4 else { fail("usage: repro-embed INPUT OUTPUT TYPE PROPERTY") }
let (input, output, type, property) = (arguments[0], arguments[1], arguments[2], arguments[3])
let name = URL(fileURLWithPath: input).lastPathComponent
guard let data = FileManager.default.contents(atPath: input) else { fail("cannot read \(input)") }
guard let text = String(validating: data, as: UTF8.self) else { fail("\(input) is not UTF-8 text") }
do {
    try Data(source(for: text, from: name, type: type, property: property).utf8)
        .write(to: URL(fileURLWithPath: output), options: .atomic)
} catch {
    fail("cannot write \(output): \(error.localizedDescription)")
}
