// The Anthropic-native scenarios: what LM Studio and llama.cpp answer on `POST /v1/messages`.
//
// A request to `/v1/messages` (or `/messages`) whose model is `scenario:NAME` is answered with
// `Scenario.native(NAME)`, compiled once into Anthropic SSE bytes like the OpenAI scenarios. A
// proxy passing these through must hand the client exactly `streamPlan.body`; errors carry
// Anthropic's error JSON (`{"type":"error","error":{"type":...,"message":...}}`).

import JSON

/// Builders for single Anthropic Messages stream events, as JSON values.
public enum NativeEvent {
    /// Fixed values keep the wire bytes of a scenario identical from run to run.
    public static let messageID = "msg_scripted_native"
    public static let model = "scripted-native-model"

    public static func messageStart(inputTokens: Int = Scenario.promptTokens) -> JSONValue {
        ["type": "message_start", "message": [
            "id": .string(messageID), "type": "message", "role": "assistant", "model": .string(model),
            "content": [], "stop_reason": nil, "stop_sequence": nil,
            "usage": ["input_tokens": .int(inputTokens), "output_tokens": 1],
        ]]
    }

    public static func blockStart(_ index: Int, _ block: JSONValue) -> JSONValue {
        ["type": "content_block_start", "index": .int(index), "content_block": block]
    }

    public static func textBlock() -> JSONValue { ["type": "text", "text": ""] }
    public static func thinkingBlock() -> JSONValue { ["type": "thinking", "thinking": ""] }
    public static func toolBlock(id: String, name: String) -> JSONValue {
        ["type": "tool_use", "id": .string(id), "name": .string(name), "input": [:]]
    }

    public static func textDelta(_ index: Int, _ text: String) -> JSONValue {
        ["type": "content_block_delta", "index": .int(index), "delta": ["type": "text_delta", "text": .string(text)]]
    }

    public static func thinkingDelta(_ index: Int, _ thinking: String) -> JSONValue {
        ["type": "content_block_delta", "index": .int(index),
         "delta": ["type": "thinking_delta", "thinking": .string(thinking)]]
    }

    public static func jsonDelta(_ index: Int, _ partial: String) -> JSONValue {
        ["type": "content_block_delta", "index": .int(index),
         "delta": ["type": "input_json_delta", "partial_json": .string(partial)]]
    }

    public static func blockStop(_ index: Int) -> JSONValue { ["type": "content_block_stop", "index": .int(index)] }

    public static func messageDelta(stopReason: String, outputTokens: Int) -> JSONValue {
        ["type": "message_delta", "delta": ["stop_reason": .string(stopReason), "stop_sequence": nil],
         "usage": ["output_tokens": .int(outputTokens)]]
    }

    public static func messageStop() -> JSONValue { ["type": "message_stop"] }
    public static func ping() -> JSONValue { ["type": "ping"] }

    public static func error(type: String, message: String) -> JSONValue {
        ["type": "error", "error": ["type": .string(type), "message": .string(message)]]
    }
}

/// Anthropic's error body.
public func anthropicErrorBody(type: String, message: String) -> [UInt8] {
    NativeEvent.error(type: type, message: message).compactBytes()
}

extension Scenario {
    /// Names accepted by `native(_:)`, the `scenario:NAME` models of the native mode.
    public static let nativeCatalogNames = [
        "text", "thinking", "tool", "unicode", "synthetic", "error_event", "cut", "hang",
        "error_400", "error_401", "error_404", "error_429", "error_500", "overloaded_529",
    ]

    /// A native catalog scenario by name; `synthetic_N` is `nativeSynthetic(chunkCount: N)`, so a
    /// benchmark chooses the stream's length through the model name alone.
    public static func native(_ name: String) -> Scenario? {
        if name.hasPrefix("synthetic_"), let count = Int(name.dropFirst("synthetic_".count)), (0...1_000_000).contains(count) {
            return nativeSynthetic(chunkCount: count)
        }
        return switch name {
        case "text": nativeText()
        case "thinking": nativeThinking()
        case "tool": nativeTool()
        case "unicode": nativeStream(texts: ["Grüße, ", "世界 ", "🙂 done"], name: "unicode")
        case "synthetic": nativeSynthetic()
        case "error_event": nativeErrorEvent()
        case "cut": nativeCut()
        case "hang": nativeHang()
        case "error_400": nativeError(status: 400, type: "invalid_request_error", message: "messages: field required")
        case "error_401": nativeError(status: 401, type: "authentication_error", message: "invalid x-api-key")
        case "error_404": nativeError(status: 404, type: "not_found_error", message: "model not found")
        case "error_429": nativeError(status: 429, type: "rate_limit_error", message: "Number of requests exceeded")
        case "error_500": nativeError(status: 500, type: "api_error", message: "Internal server error")
        case "overloaded_529": nativeError(status: 529, type: "overloaded_error", message: "Overloaded")
        default: nil
        }
    }

    /// One text block of `texts`, `end_turn`. With `stream: false` in the request, the same
    /// answer as one JSON message.
    public static func nativeText() -> Scenario {
        let texts = ["Hello", ", world", "! How can", " I help?"]
        let streamed = nativeStream(texts: texts, name: "text")
        let message: JSONValue = [
            "id": .string(NativeEvent.messageID), "type": "message", "role": "assistant",
            "model": .string(NativeEvent.model), "content": [["type": "text", "text": .string(texts.joined())]],
            "stop_reason": "end_turn", "stop_sequence": nil,
            "usage": ["input_tokens": .int(promptTokens), "output_tokens": 9],
        ]
        let whole = Scenario(name: "text", behaviour: .httpError(HTTPErrorReply(
            status: 200, headers: [("Content-Type", "application/json")], body: message.compactBytes())))
        return Scenario(name: "text", behaviour: .byRequest { request in
            request["stream"]?.boolValue == true ? streamed : whole
        }, expected: streamed.expected)
    }

    /// A text block made of `texts`, with a ping after the block opens, as Anthropic streams it.
    public static func nativeStream(texts: [String], name: String, delayMs: UInt64 = 0,
                                    chunkSplit: ChunkSplit = .none) -> Scenario {
        var events = [NativeEvent.messageStart(), NativeEvent.blockStart(0, NativeEvent.textBlock()), NativeEvent.ping()]
        events += texts.map { NativeEvent.textDelta(0, $0) }
        events += [NativeEvent.blockStop(0), NativeEvent.messageDelta(stopReason: "end_turn", outputTokens: 9),
                   NativeEvent.messageStop()]
        return Scenario(name: name, behaviour: .stream(StreamPlan(anthropicEvents: events, delayMs: delayMs,
                                                                  chunkSplit: chunkSplit)),
                        expected: ExpectedAnswer(text: texts.joined(), stopReason: "end_turn", outputTokens: 9))
    }

    public static func nativeThinking() -> Scenario {
        let events = [
            NativeEvent.messageStart(), NativeEvent.blockStart(0, NativeEvent.thinkingBlock()),
            NativeEvent.thinkingDelta(0, "The user greets; "), NativeEvent.thinkingDelta(0, "answer briefly."),
            NativeEvent.blockStop(0), NativeEvent.blockStart(1, NativeEvent.textBlock()),
            NativeEvent.textDelta(1, "Hi there."), NativeEvent.blockStop(1),
            NativeEvent.messageDelta(stopReason: "end_turn", outputTokens: 11), NativeEvent.messageStop(),
        ]
        return Scenario(name: "thinking", behaviour: .stream(StreamPlan(anthropicEvents: events)),
                        expected: ExpectedAnswer(thinking: "The user greets; answer briefly.", text: "Hi there.",
                                                 stopReason: "end_turn", outputTokens: 11))
    }

    public static func nativeTool() -> Scenario {
        let events = [
            NativeEvent.messageStart(), NativeEvent.blockStart(0, NativeEvent.toolBlock(id: "toolu_scripted_1", name: "Read")),
            NativeEvent.jsonDelta(0, #"{"file_path":"#), NativeEvent.jsonDelta(0, #""README.md"}"#),
            NativeEvent.blockStop(0), NativeEvent.messageDelta(stopReason: "tool_use", outputTokens: 20),
            NativeEvent.messageStop(),
        ]
        return Scenario(name: "tool", behaviour: .stream(StreamPlan(anthropicEvents: events)),
                        expected: ExpectedAnswer(tools: [ExpectedToolUse(name: "Read", id: "toolu_scripted_1",
                                                                         input: ["file_path": "README.md"])],
                                                 stopReason: "tool_use", outputTokens: 20))
    }

    /// `chunkCount` text deltas of `chunkBytes` each: the benchmarks' paced stream.
    public static func nativeSynthetic(chunkCount: Int = 20, chunkBytes: Int = 16, delayMs: UInt64 = 0) -> Scenario {
        let piece = syntheticText(bytes: chunkBytes)
        var events = [NativeEvent.messageStart(), NativeEvent.blockStart(0, NativeEvent.textBlock())]
        events.reserveCapacity(chunkCount + 5)
        // Every delta is the same value, so every frame shares one byte array once compiled.
        let delta = NativeEvent.textDelta(0, piece)
        for _ in 0..<max(0, chunkCount) { events.append(delta) }
        events += [NativeEvent.blockStop(0), NativeEvent.messageDelta(stopReason: "end_turn", outputTokens: max(0, chunkCount)),
                   NativeEvent.messageStop()]
        return Scenario(name: "synthetic", behaviour: .stream(StreamPlan(anthropicEvents: events, delayMs: delayMs)),
                        expected: ExpectedAnswer(text: String(repeating: piece, count: max(0, chunkCount)),
                                                 stopReason: "end_turn", outputTokens: max(0, chunkCount)))
    }

    /// Some text, then Anthropic's mid-stream `error` event, and the body ends.
    public static func nativeErrorEvent() -> Scenario {
        let events = [
            NativeEvent.messageStart(), NativeEvent.blockStart(0, NativeEvent.textBlock()),
            NativeEvent.textDelta(0, "Partial"), NativeEvent.error(type: "overloaded_error", message: "Overloaded"),
        ]
        return Scenario(name: "error_event", behaviour: .stream(StreamPlan(anthropicEvents: events)))
    }

    /// Some text, then the connection closes without `message_stop` or the last HTTP chunk.
    public static func nativeCut() -> Scenario {
        let events = [NativeEvent.messageStart(), NativeEvent.blockStart(0, NativeEvent.textBlock()),
                      NativeEvent.textDelta(0, "Partial "), NativeEvent.textDelta(0, "answer")]
        return Scenario(name: "cut", behaviour: .stream(StreamPlan(anthropicEvents: events, ending: .cut)))
    }

    /// The start of an answer, then silence until the client leaves.
    public static func nativeHang() -> Scenario {
        let events = [NativeEvent.messageStart(), NativeEvent.blockStart(0, NativeEvent.textBlock()),
                      NativeEvent.textDelta(0, "Thinking it over")]
        return Scenario(name: "hang", behaviour: .stream(StreamPlan(anthropicEvents: events, ending: .hang)))
    }

    /// An HTTP error with Anthropic's error body.
    public static func nativeError(status: Int, type: String, message: String, name: String? = nil) -> Scenario {
        let reply = HTTPErrorReply(status: status, headers: [("Content-Type", "application/json")],
                                   body: anthropicErrorBody(type: type, message: message))
        return Scenario(name: name ?? (status == 529 ? "overloaded_529" : "error_\(status)"), behaviour: .httpError(reply))
    }
}
