import JSON

/// Python's `str()` and `repr()` of a value decoded by `json.loads`, for the places where
/// the reference turns a decoded value into text with `str(...)`.
enum PythonRepr {
    static func isTruthy(_ v: JSONValue) -> Bool {
        switch v {
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

    static func str(_ v: JSONValue) -> String {
        if case .string(let s) = v { return s }
        return repr(v)
    }

    static func repr(_ v: JSONValue) -> String {
        var out = ""
        write(v, into: &out)
        return out
    }

    private static func write(_ v: JSONValue, into out: inout String) {
        switch v {
        case .null: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int(let i): out += String(i)
        case .bigInt(let s): out += s
        case .double(let d):
            if d.isNaN { out += "nan" } else if d.isInfinite { out += d < 0 ? "-inf" : "inf" } else {
                out += JSONValue.double(d).pythonDumps()
            }
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                write(item, into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, e) in o.entries.enumerated() {
                if i > 0 { out += ", " }
                writeString(e.key, into: &out)
                out += ": "
                write(e.value, into: &out)
            }
            out += "}"
        }
    }

    /// `repr(str)`: single quotes unless the text has a single quote and no double quote.
    private static func writeString(_ s: String, into out: inout String) {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        out.append(quote)
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(c) == quote {
                    out += "\\"
                    out.unicodeScalars.append(c)
                } else if isPrintable(c) {
                    out.unicodeScalars.append(c)
                } else if c.value < 0x100 {
                    out += "\\x" + hex(c.value, width: 2)
                } else if c.value < 0x10000 {
                    out += "\\u" + hex(c.value, width: 4)
                } else {
                    out += "\\U" + hex(c.value, width: 8)
                }
            }
        }
        out.append(quote)
    }

    /// Python's `str.isprintable()` for one character: everything but categories
    /// Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other than the ASCII space.
    private static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
            .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    private static func hex(_ v: UInt32, width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
