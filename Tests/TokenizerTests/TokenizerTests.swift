import Testing

@testable import Tokenizer

@Suite struct TokenizerTests {
    let tokenizer = CL100KTokenizer.shared

    // Ids from tiktoken 0.12 (cl100k_base, encode_ordinary).
    @Test(arguments: [
        ("hello world", [15339, 1917]),
        ("", []),
        ("hello world  \n\n  x", [15339, 1917, 19124, 220, 865]),
        ("a\n  ", [64, 198, 256]),
        ("a \n ", [64, 720, 220]),
        ("a   b", [64, 256, 293]),
    ] as [(String, [Int])])
    func knownIds(text: String, ids: [Int]) {
        #expect(tokenizer.encode(text) == ids)
        #expect(tokenizer.count(text) == ids.count)
    }

    @Test func specialTokensAreOrdinaryText() {
        let ids = tokenizer.encode("<|endoftext|>")
        #expect(ids.count > 1)
        #expect(!ids.contains(100257))
        #expect(tokenizer.decodeBytes(ids) == Array("<|endoftext|>".utf8))
    }

    @Test func vocabularyIsComplete() {
        #expect(tokenizer.vocabularySize == 100_256)
    }

    @Test func pieceSplitting() {
        // Contractions split off, case-insensitively; "'x" stays with its letters.
        #expect(pieces("it's") == ["it", "'s"])
        #expect(pieces("IT'LL") == ["IT", "'LL"])
        #expect(pieces("we'Ve") == ["we", "'Ve"])
        #expect(pieces("'xyz") == ["'xyz"])
        // Letters take one leading non-letter, non-digit, non-newline character.
        #expect(pieces(" hello\tworld") == [" hello", "\tworld"])
        #expect(pieces("\nhello") == ["\n", "hello"])
        // Digits in groups of at most three.
        #expect(pieces("1234567") == ["123", "456", "7"])
        // Punctuation keeps one leading space and trailing newlines.
        #expect(pieces(" !!\n\nx") == [" !!\n\n", "x"])
        // Whitespace before a word gives back its last character.
        #expect(pieces("a   b") == ["a", "  ", " b"])
        #expect(pieces("a\u{3000}\u{3000}b") == ["a", "\u{3000}", "\u{3000}b"])
        // Up to the last newline of a run; a run reaching the end is one piece.
        #expect(pieces("a \n \n b") == ["a", " \n \n", " b"])
        #expect(pieces("a\n \n  ") == ["a", "\n \n  "])
        #expect(pieces("1\u{2028}2") == ["1", "\u{2028}", "2"])
    }

    @Test func longRunsMatchTheQuadraticMerge() {
        // Pieces past `linearLimit` go through the heap; both must agree on every run length.
        for unit in ["a", "ab", "!", " ", "日", "x1"] {
            for n in [60, 64, 65, 70, 129, 300] {
                let text = String(repeating: unit, count: n)
                #expect(tokenizer.decodeBytes(tokenizer.encode(text)) == Array(text.utf8))
            }
        }
    }

    @Test func parserRejectsMalformedFiles() {
        #expect(throws: RanksFileError.empty) { try CL100KTokenizer(ranksFile: []) }
        #expect(throws: RanksFileError.malformedLine(line: 1)) { try CL100KTokenizer(ranksFile: Array("IQ==\n".utf8)) }
        #expect(throws: RanksFileError.malformedLine(line: 2)) {
            try CL100KTokenizer(ranksFile: Array("IQ== 0\nI$== 1\n".utf8))
        }
        #expect(throws: RanksFileError.duplicateToken(line: 2)) {
            try CL100KTokenizer(ranksFile: Array("IQ== 0\nIQ== 1\n".utf8))
        }
    }

    @Test func tinyVocabularyMergesByRank() throws {
        // a=0 b=1 c=2 "ab"=3 "bc"=4 "abc"=5: "ab" outranks "bc", then "abc" forms.
        let file = "YQ== 0\nYg== 1\nYw== 2\nYWI= 3\nYmM= 4\nYWJj 5\n"
        let small = try CL100KTokenizer(ranksFile: Array(file.utf8))
        #expect(small.encode("abc") == [5])
        #expect(small.encode("abcb") == [5, 1])
        #expect(small.encode("bcab") == [4, 3])
        #expect(small.encode("cab") == [2, 3])
    }

    @Test func characterClassTablesAgreeWithTheStdlib() {
        for v in UInt32(0)..<0x11_0000 {
            guard let scalar = Unicode.Scalar(v) else { continue }
            let flags = CharacterClass.compute(v)
            if (flags & PreTokenizer.whitespace != 0) != scalar.properties.isWhitespace {
                Issue.record("White_Space differs at U+\(String(v, radix: 16))")
            }
            if v < 0x10000 && CharacterClass.bmp[Int(v)] != flags {
                Issue.record("BMP table differs at U+\(String(v, radix: 16))")
            }
        }
    }

    private func pieces(_ text: String) -> [String] {
        var out: [String] = []
        Array(text.utf8).withUnsafeBufferPointer { bytes in
            CharacterClass.bmp.withUnsafeBufferPointer { classes in
                let splitter = PreTokenizer(text: bytes, classes: classes.baseAddress!)
                var start = 0
                while start < bytes.count {
                    let end = splitter.pieceEnd(from: start)
                    out.append(String(decoding: bytes[start..<end], as: UTF8.self))
                    start = end
                }
            }
        }
        return out
    }
}
