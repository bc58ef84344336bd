/// `shlex.split(s, posix=False)` failed: a token that opens with a quote never closes.
public struct ShlexError: Error, Sendable, Equatable {
    public let message: String
}

/// Python's `shlex.split(s, posix=False)`, which the reference uses to read commands.
///
/// Non-POSIX mode differs from a shell: only ' ', tab, CR and LF separate words; a quote
/// opens a quoted token only at the start of a token, the quotes stay in the token and the
/// closing quote ends it (`"a"b` is two tokens); a quote inside a word is an ordinary
/// character; backslash is never an escape. The only error is a quoted token that is still
/// open at the end ("No closing quotation").
public func shlexSplitNonPOSIX(_ s: String) throws(ShlexError) -> [String] {
    var tokens: [String] = []
    var token = String.UnicodeScalarView()
    var openQuote: Unicode.Scalar? = nil
    for c in s.unicodeScalars {
        if let q = openQuote {
            token.append(c)
            if c == q {
                tokens.append(String(token))
                token = String.UnicodeScalarView()
                openQuote = nil
            }
        } else if c == " " || c == "\t" || c == "\r" || c == "\n" {
            if !token.isEmpty {
                tokens.append(String(token))
                token = String.UnicodeScalarView()
            }
        } else if token.isEmpty && (c == "'" || c == "\"") {
            token.append(c)
            openQuote = c
        } else {
            token.append(c)
        }
    }
    if openQuote != nil { throw ShlexError(message: "No closing quotation") }
    if !token.isEmpty { tokens.append(String(token)) }
    return tokens
}
