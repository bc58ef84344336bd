import Foundation
import TestSupport
import Testing

@testable import Tokenizer

/// `Fixtures/corpus.jsonl` holds tiktoken's own ids (cl100k_base, `encode_ordinary`) for a few thousand
/// strings; `scripts/gen_tokenizer_corpus.py` regenerates it.
struct CorpusEntry: Sendable {
    let line: Int
    let text: String
    let tokens: [Int]

    static func load() throws -> [CorpusEntry] {
        let data = Data(try Fixture.bytes("corpus.jsonl"))
        var entries: [CorpusEntry] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) as? [String: Any])
            let text = try #require(object["text"] as? String)
            let tokens = try #require(object["tokens"] as? [NSNumber]).map(\.intValue)
            entries.append(CorpusEntry(line: index + 1, text: text, tokens: tokens))
        }
        return entries
    }
}

@Suite struct CorpusTests {
    @Test func corpusIsLargeAndVaried() throws {
        let entries = try CorpusEntry.load()
        #expect(entries.count >= 2000)
        #expect(entries.contains { $0.text.unicodeScalars.contains { $0.value > 0xFFFF } })
        #expect(entries.contains { $0.text.utf8.count > 10_000 })
    }

    @Test func everyEntryEncodesToTiktokensIds() throws {
        let tokenizer = CL100KTokenizer.shared
        var mismatches: [String] = []
        for entry in try CorpusEntry.load() {
            let ours = tokenizer.encode(entry.text)
            if ours != entry.tokens {
                mismatches.append("line \(entry.line) \(entry.text.debugDescription.prefix(120)): \(ours.prefix(20)) vs \(entry.tokens.prefix(20))")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.prefix(20).joined(separator: "\n"))")
    }

    @Test func everyEntryCountsLikeTiktoken() throws {
        let tokenizer = CL100KTokenizer.shared
        for entry in try CorpusEntry.load() where tokenizer.count(entry.text) != entry.tokens.count {
            Issue.record("line \(entry.line): count \(tokenizer.count(entry.text)) != \(entry.tokens.count)")
        }
    }

    @Test func tokensDecodeBackToTheText() throws {
        let tokenizer = CL100KTokenizer.shared
        for entry in try CorpusEntry.load() {
            #expect(tokenizer.decodeBytes(entry.tokens) == Array(entry.text.utf8), "line \(entry.line)")
        }
    }
}
