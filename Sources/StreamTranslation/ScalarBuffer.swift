import Text

/// Text buffers for the streaming parsers. They work on Unicode scalars rather than
/// `Character`s because the reference indexes Python strings by code point: a tag
/// must be found even when a combining mark follows it, which would fuse the two
/// into one grapheme cluster.
typealias Scalars = [Unicode.Scalar]

extension Array where Element == Unicode.Scalar {
    init(_ text: String) { self.init(text.unicodeScalars) }

    var string: String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: self)
        return String(view)
    }

    /// First index at or after `start` where `pattern` begins.
    func firstIndex(of pattern: Scalars, from start: Int = 0) -> Int? {
        guard !pattern.isEmpty, count >= pattern.count else { return nil }
        var i = Swift.max(start, 0)
        let last = count - pattern.count
        while i <= last {
            if self[i] == pattern[0] {
                var j = 1
                while j < pattern.count, self[i + j] == pattern[j] { j += 1 }
                if j == pattern.count { return i }
            }
            i += 1
        }
        return nil
    }

    func lastIndex(of pattern: Scalars) -> Int? {
        guard !pattern.isEmpty, count >= pattern.count else { return nil }
        var i = count - pattern.count
        while i >= 0 {
            if self[i..<(i + pattern.count)].elementsEqual(pattern) { return i }
            i -= 1
        }
        return nil
    }

    func hasPrefix(_ pattern: Scalars, at start: Int = 0) -> Bool {
        guard start >= 0, count - start >= pattern.count else { return false }
        return self[start..<(start + pattern.count)].elementsEqual(pattern)
    }

    /// Python's `str.strip()` with no argument.
    func strippingWhitespace() -> Scalars { Array(trimmingPythonWhitespace()) }

    func firstNonWhitespaceIndex(from start: Int = 0) -> Int? {
        var i = start
        while i < count {
            if !self[i].isPythonWhitespace { return i }
            i += 1
        }
        return nil
    }
}
