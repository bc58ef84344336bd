// Text helpers with Python's semantics, which the reference's detectors are written in:
// positions are found on UTF-8 bytes (a match of valid UTF-8 inside valid UTF-8 always
// falls on scalar boundaries, so this equals Python's code-point search), and whitespace
// is what `str.isspace()` accepts (`Unicode.Scalar.isPythonWhitespace` in JSON).

import JSON

/// Python's `str.split()` with no separator: runs of whitespace separate, none kept.
func pythonSplit(_ s: String) -> [String] {
    var out: [String] = []
    var current = String.UnicodeScalarView()
    for scalar in s.unicodeScalars {
        if scalar.isPythonWhitespace {
            if !current.isEmpty {
                out.append(String(current))
                current = String.UnicodeScalarView()
            }
        } else {
            current.append(scalar)
        }
    }
    if !current.isEmpty { out.append(String(current)) }
    return out
}

/// UTF-8 view of a string for Python-style `find`/`rfind` and slicing.
struct ByteText {
    let bytes: [UInt8]

    init(_ s: String) { bytes = Array(s.utf8) }

    /// `str.find(needle, start)`: the first offset at or after `start`, or nil.
    func find(_ needle: String, from start: Int = 0) -> Int? {
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
    func rfind(_ needle: String) -> Int? {
        let n = Array(needle.utf8)
        guard bytes.count >= n.count else { return nil }
        var i = bytes.count - n.count
        while i >= 0 {
            if bytes[i..<(i + n.count)].elementsEqual(n) { return i }
            i -= 1
        }
        return nil
    }

    func contains(_ needle: String) -> Bool { find(needle) != nil }

    func slice(_ from: Int, _ to: Int? = nil) -> String {
        String(decoding: bytes[from..<(to ?? bytes.count)], as: UTF8.self)
    }
}
