import Testing
import Text

@Suite struct TextContainsTests {
    @Test func findsExactBytesAnywhere() {
        #expect(textContains("abc [SUGGESTION MODE: x]", "[SUGGESTION MODE:"))
        #expect(textContains("[SUGGESTION MODE:", "[SUGGESTION MODE:"))
        #expect(!textContains("[suggestion mode:", "[SUGGESTION MODE:"))
        #expect(!textContains("[SUGGESTION MODE", "[SUGGESTION MODE:"))
        #expect(textContains("", ""))
        #expect(!textContains("", "a"))
        // A partial match just before the real one.
        #expect(textContains("aab", "ab"))
    }

    @Test func asciiCaseInsensitiveMatchesWhatPythonLowerFinds() {
        let cases: [(String, String)] = [
            ("Please WRITE A 5-10 Word Title for this", "write a 5-10 word title"),
            ("Quota?", "quota"),
            ("QUOTA", "quota"),
            ("quot", "quota"),
            ("wrİte a 5-10 word title", "write a 5-10 word title"),  // İ lowercases to i + U+0307
            ("é QUOTA é", "quota"),
            ("[\\]^_` @", "quota"),  // bytes next to the letters in ASCII are not letters
            ("@QUOTA[", "quota"),
        ]
        for (text, needle) in cases {
            let python = text.lowercased().utf8.firstRange(of: needle.utf8) != nil
            #expect(textContains(text, needle, asciiCaseInsensitive: true) == python, "\(text)")
        }
    }

    @Test func worksOnBridgedAndSubstringBackedText() {
        let long = String(repeating: "x", count: 100_000) + "Quota"
        #expect(textContains(long, "quota", asciiCaseInsensitive: true))
        #expect(textContains(String(long.dropFirst(99_990)), "quota", asciiCaseInsensitive: true))
    }
}
