import JSON

/// Anthropic Messages streaming events, serialized as the reference does:
/// `event: <type>\ndata: <json.dumps(payload)>\n\n`, where `json.dumps` has its
/// default settings (`", "` / `": "` separators, non-ASCII escaped) and the
/// payload keys keep the reference's order.
public enum AnthropicSSE {
    public enum BlockKind: String, Sendable { case thinking, text, toolUse = "tool_use" }

    public static func event(_ type: String, _ payload: JSONValue) -> [UInt8] {
        var out = Array("event: \(type)\ndata: ".utf8)
        out.append(contentsOf: payload.pythonDumpsBytes())
        out.append(contentsOf: [0x0A, 0x0A])
        return out
    }

    public static func messageStart(id: String, model: String, inputTokens: Int) -> [UInt8] {
        event("message_start", [
            "type": "message_start",
            "message": [
                "id": .string(id), "type": "message", "role": "assistant", "content": [],
                "model": .string(model), "stop_reason": nil, "stop_sequence": nil,
                "usage": ["input_tokens": .int(inputTokens), "output_tokens": 1],
            ],
        ])
    }

    public static func messageDelta(stopReason: String, outputTokens: Int) -> [UInt8] {
        event("message_delta", [
            "type": "message_delta",
            "delta": ["stop_reason": .string(stopReason), "stop_sequence": nil],
            "usage": ["output_tokens": .int(outputTokens)],
        ])
    }

    public static func messageStop() -> [UInt8] { event("message_stop", ["type": "message_stop"]) }

    /// The reference ends every stream with this line after `message_stop`. It is
    /// not an SSE field a client acts on; kept so the bytes match.
    public static let done: [UInt8] = Array("[DONE]\n\n".utf8)

    public static func blockStart(index: Int, kind: BlockKind, toolID: String = "", toolName: String = "") -> [UInt8] {
        let block: JSONValue
        switch kind {
        case .thinking: block = ["type": "thinking", "thinking": ""]
        case .text: block = ["type": "text", "text": ""]
        case .toolUse: block = ["type": "tool_use", "id": .string(toolID), "name": .string(toolName), "input": [:]]
        }
        return event("content_block_start", ["type": "content_block_start", "index": .int(index), "content_block": block])
    }

    /// The event of every streamed piece of text, thinking or tool input: written straight to
    /// bytes (the same bytes `event(...)` would give) because it is the per-chunk hot path.
    public static func blockDelta(index: Int, kind: BlockKind, _ content: String) -> [UInt8] {
        let text = JSONValue.string(content).pythonDumpsBytes()
        var out: [UInt8] = []
        out.reserveCapacity(text.count + 128)
        out += deltaHead
        out += String(index).utf8
        switch kind {
        case .thinking: out += thinkingDeltaMiddle
        case .text: out += textDeltaMiddle
        case .toolUse: out += inputJSONDeltaMiddle
        }
        out += text
        out += deltaTail
        return out
    }

    private static let deltaHead = Array(#"event: content_block_delta"#.utf8) + [0x0A]
        + Array(#"data: {"type": "content_block_delta", "index": "#.utf8)
    private static let thinkingDeltaMiddle = Array(#", "delta": {"type": "thinking_delta", "thinking": "#.utf8)
    private static let textDeltaMiddle = Array(#", "delta": {"type": "text_delta", "text": "#.utf8)
    private static let inputJSONDeltaMiddle = Array(#", "delta": {"type": "input_json_delta", "partial_json": "#.utf8)
    private static let deltaTail: [UInt8] = Array("}}".utf8) + [0x0A, 0x0A]

    public static func blockStop(index: Int) -> [UInt8] {
        event("content_block_stop", ["type": "content_block_stop", "index": .int(index)])
    }

    public static func ping() -> [UInt8] { event("ping", ["type": "ping"]) }

    /// An Anthropic `error` event, for failures the client should see as errors
    /// rather than as text (the reference itself reports mid-stream failures as
    /// a text block; see `StreamTranslator.fail`).
    public static func error(type: String, message: String) -> [UInt8] {
        event("error", ["type": "error", "error": ["type": .string(type), "message": .string(message)]])
    }
}

/// OpenAI `finish_reason` to Anthropic `stop_reason`; anything unknown or absent
/// is `end_turn`.
public func mapStopReason(_ finishReason: String?) -> String {
    switch finishReason {
    case "length": return "max_tokens"
    case "tool_calls": return "tool_use"
    default: return "end_turn"  // "stop", "content_filter", unknown, nil, ""
    }
}
