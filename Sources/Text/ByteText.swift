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
