import FuzzSupport
import StreamTranslation
import Text

// Model text through the heuristic tool-call parser (`● <function=...>` calls and `<|...|>`
// sentinel tokens), fed in pieces (see `splitRanges`) as content deltas arrive.
//
// Not checked: that any split gives the same result. Like the reference, a call ends at the
// whitespace that ends a chunk, so the same text split elsewhere may end a call earlier.
// Checked beyond not crashing: text without a `●` or a `<|` passes through unchanged and yields
// no call, and every call found has a name without surrounding whitespace.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let input = FuzzInput(data, size) else { return 0 }
    let (whole, pieces) = textPieces(input)
    var parser = HeuristicToolParser()
    var text = ""
    var calls: [HeuristicToolCall] = []
    for piece in pieces {
        let (shown, found) = parser.feed(piece)
        text += shown
        calls += found
    }
    let (rest, last) = parser.flush()
    text += rest
    calls += last
    for call in calls {
        // Names are stripped with Python's `str.strip`, whose whitespace is not Unicode's.
        let name = call.name.unicodeScalars
        guard let first = name.first, let last = name.last, !first.isPythonWhitespace, !last.isPythonWhitespace else {
            propertyFailed("a call named \(call.name.debugDescription)")
        }
    }
    // Scalars, not characters: the parser works on scalars, and `<|` followed by a combining mark
    // is no `<|` character pair.
    let scalars = Array(whole.unicodeScalars)
    let plain = !scalars.contains("●") && !zip(scalars, scalars.dropFirst()).contains { $0 == "<" && $1 == "|" }
    if plain, text != whole || !calls.isEmpty {
        propertyFailed("plain text changed: \(whole.debugDescription) became \(text.debugDescription), \(calls.count) call(s)")
    }
    return 0
}

#if !FUZZING
@main enum Replay {
    static func main() { replayMain(fuzz) }
}
#endif
