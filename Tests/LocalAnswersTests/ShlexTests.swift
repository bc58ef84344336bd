import Testing

@testable import LocalAnswers

/// Expected tokens produced by CPython 3.11 `shlex.split(s, posix=False)`; nil where it
/// raises `ValueError("No closing quotation")`.
private let pythonCases: [(String, [String]?)] = [
    ("", []),
    ("   ", []),
    ("a b  c", ["a", "b", "c"]),
    ("git commit -m 'message'", ["git", "commit", "-m", "'message'"]),
    ("echo \"a b\" c", ["echo", "\"a b\"", "c"]),
    ("\"a\"b", ["\"a\"", "b"]),
    ("a\"b c\"", ["a\"b", "c\""]),
    ("'a'\"b\"", ["'a'", "\"b\""]),
    ("it's here", ["it's", "here"]),
    ("x 'unterminated", nil),
    ("x \"unterminated", nil),
    ("a\\ b", ["a\\", "b"]),
    ("'a\\'b'", ["'a\\'", "b'"]),
    ("tab\tsep\rcr\nnl", ["tab", "sep", "cr", "nl"]),
    ("vt\u{0B}kept", ["vt\u{0B}kept"]),
    ("ünï cödé 'ø ø'", ["ünï", "cödé", "'ø ø'"]),
    ("''", ["''"]),
    ("\"\"", ["\"\""]),
    ("a=b c", ["a=b", "c"]),
    ("cat file.txt | grep pattern", ["cat", "file.txt", "|", "grep", "pattern"]),
    ("a;b&&c", ["a;b&&c"]),
    ("'it''s'", ["'it'", "'s'"]),
    ("C:\\tmp\\a.txt", ["C:\\tmp\\a.txt"]),
    ("# not a comment", ["#", "not", "a", "comment"]),
    ("x' y", ["x'", "y"]),
]

@Suite struct ShlexTests {
    @Test(arguments: pythonCases)
    func matchesPythonNonPOSIXSplit(input: String, expected: [String]?) throws {
        if let expected {
            #expect(try shlexSplitNonPOSIX(input) == expected)
        } else {
            #expect(throws: ShlexError(message: "No closing quotation")) { try shlexSplitNonPOSIX(input) }
        }
    }
}
