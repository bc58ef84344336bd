// Python's text rules and the hex writer; the Python cases are what CPython answers.

import Testing
import Text

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

    @Test func stringRepr() {
        #expect("it's".pythonRepr == "\"it's\"")
        // Unprintable characters are escaped by size, the way CPython writes them.
        #expect("\u{07}\u{A0}\u{200B}\u{E000}\u{E0001}é".pythonRepr == #"'\x07\xa0\u200b\ue000\U000e0001é'"#)
    }

    @Test func splitUsesPythonWhitespace() {
        #expect(pythonSplit("  a\u{A0}b\tc  ") == ["a", "b", "c"])
        #expect(pythonSplit(" ") == [])
    }

    @Test func findAndRfindOnUTF8() {
        let t = ByteText("é Command: a Command: b")
        #expect(t.find("Command:") == 3)
        #expect(t.rfind("Command:") == 14)
        #expect(t.find("Command:", from: 4) == 14)
        #expect(t.find("missing") == nil)
        #expect(t.slice(t.rfind("Command:")! + 8) == " b")
    }

    @Test func scalarsAreTrimmedLikeStrings() {
        let scalars = Array("\u{1C} a b\u{3000}".unicodeScalars)
        #expect(String(String.UnicodeScalarView(scalars.trimmingPythonWhitespace())) == "a b")
        #expect(Array(" \t".unicodeScalars).trimmingPythonWhitespace().isEmpty)
    }
}

@Suite struct MessageLogCap {
    @Test("MAX_MESSAGE_LOG_ENTRIES_PER_CHAT is read like Python's int(raw.strip())", arguments: [
        (" 3 ", 3), ("3_0", 30), ("+7", 7), ("0", nil), ("-5", nil), ("abc", nil), ("1e3", nil), ("3__0", nil),
        ("_3", nil), ("3_", nil), ("", nil), (" ", nil), ("99999999999999999999999", Int.max),
        // Python's whitespace, not Swift's: int() strips the information separators too.
        ("\u{1C}12\u{1F}", 12), ("\u{85}4\u{3000}", 4), ("\u{200B}4", nil),
    ] as [(String, Int?)])
    func parse(raw: String, cap: Int?) {
        #expect(PythonText.messageLogCap(environmentValue: raw) == cap)
    }

    @Test func unsetMeansNoCap() {
        #expect(PythonText.messageLogCap(environmentValue: nil) == nil)
    }
}

@Suite struct UnicodeWhitespaceTests {
    @Test func trimsWhiteSpaceButNotTheInformationSeparators() {
        #expect(" \t\n\u{A0}\u{3000}x y\u{2028} ".trimmingUnicodeWhitespace() == "x y")
        #expect("\u{1C}x\u{1F}".trimmingUnicodeWhitespace() == "\u{1C}x\u{1F}")
        #expect("\u{1C}x\u{1F}".pythonStripped() == "x")
        #expect("  ".trimmingUnicodeWhitespace() == "")
        #expect("\u{200B}x".trimmingUnicodeWhitespace() == "\u{200B}x")
    }
}

@Suite struct CBufferTests {
    @Test func textEndsAtTheFirstNul() {
        #expect(String(cBuffer: Array("127.0.0.1".utf8CString) + [65, 0]) == "127.0.0.1")
        #expect(String(cBuffer: [CChar](repeating: 0, count: 8)) == "")
        #expect(String(cBuffer: [104, 105] as [CChar]) == "hi")
        // Bytes that are not UTF-8 become U+FFFD rather than a trap.
        #expect(String(cBuffer: [CChar(truncatingIfNeeded: 0xFF), 0]) == "\u{FFFD}")
    }
}

@Suite struct HexTests {
    @Test func padsToWidthAndNeverCuts() {
        #expect(zeroPaddedHex(UInt8(0x0A), width: 2) == "0a")
        #expect(zeroPaddedHex(UInt32(0xBEEF), width: 8) == "0000beef")
        #expect(zeroPaddedHex(UInt64.max, width: 16) == "ffffffffffffffff")
        #expect(zeroPaddedHex(0x12345, width: 4) == "12345")
        #expect(zeroPaddedHex(0, width: 0) == "0")
    }
}
