/// UTF-8 view of a string for Python-style `find`/`rfind` and slicing. Positions are byte
/// offsets: a match of valid UTF-8 inside valid UTF-8 always falls on scalar boundaries, so
/// this finds what Python's code-point search finds, and slicing at its offsets is exact.
public struct ByteText {
    public let bytes: [UInt8]

    public init(_ s: String) { bytes = Array(s.utf8) }

    /// `str.find(needle, start)`: the first offset at or after `start`, or nil.
    public func find(_ needle: String, from start: Int = 0) -> Int? {
        let n = Array(needle.utf8)
        guard !n.isEmpty else { return min(start, bytes.count) }
        guard bytes.count >= n.count, start <= bytes.count - n.count else { return nil }
        var i = start
        while i <= bytes.count - n.count {
            if bytes[i] == n[0] && bytes[i..<(i + n.count)].elementsEqual(n) { return i }
            i += 1
        }
        return nil
    }

    /// `str.rfind(needle)`.
    public func rfind(_ needle: String) -> Int? {
        let n = Array(needle.utf8)
        guard bytes.count >= n.count else { return nil }
        var i = bytes.count - n.count
        while i >= 0 {
            if bytes[i..<(i + n.count)].elementsEqual(n) { return i }
            i -= 1
        }
        return nil
    }

    public func contains(_ needle: String) -> Bool { find(needle) != nil }

    /// `text[from:to]` in byte offsets.
    public func slice(_ from: Int, _ to: Int? = nil) -> String {
        String(decoding: bytes[from..<(to ?? bytes.count)], as: UTF8.self)
    }
}

/// Whether `needle` occurs in `text`, searched over the string's own UTF-8 storage (no copy: a
/// request's text can be tens of megabytes). With `asciiCaseInsensitive`, ASCII letters match in
/// either case, which for an ASCII needle finds what Python's `needle in text.lower()` finds (no
/// non-ASCII character lowercases to an ASCII letter followed by another needle byte).
public func textContains(_ text: String, _ needle: String, asciiCaseInsensitive: Bool = false) -> Bool {
    var needle = needle
    return needle.withUTF8 { n in
        guard !n.isEmpty else { return true }
        func fold(_ b: UInt8) -> UInt8 { asciiCaseInsensitive ? asciiLowercased(b) : b }
        func search(_ h: UnsafeBufferPointer<UInt8>) -> Bool {
            guard h.count >= n.count else { return false }
            let first = fold(n[0])
            var i = 0
            let last = h.count - n.count
            while i <= last {
                if fold(h[i]) == first {
                    var j = 1
                    while j < n.count, fold(h[i + j]) == fold(n[j]) { j += 1 }
                    if j == n.count { return true }
                }
                i += 1
            }
            return false
        }
        if let found = text.utf8.withContiguousStorageIfAvailable(search) { return found }
        return Array(text.utf8).withUnsafeBufferPointer(search)
    }
}

@inline(__always)
private func asciiLowercased(_ b: UInt8) -> UInt8 {
    b &>> 5 == 2 && (b & 0x1F) >= 1 && (b & 0x1F) <= 26 ? b | 0x20 : b
}
