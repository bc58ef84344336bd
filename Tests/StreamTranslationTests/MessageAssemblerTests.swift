import JSON
import TestSupport
import Testing
@testable import StreamTranslation

private func assemble(_ bytes: [UInt8], pieceSize: Int? = nil) -> MessageAssembler.Outcome {
    var assembler = MessageAssembler()
    if let pieceSize {
        var i = 0
        while i < bytes.count {
            assembler.feed(bytes[i..<min(bytes.count, i + pieceSize)])
            i += pieceSize
        }
    } else {
        assembler.feed(bytes)
    }
    return assembler.outcome
}

private func message(_ outcome: MessageAssembler.Outcome) -> JSONValue? {
    if case .message(let m) = outcome { return m }
    Issue.record("expected a message, got \(outcome)")
    return nil
}

/// The message a client would build from the same events by hand: each block's start with
/// its deltas joined, tool input parsed.
private func expectedMessage(_ stream: [Event]) -> JSONValue {
    var message = stream.first { $0.type == "message_start" }!.data["message"]!.objectValue!
    var content: [JSONValue] = []
    for event in stream where event.type == "content_block_start" {
        let index = event.data["index"]!.intValue!
        var block = event.data["content_block"]!.objectValue!
        let deltas = stream.filter { $0.type == "content_block_delta" && $0.data["index"]?.intValue == index }
            .map { $0.data["delta"]! }
        switch block["type"]!.stringValue! {
        case "text": block["text"] = .string(deltas.map { $0["text"]!.stringValue! }.joined())
        case "thinking": block["thinking"] = .string(deltas.map { $0["thinking"]!.stringValue! }.joined())
        default:
            let json = deltas.map { $0["partial_json"]!.stringValue! }.joined()
            if !json.isEmpty { block["input"] = try! JSONValue.parse(json) }
        }
        content.append(.object(block))
    }
    message["content"] = .array(content)
    let delta = stream.first { $0.type == "message_delta" }!.data
    message["stop_reason"] = delta["delta"]!["stop_reason"]!
    message["stop_sequence"] = delta["delta"]!["stop_sequence"]!
    var usage = message["usage"]!.objectValue!
    usage["output_tokens"] = delta["usage"]!["output_tokens"]!
    message["usage"] = .object(usage)
    return .object(message)
}

@Suite struct MessageAssemblerTests {
    /// The real translator over every recorded scenario, assembled in one piece, byte by
    /// byte, and in pieces of 7 bytes: the same message as the events say.
    @Test(arguments: ReferenceStreams.scenarios.keys)
    func everyReferenceScenario(name: String) throws {
        let scenario = try #require(ReferenceStreams.scenarios[name])
        let bytes = translate(scenario["chunks"]!.arrayValue!, error: scenario["error"]?.stringValue)
        let expected = expectedMessage(events(bytes))
        for pieceSize in [nil, 1, 7] {
            #expect(message(assemble(bytes, pieceSize: pieceSize)) == expected, "pieces of \(pieceSize ?? 0)")
        }
    }

    @Test func aTextAnswer() throws {
        let scenario = try #require(ReferenceStreams.scenarios["text"])
        let m = try #require(message(assemble(translate(scenario["chunks"]!.arrayValue!))))
        #expect(m.compactString() == #"{"id":"msg_uuid0","type":"message","role":"assistant","content":[{"type":"text","#
            + #""text":"Hello World"}],"model":"claude-test","stop_reason":"end_turn","stop_sequence":null,"#
            + #""usage":{"input_tokens":7,"output_tokens":10}}"#)
    }

    @Test func thinkingThenAToolCall() throws {
        let bytes = translate([
            chunk(["reasoning_content": "Let me "]), chunk(["reasoning_content": "look."]),
            toolDelta(0, id: "call_1", name: "Read", args: "{\"file_path\": "),
            toolDelta(0, args: "\"/tmp/a\"}"),
            chunk([:], finish: "tool_calls"),
        ])
        let m = try #require(message(assemble(bytes, pieceSize: 3)))
        #expect(m["content"] == [
            ["type": "thinking", "thinking": "Let me look."],
            ["type": "tool_use", "id": "call_1", "name": "Read", "input": ["file_path": "/tmp/a"]],
        ])
        #expect(m["stop_reason"] == "tool_use")
    }

    @Test func maxTokensStop() throws {
        let bytes = translate([chunk(["content": "cut"], finish: "length")])
        #expect(try #require(message(assemble(bytes)))["stop_reason"] == "max_tokens")
    }

    /// Events as Anthropic sends them, beyond what the translator writes: signatures, CRLF
    /// lines, a data field split over two lines, pings, comments.
    @Test func handMadeEvents() throws {
        let stream = """
            event: message_start\r
            data: {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "m", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}}}\r
            \r
            : a comment

            event: ping
            data: {"type": "ping"}

            event: content_block_start
            data: {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}

            event: content_block_delta
            data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}

            event: content_block_delta
            data: {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}}

            event: content_block_stop
            data: {"type": "content_block_stop", "index": 0}

            event: content_block_start
            data: {"type": "content_block_start", "index": 1,
            data: "content_block": {"type": "text", "text": ""}}

            event: content_block_delta
            data: {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "h\\u00e9"}}

            event: content_block_stop
            data: {"type": "content_block_stop", "index": 1}

            event: message_delta
            data: {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"}, "usage": {"output_tokens": 12, "cache_read_input_tokens": 2}}

            event: message_stop
            data: {"type": "message_stop"}

            [DONE]


            """
        let m = try #require(message(assemble(Array(stream.utf8), pieceSize: 5)))
        #expect(m.compactString() == #"{"id":"msg_1","type":"message","role":"assistant","content":["#
            + #"{"type":"thinking","thinking":"hm","signature":"c2ln"},{"type":"text","text":"hé"}],"model":"m","#
            + #""stop_reason":"stop_sequence","stop_sequence":"END","#
            + #""usage":{"input_tokens":3,"output_tokens":12,"cache_read_input_tokens":2}}"#)
    }

    @Test func toolInputThatDoesNotParse() throws {
        var t = makeTranslator()
        var bytes = t.start()
        bytes += t.consume(chunk: toolDelta(0, id: "a", name: "Bash", args: "{\"command\": \"ls"))
        bytes += t.consume(chunk: toolDelta(1, id: "b", name: "Bash", args: "[1, 2]"))
        bytes += t.consume(chunk: toolDelta(2, id: "c", name: "Bash"))
        bytes += t.finish()
        var assembler = MessageAssembler()
        assembler.feed(bytes)
        let m = try #require(message(assembler.outcome))
        #expect(m["content"]?.arrayValue?.map { $0["input"] } == [[:], [:], [:]])
        #expect(assembler.unparsableToolInputs == 2)
    }

    @Test func anErrorEventAfterContentIsTheOutcome() {
        var t = makeTranslator()
        var bytes = t.start()
        bytes += t.consume(chunk: chunk(["content": "partial answer"]))
        bytes += AnthropicSSE.error(type: "overloaded_error", message: "Upstream error 503: busy")
        #expect(assemble(bytes, pieceSize: 4)
            == .failed(UpstreamError(type: .overloaded, status: 529, message: "Upstream error 503: busy")))
        // The first error counts; an unknown type is an api_error.
        let unknown = AnthropicSSE.error(type: "teapot_error", message: "x") + AnthropicSSE.error(type: "rate_limit_error", message: "y")
        #expect(assemble(unknown) == .failed(UpstreamError(type: .api, status: 500, message: "x")))
    }

    @Test func everyErrorTypeGivesItsStatus() {
        for type in AnthropicErrorType.allCases {
            let outcome = assemble(AnthropicSSE.error(type: type.rawValue, message: "m"))
            #expect(outcome == .failed(UpstreamError(type: type, status: type.status, message: "m")))
        }
    }

    @Test func anUnfinishedStreamIsIncomplete() {
        var t = makeTranslator()
        var bytes = t.start()
        bytes += t.consume(chunk: chunk(["content": "so far"]))
        #expect(assemble(bytes) == .incomplete)
        #expect(assemble([]) == .incomplete)
        // The last event's blank line is what completes it.
        var whole = t.finish()
        whole = bytes + whole
        let withoutLastBlankLine = Array(whole.dropLast("[DONE]\n\n".utf8.count + 1))
        #expect(assemble(withoutLastBlankLine) == .incomplete)
        #expect(assemble(whole) != .incomplete)
    }

    /// Garbage between events is skipped, not fatal.
    @Test func brokenEventsAreSkipped() throws {
        var t = makeTranslator()
        var bytes = t.start()
        bytes += Array("data: {not json\n\ndata: {\"type\": \"content_block_delta\", \"index\": 9, \"delta\": {}}\n\n".utf8)
        bytes += t.consume(chunk: chunk(["content": "ok"]))
        bytes += t.finish()
        let m = try #require(message(assemble(bytes)))
        #expect(m["content"] == [["type": "text", "text": "ok"]])
    }
}
