// Chat-completion chunks in the shape NVIDIA NIM and OpenAI stream them, as JSON values.
//
// The proxy reads `choices[0].delta.content`, `delta.reasoning_content`, `delta.tool_calls`,
// `choices[0].finish_reason` and a top-level `usage`; everything else here is what a real server
// sends besides, so the proxy's decoder also sees the fields it must ignore.

import JSON

/// Builders for single `chat.completion.chunk` objects.
public enum Chunk {
    /// Fixed values keep the wire bytes of a scenario identical from run to run.
    public static let completionID = "chatcmpl-scripted"
    public static let created = 1_700_000_000
    public static let model = "scripted-model"

    /// A chunk with one choice.
    public static func choice(delta: JSONValue, finishReason: String? = nil) -> JSONValue {
        envelope(choices: [[
            "index": 0,
            "delta": delta,
            "logprobs": nil,
            "finish_reason": finishReason.map(JSONValue.string) ?? .null,
        ]])
    }

    /// The opening chunk servers send before any content.
    public static func role() -> JSONValue {
        choice(delta: ["role": "assistant", "content": ""])
    }

    public static func content(_ text: String, finishReason: String? = nil) -> JSONValue {
        choice(delta: ["content": .string(text)], finishReason: finishReason)
    }

    public static func reasoning(_ text: String) -> JSONValue {
        choice(delta: ["reasoning_content": .string(text)])
    }

    /// One tool-call fragment. The first fragment of a call carries `id` and `type`; later ones
    /// only `index` and the function parts that grew.
    public static func toolCall(index: Int, id: String? = nil, name: String? = nil, arguments: String? = nil) -> JSONValue {
        var call = JSONObject()
        call["index"] = .int(index)
        if let id {
            call["id"] = .string(id)
            call["type"] = "function"
        }
        var function = JSONObject()
        if let name { function["name"] = .string(name) }
        if let arguments { function["arguments"] = .string(arguments) }
        call["function"] = .object(function)
        return choice(delta: ["tool_calls": [.object(call)]])
    }

    /// The chunk that ends the choice: an empty delta with the finish reason.
    public static func finish(_ reason: String) -> JSONValue {
        choice(delta: [:], finishReason: reason)
    }

    /// A choice whose `delta` is null (some servers send these; the proxy must skip them).
    public static func nullDelta() -> JSONValue {
        choice(delta: nil)
    }

    /// The trailing usage chunk (`stream_options.include_usage`): no choices, only token counts.
    public static func usage(prompt: Int, completion: Int) -> JSONValue {
        var object = envelopeObject(choices: [])
        object["usage"] = [
            "prompt_tokens": .int(prompt),
            "completion_tokens": .int(completion),
            "total_tokens": .int(prompt + completion),
        ]
        return .object(object)
    }

    private static func envelope(choices: [JSONValue]) -> JSONValue {
        .object(envelopeObject(choices: choices))
    }

    private static func envelopeObject(choices: [JSONValue]) -> JSONObject {
        JSONObject([
            ("id", .string(completionID)),
            ("object", "chat.completion.chunk"),
            ("created", .int(created)),
            ("model", .string(model)),
            ("choices", .array(choices)),
        ])
    }
}

/// An OpenAI-style error body: `{"error":{"message":...,"type":...,"code":...}}`.
public func openAIErrorBody(message: String, type: String, code: JSONValue) -> [UInt8] {
    let body: JSONValue = ["error": ["message": .string(message), "type": .string(type), "code": code]]
    return body.compactBytes()
}
