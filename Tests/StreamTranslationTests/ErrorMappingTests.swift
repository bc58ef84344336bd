import JSON
import Testing
@testable import StreamTranslation

// tests/test_error_mapping.py, with the OpenAI client's messages.

@Suite struct ErrorMappingTests {
    let body = "{\"error\": {\"message\": \"test error\"}}"

    @Test func authentication() {
        let e = mapUpstreamError(status: 401, body: body, transport: nil)
        #expect(e == UpstreamError(type: .authentication, status: 401,
                                   message: "Error code: 401 - {'error': {'message': 'test error'}}"))
    }

    @Test func rateLimitBlocksSixtySeconds() {
        let e = mapUpstreamError(status: 429, body: body, transport: nil)
        #expect(e.type == .rateLimit && e.status == 429 && e.rateLimitBlock == .seconds(60))
    }

    @Test func badRequest() {
        let e = mapUpstreamError(status: 400, body: body, transport: nil)
        #expect(e.type == .invalidRequest && e.status == 400)
        #expect(e.rateLimitBlock == nil)
    }

    @Test(arguments: ["Server overloaded", "No capacity available"])
    func serverErrorOverloaded(message: String) {
        let e = mapUpstreamError(status: 500, body: "{\"error\": {\"message\": \"\(message)\"}}", transport: nil)
        #expect(e.type == .overloaded && e.status == 529)
    }

    @Test func serverErrorGeneric() {
        let e = mapUpstreamError(status: 503, body: "{\"error\": {\"message\": \"Unknown error\"}}", transport: nil)
        #expect(e == UpstreamError(type: .api, status: 500, message: "Error code: 503 - {'error': {'message': 'Unknown error'}}"))
    }

    @Test(arguments: [403, 404, 409, 422, 418])
    func otherStatusesKeepTheirCode(status: Int) {
        let e = mapUpstreamError(status: status, body: "", transport: nil)
        #expect(e == UpstreamError(type: .api, status: status, message: "Error code: \(status)"))
    }

    @Test func nonJSONBodyIsShownStripped() {
        #expect(mapUpstreamError(status: 502, body: "  Bad gateway\n", transport: nil).message == "Bad gateway")
        #expect(mapUpstreamError(status: 502, body: nil, transport: nil).message == "Error code: 502")
    }

    @Test func pythonReprOfBodies() {
        let body = "{\"detail\": \"it's \\\"x\\\"\\n\", \"n\": [1, 2.5, true, null], \"u\": \"\u{e9}\\u0007\"}"
        #expect(mapUpstreamError(status: 400, body: body, transport: nil).message
            == "Error code: 400 - {'detail': 'it\\'s \"x\"\\n', 'n': [1, 2.5, True, None], 'u': '\u{e9}\\x07'}")
        #expect(mapUpstreamError(status: 400, body: "\"plain\"", transport: nil).message == "Error code: 400 - plain")
    }

    @Test func transportFailures() {
        #expect(mapUpstreamError(status: nil, body: nil, transport: .timedOut)
            == UpstreamError(type: .api, status: 500, message: "Request timed out."))
        #expect(mapUpstreamError(status: nil, body: nil, transport: .connectionFailed)
            == UpstreamError(type: .api, status: 500, message: "Connection error."))
        #expect(mapUpstreamError(status: 200, body: nil, transport: .streamInterrupted(detail: nil)).message
            == "peer closed connection without sending complete message body (incomplete chunked read)")
        #expect(mapUpstreamError(status: nil, body: nil, transport: .streamInterrupted(detail: "reset")).message == "reset")
    }

    @Test func anthropicBody() {
        let e = UpstreamError(type: .rateLimit, status: 429, message: "slow down")
        #expect(e.anthropicBody.pythonDumps() == "{\"type\": \"error\", \"error\": {\"type\": \"rate_limit_error\", \"message\": \"slow down\"}}")
    }
}

@Suite struct AnthropicSSETests {
    // tests/test_sse_builder.py: exact bytes as the reference's json.dumps writes them.
    @Test func messageStartBytes() {
        #expect(String(decoding: AnthropicSSE.messageStart(id: "msg_123", model: "test-model", inputTokens: 50), as: UTF8.self)
            == "event: message_start\ndata: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_123\", \"type\": \"message\", \"role\": \"assistant\", \"content\": [], \"model\": \"test-model\", \"stop_reason\": null, \"stop_sequence\": null, \"usage\": {\"input_tokens\": 50, \"output_tokens\": 1}}}\n\n")
    }

    @Test func messageDeltaBytes() {
        #expect(String(decoding: AnthropicSSE.messageDelta(stopReason: "end_turn", outputTokens: 42), as: UTF8.self)
            == "event: message_delta\ndata: {\"type\": \"message_delta\", \"delta\": {\"stop_reason\": \"end_turn\", \"stop_sequence\": null}, \"usage\": {\"output_tokens\": 42}}\n\n")
    }

    @Test func blockEventsBytes() {
        #expect(String(decoding: AnthropicSSE.blockStart(index: 2, kind: .toolUse, toolID: "t", toolName: "Read"), as: UTF8.self)
            == "event: content_block_start\ndata: {\"type\": \"content_block_start\", \"index\": 2, \"content_block\": {\"type\": \"tool_use\", \"id\": \"t\", \"name\": \"Read\", \"input\": {}}}\n\n")
        #expect(String(decoding: AnthropicSSE.blockDelta(index: 0, kind: .text, "h\u{e9}llo \"q\" \u{1F914}\n"), as: UTF8.self)
            == "event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"h\\u00e9llo \\\"q\\\" \\ud83e\\udd14\\n\"}}\n\n")
        #expect(String(decoding: AnthropicSSE.blockStart(index: 0, kind: .thinking), as: UTF8.self)
            == "event: content_block_start\ndata: {\"type\": \"content_block_start\", \"index\": 0, \"content_block\": {\"type\": \"thinking\", \"thinking\": \"\"}}\n\n")
        #expect(String(decoding: AnthropicSSE.blockStop(index: 3), as: UTF8.self)
            == "event: content_block_stop\ndata: {\"type\": \"content_block_stop\", \"index\": 3}\n\n")
        #expect(String(decoding: AnthropicSSE.messageStop(), as: UTF8.self) == "event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n")
        #expect(AnthropicSSE.done == Array("[DONE]\n\n".utf8))
    }

    @Test func thinkingAndInputJSONDeltas() {
        #expect(events(AnthropicSSE.blockDelta(index: 1, kind: .thinking, "reasoning...")) == [delta(1, "thinking", "reasoning...")])
        #expect(events(AnthropicSSE.blockDelta(index: 2, kind: .toolUse, "{\"key\": \"val\"}")) == [delta(2, "tool", "{\"key\": \"val\"}")])
    }
}
