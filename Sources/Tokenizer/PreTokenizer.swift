/// Splits UTF-8 text into the pieces tiktoken's cl100k pattern matches, without a regex engine.
///
/// The pattern tiktoken (0.7 through 0.14) actually runs for cl100k_base is
/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`.
/// It equals the original
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// except for one case: a whitespace run that reaches the end of the text and has a newline before
/// non-newline whitespace (`"\n  "`) is one piece under `\s++$` but two under the original. We follow
/// tiktoken, since the reference counts with it.
///
/// Every scalar belongs to some alternative, so pieces tile the text with no gaps. Alternatives are
/// tried in pattern order at each position, as a leftmost-first regex does.
struct PreTokenizer {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 4
    /// `\r` or `\n` (also whitespace).
    static let lineBreak: UInt8 = 8

    let text: UnsafeBufferPointer<UInt8>
    /// `CharacterClass.bmp`, read through a pointer: a static array read in the loop costs a
    /// `swift_once` check each time.
    let classes: UnsafePointer<UInt8>

    /// The scalar value and byte length of the UTF-8 sequence at `i` (input is valid UTF-8).
    @inline(__always)
    func scalar(at i: Int) -> (value: UInt32, length: Int) {
        let b0 = UInt32(text[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(text[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(text[i + 1] & 0x3F) << 6 | UInt32(text[i + 2] & 0x3F), 3)
        }
        return (
            (b0 & 0x07) << 18 | UInt32(text[i + 1] & 0x3F) << 12 | UInt32(text[i + 2] & 0x3F) << 6
                | UInt32(text[i + 3] & 0x3F), 4
        )
    }

    @inline(__always)
    func classAndLength(at i: Int) -> (flags: UInt8, length: Int) {
        let b0 = text[i]
        if b0 < 0x80 { return (classes[Int(b0)], 1) }
        let s = scalar(at: i)
        return (s.value < 0x10000 ? classes[Int(s.value)] : CharacterClass.compute(s.value), s.length)
    }

    /// The end (exclusive byte offset) of the piece starting at `start`.
    func pieceEnd(from start: Int) -> Int {
        let n = text.count
        let b0 = text[start]

        // '(?i:[sdmt]|ll|ve|re)
        if b0 == UInt8(ascii: "'") && start + 1 < n {
            let c1 = scalar(at: start + 1)
            switch foldContractionLetter(c1.value) {
            case UInt8(ascii: "s"), UInt8(ascii: "d"), UInt8(ascii: "m"), UInt8(ascii: "t"):
                return start + 1 + c1.length
            case let first where first == UInt8(ascii: "l") || first == UInt8(ascii: "v") || first == UInt8(ascii: "r"):
                let p2 = start + 1 + c1.length
                if p2 < n {
                    let c2 = scalar(at: p2)
                    let second = foldContractionLetter(c2.value)
                    let wanted = first == UInt8(ascii: "l") ? UInt8(ascii: "l") : UInt8(ascii: "e")
                    if second == wanted { return p2 + c2.length }
                }
            default:
                break
            }
        }

        let (k0, l0) = classAndLength(at: start)

        // [^\r\n\p{L}\p{N}]?+\p{L}++
        if k0 & Self.letter != 0 { return endOfLetters(from: start + l0) }
        if k0 & (Self.number | Self.lineBreak) == 0 && start + l0 < n {
            let (k1, l1) = classAndLength(at: start + l0)
            if k1 & Self.letter != 0 { return endOfLetters(from: start + l0 + l1) }
        }

        // \p{N}{1,3}+
        if k0 & Self.number != 0 {
            var p = start + l0
            var taken = 1
            while taken < 3 && p < n {
                let (k, l) = classAndLength(at: p)
                if k & Self.number == 0 { break }
                p += l
                taken += 1
            }
            return p
        }

        // ' ?[^\s\p{L}\p{N}]++[\r\n]*+'
        var punctStart = -1
        if k0 == 0 {
            punctStart = start
        } else if b0 == 0x20 && start + 1 < n && classAndLength(at: start + 1).flags == 0 {
            punctStart = start + 1
        }
        if punctStart >= 0 {
            var p = punctStart
            while p < n {
                let (k, l) = classAndLength(at: p)
                if k != 0 { break }
                p += l
            }
            while p < n && (text[p] == 0x0A || text[p] == 0x0D) { p += 1 }
            return p
        }

        // Only whitespace is left. Scan its run once and answer the four whitespace alternatives.
        var p = start
        var lastScalarStart = start
        var afterLastBreak = -1
        while p < n {
            let (k, l) = classAndLength(at: p)
            if k & Self.whitespace == 0 { break }
            if k & Self.lineBreak != 0 { afterLastBreak = p + l }
            lastScalarStart = p
            p += l
        }
        if p == n { return n }  // \s++$
        if afterLastBreak >= 0 { return afterLastBreak }  // \s*[\r\n]
        if lastScalarStart > start { return lastScalarStart }  // \s+(?!\S) gives back the last one
        return start + l0  // \s
    }

    @inline(__always)
    private func endOfLetters(from position: Int) -> Int {
        var p = position
        let n = text.count
        while p < n {
            let (k, l) = classAndLength(at: p)
            if k & Self.letter == 0 { break }
            p += l
        }
        return p
    }

    /// Lower-cases the letters of the contraction alternatives under Unicode simple case folding,
    /// which is what `(?i)` means in Rust's regex crate: U+017F LATIN SMALL LETTER LONG S folds to `s`.
    /// Other scalars map to 0.
    @inline(__always)
    private func foldContractionLetter(_ v: UInt32) -> UInt8 {
        if v == 0x17F { return UInt8(ascii: "s") }
        if v >= 0x80 { return 0 }
        return UInt8(v) | 0x20
    }
}

enum CharacterClass {
    /// Classes of the Basic Multilingual Plane, built on first use (a few milliseconds): Swift's
    /// property lookup costs far more than an array read, and non-Latin text is mostly BMP.
    static let bmp: [UInt8] = [UInt8](unsafeUninitializedCapacity: 0x10000) { table, count in
        var v: UInt32 = 0
        while v < 0x10000 {
            switch v {
            // Blocks whose every code point has one class, filled without asking the stdlib:
            // surrogates (never in a String) and the Private Use Area (Co, fixed by Unicode's
            // stability policy) are "other"; CJK Unified Ideographs with Extension A (fully
            // assigned since Unicode 13) and the Hangul syllables are Lo.
            case 0xD800...0xDFFF, 0xE000...0xF8FF:
                table[Int(v)] = 0
            case 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xAC00...0xD7A3:
                table[Int(v)] = PreTokenizer.letter
            default:
                table[Int(v)] = compute(v)
            }
            v += 1
        }
        count = 0x10000
    }

    /// `\p{L}` and `\p{N}` are general categories L* and N*; `\s` is the White_Space property
    /// (the definitions of Rust's regex crate, which tiktoken uses).
    /// Kept out of line: inlined, its stdlib metadata lookups run in the prologue of every caller.
    @inline(never)
    static func compute(_ v: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(v) else { return 0 }  // surrogates never occur in a String
        var flags: UInt8 = 0
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            flags |= PreTokenizer.letter
        case .decimalNumber, .letterNumber, .otherNumber:
            flags |= PreTokenizer.number
        default:
            break
        }
        if isWhiteSpace(v) { flags |= PreTokenizer.whitespace }
        if v == 0x0A || v == 0x0D { flags |= PreTokenizer.lineBreak }
        return flags
    }

    /// Unicode's White_Space property, which has listed these 25 code points since Unicode 6.3
    /// (PropList.txt); spelled out because the stdlib lookup is slow.
    @inline(__always)
    static func isWhiteSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}
