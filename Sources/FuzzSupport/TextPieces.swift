/// The text of a fuzz payload (invalid UTF-8 repaired, as the translator's strings are) cut into
/// pieces at whole scalars by `splitRanges`: the text parsers are fed strings, never half a scalar.
public func textPieces(_ input: FuzzInput) -> (whole: String, pieces: [String]) {
    let whole = String(decoding: input.payload, as: UTF8.self)
    let scalars = Array(whole.unicodeScalars)
    let pieces = splitRanges(count: scalars.count, control: input.control).map {
        String(String.UnicodeScalarView(scalars[$0]))
    }
    return (whole, pieces)
}
