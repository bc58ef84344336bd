import JSON
import Testing

private func parseError(_ text: String) -> JSONParseError? {
    do {
        _ = try JSONValue.parse(text)
        return nil
    } catch {
        return error
    }
}

private func parseError(bytes: [UInt8]) -> JSONParseError? {
    do {
        _ = try JSONValue.parse(bytes)
        return nil
    } catch {
        return error
    }
}

@Suite struct JSONParserTests {
    @Test func scalars() throws {
        #expect(try JSONValue.parse("null") == .null)
        #expect(try JSONValue.parse("true") == .bool(true))
        #expect(try JSONValue.parse("false") == .bool(false))
        #expect(try JSONValue.parse("\"hi\"") == .string("hi"))
        #expect(try JSONValue.parse(" \t\r\n 7 \n") == .int(7))
    }

    @Test func containersKeepOrder() throws {
        let value = try JSONValue.parse(#"{"b": 1, "a": [true, null, "x"], "c": {}}"#)
        let object = try #require(value.objectValue)
        #expect(object.keys == ["b", "a", "c"])
        #expect(value["a"] == .array([.bool(true), .null, .string("x")]))
        #expect(value["c"] == .object(JSONObject()))
        #expect(try JSONValue.parse("[]") == .array([]))
        #expect(try JSONValue.parse("[ ]") == .array([]))
        #expect(try JSONValue.parse("{ }") == .object(JSONObject()))
    }

    @Test func duplicateKeysKeepFirstPositionAndLastValue() throws {
        let value = try JSONValue.parse(#"{"a": 1, "b": 2, "a": 3}"#)
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == .int(3))
        #expect(value["b"] == .int(2))
    }

    @Test func duplicateKeysInLargeObjects() throws {
        // Past the size where the parser switches from scanning to a set.
        var text = "{"
        for i in 0..<40 { text += "\"k\(i)\": \(i), " }
        text += "\"k3\": \"late\", \"k39\": \"last\", \"new\": 0}"
        let object = try #require(try JSONValue.parse(text).objectValue)
        #expect(object.count == 41)
        #expect(object.keys.first == "k0")
        #expect(object.keys[3] == "k3")
        #expect(object["k3"] == .string("late"))
        #expect(object["k39"] == .string("last"))
        #expect(object.keys.last == "new")
    }

    @Test func integers() throws {
        #expect(try JSONValue.parse("0") == .int(0))
        #expect(try JSONValue.parse("-0") == .int(0))
        #expect(try JSONValue.parse("123456789012345678") == .int(123456789012345678))
        #expect(try JSONValue.parse("9223372036854775807") == .int(Int.max))
        #expect(try JSONValue.parse("-9223372036854775808") == .int(Int.min))
        #expect(try JSONValue.parse("9223372036854775808") == .bigInt("9223372036854775808"))
        #expect(try JSONValue.parse("-9223372036854775809") == .bigInt("-9223372036854775809"))
        #expect(try JSONValue.parse("123456789012345678901234567890") == .bigInt("123456789012345678901234567890"))
    }

    @Test func floats() throws {
        #expect(try JSONValue.parse("1.0") == .double(1.0))
        #expect(try JSONValue.parse("1e2") == .double(100))
        #expect(try JSONValue.parse("1E+2") == .double(100))
        #expect(try JSONValue.parse("-2.5e-3") == .double(-0.0025))
        #expect(try JSONValue.parse("0.1") == .double(0.1))
        let negativeZero = try #require(try JSONValue.parse("-0.0").numberValue)
        #expect(negativeZero == 0 && negativeZero.sign == .minus)
        // Correct rounding of a halfway case and of the smallest subnormal.
        #expect(try JSONValue.parse("9007199254740993.0") == .double(9007199254740992))
        #expect(try JSONValue.parse("5e-324") == .double(Double.leastNonzeroMagnitude))
        // Python turns overflow into infinity and underflow into zero.
        #expect(try JSONValue.parse("1E400") == .double(.infinity))
        #expect(try JSONValue.parse("-1e400") == .double(-.infinity))
        #expect(try JSONValue.parse("1e-400") == .double(0))
    }

    @Test func escapes() throws {
        #expect(try JSONValue.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{c}\n\r\t"))
        #expect(try JSONValue.parse(#""\u0041\u00e9\u4E2D""#) == .string("Aé中"))
        #expect(try JSONValue.parse(#""a\u0000b""#) == .string("a\u{0}b"))
        #expect(try JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONValue.parse(#""x\uD834\uDD1Ey""#) == .string("x𝄞y"))
        #expect(try JSONValue.parse(#""plain then \n escape""#) == .string("plain then \n escape"))
        #expect(try JSONValue.parse("\"raw é 中 😀 \\t\"") == .string("raw é 中 😀 \t"))
    }

    @Test func loneSurrogatesBecomeReplacementCharacter() throws {
        #expect(try JSONValue.parse(#""\ud800""#) == .string("\u{FFFD}"))
        #expect(try JSONValue.parse(#""\udc00x""#) == .string("\u{FFFD}x"))
        #expect(try JSONValue.parse(#""\ud800\ud800""#) == .string("\u{FFFD}\u{FFFD}"))
        // A high surrogate followed by a non-surrogate escape keeps that escape.
        #expect(try JSONValue.parse(#""\ud800\u0041""#) == .string("\u{FFFD}A"))
        #expect(try JSONValue.parse(#""\ud800\n""#) == .string("\u{FFFD}\n"))
    }

    @Test func byteOrderMarkIsSkippedForBytes() throws {
        #expect(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array("[1]".utf8)) == .array([.int(1)]))
    }

    @Test func unsafeBufferEntryPoint() throws {
        let bytes = Array(#"{"a":[1,2]}"#.utf8)
        let value = try bytes.withUnsafeBytes { buffer in try JSONValue.parse(buffer) }
        #expect(value == ["a": [1, 2]])
    }

    @Test func errorDescriptionNamesOffsetAndReason() {
        let error = parseError(#"{"model": "x", "a" 1}"#)
        #expect(error == JSONParseError(offset: 19, reason: "expected ':' after object key"))
        #expect(error?.description == "invalid JSON at byte 19: expected ':' after object key")
    }

    @Test(arguments: [
        ("", 0, "empty input, expected a value"),
        ("   ", 3, "unexpected end of input, expected a value"),
        ("[1, 2", 5, "unexpected end of input, expected ',' or ']'"),
        ("[1 2]", 3, "unexpected character '2', expected ',' or ']' after array element"),
        ("[1,]", 3, "unexpected character ']', expected a value"),
        (#"{"a":1,}"#, 7, "unexpected character '}', expected '\"' to start an object key"),
        ("{a:1}", 1, "unexpected character 'a', expected '\"' to start an object key"),
        (#"{"a":1 "b":2}"#, 7, "unexpected character '\"', expected ',' or '}' after object member"),
        (#"{"a""#, 4, "expected ':' after object key"),
        ("[1] x", 4, "unexpected character 'x' after the document"),
        ("1 2", 2, "unexpected character '2' after the document"),
        ("01", 1, "unexpected character '1' after the document"),
        ("tru", 0, "invalid literal, expected 'true'"),
        ("nul", 0, "invalid literal, expected 'null'"),
        ("falsey", 5, "unexpected character 'y' after the document"),
        ("NaN", 0, "NaN and Infinity are not valid JSON"),
        ("[Infinity]", 1, "NaN and Infinity are not valid JSON"),
        ("-Infinity", 1, "expected a digit after '-'"),
        ("-", 1, "expected a digit after '-'"),
        ("1.", 2, "expected a digit after '.'"),
        (".5", 0, "unexpected character '.', expected a value"),
        ("1e", 2, "expected a digit in the exponent"),
        ("1e+", 3, "expected a digit in the exponent"),
        ("+1", 0, "unexpected character '+', expected a value"),
        (#""abc"#, 0, "unterminated string"),
        (#"["a\"]"#, 1, "unterminated string"),
        (#""\x""#, 1, "invalid escape '\\x' in string"),
        (#""\u12""#, 1, "invalid \\u escape: expected 4 hex digits"),
        (#""\u12G4""#, 1, "invalid \\u escape: expected 4 hex digits"),
        ("\"a\tb\"", 2, "unescaped control character U+0009 in string"),
        ("\"line\nbreak\"", 5, "unescaped control character U+000A in string"),
        ("\"\\n\u{1}\"", 3, "unescaped control character U+0001 in string"),
        ("'a'", 0, "unexpected character ''', expected a value"),
    ])
    func rejects(text: String, offset: Int, reason: String) {
        #expect(parseError(text) == JSONParseError(offset: offset, reason: reason))
    }

    @Test func rejectsInvalidUTF8() {
        // Lone continuation byte, overlong encoding, UTF-8-encoded surrogate, above U+10FFFF, truncated.
        #expect(parseError(bytes: [0x22, 0x80, 0x22]) == JSONParseError(offset: 1, reason: "invalid UTF-8 byte 0x80"))
        #expect(parseError(bytes: [0x22, 0xC0, 0xAF, 0x22]) == JSONParseError(offset: 1, reason: "invalid UTF-8 byte 0xc0"))
        #expect(parseError(bytes: [0x22, 0xE0, 0x80, 0x80, 0x22]) == JSONParseError(offset: 2, reason: "invalid UTF-8 byte 0x80"))
        #expect(parseError(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22]) == JSONParseError(offset: 2, reason: "invalid UTF-8 byte 0xa0"))
        #expect(parseError(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22]) == JSONParseError(offset: 2, reason: "invalid UTF-8 byte 0x90"))
        #expect(parseError(bytes: [0x22, 0x61, 0xE4, 0xB8]) == JSONParseError(offset: 4, reason: "truncated UTF-8 sequence"))
        #expect(parseError(bytes: [0x22, 0x5C, 0x6E, 0xFF, 0x22]) == JSONParseError(offset: 3, reason: "invalid UTF-8 byte 0xff"))
        // Outside strings a non-ASCII byte is simply unexpected.
        #expect(parseError(bytes: [0xC3, 0xA9]) == JSONParseError(offset: 0, reason: "unexpected byte 0xc3, expected a value"))
    }

    @Test func nestingLimit() throws {
        let limit = JSONValue.maxNestingDepth
        let deepest = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        var value = try JSONValue.parse(deepest)
        var depth = 0
        while case .array(let inner) = value {
            depth += 1
            value = inner.first ?? .null
        }
        #expect(depth == limit)

        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(parseError(tooDeep) == JSONParseError(offset: limit, reason: "nesting deeper than 512 levels"))
        let objects = String(repeating: #"{"a":"#, count: limit + 1) + "1" + String(repeating: "}", count: limit + 1)
        #expect(parseError(objects)?.reason == "nesting deeper than 512 levels")
        // Far beyond the limit must fail cleanly too, not overflow the stack.
        #expect(parseError(String(repeating: "[", count: 100_000)) != nil)
    }
}

@Suite struct KeepingTopLevelKeysTests {
    static let keys = TopLevelKeys(["a", "b"])

    @Test func onlyTheTopLevelIsFiltered() throws {
        let doc = Array(#"{"x": {"a": 1, "x": 2}, "a": {"x": [1, {"x": 3}]}, "b": "s", "y": null}"#.utf8)
        #expect(try JSONValue.parse(doc, keeping: Self.keys) == ["a": ["x": [1, ["x": 3]]], "b": "s"])
    }

    @Test func otherDocumentsAreUnchanged() throws {
        for text in [#"[{"x": 1}]"#, #""x""#, "12", "null", "{}"] {
            #expect(try JSONValue.parse(Array(text.utf8), keeping: Self.keys) == JSONValue.parse(Array(text.utf8)))
        }
    }

    @Test func duplicatesOfKeptKeysKeepTheLastValue() throws {
        let doc = Array(#"{"a": 1, "z": 0, "a": 2, "b\u0041": 3}"#.utf8)
        // An escaped key cannot be compared as raw bytes, so it is kept.
        #expect(try JSONValue.parse(doc, keeping: Self.keys) == ["a": 2, "bA": 3])
    }
}

/// Strings are scanned eight bytes at a time: every special byte (quote, backslash, control
/// character, the start of a multibyte sequence) is found at every offset of the word.
@Suite struct WordAtATimeStringScanTests {
    @Test func everySpecialByteAtEveryOffset() throws {
        let specials: [(raw: String, escaped: String)] = [
            ("\"", #"\""#), ("\\", #"\\"#), ("\n", #"\n"#), ("\u{1}", #"\u0001"#), ("é", "é"), ("🎉", "🎉"), ("\u{7f}", "\u{7f}"),
        ]
        for length in 0..<20 {
            for offset in 0...length {
                for special in specials {
                    let plain = String(repeating: "a", count: length)
                    let text = String(plain.prefix(offset)) + special.raw + String(plain.dropFirst(offset))
                    let json = "\"" + String(plain.prefix(offset)) + special.escaped + String(plain.dropFirst(offset)) + "\""
                    #expect(try JSONValue.parse(Array(json.utf8)) == .string(text), "\(json)")
                }
                // A raw control character or a lone continuation byte is refused wherever it is.
                for bad: UInt8 in [0x01, 0x1F, 0x80, 0xC0] {
                    let bytes = [0x22] + Array(repeating: UInt8(ascii: "a"), count: offset) + [bad]
                        + Array(repeating: UInt8(ascii: "a"), count: length - offset) + [0x22]
                    #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
                }
            }
        }
    }
}
