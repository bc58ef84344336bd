import FuzzSupport
import StreamTranslation

// Model text through the `<think>` tag parser, fed whole and fed in pieces (see `splitRanges`).
//
// Checked beyond not crashing: the parser promises the same sections whichever chunk boundary a
// tag straddles, so both feeds give the same text and thinking once adjacent segments of one
// kind are joined (how many deltas carry them may differ).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let input = FuzzInput(data, size) else { return 0 }
    let (whole, pieces) = textPieces(input)
    let once = sections([whole])
    let split = sections(pieces)
    if once != split {
        propertyFailed("fed in \(pieces.count) pieces the sections differ: \(once) vs \(split)")
    }
    return 0
}

private func sections(_ pieces: [String]) -> [ThinkTagParser.Segment] {
    var parser = ThinkTagParser()
    var segments: [ThinkTagParser.Segment] = []
    for piece in pieces { segments += parser.feed(piece) }
    if let rest = parser.flush() { segments.append(rest) }
    var joined: [ThinkTagParser.Segment] = []
    for segment in segments where !segment.content.isEmpty {
        if let last = joined.last, last.kind == segment.kind {
            joined[joined.count - 1].content += segment.content
        } else {
            joined.append(segment)
        }
    }
    return joined
}

#if !FUZZING
@main enum Replay {
    static func main() { replayMain(fuzz) }
}
#endif
