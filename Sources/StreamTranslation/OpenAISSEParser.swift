import JSON

/// One thing an OpenAI-compatible chat-completions stream said.
public enum OpenAIStreamEvent: Sendable, Equatable {
    /// A `data:` payload that parsed as JSON (normally a `chat.completion.chunk`).
    case chunk(JSONValue)
    /// A chunk of the common shape, text or reasoning in the first choice's delta, read without
    /// a tree (only from a parser made with `readsTextDeltas`); it translates exactly as its
    /// `.chunk` would.
    case textDelta(TextDelta)
    /// `data: [DONE]`: the stream is complete; the OpenAI client stops reading here.
    case done
    /// A `data:` payload that is not JSON. The reference's client raises on it and
    /// the stream ends with an error.
    case malformed(payload: String, reason: String)
    /// A line, or one event's data, grew past the parser's limit before it ended. Nothing
    /// follows: the parser has dropped what it held and ignores the rest of the body.
    case tooLong(limit: Int)
}

/// Incremental parser for `text/event-stream` bodies, per the WHATWG
/// event-stream rules: feed it bytes split anywhere (inside a UTF-8 sequence,
/// between `\r` and `\n`), get events once their blank line arrives.
///
/// Lines end in CRLF, LF or CR. `:` lines are comments. Several `data:` lines in
/// one event are joined with `\n`. `event:`, `id:` and `retry:` are accepted and
/// ignored (NIM sends none). An event with no data is not dispatched: the OpenAI
/// client would try to JSON-decode the empty string and fail the stream.
///
/// What it holds is bounded by `maxLineBytes`: an upstream that never ends a line (or an
/// event) gets `.tooLong` instead of the server's memory.
public struct OpenAISSEParser: Sendable {
    public let maxLineBytes: Int
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    /// The last byte fed was `\r`: a `\n` at the start of the next chunk belongs to it.
    private var afterCR = false
    private var atStreamStart = true
    /// Set once `.tooLong` was reported; every later byte is ignored.
    private var overflowed = false

    /// Chunks of the common shape come as `.textDelta` rather than `.chunk`.
    public let readsTextDeltas: Bool

    /// `maxLineBytes` bounds one line and also one event's data (its `data:` lines joined).
    public init(maxLineBytes: Int = .max, readsTextDeltas: Bool = false) {
        self.maxLineBytes = max(1, maxLineBytes)
        self.readsTextDeltas = readsTextDeltas
    }

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [OpenAIStreamEvent] {
        let array = Array(bytes)
        return array.withUnsafeBytes { feed($0) }
    }

    /// The hot path (one call per upstream read): scans for line ends and copies the
    /// bytes between them in runs, not one byte at a time.
    public mutating func feed(_ buffer: UnsafeRawBufferPointer) -> [OpenAIStreamEvent] {
        var events: [OpenAIStreamEvent] = []
        if overflowed { return events }
        let n = buffer.count
        var i = 0
        if afterCR, n > 0 {
            afterCR = false
            if buffer[0] == 0x0A { i = 1 }
        }
        while i < n {
            var j = Self.lineEnd(buffer, from: i)
            // Checked before the line is kept or used, so it never exceeds the limit.
            if j - i > maxLineBytes - line.count {
                overflow(into: &events)
                return events
            }
            if j == n {
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i..<j]))
                break
            }
            let whole = line.isEmpty ? UnsafeRawBufferPointer(rebasing: buffer[i..<j]) : nil
            if whole == nil { line.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[i..<j])) }
            if buffer[j] == 0x0D {
                if j + 1 < n {
                    if buffer[j + 1] == 0x0A { j += 1 }
                } else {
                    afterCR = true
                }
            }
            if let whole { endLine(whole, into: &events) } else { endLine(into: &events) }
            if overflowed { return events }
            i = j + 1
        }
        // Between events nothing is pending: give the buffers back rather than keep them at
        // their largest size for the stream's life (a paced stream is mostly waiting, and
        // thousands of open streams each kept ~0.5 KB this way). Within one read the capacity
        // is still reused from line to line.
        if line.isEmpty { line = [] }
        if !hasData { data = [] }
        return events
    }

    /// The index of the first CR or LF at or after `start`, or the buffer's end: eight bytes at a
    /// time (a chunk's line is a few hundred bytes, and a byte-at-a-time scan was a tenth of the
    /// cost of relaying it).
    @inline(__always)
    static func lineEnd(_ buffer: UnsafeRawBufferPointer, from start: Int) -> Int {
        let n = buffer.count
        var j = start
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while j + 8 <= n {
            let word = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: j, as: UInt64.self))
            let lf = word ^ (ones &* 0x0A), cr = word ^ (ones &* 0x0D)
            // A byte is flagged when it is zero in `lf` or `cr`; the lowest flag is exact.
            let found = ((lf &- ones) & ~lf | (cr &- ones) & ~cr) & highs
            if found != 0 { return j + found.trailingZeroBitCount / 8 }
            j += 8
        }
        while j < n {
            let b = buffer[j]
            if b == 0x0A || b == 0x0D { return j }
            j += 1
        }
        return n
    }

    /// The body ended. An event without its terminating blank line is discarded,
    /// as both the spec and the OpenAI client do.
    public mutating func finish() -> [OpenAIStreamEvent] {
        line = []
        data = []
        hasData = false
        afterCR = false
        return []
    }

    private mutating func overflow(into events: inout [OpenAIStreamEvent]) {
        overflowed = true
        line = []
        data = []
        hasData = false
        events.append(.tooLong(limit: maxLineBytes))
    }

    private mutating func endLine(into events: inout [OpenAIStreamEvent]) {
        var held: [UInt8] = []
        swap(&held, &line)
        held.withUnsafeBytes { endLine($0, into: &events) }
        held.removeAll(keepingCapacity: true)
        line = held
    }

    /// One complete line, from `line` or straight from the buffer read (a line that arrives
    /// whole, the usual case, is never copied).
    private mutating func endLine(_ whole: UnsafeRawBufferPointer, into events: inout [OpenAIStreamEvent]) {
        var text = whole
        if atStreamStart {
            atStreamStart = false
            if text.count >= 3, text[0] == 0xEF, text[1] == 0xBB, text[2] == 0xBF { text = UnsafeRawBufferPointer(rebasing: text[3...]) }
        }
        if text.isEmpty {
            dispatch(into: &events)
            return
        }
        if text[0] == UInt8(ascii: ":") { return }
        let colon = text.firstIndex(of: UInt8(ascii: ":"))
        let nameLength = colon ?? text.count
        guard nameLength == 4, text[0] == UInt8(ascii: "d"), text[1] == UInt8(ascii: "a"),
            text[2] == UInt8(ascii: "t"), text[3] == UInt8(ascii: "a")
        else { return }
        var valueStart = colon.map { $0 + 1 } ?? text.count
        if valueStart < text.count, text[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        // Many short `data:` lines with no blank line between them make one growing event.
        if (hasData ? 1 : 0) + text.count - valueStart > maxLineBytes - data.count {
            overflow(into: &events)
            return
        }
        if hasData { data.append(0x0A) }
        data.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[valueStart...]))
        hasData = true
    }

    /// The members of a chunk that translation reads (`StreamTranslator.process` and
    /// `UpstreamError.inStream`); the rest (id, model, timestamps) is checked but not built.
    public static let chunkKeys = TopLevelKeys(["choices", "usage", "error"])

    private mutating func dispatch(into events: inout [OpenAIStreamEvent]) {
        guard hasData else { return }
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
        }
        // The OpenAI client checks `data.startswith("[DONE]")`.
        if data.count >= 6, data[0] == UInt8(ascii: "["), data[1] == UInt8(ascii: "D"), data[2] == UInt8(ascii: "O"),
            data[3] == UInt8(ascii: "N"), data[4] == UInt8(ascii: "E"), data[5] == UInt8(ascii: "]")
        {
            events.append(.done)
            return
        }
        if readsTextDeltas, let delta = data.withUnsafeBytes({ TextDelta.read($0) }) {
            events.append(.textDelta(delta))
            return
        }
        do {
            events.append(.chunk(try JSONValue.parse(data, keeping: Self.chunkKeys)))
        } catch {
            events.append(.malformed(payload: String(decoding: data, as: UTF8.self), reason: error.description))
        }
    }
}
