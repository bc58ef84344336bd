/// A `.env` reader with python-dotenv's grammar, because users bring the
/// reference's `.env` files unchanged:
///
/// - `KEY=value`, `export KEY=value`, `'KEY'=value`; blank lines and `#` lines skipped.
/// - Unquoted values run to the end of the line; a `#` preceded by whitespace
///   starts a comment; trailing whitespace is dropped.
/// - `'single'` values are literal except `\'` and `\\`; `"double"` values decode
///   `\\ \' \" \a \b \f \n \r \t \v`. Both may span lines.
/// - A line with a key but no `=` has no value and is skipped; a statement that
///   does not parse (`K="x" junk`) is skipped up to the end of its line.
///
/// Not supported: `${VAR}` interpolation (values keep the `${...}` text).
public enum DotEnv {
    public static func parse(_ text: String) -> [(key: String, value: String)] {
        var scanner = DotEnvScanner(Array(text.unicodeScalars))
        return scanner.parseAll()
    }
}

private struct DotEnvScanner {
    let scalars: [Unicode.Scalar]
    var index = 0

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var atEnd: Bool { index >= scalars.count }
    var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    static func isLineBreak(_ s: Unicode.Scalar) -> Bool { s == "\n" || s == "\r" }
    static func isInlineSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace && !isLineBreak(s) }

    mutating func skip(while predicate: (Unicode.Scalar) -> Bool) {
        while let s = current, predicate(s) { index += 1 }
    }

    mutating func parseAll() -> [(key: String, value: String)] {
        var bindings: [(key: String, value: String)] = []
        while true {
            skip(while: { $0.properties.isWhitespace })
            if atEnd { break }
            if let binding = parseStatement() {
                if let value = binding.value { bindings.append((binding.key, value)) }
            } else {
                // Like python-dotenv, skip the rest of the line the statement failed
                // on, which may be past a multi-line quoted value.
                skip(while: { !Self.isLineBreak($0) })
                consumeLineBreak()
            }
        }
        return bindings
    }

    /// nil when the statement does not parse; a nil value for comments and bare keys.
    mutating func parseStatement() -> (key: String, value: String?)? {
        if current == "#" {
            skip(while: { !Self.isLineBreak($0) })
            consumeLineBreak()
            return ("", nil)
        }
        consumeExportPrefix()
        guard let key = parseKey() else { return nil }
        skip(while: Self.isInlineSpace)
        var value: String? = nil
        if current == "=" {
            index += 1
            skip(while: Self.isInlineSpace)
            guard let parsed = parseValue() else { return nil }
            value = parsed
        }
        // Optional comment, then the line must end.
        skip(while: Self.isInlineSpace)
        if current == "#" { skip(while: { !Self.isLineBreak($0) }) }
        guard atEnd || Self.isLineBreak(current!) else { return nil }
        consumeLineBreak()
        return (key, value)
    }

    mutating func consumeLineBreak() {
        if current == "\r" { index += 1 }
        if current == "\n" { index += 1 }
    }

    mutating func consumeExportPrefix() {
        let word: [Unicode.Scalar] = ["e", "x", "p", "o", "r", "t"]
        guard index + word.count < scalars.count, Array(scalars[index..<index + word.count]) == word,
            Self.isInlineSpace(scalars[index + word.count])
        else { return }
        index += word.count
        skip(while: Self.isInlineSpace)
    }

    mutating func parseKey() -> String? {
        if current == "'" {
            let start = index + 1
            guard start < scalars.count, let close = scalars[start...].firstIndex(of: "'"), close > start else { return nil }
            index = close + 1
            return String(String.UnicodeScalarView(scalars[start..<close]))
        }
        let start = index
        skip(while: { $0 != "=" && $0 != "#" && !$0.properties.isWhitespace })
        guard index > start else { return nil }
        return String(String.UnicodeScalarView(scalars[start..<index]))
    }

    mutating func parseValue() -> String? {
        switch current {
        case "'": return parseQuoted(quote: "'", escapes: ["\\": "\\", "'": "'"])
        case "\"":
            return parseQuoted(
                quote: "\"",
                escapes: [
                    "\\": "\\", "'": "'", "\"": "\"", "a": "\u{07}", "b": "\u{08}", "f": "\u{0C}",
                    "n": "\n", "r": "\r", "t": "\t", "v": "\u{0B}",
                ])
        default:
            let start = index
            skip(while: { !Self.isLineBreak($0) })
            var value = Array(scalars[start..<index])
            // A comment needs whitespace before its '#': `a#b` is a value.
            if let hash = value.indices.first(where: { $0 > 0 && value[$0] == "#" && value[$0 - 1].properties.isWhitespace }) {
                value.removeSubrange(hash...)
            }
            while let last = value.last, last.properties.isWhitespace { value.removeLast() }
            return String(String.UnicodeScalarView(value))
        }
    }

    /// `index` is at the opening quote. Only a backslash before the quote keeps the
    /// quote inside; other escapes are decoded from the table or kept as written.
    mutating func parseQuoted(quote: Unicode.Scalar, escapes: [Unicode.Scalar: Unicode.Scalar]) -> String? {
        var i = index + 1
        var result = String.UnicodeScalarView()
        while i < scalars.count {
            let s = scalars[i]
            if s == quote {
                index = i + 1
                return String(result)
            }
            if s == "\\", i + 1 < scalars.count, let decoded = escapes[scalars[i + 1]] {
                result.append(decoded)
                i += 2
                continue
            }
            result.append(s)
            i += 1
        }
        return nil
    }
}
