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

    // The fixed events are written straight to bytes: building a JSON tree and serializing it
    // cost more than the rest of a short stream's translation. `AnthropicSSETests` checks each
    // against `event(...)` with the payload the reference builds.

    public static func messageStart(id: String, model: String, inputTokens: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(300 + id.utf8.count + model.utf8.count)
        out += #"event: message_start"#.utf8
        out += #"\#ndata: {"type": "message_start", "message": {"id": "#.utf8
        out += JSONValue.string(id).pythonDumpsBytes()
        out += #", "type": "message", "role": "assistant", "content": [], "model": "#.utf8
        out += JSONValue.string(model).pythonDumpsBytes()
        out += #", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": "#.utf8
        out += String(inputTokens).utf8
        out += #", "output_tokens": 1}}}\#n\#n"#.utf8
        return out
    }

    public static func messageDelta(stopReason: String, outputTokens: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        out += #"event: message_delta\#ndata: {"type": "message_delta", "delta": {"stop_reason": "#.utf8
        out += JSONValue.string(stopReason).pythonDumpsBytes()
        out += #", "stop_sequence": null}, "usage": {"output_tokens": "#.utf8
        out += String(outputTokens).utf8
        out += #"}}\#n\#n"#.utf8
        return out
    }

    public static func messageStop() -> [UInt8] { messageStopBytes }
    private static let messageStopBytes = Array(#"event: message_stop\#ndata: {"type": "message_stop"}\#n\#n"#.utf8)

    /// The reference ends every stream with this line after `message_stop`. It is
    /// not an SSE field a client acts on; kept so the bytes match.
    public static let done: [UInt8] = Array("[DONE]\n\n".utf8)

    public static func blockStart(index: Int, kind: BlockKind, toolID: String = "", toolName: String = "") -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + toolID.utf8.count + toolName.utf8.count)
        out += #"event: content_block_start\#ndata: {"type": "content_block_start", "index": "#.utf8
        out += String(index).utf8
        switch kind {
        case .thinking: out += #", "content_block": {"type": "thinking", "thinking": ""}}"#.utf8
        case .text: out += #", "content_block": {"type": "text", "text": ""}}"#.utf8
        case .toolUse:
            out += #", "content_block": {"type": "tool_use", "id": "#.utf8
            out += JSONValue.string(toolID).pythonDumpsBytes()
            out += #", "name": "#.utf8
            out += JSONValue.string(toolName).pythonDumpsBytes()
            out += #", "input": {}}}"#.utf8
        }
        out += [0x0A, 0x0A]
        return out
    }

    /// The event of every streamed piece of text, thinking or tool input: written straight to
    /// bytes (the same bytes `event(...)` would give) because it is the per-chunk hot path.
    public static func blockDelta(index: Int, kind: BlockKind, _ content: String) -> [UInt8] {
        var out: [UInt8] = []
        appendBlockDelta(index: index, kind: kind, content, to: &out)
        return out
    }

    /// `blockDelta`'s bytes appended to `out` (the per-chunk event, written where it goes).
    public static func appendBlockDelta(index: Int, kind: BlockKind, _ content: String, to out: inout [UInt8]) {
        // No reserveCapacity here: `out` is the relay's growing buffer, and reserving exactly what one
        // event needs would copy the whole buffer at each event instead of growing it by doubling.
        out += deltaHead
        appendDecimal(index, to: &out)
        switch kind {
        case .thinking: out += thinkingDeltaMiddle
        case .text: out += textDeltaMiddle
        case .toolUse: out += inputJSONDeltaMiddle
        }
        JSONValue.appendPythonDumps(of: content, to: &out)
        out += deltaTail
    }

    private static func appendDecimal(_ n: Int, to out: inout [UInt8]) {
        guard n >= 0, n < 10 else {
            out += String(n).utf8
            return
        }
        out.append(UInt8(ascii: "0") + UInt8(n))
    }

    private static let deltaHead = Array(#"event: content_block_delta"#.utf8) + [0x0A]
        + Array(#"data: {"type": "content_block_delta", "index": "#.utf8)
    private static let thinkingDeltaMiddle = Array(#", "delta": {"type": "thinking_delta", "thinking": "#.utf8)
    private static let textDeltaMiddle = Array(#", "delta": {"type": "text_delta", "text": "#.utf8)
    private static let inputJSONDeltaMiddle = Array(#", "delta": {"type": "input_json_delta", "partial_json": "#.utf8)
    private static let deltaTail: [UInt8] = Array("}}".utf8) + [0x0A, 0x0A]

    public static func blockStop(index: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96)
        out += #"event: content_block_stop\#ndata: {"type": "content_block_stop", "index": "#.utf8
        out += String(index).utf8
        out += #"}\#n\#n"#.utf8
        return out
    }

    public static func ping() -> [UInt8] { pingBytes }
    private static let pingBytes = Array(#"event: ping\#ndata: {"type": "ping"}\#n\#n"#.utf8)

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
