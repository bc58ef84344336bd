import JSON
import StreamTranslation
import Testing

/// `blockDelta` writes its bytes directly; they must equal the generic `event` serialization.
@Suite struct SSEFastPathTests {
    @Test(arguments: [
        "", "Hello", "quote \" backslash \\ newline \n tab \t", "é ü 中文 🎉", "\u{7f}\u{1}", "<think>", "{\"a\": 1}",
    ])
    func blockDeltaMatchesTheGenericEvent(content: String) {
        for index in [0, 7, 123] {
            for (kind, type, field) in [
                (AnthropicSSE.BlockKind.text, "text_delta", "text"),
                (.thinking, "thinking_delta", "thinking"),
                (.toolUse, "input_json_delta", "partial_json"),
            ] {
                let generic = AnthropicSSE.event("content_block_delta", .object(JSONObject([
                    ("type", "content_block_delta"), ("index", .int(index)),
                    ("delta", .object(JSONObject([("type", .string(type)), (field, .string(content))]))),
                ])))
                #expect(AnthropicSSE.blockDelta(index: index, kind: kind, content) == generic)
            }
        }
    }

    static let texts = ["", "msg_01", "moonshotai/kimi-k2-instruct", "quote \" backslash \\", "é 中文 🎉", "\u{7f}\u{1}\n"]

    /// The other events are written directly too; each must equal the payload the reference
    /// builds, serialized by the generic writer.
    @Test(arguments: texts)
    func fixedEventsMatchTheGenericEvent(text: String) {
        for n in [0, 1, 42, 123_456] {
            #expect(AnthropicSSE.messageStart(id: text, model: text + "m", inputTokens: n) == AnthropicSSE.event("message_start", [
                "type": "message_start",
                "message": [
                    "id": .string(text), "type": "message", "role": "assistant", "content": [],
                    "model": .string(text + "m"), "stop_reason": nil, "stop_sequence": nil,
                    "usage": ["input_tokens": .int(n), "output_tokens": 1],
                ],
            ]))
            #expect(AnthropicSSE.messageDelta(stopReason: text, outputTokens: n) == AnthropicSSE.event("message_delta", [
                "type": "message_delta",
                "delta": ["stop_reason": .string(text), "stop_sequence": nil],
                "usage": ["output_tokens": .int(n)],
            ]))
            #expect(AnthropicSSE.blockStop(index: n) == AnthropicSSE.event("content_block_stop", [
                "type": "content_block_stop", "index": .int(n),
            ]))
            let blocks: [(AnthropicSSE.BlockKind, JSONValue)] = [
                (.thinking, ["type": "thinking", "thinking": ""]),
                (.text, ["type": "text", "text": ""]),
                (.toolUse, ["type": "tool_use", "id": .string(text), "name": .string(text + "n"), "input": [:]]),
            ]
            for (kind, block) in blocks {
                #expect(AnthropicSSE.blockStart(index: n, kind: kind, toolID: text, toolName: text + "n")
                    == AnthropicSSE.event("content_block_start", ["type": "content_block_start", "index": .int(n), "content_block": block]))
            }
        }
        #expect(AnthropicSSE.messageStop() == AnthropicSSE.event("message_stop", ["type": "message_stop"]))
        #expect(AnthropicSSE.ping() == AnthropicSSE.event("ping", ["type": "ping"]))
    }
}
