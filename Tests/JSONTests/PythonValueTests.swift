// Python's str(), repr() and bool() for decoded JSON; the cases are what CPython answers.

import JSON
import Testing

@Suite struct PythonValueTests {
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

    @Test func nonFiniteFloatsAreSpelledAsPythonLiterals() {
        #expect(JSONValue.double(.infinity).pythonRepr == "inf")
        #expect(JSONValue.double(-.infinity).pythonStr == "-inf")
        #expect(JSONValue.double(.nan).pythonRepr == "nan")
        #expect(JSONValue.double(2.5).pythonRepr == "2.5")
    }
}
