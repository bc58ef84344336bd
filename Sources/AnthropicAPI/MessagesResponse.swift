import JSON

public enum StopReason: String, Sendable, Equatable {
    case endTurn = "end_turn"
    case maxTokens = "max_tokens"
    case stopSequence = "stop_sequence"
    case toolUse = "tool_use"
}

public struct Usage: Sendable, Equatable {
    public var inputTokens: Int
    public var outputTokens: Int
    public var cacheCreationInputTokens: Int
    public var cacheReadInputTokens: Int

    public init(inputTokens: Int, outputTokens: Int, cacheCreationInputTokens: Int = 0, cacheReadInputTokens: Int = 0) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheCreationInputTokens = cacheCreationInputTokens
        self.cacheReadInputTokens = cacheReadInputTokens
    }

    public var json: JSONValue {
        .object(
            JSONObject([
                ("input_tokens", .int(inputTokens)),
                ("output_tokens", .int(outputTokens)),
                ("cache_creation_input_tokens", .int(cacheCreationInputTokens)),
                ("cache_read_input_tokens", .int(cacheReadInputTokens)),
            ]))
    }
}

/// A content block of a non-streamed response.
public enum ResponseBlock: Sendable, Equatable {
    case text(String)
    case toolUse(id: String, name: String, input: JSONObject)
    case thinking(String)
    /// Any other block, serialized as given.
    case object(JSONObject)

    /// Keys in the order pydantic dumps the reference's block models.
    public var json: JSONValue {
        switch self {
        case .text(let t):
            return .object(JSONObject([("type", "text"), ("text", .string(t))]))
        case .toolUse(let id, let name, let input):
            return .object(
                JSONObject([("type", "tool_use"), ("id", .string(id)), ("name", .string(name)), ("input", .object(input))]))
        case .thinking(let t):
            return .object(JSONObject([("type", "thinking"), ("thinking", .string(t))]))
        case .object(let o):
            return .object(o)
        }
    }
}

/// A complete (non-streamed) Messages API answer; the proxy sends these only for the
/// locally answered fast paths.
public struct MessagesResponse: Sendable, Equatable {
    public var id: String
    public var model: String
    public var content: [ResponseBlock]
    public var stopReason: StopReason?
    public var stopSequence: String?
    public var usage: Usage

    public init(
        id: String, model: String, content: [ResponseBlock], stopReason: StopReason? = nil,
        stopSequence: String? = nil, usage: Usage
    ) {
        self.id = id
        self.model = model
        self.content = content
        self.stopReason = stopReason
        self.stopSequence = stopSequence
        self.usage = usage
    }

    /// The body with pydantic's field order and its explicit nulls.
    public var json: JSONValue {
        .object(
            JSONObject([
                ("id", .string(id)),
                ("model", .string(model)),
                ("role", "assistant"),
                ("content", .array(content.map(\.json))),
                ("type", "message"),
                ("stop_reason", stopReason.map { .string($0.rawValue) } ?? .null),
                ("stop_sequence", stopSequence.map { .string($0) } ?? .null),
                ("usage", usage.json),
            ]))
    }
}

extension MessagesResponse {
    /// `json`'s compact bytes, written directly: a local answer is the whole of its request's work,
    /// and building the tree to serialize it cost as much as the rest of the answer.
    public var compactBytes: [UInt8] {
        var w = CompactJSONWriter(reservingCapacity: 256 + model.utf8.count + id.utf8.count)
        w.raw(#"{"id":"#)
        w.string(id)
        w.raw(#","model":"#)
        w.string(model)
        w.raw(#","role":"assistant","content":["#)
        for (i, block) in content.enumerated() {
            if i > 0 { w.raw(",") }
            switch block {
            case .text(let text):
                w.raw(#"{"type":"text","text":"#)
                w.string(text)
                w.raw("}")
            case .thinking(let text):
                w.raw(#"{"type":"thinking","thinking":"#)
                w.string(text)
                w.raw("}")
            case .toolUse, .object:
                w.value(block.json)
            }
        }
        w.raw(#"],"type":"message","stop_reason":"#)
        if let stopReason { w.string(stopReason.rawValue) } else { w.raw("null") }
        w.raw(#","stop_sequence":"#)
        if let stopSequence { w.string(stopSequence) } else { w.raw("null") }
        w.raw(#","usage":{"input_tokens":"#)
        w.int(usage.inputTokens)
        w.raw(#","output_tokens":"#)
        w.int(usage.outputTokens)
        w.raw(#","cache_creation_input_tokens":"#)
        w.int(usage.cacheCreationInputTokens)
        w.raw(#","cache_read_input_tokens":"#)
        w.int(usage.cacheReadInputTokens)
        w.raw("}}")
        return w.take()
    }
}

/// The `/v1/messages/count_tokens` answer.
public struct TokenCountResponse: Sendable, Equatable {
    public var inputTokens: Int
    public init(inputTokens: Int) { self.inputTokens = inputTokens }
    public var json: JSONValue { .object(JSONObject([("input_tokens", .int(inputTokens))])) }
}
