// Python's view of decoded JSON and of text: the reference turns values into text with
// `str()`/`repr()`, tests them with `bool()`, and trims with `str.strip()`, and the port has
// to give the same answers.

extension Unicode.Scalar {
    /// Python's `str.isspace()`, which `strip()`, `split()` and regex `\s` use: Unicode's
    /// White_Space plus the ASCII information separators U+001C to U+001F.
    public var isPythonWhitespace: Bool {
        switch value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// Python's `str.isprintable()` for one character: everything but the Other (Cc, Cf, Cs,
    /// Co, Cn) and Separator (Zl, Zp, Zs) categories, with the ASCII space allowed.
    public var isPythonPrintable: Bool {
        if self == " " { return true }
        switch properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
            .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }
}

extension StringProtocol {
    /// Python's `str.strip()` with no argument.
    public func pythonStripped() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isPythonWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.isPythonWhitespace })!
        var stripped = String.UnicodeScalarView()
        stripped.append(contentsOf: scalars[first...last])
        return String(stripped)
    }

    /// Python's `repr(str)`: single quotes unless the text has a `'` and no `"`, backslash
    /// escapes for the quote, `\\`, `\t`, `\n`, `\r`, and `\x`/`\u`/`\U` escapes for the
    /// characters Python does not consider printable.
    public var pythonRepr: String {
        let quote: Unicode.Scalar = contains("'") && !contains("\"") ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for c in unicodeScalars {
            switch c {
            case quote, "\\":
                out.append("\\")
                out.append(c)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default:
                if c.isPythonPrintable {
                    out.append(c)
                } else {
                    let hex = String(c.value, radix: 16)
                    let (prefix, width) = c.value <= 0xFF ? ("\\x", 2) : c.value <= 0xFFFF ? ("\\u", 4) : ("\\U", 8)
                    out.append(contentsOf: (prefix + String(repeating: "0", count: width - hex.count) + hex).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }
}

extension JSONValue {
    /// Python's `bool()` of the value `json.loads` would return: null, false, zero and empty
    /// strings, lists and dicts are false.
    public var isPythonTruthy: Bool {
        switch self {
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

    /// Python's `str()` of the decoded value: like `repr` except that a top-level string is
    /// shown bare.
    public var pythonStr: String {
        if case .string(let s) = self { return s }
        return pythonRepr
    }

    /// Python's `repr()` of the value `json.loads` would return.
    public var pythonRepr: String {
        switch self {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .bigInt(let digits): return digits
        case .double(let d):
            // `repr(float)` spells the non-finite values as Python literals, unlike json.dumps.
            if d.isNaN { return "nan" }
            if d.isInfinite { return d < 0 ? "-inf" : "inf" }
            return d.pythonRepr
        case .string(let s): return s.pythonRepr
        case .array(let a): return "[" + a.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .object(let o):
            return "{" + o.entries.map { $0.key.pythonRepr + ": " + $0.value.pythonRepr }.joined(separator: ", ") + "}"
        }
    }
}
