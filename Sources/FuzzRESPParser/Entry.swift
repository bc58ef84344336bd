import FuzzSupport
import RESP

// Bytes from a Redis server (RATE_LIMIT_STORE) through `RESPParser`, whole and in pieces (the first
// byte says how to cut the rest, `splitRanges`). Small limits, so the size checks are reached too.
//
// Checked beyond not crashing: both feeds give the same replies, in order, and end the same way (a
// protocol error, or the same number of bytes left waiting).

private func parse(_ bytes: ArraySlice<UInt8>, pieces: [Range<Int>]) -> (replies: [RESPValue], error: Bool, pending: Int) {
    var parser = RESPParser(maxBulkBytes: 256, maxArrayCount: 32, maxDepth: 4)
    var replies: [RESPValue] = []
    for piece in pieces {
        parser.append(bytes[(bytes.startIndex + piece.lowerBound)..<(bytes.startIndex + piece.upperBound)])
        do {
            while let reply = try parser.next() { replies.append(reply) }
        } catch {
            return (replies, true, 0)
        }
    }
    return (replies, false, parser.pendingBytes)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let all = Array(UnsafeBufferPointer(start: data, count: size))
    let body = all[1...]
    let whole = parse(body, pieces: body.isEmpty ? [] : [0..<body.count])
    let split = parse(body, pieces: splitRanges(count: body.count, control: all[0]))
    if whole.replies != split.replies { propertyFailed("replies differ when the bytes come in pieces") }
    if whole.error != split.error { propertyFailed("a protocol error in one feed only") }
    if whole.pending != split.pending { propertyFailed("different bytes left waiting") }
    return 0
}

#if !FUZZING
@main enum Replay {
    static func main() { replayMain(fuzz) }
}
#endif
