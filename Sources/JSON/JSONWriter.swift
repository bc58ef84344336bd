extension JSONValue {
    /// Compact JSON as FastAPI sends it (`separators=(",", ":")`, `ensure_ascii=False`):
    /// no whitespace, keys in order, non-ASCII as raw UTF-8, floats as Python's
    /// `repr`, non-finite floats as `null` so the output is always valid JSON.
    public func compactBytes() -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.write(self)
        return writer.output
    }

    /// `compactBytes()` into a buffer of `capacity` bytes from the start: for a large value whose
    /// size the caller can estimate, growing by doubling would hold up to three times its size at
    /// the last copy.
    public func compactBytes(reservingCapacity capacity: Int) -> [UInt8] {
        var writer = JSONWriter(style: .compact)
        writer.output.reserveCapacity(capacity)
        writer.write(self)
        return writer.output
    }

    public func compactString() -> String {
        String(decoding: compactBytes(), as: UTF8.self)
    }

    /// Byte-for-byte what Python's `json.dumps(value)` returns with default
    /// arguments: `", "` and `": "` separators, `ensure_ascii=True`, floats as
    /// `repr(float)` including `NaN` / `Infinity`, DEL (0x7F) escaped as
    /// `\u007f` like every other byte outside `' '...'~'`. Token counts are taken over
    /// this text, so it has to be exact.
    public func pythonDumpsBytes() -> [UInt8] {
        var writer = JSONWriter(style: .python)
        writer.write(self)
        return writer.output
    }

    public func pythonDumps() -> String {
        String(decoding: pythonDumpsBytes(), as: UTF8.self)
    }

    /// `JSONValue.string(text).pythonDumpsBytes()` appended to `out`: a streamed text delta is
    /// written into its event in place, not through an array of its own.
    public static func appendPythonDumps(of text: String, to out: inout [UInt8]) {
        var writer = JSONWriter(style: .python, reserving: 0)
        swap(&writer.output, &out)
        writer.writeString(text)
        swap(&writer.output, &out)
    }
}

/// Compact JSON (`compactBytes`'s bytes) written piece by piece, for a caller that lays a document
/// out from its own types instead of building a `JSONValue` tree first (the upstream request body:
/// a tree of every message costs more allocations than writing it). The caller writes the
/// punctuation; strings and values are escaped and laid out as `compactBytes` does.
public struct CompactJSONWriter {
    private var writer = JSONWriter(style: .compact)

    public init(reservingCapacity capacity: Int) {
        writer.output.reserveCapacity(capacity)
    }

    /// What was written; the writer is left empty.
    public mutating func take() -> [UInt8] {
        let bytes = writer.output
        writer.output = []
        return bytes
    }

    /// Text written as is: punctuation and keys that need no escaping (`#","role":"#`).
    public mutating func raw(_ text: StaticString) {
        writer.append(text)
    }

    public mutating func string(_ s: String) {
        writer.writeString(s)
    }

    /// A string written in parts: `openString`, any number of `stringPart`s, `closeString`. The
    /// same bytes as `string` of the parts joined, without joining them.
    public mutating func openString() {
        writer.output.append(UInt8(ascii: "\""))
    }

    public mutating func stringPart(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in writer.writeStringContent(utf8) }
    }

    public mutating func stringPart(_ text: StaticString) {
        writer.writeStringContent(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    public mutating func closeString() {
        writer.output.append(UInt8(ascii: "\""))
    }

    /// An integer, as `value(.int(number))` writes it.
    public mutating func int(_ number: Int) {
        writer.appendInteger(number)
    }

    public mutating func value(_ value: JSONValue) {
        writer.write(value)
    }
}

extension Double {
    /// Python's `repr(float)`: the shortest digits that round-trip, in fixed
    /// notation when the decimal exponent is in -4..<16 (with a `.0` when there is
    /// no fraction), otherwise `d.ddde±XX`.
    public var pythonRepr: String {
        var bytes: [UInt8] = []
        appendPythonRepr(self, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

private struct JSONWriter {
    enum Style { case compact, python }

    let style: Style
    var output: [UInt8] = []

    init(style: Style, reserving capacity: Int = 1024) {
        self.style = style
        if capacity > 0 { output.reserveCapacity(capacity) }
    }

    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .int(let i): appendInteger(i)
        case .bigInt(let digits): output.append(contentsOf: digits.utf8)
        case .double(let d):
            if d.isFinite || style == .python {
                appendPythonRepr(d, to: &output)
            } else {
                append("null")
            }
        case .string(let s): writeString(s)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { appendItemSeparator() }
                first = false
                write(element)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let object):
            output.append(UInt8(ascii: "{"))
            var first = true
            for entry in object.entries {
                if !first { appendItemSeparator() }
                first = false
                writeString(entry.key)
                output.append(UInt8(ascii: ":"))
                if style == .python { output.append(UInt8(ascii: " ")) }
                write(entry.value)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    @inline(__always)
    mutating func appendItemSeparator() {
        output.append(UInt8(ascii: ","))
        if style == .python { output.append(UInt8(ascii: " ")) }
    }

    @inline(__always)
    mutating func append(_ s: StaticString) {
        output.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    mutating func appendInteger(_ value: Int) {
        if value >= 0 && value < 10 {
            output.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        // Digits written last to first into a small buffer: no String made for a number.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: Int.min has 20 characters
        withUnsafeMutableBytes(of: &digits) { buffer in
            var at = buffer.count
            var rest = value.magnitude
            repeat {
                at -= 1
                buffer[at] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            if value < 0 {
                at -= 1
                buffer[at] = UInt8(ascii: "-")
            }
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[at...]))
        }
    }

    mutating func writeString(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in writeStringBytes(utf8) }
    }

    mutating func writeStringBytes(_ utf8: UnsafeBufferPointer<UInt8>) {
        output.append(UInt8(ascii: "\""))
        writeStringContent(utf8)
        output.append(UInt8(ascii: "\""))
    }

    /// A string's escaped bytes without the quotes.
    mutating func writeStringContent(_ utf8: UnsafeBufferPointer<UInt8>) {
        let escapeASCIIOnly = style == .python
        var runStart = 0
        var i = 0
        let n = utf8.count
        while i < n {
            let b = utf8[i]
            // Most bytes need nothing; test them with plain comparisons (a table
            // lookup here costs a lazy-global check per byte).
            if b >= 0x20 && b != 0x22 && b != 0x5C && (b < 0x7F || !escapeASCIIOnly) {
                i += 1
                continue
            }
            flushRun(utf8, from: runStart, to: i)
            if b >= 0x80 {
                let (scalar, length) = decodeScalar(utf8, at: i)
                if scalar >= 0x10000 {
                    let v = scalar - 0x10000
                    appendUnicodeEscape(UInt16(0xD800 + (v >> 10)))
                    appendUnicodeEscape(UInt16(0xDC00 + (v & 0x3FF)))
                } else {
                    appendUnicodeEscape(UInt16(scalar))
                }
                i += length
            } else {
                // ensure_ascii escapes DEL too, as \u007f.
                let letter = shortEscapeLetter(b)
                if letter == 0 {
                    appendUnicodeEscape(UInt16(b))
                } else {
                    output.append(UInt8(ascii: "\\"))
                    output.append(letter)
                }
                i += 1
            }
            runStart = i
        }
        flushRun(utf8, from: runStart, to: n)
    }

    @inline(__always)
    mutating func flushRun(_ utf8: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) {
        if end > start {
            output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<end]))
        }
    }

    /// The input is a Swift String's UTF-8, so it is well formed.
    @inline(__always)
    func decodeScalar(_ utf8: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let lead = UInt32(utf8[i])
        if lead < 0xE0 {
            return ((lead & 0x1F) << 6 | UInt32(utf8[i + 1] & 0x3F), 2)
        }
        if lead < 0xF0 {
            return ((lead & 0x0F) << 12 | UInt32(utf8[i + 1] & 0x3F) << 6 | UInt32(utf8[i + 2] & 0x3F), 3)
        }
        let scalar = (lead & 0x07) << 18 | UInt32(utf8[i + 1] & 0x3F) << 12
            | UInt32(utf8[i + 2] & 0x3F) << 6 | UInt32(utf8[i + 3] & 0x3F)
        return (scalar, 4)
    }

    mutating func appendUnicodeEscape(_ unit: UInt16) {
        output.append(UInt8(ascii: "\\"))
        output.append(UInt8(ascii: "u"))
        output.append(lowerHexDigit(unit >> 12))
        output.append(lowerHexDigit(unit >> 8 & 0xF))
        output.append(lowerHexDigit(unit >> 4 & 0xF))
        output.append(lowerHexDigit(unit & 0xF))
    }

    @inline(__always)
    func lowerHexDigit(_ nibble: UInt16) -> UInt8 {
        UInt8(truncatingIfNeeded: nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
    }
}

/// The letter after the backslash for the escapes Python writes in short form,
/// 0 for the bytes it writes as `\u00XX`. Python escapes exactly `"`, `\` and
/// the C0 controls; `/` stays literal, and so does DEL unless `ensure_ascii`.
@inline(__always)
private func shortEscapeLetter(_ b: UInt8) -> UInt8 {
    switch b {
    case 0x08: return UInt8(ascii: "b")
    case 0x09: return UInt8(ascii: "t")
    case 0x0A: return UInt8(ascii: "n")
    case 0x0C: return UInt8(ascii: "f")
    case 0x0D: return UInt8(ascii: "r")
    case 0x22: return UInt8(ascii: "\"")
    case 0x5C: return UInt8(ascii: "\\")
    default: return 0
    }
}

/// Swift's `description` already yields the shortest round-trip digits (the
/// same digits Python's repr picks); only the layout differs, so take the
/// digits and decimal exponent from it and lay them out Python's way.
func appendPythonRepr(_ value: Double, to out: inout [UInt8]) {
    if value.isNaN {
        out.append(contentsOf: "NaN".utf8)
        return
    }
    if value.isInfinite {
        out.append(contentsOf: (value < 0 ? "-Infinity" : "Infinity").utf8)
        return
    }
    if value.sign == .minus { out.append(UInt8(ascii: "-")) }
    if value == 0 {
        out.append(contentsOf: "0.0".utf8)
        return
    }

    // Collect the significant digits and `pointPosition`, the number of digits
    // before the decimal point: value = 0.d1d2d3... x 10^pointPosition.
    var digits: [UInt8] = []
    digits.reserveCapacity(17)
    var pointPosition = 0
    var sawPoint = false
    var exponent = 0
    var exponentSign = 1
    var inExponent = false
    for c in value.magnitude.description.utf8 {
        if inExponent {
            if c == UInt8(ascii: "-") {
                exponentSign = -1
            } else if c != UInt8(ascii: "+") {
                exponent = exponent * 10 + Int(c - UInt8(ascii: "0"))
            }
            continue
        }
        switch c {
        case UInt8(ascii: "."): sawPoint = true
        case UInt8(ascii: "e"), UInt8(ascii: "E"): inExponent = true
        default:
            if digits.isEmpty && c == UInt8(ascii: "0") {
                // Leading zeros only move the point.
                if sawPoint { pointPosition -= 1 }
            } else {
                digits.append(c)
                if !sawPoint { pointPosition += 1 }
            }
        }
    }
    pointPosition += exponentSign * exponent
    while digits.count > 1 && digits.last == UInt8(ascii: "0") { digits.removeLast() }

    let decimalExponent = pointPosition - 1
    if decimalExponent < -4 || decimalExponent >= 16 {
        out.append(digits[0])
        if digits.count > 1 {
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: digits[1...])
        }
        out.append(UInt8(ascii: "e"))
        out.append(UInt8(ascii: decimalExponent < 0 ? "-" : "+"))
        let magnitude = abs(decimalExponent)
        if magnitude < 10 { out.append(UInt8(ascii: "0")) }
        out.append(contentsOf: String(magnitude).utf8)
    } else if pointPosition <= 0 {
        out.append(contentsOf: "0.".utf8)
        for _ in 0 ..< -pointPosition { out.append(UInt8(ascii: "0")) }
        out.append(contentsOf: digits)
    } else if pointPosition >= digits.count {
        out.append(contentsOf: digits)
        for _ in 0 ..< (pointPosition - digits.count) { out.append(UInt8(ascii: "0")) }
        out.append(contentsOf: ".0".utf8)
    } else {
        out.append(contentsOf: digits[..<pointPosition])
        out.append(UInt8(ascii: "."))
        out.append(contentsOf: digits[pointPosition...])
    }
}
