import JSON
import Testing
@testable import StreamTranslation

/// `OpenAISSEParser(maxLineBytes:)`: an upstream that never ends a line or an event cannot make
/// the parser hold more than the limit.
@Suite struct SSELineLimitTests {
    /// `data: 1234...` padded to exactly `length` bytes, without its line end.
    static func dataLine(length: Int) -> [UInt8] {
        Array("data: ".utf8) + Array(repeating: UInt8(ascii: "7"), count: length - 6)
    }

    @Test func aLineOfExactlyTheLimitIsKept() {
        var p = OpenAISSEParser(maxLineBytes: 64)
        let events = p.feed(Self.dataLine(length: 64) + Array("\r\n\r\n".utf8))
        #expect(events.count == 1)
        if case .chunk? = events.first {} else { Issue.record("expected one chunk, got \(events)") }
    }

    @Test func oneByteMoreEndsTheParse() {
        var p = OpenAISSEParser(maxLineBytes: 64)
        #expect(p.feed(Array("data: 1\n\n".utf8) + Self.dataLine(length: 65) + Array("\n\n".utf8)) == [.chunk(1), .tooLong(limit: 64)])
        // Nothing more is parsed, not even a well-formed event.
        #expect(p.feed(Array("data: 2\n\n".utf8)) == [])
        #expect(p.finish() == [])
    }

    /// However the bytes are split, the limit is reported once, at the byte that crosses it.
    @Test func everySplitPoint() {
        let body = Array("data: 1\n\n".utf8) + Self.dataLine(length: 100) + Array("\n\ndata: 2\n\n".utf8)
        for i in 0...body.count {
            var p = OpenAISSEParser(maxLineBytes: 99)
            let out = p.feed(body[..<i]) + p.feed(body[i...])
            #expect(out == [.chunk(1), .tooLong(limit: 99)], "split at \(i)")
        }
    }

    /// The case that grew the server by 515 MB a second: one line, no newline, forever. Fed in
    /// 1 MB reads, the parser reports once and ignores the other 99 reads.
    @Test func anEndlessLine() {
        var p = OpenAISSEParser(maxLineBytes: 4 * 1024 * 1024)
        let read = [UInt8](repeating: UInt8(ascii: "x"), count: 1024 * 1024)
        var events: [OpenAIStreamEvent] = p.feed(Array("data: ".utf8))
        for _ in 0..<100 { events += p.feed(read) }
        #expect(events == [.tooLong(limit: 4 * 1024 * 1024)])
    }

    /// Short `data:` lines with no blank line between them make one event that grows: bounded too.
    @Test func anEndlessEvent() {
        var p = OpenAISSEParser(maxLineBytes: 1000)
        var events: [OpenAIStreamEvent] = []
        for _ in 0..<1000 { events += p.feed(Array("data: 0123456789\n".utf8)) }
        #expect(events == [.tooLong(limit: 1000)])
        // Ten bytes, and a joining newline before each but the first: 91 lines are 1000 bytes.
        var q = OpenAISSEParser(maxLineBytes: 1000)
        var ok: [OpenAIStreamEvent] = []
        for _ in 0..<91 { ok += q.feed(Array("data: 0123456789\n".utf8)) }
        ok += q.feed(Array("\n".utf8))
        #expect(ok.count == 1)
        if case .malformed = ok.first {} else { Issue.record("expected the joined data to be parsed, got \(ok)") }
    }

    /// Comment lines count too: they are held until their end like any other line.
    @Test func aLongCommentLine() {
        var p = OpenAISSEParser(maxLineBytes: 10)
        #expect(p.feed(Array(":123456789".utf8)) == [])
        #expect(p.feed(Array("0".utf8)) == [.tooLong(limit: 10)])
    }

    @Test func theErrorNamesTheSetting() {
        let e = mapUpstreamError(status: nil, body: nil, transport: .lineTooLong(limit: 4096))
        #expect(e.type == .api)
        #expect(e.message == "The upstream sent an SSE line longer than UPSTREAM_MAX_LINE_BYTES (4096 bytes); the stream was ended.")
    }
}

@Suite struct RetryAfterTooLongErrorTests {
    @Test func theUpstreamsErrorAndTheValue() {
        let e = UpstreamError.retryAfterTooLong(
            body: #"{"error": {"message": "slow down"}}"#, retryAfter: .seconds(1_000_000_000), headerValue: "1000000000",
            limit: .seconds(60))
        #expect(e.type == .rateLimit && e.status == 429)
        #expect(e.retryAfter == .seconds(1_000_000_000))
        #expect(e.message == "Upstream error 429: slow down (Retry-After: 1000000000 is longer than "
            + "UPSTREAM_MAX_RETRY_AFTER, 60.0 seconds, so the request was not retried; try again later)")
    }

    @Test func aLongHeaderIsShortened() {
        let value = String(repeating: "9", count: 10_000)
        let e = UpstreamError.retryAfterTooLong(body: nil, retryAfter: .seconds(1), headerValue: value, limit: .seconds(60))
        #expect(e.message.contains("Retry-After: \(String(repeating: "9", count: 64))... is longer"))
        #expect(e.message.utf8.count < 300)
    }
}

/// Numbers in upstream chunks the translator reads: none traps, and a usage count that is not
/// a non-negative integer falls back to the estimate.
@Suite struct UpstreamNumberTests {
    private static func scalarCount(_ s: String) -> Int { s.unicodeScalars.count }

    private func outputTokens(_ completionTokens: JSONValue) -> JSONValue? {
        let e = events(translate([chunk(["content": "Hello"]), ["choices": [], "usage": ["completion_tokens": completionTokens]]],
                                 countTokens: Self.scalarCount))
        return e.first { $0.type == "message_delta" }?.data["usage"]?["output_tokens"]
    }

    @Test func countsThatFitAreKept() {
        #expect(outputTokens(0) == 0)
        #expect(outputTokens(.int(Int.max)) == .int(Int.max))
    }

    /// "Hello" by scalars is 5, plus 4 for its block.
    @Test(arguments: [JSONValue.int(-5), .int(Int.min), .bigInt("100000000000000000000"), .double(1e300), .double(-1),
                      .string("10"), .null])
    func othersFallBackToTheEstimate(value: JSONValue) {
        #expect(outputTokens(value) == 9)
    }

    @Test(arguments: [JSONValue.int(Int.max), .int(Int.min), .int(-1), .bigInt("99999999999999999999"), .double(1e300), .string("x")])
    func absurdToolIndexesStillMakeOneTool(index: JSONValue) {
        let call: JSONValue = ["index": index, "id": "call_1", "function": ["name": "Read", "arguments": "{}"]]
        let e = events(translate([chunk(["tool_calls": [call]])], countTokens: Self.scalarCount))
        let starts = e.filter { $0.type == "content_block_start" }
        #expect(starts.count == 1)
        #expect(starts.first?.data["content_block"]?["name"] == "Read")
    }
}

/// An upstream that streams valid text forever: the translator keeps only the start of it for the
/// output-token estimate, and the estimate still covers all of it.
@Suite struct TranslatorAccumulationLimitTests {
    @Test func onlyTheStartOfALongAnswerIsKeptAndTheEstimateScales() {
        // One "token" per byte, so the estimate is easy to check.
        var t = StreamTranslator(model: "m", inputTokens: 0, messageID: "msg", countTokens: { $0.utf8.count })
        _ = t.start()
        let piece = String(repeating: "a", count: 64 * 1024)
        let pieces = 48  // 3 MB, three times what is kept
        for _ in 0..<pieces {
            _ = t.consume(chunk: ["choices": [["delta": ["content": .string(piece)]]]])
        }
        #expect(t.accumulatedText.utf8.count <= StreamTranslator.keptForEstimateBytes + piece.utf8.count)
        #expect(t.accumulatedText.utf8.count >= StreamTranslator.keptForEstimateBytes)
        // Text bytes plus one block's 4.
        #expect(t.estimatedOutputTokens() == pieces * piece.utf8.count + 4)
    }

    @Test func aShortAnswerIsCountedExactlyAsBefore() {
        var t = StreamTranslator(model: "m", inputTokens: 0, messageID: "msg", countTokens: { $0.utf8.count })
        _ = t.start()
        _ = t.consume(chunk: ["choices": [["delta": ["content": "Hello there"]]]])
        #expect(t.accumulatedText == "Hello there")
        #expect(t.estimatedOutputTokens() == 11 + 4)
    }
}

/// Reasoning as the providers stream it: NIM's `reasoning_content`, OpenRouter's `reasoning` and
/// `reasoning_details`, each shown as thinking once.
@Suite struct ReasoningFieldTests {
    func thinking(_ delta: JSONValue) -> [String] {
        var t = StreamTranslator(model: "m", inputTokens: 0, messageID: "msg", countTokens: { $0.utf8.count })
        _ = t.start()
        _ = t.consume(chunk: ["choices": [["delta": delta]]])
        return t.accumulatedReasoning.isEmpty ? [] : [t.accumulatedReasoning]
    }

    @Test func eachProvidersFieldIsThinking() {
        #expect(thinking(["reasoning_content": "nim"]) == ["nim"])
        #expect(thinking(["reasoning": "router"]) == ["router"])
        #expect(thinking(["reasoning_details": [["type": "reasoning.text", "text": "a"], ["type": "reasoning.summary", "summary": "b"]]]) == ["ab"])
    }

    @Test func oneFieldWinsWhenSeveralCarryTheSameThought() {
        #expect(thinking(["reasoning_content": "x", "reasoning": "x", "reasoning_details": [["text": "x"]]]) == ["x"])
        #expect(thinking(["reasoning": "y", "reasoning_details": [["text": "y"]]]) == ["y"])
        #expect(thinking(["reasoning_content": "", "reasoning": "z"]) == ["z"])
        #expect(thinking(["content": "no thought"]) == [])
    }
}
