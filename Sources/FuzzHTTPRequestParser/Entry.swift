// libFuzzer entry for the HTTP/1.1 request parser. Besides "never traps, never hangs", it checks
// the property the server relies on: the events do not depend on how the bytes are split into
// reads. The input is parsed whole and again in pieces of a size taken from its first byte; the
// two event lists must be equal.

import FuzzSupport
import HTTP1

/// What a parse reported, with body ranges reduced to byte counts (they depend on the split).
private enum Step: Equatable {
    case head(method: String, target: String, minor: Int, headers: [String], framing: HTTPBodyFraming, keepAlive: Bool)
    case body(Int)
    case end
    case error(HTTPParseError)
}

private func run(_ bytes: UnsafeRawBufferPointer, pieceSize: Int) -> [Step] {
    let limits = HTTPRequestLimits(requestLine: 256, header: 1024, headerCount: 16, body: 4096, chunkLine: 64)
    var parser = HTTPRequestParser(limits: limits)
    var steps: [Step] = []
    var pieceStart = 0
    while pieceStart < bytes.count {
        let piece = UnsafeRawBufferPointer(rebasing: bytes[pieceStart..<min(bytes.count, pieceStart + pieceSize)])
        pieceStart += piece.count
        var offset = 0
        while true {
            let (event, consumed) = parser.parse(UnsafeRawBufferPointer(rebasing: piece[offset...]))
            precondition(consumed >= 0 && consumed <= piece.count - offset)
            offset += consumed
            switch event {
            case .needMore:
                precondition(offset == piece.count, "needMore before the input was consumed")
            case .head(let head):
                steps.append(.head(method: head.method, target: head.target, minor: head.minorVersion,
                                   headers: head.headers.map { $0.name + ":" + $0.value },
                                   framing: head.framing, keepAlive: head.keepAlive))
                continue
            case .body(let range):
                precondition(range.upperBound <= consumed && !range.isEmpty)
                if case .body(let count)? = steps.last {
                    steps[steps.count - 1] = .body(count + range.count)
                } else {
                    steps.append(.body(range.count))
                }
                continue
            case .end:
                steps.append(.end)
                continue
            case .error(let error):
                steps.append(.error(error))
                return steps
            }
            break
        }
    }
    return steps
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let whole = run(bytes, pieceSize: max(size, 1))
    let pieceSize = size > 0 ? Int(data[0] % 13) + 1 : 1
    let pieces = run(bytes, pieceSize: pieceSize)
    if whole != pieces { propertyFailed("events depend on the split: \(whole) vs \(pieces)") }
    return 0
}

#if !FUZZING
@main enum Replay {
    static func main() { replayMain(fuzz) }
}
#endif
