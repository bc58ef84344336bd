// Python's str(), repr(), bool() and str.strip() for decoded JSON and text; the cases
// are what CPython answers.

import JSON
import Testing

@Suite struct PythonTextTests {
    @Test func stripUsesPythonWhitespace() {
        #expect(" \t\n\u{0B}\u{0C}\u{1C}\u{85}\u{A0}\u{3000}x y\u{2028} ".pythonStripped() == "x y")
        #expect("   ".pythonStripped() == "")
        #expect("\u{200B}x".pythonStripped() == "\u{200B}x")  // zero-width space is not whitespace
        #expect("  a b \n".pythonStripped() == "a b")
        #expect("\u{1C}\u{85}x\u{2028}\u{202F}".pythonStripped() == "x")
        #expect(" \t ".pythonStripped() == "")
        #expect("".pythonStripped() == "")
        #expect("  a b \n"[...].pythonStripped() == "a b")
    }

    @Test func str() {
        #expect((nil as JSONValue).pythonStr == "None")
        #expect((true as JSONValue).pythonStr == "True")
        #expect((1e16 as JSONValue).pythonStr == "1e+16")
        #expect((["a", 1, nil] as JSONValue).pythonStr == "['a', 1, None]")
        #expect((["it's"] as JSONValue).pythonStr == #"["it's"]"#)
        #expect((["a'\"\n"] as JSONValue).pythonStr == #"['a\'"\n']"#)
        #expect(("plain" as JSONValue).pythonStr == "plain")
    }

    @Test func truthiness() {
        #expect(!(0.0 as JSONValue).isPythonTruthy && (" " as JSONValue).isPythonTruthy)
        #expect(!([:] as JSONValue).isPythonTruthy)
    }

    @Test func stringRepr() {
        #expect("it's".pythonRepr == "\"it's\"")
        // Unprintable characters are escaped by size, the way CPython writes them.
        #expect("\u{07}\u{A0}\u{200B}\u{E000}\u{E0001}é".pythonRepr == #"'\x07\xa0\u200b\ue000\U000e0001é'"#)
    }

    @Test func nonFiniteFloatsAreSpelledAsPythonLiterals() {
        #expect(JSONValue.double(.infinity).pythonRepr == "inf")
        #expect(JSONValue.double(-.infinity).pythonStr == "-inf")
        #expect(JSONValue.double(.nan).pythonRepr == "nan")
        #expect(JSONValue.double(2.5).pythonRepr == "2.5")
    }
}
