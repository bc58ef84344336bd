import JSON
import Testing

@Suite struct JSONWriterTests {
    @Test func compactForm() {
        let value: JSONValue = ["b": [1, 2.5, "x"], "a": nil, "t": true, "e": [:], "l": []]
        #expect(value.compactString() == #"{"b":[1,2.5,"x"],"a":null,"t":true,"e":{},"l":[]}"#)
        #expect(value.compactBytes() == Array(value.compactString().utf8))
    }

    @Test func compactStringEscapes() {
        let value = JSONValue.string("q\" b\\ / \n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} é中😀")
        #expect(value.compactString() == #""q\" b\\ / \n\r\t\b\f\u0000\u001f"# + "\u{7f} é中😀\"")
    }

    @Test func compactNumbers() {
        #expect(JSONValue.int(-42).compactString() == "-42")
        #expect(JSONValue.int(7).compactString() == "7")
        #expect(JSONValue.int(Int.min).compactString() == "-9223372036854775808")
        #expect(JSONValue.bigInt("-123456789012345678901234567890").compactString() == "-123456789012345678901234567890")
        #expect(JSONValue.double(1).compactString() == "1.0")
        #expect(JSONValue.double(1e16).compactString() == "1e+16")
        #expect(JSONValue.double(-0.0).compactString() == "-0.0")
        // Non-finite values have no JSON spelling.
        #expect(JSONValue.double(.nan).compactString() == "null")
        #expect(JSONValue.array([.double(.infinity), .double(-.infinity)]).compactString() == "[null,null]")
    }

    @Test func pythonDumpsLayout() {
        let value: JSONValue = ["a": [1, 2, ["b": nil]], "c": false, "d": [:], "e": []]
        #expect(value.pythonDumps() == #"{"a": [1, 2, {"b": null}], "c": false, "d": {}, "e": []}"#)
        #expect(value.pythonDumpsBytes() == Array(value.pythonDumps().utf8))
    }

    @Test func pythonDumpsEscapesNonASCII() {
        let value = JSONValue.string("é中😀\u{7f}/\"\\\n\u{1}\u{FFFF}\u{10FFFF}")
        #expect(value.pythonDumps() == #""\u00e9\u4e2d\ud83d\ude00\u007f/\"\\\n\u0001\uffff\udbff\udfff""#)
        #expect(JSONValue.object(JSONObject([("ключ", .string("x"))])).pythonDumps() == #"{"\u043a\u043b\u044e\u0447": "x"}"#)
    }

    @Test(arguments: [
        (1.0, "1.0"), (-1.0, "-1.0"), (0.0, "0.0"), (-0.0, "-0.0"), (0.5, "0.5"), (100.0, "100.0"),
        (1e16, "1e+16"), (1e15, "1000000000000000.0"), (9999999999999998.0, "9999999999999998.0"),
        (1.5e300, "1.5e+300"), (1e-5, "1e-05"), (0.0001, "0.0001"), (0.00012, "0.00012"),
        (1.2e-5, "1.2e-05"), (0.1 + 0.2, "0.30000000000000004"), (Double.leastNonzeroMagnitude, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"), (123456789012345678.0, "1.2345678901234568e+17"),
        (1234567890123456.7, "1234567890123456.8"), (-2.5e-7, "-2.5e-07"), (1e100, "1e+100"),
        (Double.nan, "NaN"), (Double.infinity, "Infinity"), (-Double.infinity, "-Infinity"),
    ])
    func pythonFloatRepr(value: Double, expected: String) {
        #expect(value.pythonRepr == expected)
        #expect(JSONValue.double(value).pythonDumps() == expected)
    }

    @Test func roundTripThroughParser() throws {
        let text = #"{"model":"m","messages":[{"role":"user","content":"h\u00e9\n"}],"max_tokens":10,"t":0.7,"big":123456789012345678901234567890}"#
        let value = try JSONValue.parse(text)
        #expect(value.compactString() == #"{"model":"m","messages":[{"role":"user","content":"hé\n"}],"max_tokens":10,"t":0.7,"big":123456789012345678901234567890}"#)
        #expect(try JSONValue.parse(value.compactBytes()) == value)
        #expect(try JSONValue.parse(value.pythonDumps()) == value)
    }

    @Test func integersAreWrittenAsTheirDecimalText() {
        for number in [0, 9, 10, 11, 99, 100, -1, -9, -10, 1_000_000_007, Int.max, Int.min, Int.max - 1, Int.min + 1] {
            #expect(JSONValue.int(number).compactString() == String(number))
            #expect(JSONValue.int(number).pythonDumps() == String(number))
            var writer = CompactJSONWriter(reservingCapacity: 0)
            writer.raw("[")
            writer.int(number)
            writer.raw("]")
            #expect(String(decoding: writer.take(), as: UTF8.self) == "[\(number)]")
        }
    }
}
