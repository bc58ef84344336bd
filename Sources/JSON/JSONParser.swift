import Text

/// Why a document was rejected and where: `offset` is the byte offset into the
/// UTF-8 input of the first byte that could not be accepted.
public struct JSONParseError: Error, CustomStringConvertible, Equatable, Sendable {
    public let offset: Int
    public let reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Deeper documents are rejected instead of recursing until the stack runs out.
    /// Claude Code bodies nest a dozen levels; tool schemas rarely more than thirty.
    public static let maxNestingDepth = 512

    /// Parses one RFC 8259 document from UTF-8 bytes. Accepts what Python's
    /// `json.loads` accepts, except the NaN/Infinity literals; a leading UTF-8
    /// byte order mark is skipped (Python skips it for bytes input too).
    public static func parse(_ bytes: [UInt8], keeping keys: TopLevelKeys? = nil) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONParseError) -> JSONValue in try parse(buffer, keeping: keys) }
        }
        return try result.get()
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var text = text
        let result: Result<JSONValue, JSONParseError> = text.withUTF8 { utf8 in
            Result { () throws(JSONParseError) -> JSONValue in try parse(UnsafeRawBufferPointer(utf8)) }
        }
        return try result.get()
    }

    public static func parse(_ buffer: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        try parse(buffer, keeping: nil)
    }

    /// Like `parse`, but when the document is an object only the `keys` of that top-level object
    /// are built; the other members are still checked (the same input fails with the same error)
    /// but left out. A streamed chat chunk carries an id, model name and timestamps that nobody
    /// reads, and building them costs more than the text the chunk brings.
    public static func parse(_ buffer: UnsafeRawBufferPointer, keeping keys: TopLevelKeys?) throws(JSONParseError) -> JSONValue {
        guard let base = buffer.baseAddress, buffer.count > 0 else {
            throw JSONParseError(offset: 0, reason: "empty input, expected a value")
        }
        var parser = JSONParser(base: base.assumingMemoryBound(to: UInt8.self), count: buffer.count)
        parser.keep = keys
        return try parser.parseDocument()
    }
}

/// The members of a top-level object that `JSONValue.parse(_:keeping:)` builds.
public struct TopLevelKeys: Sendable {
    let keys: [[UInt8]]
    public init(_ keys: [String]) { self.keys = keys.map { Array($0.utf8) } }

    func contains(_ raw: UnsafeBufferPointer<UInt8>) -> Bool {
        keys.contains { $0.count == raw.count && $0.elementsEqual(raw) }
    }
}

enum Byte {
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let slash: UInt8 = 0x2F
    static let comma: UInt8 = 0x2C
    static let colon: UInt8 = 0x3A
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
    static let openBracket: UInt8 = 0x5B
    static let closeBracket: UInt8 = 0x5D
    static let minus: UInt8 = 0x2D
    static let plus: UInt8 = 0x2B
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let lowerE: UInt8 = 0x65
    static let upperE: UInt8 = 0x45
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let newline: UInt8 = 0x0A
    static let carriageReturn: UInt8 = 0x0D
}

/// Recursive descent over raw UTF-8. Every read is bounds-checked against
/// `count` by hand because the pointer carries no bounds of its own.
struct JSONParser {
    let base: UnsafePointer<UInt8>
    let count: Int
    var index = 0
    var depth = 0
    /// Reused for strings that contain escapes, so one allocation serves them all.
    var scratch: [UInt8] = []
    var keep: TopLevelKeys?

    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        if count >= 3, base[0] == 0xEF, base[1] == 0xBB, base[2] == 0xBF { index = 3 }
        let value = try parseValue()
        skipWhitespace()
        if index < count {
            throw JSONParseError(offset: index, reason: "unexpected \(describeByte(base[index])) after the document")
        }
        return value
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < count {
            let b = base[index]
            guard b == Byte.space || b == Byte.newline || b == Byte.carriageReturn || b == Byte.tab else { return }
            index += 1
        }
    }

    func describeByte(_ b: UInt8) -> String {
        if b >= 0x21 && b < 0x7F { return "character '\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(zeroPaddedHex(b, width: 2))"
    }

    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        guard index < count else {
            throw JSONParseError(offset: index, reason: "unexpected end of input, expected a value")
        }
        switch base[index] {
        case Byte.openBrace: return try parseObject()
        case Byte.openBracket: return try parseArray()
        case Byte.quote: return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case Byte.minus, Byte.zero...Byte.nine: return try parseNumber()
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            throw JSONParseError(offset: index, reason: "NaN and Infinity are not valid JSON")
        case let b:
            throw JSONParseError(offset: index, reason: "unexpected \(describeByte(b)), expected a value")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let start = index
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for b in bytes {
            guard index < count, base[index] == b else {
                throw JSONParseError(offset: start, reason: "invalid literal, expected '\(literal)'")
            }
            index += 1
        }
    }

    mutating func enterContainer() throws(JSONParseError) {
        depth += 1
        if depth > JSONValue.maxNestingDepth {
            throw JSONParseError(offset: index, reason: "nesting deeper than \(JSONValue.maxNestingDepth) levels")
        }
    }

    mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < count, base[index] == Byte.closeBracket {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue())
            skipWhitespace()
            guard index < count else {
                throw JSONParseError(offset: index, reason: "unexpected end of input, expected ',' or ']'")
            }
            switch base[index] {
            case Byte.comma:
                index += 1
            case Byte.closeBracket:
                index += 1
                depth -= 1
                return .array(elements)
            case let b:
                throw JSONParseError(offset: index, reason: "unexpected \(describeByte(b)), expected ',' or ']' after array element")
            }
        }
    }

    mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        index += 1
        var object = JSONObject()
        // Small objects check duplicates by scanning; big ones switch to a set so
        // a request with thousands of keys stays linear.
        var seenKeys: Set<String>? = nil
        skipWhitespace()
        if index < count, base[index] == Byte.closeBrace {
            index += 1
            depth -= 1
            return .object(object)
        }
        // Most objects in a request have two to four members: one allocation instead of growing
        // through one, two and four.
        object.reserveCapacity(4)
        while true {
            skipWhitespace()
            guard index < count else {
                throw JSONParseError(offset: index, reason: "unexpected end of input, expected an object key")
            }
            guard base[index] == Byte.quote else {
                throw JSONParseError(offset: index, reason: "unexpected \(describeByte(base[index])), expected '\"' to start an object key")
            }
            let keyStart = index + 1
            let plainKey = try scanString()
            let keyEnd = index - 1
            skipWhitespace()
            guard index < count, base[index] == Byte.colon else {
                throw JSONParseError(offset: index, reason: "expected ':' after object key")
            }
            index += 1
            if let keep, depth == 1, plainKey, !keep.contains(UnsafeBufferPointer(start: base + keyStart, count: keyEnd - keyStart)) {
                try skipValue()
                if try endOfMember() { return .object(object) }
                continue
            }
            let key = plainKey ? String(decoding: UnsafeBufferPointer(start: base + keyStart, count: keyEnd - keyStart), as: UTF8.self)
                : String(decoding: scratch, as: UTF8.self)
            let value = try parseValue()

            let isDuplicate: Bool
            if seenKeys != nil {
                // Insert in place: binding the set to a local first would copy it for every key.
                isDuplicate = !seenKeys!.insert(key).inserted
            } else {
                isDuplicate = object.entries.contains { $0.key == key }
                if !isDuplicate && object.count >= 16 { seenKeys = Set(object.keys + [key]) }
            }
            // Python's dict keeps the first position and the last value.
            if isDuplicate { object[key] = value } else { object.appendUnchecked(key: key, value: value) }
            if try endOfMember() { return .object(object) }
        }
    }

    /// After an object member: steps past ',' (false) or the closing '}' (true).
    mutating func endOfMember() throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard index < count else {
            throw JSONParseError(offset: index, reason: "unexpected end of input, expected ',' or '}'")
        }
        switch base[index] {
        case Byte.comma:
            index += 1
            return false
        case Byte.closeBrace:
            index += 1
            depth -= 1
            return true
        case let b:
            throw JSONParseError(offset: index, reason: "unexpected \(describeByte(b)), expected ',' or '}' after object member")
        }
    }

    /// Checks a value as `parseValue` would, building nothing for strings (the common case).
    mutating func skipValue() throws(JSONParseError) {
        skipWhitespace()
        if index < count, base[index] == Byte.quote {
            _ = try scanString()
        } else {
            _ = try parseValue()
        }
    }

    // MARK: Strings

    /// `index` is at the opening quote; on return it is past the closing quote.
    mutating func parseString() throws(JSONParseError) -> String {
        let start = index + 1
        if try scanString() {
            return String(decoding: UnsafeBufferPointer(start: base + start, count: index - 1 - start), as: UTF8.self)
        }
        return String(decoding: scratch, as: UTF8.self)
    }

    /// Checks one string from its opening quote and steps past the closing one. True when it
    /// has no escapes (its text is the bytes between the quotes); otherwise its text is in
    /// `scratch`.
    mutating func scanString() throws(JSONParseError) -> Bool {
        let openQuote = index
        index += 1
        let start = index
        // Fast path: no escapes, so the bytes between the quotes are the string.
        while index < count {
            skipPlainASCII()
            guard index < count else { break }
            let b = base[index]
            if b == Byte.quote {
                index += 1
                return true
            }
            if b == Byte.backslash { break }
            if b < 0x20 { throw controlCharacterError(b) }
            if b < 0x80 { index += 1 } else { try skipMultibyteSequence() }
        }
        guard index < count else {
            throw JSONParseError(offset: openQuote, reason: "unterminated string")
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: base + start, count: index - start))
        while index < count {
            let b = base[index]
            if b == Byte.quote {
                index += 1
                return false
            }
            if b == Byte.backslash {
                try parseEscape()
                continue
            }
            if b < 0x20 { throw controlCharacterError(b) }
            let runStart = index
            if b < 0x80 { index += 1 } else { try skipMultibyteSequence() }
            // Copy the rest of the escape-free run in one go.
            while index < count {
                let c = base[index]
                if c == Byte.quote || c == Byte.backslash || c < 0x20 { break }
                if c < 0x80 { index += 1 } else { try skipMultibyteSequence() }
            }
            scratch.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: index - runStart))
        }
        throw JSONParseError(offset: openQuote, reason: "unterminated string")
    }

    /// Steps over bytes that need no attention inside a string (printable ASCII other than the
    /// quote and the backslash), eight at a time: most of a document's bytes are string bytes.
    @inline(__always)
    mutating func skipPlainASCII() {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while index + 8 <= count {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
            let quote = word ^ (ones &* 0x22), backslash = word ^ (ones &* 0x5C)
            // Flags a byte that is the quote, the backslash, below 0x20 or above 0x7F; the lowest
            // flag is exact (a borrow only flags bytes above a flagged one).
            let special = ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash | (word &- ones &* 0x20) & ~word | word) & highs
            if special != 0 {
                index += special.trailingZeroBitCount / 8
                return
            }
            index += 8
        }
    }

    func controlCharacterError(_ b: UInt8) -> JSONParseError {
        JSONParseError(offset: index, reason: "unescaped control character U+00\(zeroPaddedHex(b, width: 2).uppercased()) in string")
    }

    /// Validates one UTF-8 sequence starting at `index` (Unicode Table 3-7:
    /// no overlongs, no surrogates, nothing above U+10FFFF) and steps past it.
    @inline(__always)
    mutating func skipMultibyteSequence() throws(JSONParseError) {
        let lead = base[index]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw JSONParseError(offset: index, reason: "invalid UTF-8 byte 0x\(zeroPaddedHex(lead, width: 2))")
        }
        for k in 1..<length {
            let at = index + k
            guard at < count else {
                throw JSONParseError(offset: at, reason: "truncated UTF-8 sequence")
            }
            let b = base[at]
            let (lo, hi) = k == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
            guard b >= lo && b <= hi else {
                throw JSONParseError(offset: at, reason: "invalid UTF-8 byte 0x\(zeroPaddedHex(b, width: 2))")
            }
        }
        index += length
    }

    /// `index` is at a backslash; appends the decoded character to `scratch`.
    mutating func parseEscape() throws(JSONParseError) {
        let escapeStart = index
        guard index + 1 < count else {
            throw JSONParseError(offset: escapeStart, reason: "unterminated string")
        }
        let c = base[index + 1]
        index += 2
        switch c {
        case Byte.quote: scratch.append(Byte.quote)
        case Byte.backslash: scratch.append(Byte.backslash)
        case Byte.slash: scratch.append(Byte.slash)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try readHex4(escapeStart: escapeStart)
            var scalar: UInt32 = 0xFFFD
            if unit >= 0xD800 && unit <= 0xDBFF {
                // A high surrogate pairs only with an immediately following \u low
                // surrogate; otherwise it stands alone and becomes U+FFFD, because
                // a Swift String cannot hold a lone surrogate (Python's str can).
                if index + 1 < count, base[index] == Byte.backslash, base[index + 1] == UInt8(ascii: "u") {
                    let saved = index
                    index += 2
                    let next = try readHex4(escapeStart: saved)
                    if next >= 0xDC00 && next <= 0xDFFF {
                        scalar = 0x10000 + ((unit - 0xD800) << 10) + (next - 0xDC00)
                    } else {
                        index = saved
                    }
                }
            } else if unit < 0xDC00 || unit > 0xDFFF {
                scalar = unit
            }
            appendUTF8(scalar)
        default:
            throw JSONParseError(offset: escapeStart, reason: "invalid escape '\\\(Character(Unicode.Scalar(c)))' in string")
        }
    }

    mutating func readHex4(escapeStart: Int) throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard index < count, let digit = hexValue(base[index]) else {
                throw JSONParseError(offset: escapeStart, reason: "invalid \\u escape: expected 4 hex digits")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    @inline(__always)
    func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case 0x30...0x39: return UInt32(b - 0x30)
        case 0x41...0x46: return UInt32(b - 0x41 + 10)
        case 0x61...0x66: return UInt32(b - 0x61 + 10)
        default: return nil
        }
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | scalar >> 6))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | scalar >> 12))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | scalar >> 18))
            scratch.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    // MARK: Numbers

    @inline(__always)
    func isDigit(at i: Int) -> Bool { i < count && base[i] >= Byte.zero && base[i] <= Byte.nine }

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        if base[index] == Byte.minus { index += 1 }
        guard isDigit(at: index) else {
            throw JSONParseError(offset: index, reason: "expected a digit after '-'")
        }
        // A leading zero stands alone; whatever digit follows is reported by the caller.
        if base[index] == Byte.zero {
            index += 1
        } else {
            while isDigit(at: index) { index += 1 }
        }
        var isInteger = true
        if index < count, base[index] == Byte.dot {
            index += 1
            guard isDigit(at: index) else {
                throw JSONParseError(offset: index, reason: "expected a digit after '.'")
            }
            while isDigit(at: index) { index += 1 }
            isInteger = false
        }
        if index < count, base[index] == Byte.lowerE || base[index] == Byte.upperE {
            index += 1
            if index < count, base[index] == Byte.plus || base[index] == Byte.minus { index += 1 }
            guard isDigit(at: index) else {
                throw JSONParseError(offset: index, reason: "expected a digit in the exponent")
            }
            while isDigit(at: index) { index += 1 }
            isInteger = false
        }

        if isInteger {
            let negative = base[start] == Byte.minus
            let firstDigit = negative ? start + 1 : start
            // 18 digits always fit in Int; longer literals take the checked path.
            if index - firstDigit <= 18 {
                var value = 0
                for i in firstDigit..<index { value = value &* 10 &+ Int(base[i] &- Byte.zero) }
                return .int(negative ? -value : value)
            }
            let literal = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
            if let value = Int(literal) { return .int(value) }
            return .bigInt(literal)
        }
        let literal = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
        // The literal already matched the JSON grammar, which Double's parser
        // accepts in full; it rounds correctly and overflows to ±infinity like Python.
        guard let value = Double(literal) else {
            throw JSONParseError(offset: start, reason: "number out of range")
        }
        return .double(value)
    }
}
