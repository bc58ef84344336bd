import JSON

/// Python's `str()` and truthiness for JSON values. The reference stringifies
/// ids with `str(x)` (legacy integer chat ids become `"123"`, `True` becomes
/// `"True"`), and the HTTP layer uses the same rules for arguments the bot sends
/// as numbers.
public enum PythonText {
    /// `str(value)` for a value decoded by Python's `json` module.
    public static func str(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): return s
        default: return repr(value)
        }
    }

    /// `bool(value)`: null, false, zero, and empty strings/lists/dicts are false.
    public static func isTruthy(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .bigInt: return true
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        }
    }

    /// `repr(value)`. Strings follow Python's quote choice and escapes for ASCII
    /// control characters; non-ASCII characters are kept as they are (Python
    /// would also escape the unprintable ones, which needs its Unicode tables).
    static func repr(_ value: JSONValue) -> String {
        switch value {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .bigInt(let digits): return digits
        case .double(let d): return d.pythonRepr
        case .string(let s): return stringRepr(s)
        case .array(let a): return "[" + a.map(repr).joined(separator: ", ") + "]"
        case .object(let o):
            return "{" + o.entries.map { stringRepr($0.key) + ": " + repr($0.value) }.joined(separator: ", ") + "}"
        }
    }

    static func stringRepr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || (0x7F...0xA0).contains(scalar.value) {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + (hex.count < 2 ? "0" + hex : hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }

    /// The reference reads `MAX_MESSAGE_LOG_ENTRIES_PER_CHAT` with `int(raw.strip())`
    /// on every `record_message_id` and applies it when positive; anything `int()`
    /// rejects means no cap. This mirrors `int()` for decimal text: surrounding
    /// whitespace, an optional sign, and single underscores between digits.
    public static func messageLogCap(environmentValue raw: String?) -> Int? {
        guard let raw else { return nil }
        var text = Substring(raw)
        while let c = text.first, c.isWhitespace { text.removeFirst() }
        while let c = text.last, c.isWhitespace { text.removeLast() }
        var negative = false
        if let sign = text.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            text.removeFirst()
        }
        guard let first = text.first, first.isASCII, first.isNumber, let last = text.last, last != "_" else {
            return nil
        }
        var value = 0
        var previousUnderscore = false
        for c in text {
            if c == "_" {
                if previousUnderscore { return nil }
                previousUnderscore = true
                continue
            }
            guard c.isASCII, let digit = c.wholeNumberValue else { return nil }
            previousUnderscore = false
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(digit)
            // A cap beyond Int.max is as good as none.
            if o1 || o2 { return negative ? nil : Int.max }
            value = sum
        }
        return negative || value == 0 ? nil : value
    }
}
