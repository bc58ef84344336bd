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
}
