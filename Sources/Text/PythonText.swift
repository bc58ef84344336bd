// Text with Python's semantics. The reference trims with `str.strip()`, splits with `str.split()`,
// shows values with `repr()` and reads numbers with `int()`, and the port has to give the same
// answers. Python's whitespace is not Swift's (`Character.isWhitespace`, Unicode's White_Space):
// it adds the ASCII information separators, so every helper here says which one it uses.

extension Unicode.Scalar {
    /// Python's `str.isspace()`, which `strip()`, `split()`, `int()` and regex `\s` use: Unicode's
    /// White_Space plus the ASCII information separators U+001C to U+001F.
    @inlinable
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

extension BidirectionalCollection where Element == Unicode.Scalar {
    /// Python's `str.strip()` with no argument, on scalars: the slice between the first and the
    /// last scalar that is not Python whitespace.
    @inlinable
    public func trimmingPythonWhitespace() -> SubSequence {
        guard let first = firstIndex(where: { !$0.isPythonWhitespace }) else { return self[endIndex...] }
        let last = lastIndex(where: { !$0.isPythonWhitespace })!
        return self[first...last]
    }
}

extension StringProtocol {
    /// Python's `str.strip()` with no argument.
    public func pythonStripped() -> String {
        var stripped = String.UnicodeScalarView()
        stripped.append(contentsOf: unicodeScalars.trimmingPythonWhitespace())
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
                    let (prefix, width) = c.value <= 0xFF ? ("\\x", 2) : c.value <= 0xFFFF ? ("\\u", 4) : ("\\U", 8)
                    out.append(contentsOf: (prefix + zeroPaddedHex(c.value, width: width)).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }
}

/// Python's `str.split()` with no separator: runs of whitespace separate, none kept.
public func pythonSplit(_ s: String) -> [String] {
    var out: [String] = []
    var current = String.UnicodeScalarView()
    for scalar in s.unicodeScalars {
        if scalar.isPythonWhitespace {
            if !current.isEmpty {
                out.append(String(current))
                current = String.UnicodeScalarView()
            }
        } else {
            current.append(scalar)
        }
    }
    if !current.isEmpty { out.append(String(current)) }
    return out
}

/// Python's readings of settings text that the reference parses on use rather than at startup.
public enum PythonText {
    /// The reference reads `MAX_MESSAGE_LOG_ENTRIES_PER_CHAT` with `int(raw.strip())`
    /// on every `record_message_id` and applies it when positive; anything `int()`
    /// rejects means no cap. This mirrors `int()` for decimal text: surrounding
    /// (Python) whitespace, an optional sign, and single underscores between digits.
    public static func messageLogCap(environmentValue raw: String?) -> Int? {
        guard let raw else { return nil }
        let text = raw.pythonStripped()
        var digits = Substring(text)
        var negative = false
        if let sign = digits.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            digits.removeFirst()
        }
        guard let first = digits.first, first.isASCII, first.isNumber, let last = digits.last, last != "_" else {
            return nil
        }
        var value = 0
        var previousUnderscore = false
        for c in digits {
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
