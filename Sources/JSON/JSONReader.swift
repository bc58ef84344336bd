/// Reads one JSON document value by value, building only what the caller asks for: for a hot
/// path that needs a few members of a known shape (a streamed chat chunk) and would otherwise
/// build, then free, a whole tree per document.
///
/// Every byte passes the checks `JSONValue.parse` makes (the same string, number, literal,
/// UTF-8 and nesting rules), so a document one rejects the other rejects. What the caller does
/// with duplicate keys or escaped keys is its own affair: a caller that cannot match the tree's
/// reading of them should stop and parse the tree instead.
///
/// Use it inside `JSONReader.read`, which holds the buffer for the reader's life.
public struct JSONReader {
    public enum Kind: Equatable, Sendable { case object, array, string, number, bool, null, end, invalid }

    private var parser: JSONParser
    /// Whether the key returned last had escapes (its raw bytes are then not its text).
    public private(set) var keyHadEscapes = false

    private init(_ parser: JSONParser) { self.parser = parser }

    /// Runs `body` with a reader at the start of `buffer` (past a UTF-8 byte order mark, as
    /// `JSONValue.parse` skips it).
    public static func read<R>(
        _ buffer: UnsafeRawBufferPointer, _ body: (inout JSONReader) throws(JSONParseError) -> R
    ) throws(JSONParseError) -> R {
        guard let base = buffer.baseAddress, buffer.count > 0 else {
            throw JSONParseError(offset: 0, reason: "empty input, expected a value")
        }
        var parser = JSONParser(base: base.assumingMemoryBound(to: UInt8.self), count: buffer.count)
        if parser.count >= 3, parser.base[0] == 0xEF, parser.base[1] == 0xBB, parser.base[2] == 0xBF { parser.index = 3 }
        var reader = JSONReader(parser)
        return try body(&reader)
    }

    /// The kind of the next value (whitespace skipped); nothing is consumed.
    public mutating func peek() -> Kind {
        parser.skipWhitespace()
        guard parser.index < parser.count else { return .end }
        switch parser.base[parser.index] {
        case Byte.openBrace: return .object
        case Byte.openBracket: return .array
        case Byte.quote: return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case Byte.minus, Byte.zero...Byte.nine: return .number
        default: return .invalid
        }
    }

    /// At `{`: steps in. False when the object is empty (its `}` is consumed too).
    public mutating func beginObject() throws(JSONParseError) -> Bool {
        guard peek() == .object else { throw unexpected("'{'") }
        return try enter(closedBy: Byte.closeBrace)
    }

    /// Steps past an opening bracket, counting the nesting as the tree parser does; false (and past
    /// the closing one too) when the container is empty.
    private mutating func enter(closedBy close: UInt8) throws(JSONParseError) -> Bool {
        try parser.enterContainer()
        parser.index += 1
        parser.skipWhitespace()
        if parser.index < parser.count, parser.base[parser.index] == close {
            parser.index += 1
            parser.depth -= 1
            return false
        }
        return true
    }

    /// A member's key and its colon; the caller then reads or skips the value. The bytes are
    /// valid until the next call (they point into the document, or into scratch space when
    /// `keyHadEscapes`).
    public mutating func key() throws(JSONParseError) -> UnsafeBufferPointer<UInt8> {
        parser.skipWhitespace()
        guard parser.index < parser.count, parser.base[parser.index] == Byte.quote else {
            throw unexpected("'\"' to start an object key")
        }
        let start = parser.index + 1
        let plain = try parser.scanString()
        let end = parser.index - 1
        parser.skipWhitespace()
        guard parser.index < parser.count, parser.base[parser.index] == Byte.colon else {
            throw JSONParseError(offset: parser.index, reason: "expected ':' after object key")
        }
        parser.index += 1
        keyHadEscapes = !plain
        // Escaped keys are reported as empty: their raw bytes are not their text.
        return plain ? UnsafeBufferPointer(start: parser.base + start, count: end - start) : UnsafeBufferPointer(start: nil, count: 0)
    }

    /// After a member's value: true when another member follows, false at the closing `}`.
    public mutating func nextMember() throws(JSONParseError) -> Bool {
        try !parser.endOfMember()
    }

    /// At `[`: steps in. False when the array is empty (its `]` is consumed too).
    public mutating func beginArray() throws(JSONParseError) -> Bool {
        guard peek() == .array else { throw unexpected("'['") }
        return try enter(closedBy: Byte.closeBracket)
    }

    /// After an element: true when another element follows, false at the closing `]`.
    public mutating func nextElement() throws(JSONParseError) -> Bool {
        parser.skipWhitespace()
        guard parser.index < parser.count else {
            throw JSONParseError(offset: parser.index, reason: "unexpected end of input, expected ',' or ']'")
        }
        switch parser.base[parser.index] {
        case Byte.comma:
            parser.index += 1
            return true
        case Byte.closeBracket:
            parser.index += 1
            parser.depth -= 1
            return false
        case let b:
            throw JSONParseError(offset: parser.index, reason: "unexpected \(parser.describeByte(b)), expected ',' or ']' after array element")
        }
    }

    /// A string value.
    public mutating func string() throws(JSONParseError) -> String {
        guard peek() == .string else { throw unexpected("a string") }
        return try parser.parseString()
    }

    /// Checks the next value and steps past it, building nothing for strings.
    public mutating func skip() throws(JSONParseError) {
        try parser.skipValue()
    }

    /// The next value as a tree.
    public mutating func value() throws(JSONParseError) -> JSONValue {
        try parser.parseValue()
    }

    /// Only whitespace may follow the document.
    public mutating func finish() throws(JSONParseError) {
        parser.skipWhitespace()
        if parser.index < parser.count {
            throw JSONParseError(offset: parser.index, reason: "unexpected \(parser.describeByte(parser.base[parser.index])) after the document")
        }
    }

    private func unexpected(_ expected: String) -> JSONParseError {
        guard parser.index < parser.count else {
            return JSONParseError(offset: parser.index, reason: "unexpected end of input, expected \(expected)")
        }
        return JSONParseError(offset: parser.index, reason: "unexpected \(parser.describeByte(parser.base[parser.index])), expected \(expected)")
    }
}

@available(*, unavailable)
extension JSONReader: Sendable {}
