/// Receives token ids as a piece is encoded, so counting never builds an array.
protocol TokenSink {
    mutating func emit(_ rank: UInt32)
}

struct CountingSink: TokenSink {
    var count = 0
    @inline(__always) mutating func emit(_ rank: UInt32) { count += 1 }
}

struct CollectingSink: TokenSink {
    var tokens: [Int] = []
    @inline(__always) mutating func emit(_ rank: UInt32) { tokens.append(Int(rank)) }
}

/// Byte-level BPE over one piece, merging the lowest-ranked adjacent pair first and the leftmost
/// of equal ranks first, exactly as tiktoken's `byte_pair_merge`.
struct BytePairMerger {
    let table: RankTable
    let entries: UnsafeBufferPointer<RankTable.Entry>
    let blob: UnsafePointer<UInt8>
    let pairRanks: UnsafePointer<UInt32>

    @inline(__always)
    func pairRank(_ p: UnsafePointer<UInt8>) -> UInt32 {
        pairRanks[Int(p[0]) << 8 | Int(p[1])]
    }

    /// Pieces up to this many bytes use tiktoken's own quadratic scan; longer ones (runs of spaces,
    /// repeated characters) a heap, which makes the same choices in O(n log n).
    static let linearLimit = 128

    @inline(__always)
    func rank(_ p: UnsafePointer<UInt8>, _ length: Int) -> UInt32 {
        table.rank(p, length, entries: entries, blob: blob)
    }

    @inline(__always)
    func encode<Sink: TokenSink>(_ piece: UnsafePointer<UInt8>, _ length: Int, into sink: inout Sink) {
        let whole = rank(piece, length)
        if whole != RankTable.absent {
            sink.emit(whole)
            return
        }
        if length <= BytePairMerger.linearLimit {
            mergeLinear(piece, length, into: &sink)
        } else {
            mergeWithHeap(piece, length, into: &sink)
        }
    }

    private func mergeLinear<Sink: TokenSink>(_ piece: UnsafePointer<UInt8>, _ length: Int, into sink: inout Sink) {
        // starts[i] is where part i begins; ranks[i] the rank of part i joined with part i+1.
        // A sentinel start at `length` closes the last part.
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: length + 1) { starts in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: length + 1) { ranks in
                var parts = length + 1
                for i in 0...length { starts[i] = Int32(i) }
                for i in 0..<(length - 1) { ranks[i] = pairRank(piece + i) }
                ranks[length - 1] = RankTable.absent
                ranks[length] = RankTable.absent

                // Rank of parts i and i+1 merged with the part after them, once i+1 is gone.
                @inline(__always) func rankAfterMerge(_ i: Int) -> UInt32 {
                    guard i + 3 < parts else { return RankTable.absent }
                    let s = Int(starts[i])
                    return rank(piece + s, Int(starts[i + 3]) - s)
                }

                while true {
                    var best = RankTable.absent
                    var at = 0
                    for i in 0..<(parts - 1) where ranks[i] < best {
                        best = ranks[i]
                        at = i
                    }
                    if best == RankTable.absent { break }
                    if at > 0 { ranks[at - 1] = rankAfterMerge(at - 1) }
                    ranks[at] = rankAfterMerge(at)
                    // Remove part at+1.
                    var j = at + 1
                    while j < parts - 1 {
                        starts[j] = starts[j + 1]
                        ranks[j] = ranks[j + 1]
                        j += 1
                    }
                    parts -= 1
                }
                for i in 0..<(parts - 1) {
                    let s = Int(starts[i])
                    sink.emit(rank(piece + s, Int(starts[i + 1]) - s))
                }
            }
        }
    }

    private func mergeWithHeap<Sink: TokenSink>(_ piece: UnsafePointer<UInt8>, _ length: Int, into sink: inout Sink) {
        // Parts are named by the byte offset where they begin; next/prev link the live ones.
        // joinRank[i] is the rank of live part i joined with its successor.
        var next = [Int32](unsafeUninitializedCapacity: length) { b, c in
            for i in 0..<length { b[i] = Int32(i + 1) }
            c = length
        }
        var prev = [Int32](unsafeUninitializedCapacity: length) { b, c in
            for i in 0..<length { b[i] = Int32(i - 1) }
            c = length
        }
        var joinRank = [UInt32](repeating: RankTable.absent, count: length)
        var heap = MinHeap()
        for i in 0..<(length - 1) {
            let r = pairRank(piece + i)
            joinRank[i] = r
            if r != RankTable.absent { heap.push(UInt64(r) << 32 | UInt64(i)) }
        }

        // Rank of part i joined with its successor, or absent when i is the last part.
        func joinedRank(_ i: Int) -> UInt32 {
            let successor = Int(next[i])
            guard successor < length else { return RankTable.absent }
            let end = Int(next[successor])
            return rank(piece + i, end - i)
        }

        while let top = heap.pop() {
            let r = UInt32(truncatingIfNeeded: top >> 32)
            let i = Int(truncatingIfNeeded: top & 0xFFFF_FFFF)
            // Stale entries: the part was absorbed (its rank reset) or its pair changed since.
            guard joinRank[i] == r else { continue }
            let absorbed = Int(next[i])
            let after = Int(next[absorbed])
            next[i] = Int32(after)
            if after < length { prev[after] = Int32(i) }
            joinRank[absorbed] = RankTable.absent

            let own = joinedRank(i)
            joinRank[i] = own
            if own != RankTable.absent { heap.push(UInt64(own) << 32 | UInt64(i)) }
            let before = Int(prev[i])
            if before >= 0 {
                let left = joinedRank(before)
                joinRank[before] = left
                if left != RankTable.absent { heap.push(UInt64(left) << 32 | UInt64(before)) }
            }
        }

        var i = 0
        while i < length {
            let end = Int(next[i])
            sink.emit(rank(piece + i, end - i))
            i = end
        }
    }
}

/// A binary min-heap of packed (rank << 32 | position) keys: the smallest rank first, and among
/// equal ranks the leftmost position, which is tiktoken's tie rule.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ value: UInt64) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= value { break }
            items[child] = items[parent]
            child = parent
        }
        items[child] = value
    }

    mutating func pop() -> UInt64? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        var parent = 0
        let n = items.count
        while true {
            var child = 2 * parent + 1
            if child >= n { break }
            if child + 1 < n && items[child + 1] < items[child] { child += 1 }
            if last <= items[child] { break }
            items[parent] = items[child]
            parent = child
        }
        items[parent] = last
        return top
    }
}
