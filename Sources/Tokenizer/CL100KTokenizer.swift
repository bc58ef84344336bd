import CL100KRanks
import Synchronization

/// OpenAI's cl100k_base tokenizer, giving the ids tiktoken's `encode_ordinary` gives.
///
/// Special tokens such as `<|endoftext|>` are ordinary text here. The reference calls
/// `tiktoken.encode`, which raises on them, so a request quoting one made its count_tokens fail.
///
/// Immutable after `init`, so one instance serves every thread.
public final class CL100KTokenizer: Sendable {
    private let table: RankTable

    /// Parses a `.tiktoken` ranks file: one `base64-token SPACE rank` per line.
    public init(ranksFile: [UInt8]) throws {
        table = try RankTable(ranksFile: ranksFile)
    }

    private static let loaded = Atomic<Bool>(false)

    /// Whether `shared` has been built. Building it takes some 30 ms, and a thread that touches
    /// `shared` meanwhile waits for it: an event loop checks this first and counts elsewhere
    /// until it is true.
    public static var isLoaded: Bool { loaded.load(ordering: .acquiring) }

    /// The tokenizer over the ranks file compiled into the binary, built on first use.
    public static let shared: CL100KTokenizer = {
        let ranks = [UInt8](UnsafeBufferPointer(start: cl100k_ranks_bytes(), count: Int(cl100k_ranks_size())))
        // Build the character table now too, so the first request does not pay for it.
        _ = CharacterClass.bmp.count
        do {
            let tokenizer = try CL100KTokenizer(ranksFile: ranks)
            loaded.store(true, ordering: .releasing)
            return tokenizer
        } catch {
            preconditionFailure("the embedded cl100k_base ranks are corrupt: \(error)")
        }
    }()

    /// Number of mergeable tokens the ranks file defines.
    public var vocabularySize: Int { table.spanByRank.lazy.filter { $0 != UInt32.max }.count }

    public func encode(_ text: String) -> [Int] {
        var sink = CollectingSink()
        sink.tokens.reserveCapacity(text.utf8.count / 3)
        run(text, into: &sink)
        return sink.tokens
    }

    /// `encode(text).count` without building the array.
    public func count(_ text: String) -> Int {
        var sink = CountingSink()
        run(text, into: &sink)
        return sink.count
    }

    /// The bytes of a token sequence (tokens outside the vocabulary are skipped). Pieces of a
    /// multi-byte character can land in different tokens, so the result is bytes, not a String.
    public func decodeBytes(_ tokens: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        for token in tokens where token >= 0 && token < table.spanByRank.count {
            let span = table.spanByRank[token]
            if span == UInt32.max { continue }
            let offset = Int(span >> 8)
            out.append(contentsOf: table.tokenBytes[offset..<(offset + Int(span & 0xFF))])
        }
        return out
    }

    private func run<Sink: TokenSink>(_ text: String, into sink: inout Sink) {
        var text = text
        // Native Swift strings are contiguous UTF-8; bridged ones are copied once here.
        text.makeContiguousUTF8()
        text.utf8.withContiguousStorageIfAvailable { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            table.withStorage { entries, blob, pairRanks in
              CharacterClass.bmp.withUnsafeBufferPointer { classes in
                let splitter = PreTokenizer(text: bytes, classes: classes.baseAddress!)
                let merger = BytePairMerger(table: table, entries: entries, blob: blob, pairRanks: pairRanks)
                var start = 0
                while start < bytes.count {
                    let end = splitter.pieceEnd(from: start)
                    merger.encode(base + start, end - start, into: &sink)
                    start = end
                }
              }
            }
        }
    }
}
