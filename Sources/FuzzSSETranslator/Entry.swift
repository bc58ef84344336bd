import FuzzSupport
import JSON
import StreamTranslation

// An upstream body through the OpenAI SSE parser and the stream translator, driven as the
// upstream stream drives them: bytes fed in the pieces the first input byte chooses (see
// `splitRanges`), each event handed on until the stream ends (`[DONE]`, an error chunk, a
// malformed payload or the end of the body).
//
// Checked beyond not crashing, because Claude Code parses what comes out: the translator's output
// is a well-formed Anthropic stream whatever the upstream sent. Every event is an `event:` line
// and a `data:` line whose JSON has that `type`; `message_start` comes first, then content blocks
// opened one at a time with consecutive indices, each delta and stop naming the open block, then
// `message_delta`, `message_stop` and the closing `[DONE]`. The same stream assembled for
// `stream: false` keeps every block; the input read as an upstream error body maps to a short
// message, and a context-length refusal to Anthropic's exact sentence. Translated again with chunks
// of the common shape read without a tree (`TextDelta`), the output is the same bytes.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let input = FuzzInput(data, size) else { return 0 }
    let out = translate(input, readsTextDeltas: false)
    // Chunks of the common shape read without a tree translate exactly as their tree does.
    if translate(input, readsTextDeltas: true) != out {
        propertyFailed("reading text deltas without the tree changed the translation")
    }
    checkAnthropicStream(out)
    checkAssembledMessage(out, control: input.control)
    checkErrorMapping(input.payload, control: input.control)
    return 0
}

private func translate(_ input: FuzzInput, readsTextDeltas: Bool) -> [UInt8] {
    var parser = OpenAISSEParser(readsTextDeltas: readsTextDeltas)
    var translator = StreamTranslator(
        model: "claude-fuzz", inputTokens: 1, messageID: "msg_fuzz",
        // The real count (cl100k) is not what is fuzzed here, and is slow under the sanitizers.
        countTokens: { $0.utf8.count / 4 },
        makeToolID: { $0 == .native ? "tool_fuzz" : "toolu_heuristic_fuzz" })
    var out = translator.start()
    var ended = false

    func handle(_ events: [OpenAIStreamEvent]) {
        for event in events where !ended {
            switch event {
            case .chunk(let chunk):
                out += translator.consume(chunk: chunk)
                ended = translator.isFinished
            case .textDelta(let delta):
                out += translator.consume(delta)
                ended = translator.isFinished
            case .done:
                out += translator.finish()
                ended = true
            case .malformed(_, let reason):
                out += translator.fail(
                    error: mapUpstreamError(status: nil, body: nil, transport: .malformedStream(reason: reason)))
                ended = true
            case .tooLong(let limit):
                out += translator.fail(
                    error: mapUpstreamError(
                        status: nil, body: nil, transport: .malformedStream(reason: "an SSE line longer than \(limit) bytes")))
                ended = true
            }
        }
    }

    for range in splitRanges(count: input.payload.count, control: input.control) where !ended {
        handle(parser.feed(UnsafeRawBufferPointer(rebasing: input.payload[range])))
    }
    if !ended {
        handle(parser.finish())
        if !ended { out += translator.finish() }
    }
    if !translator.isFinished { propertyFailed("the stream did not finish") }
    return out
}

/// The `stream: false` path: the same stream assembled into one Message, in pieces, holds a
/// block for every `content_block_start`.
private func checkAssembledMessage(_ stream: [UInt8], control: UInt8) {
    var assembler = MessageAssembler()
    for range in splitRanges(count: stream.count, control: control) { assembler.feed(stream[range]) }
    switch assembler.outcome {
    case .message(let message):
        let starts = split(stream, separator: [0x0A, 0x0A]).filter { $0.starts(with: Array("event: content_block_start".utf8)) }
        guard message["content"]?.arrayValue?.count == starts.count else { propertyFailed("the message lost blocks") }
    case .failed:
        break
    case .incomplete:
        propertyFailed("a finished stream assembled as incomplete")
    }
}

/// The same bytes as an upstream's error body: the message is short, and a context-length
/// refusal reads exactly as Anthropic's, with a true sentence.
private func checkErrorMapping(_ payload: UnsafeRawBufferPointer, control: UInt8) {
    let body = String(decoding: payload, as: UTF8.self)
    let status = [400, 413, 422, 500, 503][Int(control) % 5]
    let request = control & 1 == 0 ? nil : RequestTokens(inputTokens: Int(control) * 997, maxTokens: 4096, contextWindow: 65536)
    let error = mapUpstreamError(status: status, body: body, transport: nil, contentType: nil, request: request)
    guard !error.message.isEmpty, error.message.unicodeScalars.count < 700 else {
        propertyFailed("an unreadable message: \(error.message.unicodeScalars.count) characters")
    }
    let prefix = "prompt is too long: "
    guard error.message.hasPrefix(prefix) else { return }
    let words = error.message.dropFirst(prefix.count).split(separator: " ", omittingEmptySubsequences: false)
    guard words.count == 5, words[1] == "tokens", words[2] == ">", words[4] == "maximum",
        let n = Int(words[0]), let m = Int(words[3]), n > m, m >= 0, error.type == .invalidRequest, error.status == 400
    else {
        propertyFailed("not Anthropic's context-length sentence: \(error.message)")
    }
}

private func checkAnthropicStream(_ bytes: [UInt8]) {
    let events = split(bytes, separator: [0x0A, 0x0A])
    guard events.last == Array("[DONE]".utf8), events.count >= 4 else {
        propertyFailed("the stream does not end with [DONE] after at least three events")
    }
    var types: [String] = []
    var nextIndex = 0
    var open: Int?
    for event in events.dropLast() {
        let lines = split(event, separator: [0x0A])
        let eventPrefix = Array("event: ".utf8)
        let dataPrefix = Array("data: ".utf8)
        guard lines.count == 2, lines[0].starts(with: eventPrefix), lines[1].starts(with: dataPrefix) else {
            propertyFailed("an event is not an event line and a data line: \(String(decoding: event, as: UTF8.self))")
        }
        let name = String(decoding: lines[0].dropFirst(eventPrefix.count), as: UTF8.self)
        let payload: JSONValue
        do {
            payload = try JSONValue.parse(Array(lines[1].dropFirst(dataPrefix.count)))
        } catch {
            propertyFailed("the data of \(name) is not JSON: \(error)")
        }
        guard payload["type"]?.stringValue == name else { propertyFailed("\(name) carries another type") }
        let index = payload["index"]?.intValue
        switch name {
        case "content_block_start":
            guard open == nil, index == nextIndex else { propertyFailed("block \(String(describing: index)) opened out of turn") }
            open = index
            nextIndex += 1
        case "content_block_delta":
            guard let open, index == open else { propertyFailed("a delta for block \(String(describing: index)), not the open one") }
        case "content_block_stop":
            guard let current = open, index == current else { propertyFailed("a stop for block \(String(describing: index)), not the open one") }
            open = nil
        case "message_delta":
            guard open == nil else { propertyFailed("message_delta with a block still open") }
        case "message_start", "message_stop", "ping":
            break
        default:
            propertyFailed("unknown event \(name)")
        }
        types.append(name)
    }
    guard types.first == "message_start", types.suffix(2) == ["message_delta", "message_stop"],
        types.filter({ $0 == "message_start" || $0 == "message_delta" || $0 == "message_stop" }).count == 3
    else {
        propertyFailed("message events out of order: \(types)")
    }
}

/// `bytes` cut at each occurrence of `separator`, a trailing empty piece dropped.
private func split(_ bytes: [UInt8], separator: [UInt8]) -> [[UInt8]] {
    var pieces: [[UInt8]] = []
    var start = 0
    var i = 0
    while i + separator.count <= bytes.count {
        if bytes[i..<(i + separator.count)].elementsEqual(separator) {
            pieces.append(Array(bytes[start..<i]))
            i += separator.count
            start = i
        } else {
            i += 1
        }
    }
    if start < bytes.count { pieces.append(Array(bytes[start...])) }
    return pieces
}

#if !FUZZING
@main enum Replay {
    static func main() { replayMain(fuzz) }
}
#endif
