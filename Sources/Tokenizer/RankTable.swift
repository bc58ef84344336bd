/// Why a ranks file could not be read.
public enum RanksFileError: Error, Equatable, Sendable {
    /// Line `line` (1-based) is not `base64 SPACE decimal`.
    case malformedLine(line: Int)
    /// A token longer than the table's 255-byte entry limit (cl100k's longest is 128).
    case tokenTooLong(line: Int)
    /// The same byte string appears twice.
    case duplicateToken(line: Int)
    case empty
}

/// The mergeable ranks as an immutable open-addressing hash table keyed by byte strings.
///
/// Every entry carries the first eight bytes of its token packed into a `UInt64`, so lookups of
/// pieces up to eight bytes long (most BPE candidates) compare one integer and never touch the
/// token bytes; longer keys compare their tail against `tokenBytes`.
struct RankTable: Sendable {
    struct Entry: Sendable {
        /// First eight bytes, little-endian, zero-padded.
        var head: UInt64
        /// `UInt32.max` marks an empty slot.
        var rank: UInt32
        /// Byte length in the low 8 bits, offset into `tokenBytes` above them.
        var lengthAndOffset: UInt32
    }

    static let absent = UInt32.max

    private let entries: [Entry]
    private let shift: UInt64
    /// All token bytes back to back, in file order.
    let tokenBytes: [UInt8]
    /// For each rank: `lengthAndOffset` as in `Entry`, or `UInt32.max` for ranks the file skips.
    let spanByRank: [UInt32]
    /// Ranks of all two-byte strings indexed by `first << 8 | second`: BPE starts by ranking every
    /// adjacent byte pair, and this array answers those from a 256 KB table instead of the hash.
    let pairRanks: [UInt32]

    init(ranksFile file: [UInt8]) throws {
        var heads: [UInt64] = []
        var ranks: [UInt32] = []
        var spans: [UInt32] = []
        var bytes: [UInt8] = []
        heads.reserveCapacity(110_000)
        ranks.reserveCapacity(110_000)
        spans.reserveCapacity(110_000)
        bytes.reserveCapacity(file.count / 2)

        try file.withUnsafeBufferPointer { buf in
            var i = 0
            var line = 0
            let n = buf.count
            while i < n {
                line += 1
                var lineEnd = i
                while lineEnd < n && buf[lineEnd] != 0x0A { lineEnd += 1 }
                var contentEnd = lineEnd
                if contentEnd > i && buf[contentEnd - 1] == 0x0D { contentEnd -= 1 }
                defer { i = lineEnd + 1 }
                if contentEnd == i { continue }  // blank line (trailing newline)

                var space = i
                while space < contentEnd && buf[space] != 0x20 { space += 1 }
                guard space < contentEnd, space > i else { throw RanksFileError.malformedLine(line: line) }

                let offset = bytes.count
                guard Base64.decode(buf, from: i, to: space, into: &bytes) else {
                    throw RanksFileError.malformedLine(line: line)
                }
                let length = bytes.count - offset
                guard length > 0 else { throw RanksFileError.malformedLine(line: line) }
                guard length <= 255 else { throw RanksFileError.tokenTooLong(line: line) }

                var rank: UInt64 = 0
                var d = space + 1
                guard d < contentEnd else { throw RanksFileError.malformedLine(line: line) }
                while d < contentEnd {
                    let digit = buf[d] &- 0x30
                    guard digit < 10, rank < UInt64(UInt32.max / 10) else {
                        throw RanksFileError.malformedLine(line: line)
                    }
                    rank = rank * 10 + UInt64(digit)
                    d += 1
                }
                let head = bytes.withUnsafeBufferPointer { RankTable.packHead($0.baseAddress! + offset, length) }
                heads.append(head)
                ranks.append(UInt32(rank))
                spans.append(UInt32(length) | UInt32(offset) << 8)
            }
        }
        guard !ranks.isEmpty else { throw RanksFileError.empty }
        guard bytes.count < (1 << 24) else { throw RanksFileError.tokenTooLong(line: ranks.count) }

        // Load factor below 0.4 keeps linear probes short.
        var capacityLog2: UInt64 = 4
        while (1 << capacityLog2) < ranks.count * 5 / 2 { capacityLog2 += 1 }
        let capacity = 1 << Int(capacityLog2)
        let shift = 64 - capacityLog2
        var table = [Entry](repeating: Entry(head: 0, rank: RankTable.absent, lengthAndOffset: 0), count: capacity)
        let maxRank = Int(ranks.max()!)
        var spanByRank = [UInt32](repeating: UInt32.max, count: maxRank + 1)

        try bytes.withUnsafeBufferPointer { blob in
            let base = blob.baseAddress!
            for k in 0..<ranks.count {
                let span = spans[k]
                let length = Int(span & 0xFF)
                let start = base + Int(span >> 8)
                var slot = Int(RankTable.hash(start, length, head: heads[k]) >> shift)
                while table[slot].rank != RankTable.absent {
                    let other = table[slot]
                    if other.head == heads[k] && Int(other.lengthAndOffset & 0xFF) == length
                        && RankTable.tailsEqual(start, base + Int(other.lengthAndOffset >> 8), length)
                    {
                        throw RanksFileError.duplicateToken(line: k + 1)
                    }
                    slot = (slot + 1) & (capacity - 1)
                }
                table[slot] = Entry(head: heads[k], rank: ranks[k], lengthAndOffset: span)
                spanByRank[Int(ranks[k])] = span
            }
        }
        var pairRanks = [UInt32](repeating: RankTable.absent, count: 1 << 16)
        for k in 0..<ranks.count where spans[k] & 0xFF == 2 {
            pairRanks[Int(heads[k] & 0xFF) << 8 | Int(heads[k] >> 8)] = ranks[k]
        }
        self.pairRanks = pairRanks
        self.entries = table
        self.shift = shift
        self.tokenBytes = bytes
        self.spanByRank = spanByRank
    }

    var count: Int { entries.lazy.filter { $0.rank != RankTable.absent }.count }

    @inline(__always)
    static func packHead(_ p: UnsafePointer<UInt8>, _ length: Int) -> UInt64 {
        if length >= 8 {
            return UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
        }
        var v: UInt64 = 0
        var i = length
        while i > 0 {
            i -= 1
            v = v << 8 | UInt64(p[i])
        }
        return v
    }

    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ length: Int, head: UInt64) -> UInt64 {
        var h = (head ^ UInt64(length) &* 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9
        var i = 8
        while i < length {
            let chunk = packHead(p + i, min(8, length - i))
            h = (h ^ (h >> 31) ^ chunk) &* 0x94D0_49BB_1331_11EB
            i += 8
        }
        h ^= h >> 29
        h = h &* 0x9E37_79B9_7F4A_7C15
        return h ^ (h >> 32)
    }

    @inline(__always)
    static func tailsEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ length: Int) -> Bool {
        var i = 8
        while i < length {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// The rank of `length` bytes at `p`, or `RankTable.absent`.
    @inline(__always)
    func rank(_ p: UnsafePointer<UInt8>, _ length: Int, entries: UnsafeBufferPointer<Entry>,
              blob: UnsafePointer<UInt8>) -> UInt32
    {
        if length > 255 { return RankTable.absent }
        let head = RankTable.packHead(p, length)
        let mask = entries.count - 1
        var slot = Int(RankTable.hash(p, length, head: head) >> shift)
        while true {
            let e = entries[slot]
            if e.rank == RankTable.absent { return RankTable.absent }
            if e.head == head && Int(e.lengthAndOffset & 0xFF) == length
                && (length <= 8 || RankTable.tailsEqual(p, blob + Int(e.lengthAndOffset >> 8), length))
            {
                return e.rank
            }
            slot = (slot + 1) & mask
        }
    }

    /// Gives `body` the raw storage the hot loop reads, so lookups skip array bounds and retain work.
    @inline(__always)
    func withStorage<R>(
        _ body: (UnsafeBufferPointer<Entry>, UnsafePointer<UInt8>, UnsafePointer<UInt32>) throws -> R
    ) rethrows -> R {
        try entries.withUnsafeBufferPointer { e in
            try tokenBytes.withUnsafeBufferPointer { b in
                try pairRanks.withUnsafeBufferPointer { p in
                    try body(e, b.baseAddress!, p.baseAddress!)
                }
            }
        }
    }
}

enum Base64 {
    /// 0..63 for alphabet bytes, 64 for '=', 255 otherwise.
    static let values: [UInt8] = {
        var t = [UInt8](repeating: 255, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        t[Int(UInt8(ascii: "="))] = 64
        return t
    }()

    /// Decodes standard padded base64 in `buf[from..<to]`, appending to `out`.
    static func decode(_ buf: UnsafeBufferPointer<UInt8>, from: Int, to: Int, into out: inout [UInt8]) -> Bool {
        guard (to - from) % 4 == 0 else { return false }
        return values.withUnsafeBufferPointer { v in
            var i = from
            while i < to {
                let a = v[Int(buf[i])], b = v[Int(buf[i + 1])], c = v[Int(buf[i + 2])], d = v[Int(buf[i + 3])]
                guard a < 64, b < 64, c <= 64, d <= 64 else { return false }
                out.append(a << 2 | b >> 4)
                if c == 64 {
                    guard d == 64, i + 4 == to else { return false }
                } else {
                    out.append((b & 0xF) << 4 | c >> 2)
                    if d == 64 {
                        guard i + 4 == to else { return false }
                    } else {
                        out.append((c & 0x3) << 6 | d)
                    }
                }
                i += 4
            }
            return true
        }
    }
}
