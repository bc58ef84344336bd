import JSON

/// Who said a message. `system` is not in the public Messages API, but current Claude Code
/// sends mid-conversation system messages and the proxy must not refuse them.
public enum Role: String, Sendable, Equatable {
    case user
    case assistant
    case system
}

/// A message's content: the API allows a bare string as shorthand for one text block.
public enum MessageContent: Sendable, Equatable {
    case text(String)
    case blocks([ContentBlock])
}

public struct Message: Sendable, Equatable {
    public var role: Role
    public var content: MessageContent
    /// Not part of the Anthropic API; the reference accepts it so clients can replay the
    /// upstream model's reasoning.
    public var reasoningContent: String?
    /// The message object as received, unknown keys included (e.g. `output_config`).
    public var raw: JSONObject

    public init(role: Role, content: MessageContent, reasoningContent: String? = nil, raw: JSONObject = JSONObject()) {
        self.role = role
        self.content = content
        self.reasoningContent = reasoningContent
        self.raw = raw
    }
}

public struct TextBlock: Sendable, Equatable {
    public var text: String
    public var raw: JSONObject
    public init(text: String, raw: JSONObject? = nil) {
        self.text = text
        self.raw = raw ?? JSONObject([("type", "text"), ("text", .string(text))])
    }
}

public struct ImageBlock: Sendable, Equatable {
    /// Always an object after decoding; kept as a value so consumers never assume the
    /// shape of its members (`data` may be anything a client sends).
    public var source: JSONValue
    public var raw: JSONObject
    public init(source: JSONValue, raw: JSONObject? = nil) {
        self.source = source
        self.raw = raw ?? JSONObject([("type", "image"), ("source", source)])
    }
}

public struct ToolUseBlock: Sendable, Equatable {
    public var id: String
    public var name: String
    public var input: JSONObject
    public var raw: JSONObject
    public init(id: String, name: String, input: JSONObject, raw: JSONObject? = nil) {
        self.id = id
        self.name = name
        self.input = input
        self.raw = raw ?? JSONObject([("type", "tool_use"), ("id", .string(id)), ("name", .string(name)), ("input", .object(input))])
    }
}

public struct ToolResultBlock: Sendable, Equatable {
    public var toolUseId: String
    /// nil when the key is absent (the API allows that: an empty result); `.null` when sent as null.
    public var content: JSONValue?
    public var isError: Bool?
    public var raw: JSONObject
    public init(toolUseId: String, content: JSONValue?, isError: Bool? = nil, raw: JSONObject? = nil) {
        self.toolUseId = toolUseId
        self.content = content
        self.isError = isError
        if let raw {
            self.raw = raw
        } else {
            var r: JSONObject = JSONObject([("type", "tool_result"), ("tool_use_id", .string(toolUseId))])
            if let content { r["content"] = content }
            if let isError { r["is_error"] = .bool(isError) }
            self.raw = r
        }
    }
}

public struct ThinkingBlock: Sendable, Equatable {
    public var thinking: String
    public var signature: String?
    public var raw: JSONObject
    public init(thinking: String, signature: String? = nil, raw: JSONObject? = nil) {
        self.thinking = thinking
        self.signature = signature
        if let raw {
            self.raw = raw
        } else {
            var r: JSONObject = JSONObject([("type", "thinking"), ("thinking", .string(thinking))])
            if let signature { r["signature"] = .string(signature) }
            self.raw = r
        }
    }
}

public struct RedactedThinkingBlock: Sendable, Equatable {
    /// Opaque encrypted reasoning; "" when the client omitted it (never refused: the
    /// proxy cannot use it anyway).
    public var data: String
    public var raw: JSONObject
    public init(data: String, raw: JSONObject? = nil) {
        self.data = data
        self.raw = raw ?? JSONObject([("type", "redacted_thinking"), ("data", .string(data))])
    }
}

/// A block of a type the proxy does not interpret (`document`, `server_tool_use`,
/// `web_search_tool_result`, anything newer). Kept so the token counter can measure it;
/// conversion ignores it.
public struct OtherBlock: Sendable, Equatable {
    public var type: String
    public var raw: JSONObject
    public init(type: String, raw: JSONObject? = nil) {
        self.type = type
        self.raw = raw ?? JSONObject([("type", .string(type))])
    }
}

public enum ContentBlock: Sendable, Equatable {
    case text(TextBlock)
    case image(ImageBlock)
    case toolUse(ToolUseBlock)
    case toolResult(ToolResultBlock)
    case thinking(ThinkingBlock)
    case redactedThinking(RedactedThinkingBlock)
    case other(OtherBlock)

    /// The block's `type` string as sent.
    public var type: String {
        switch self {
        case .text: return "text"
        case .image: return "image"
        case .toolUse: return "tool_use"
        case .toolResult: return "tool_result"
        case .thinking: return "thinking"
        case .redactedThinking: return "redacted_thinking"
        case .other(let b): return b.type
        }
    }

    /// The block object as received (or as built, for blocks made in code).
    public var raw: JSONObject {
        switch self {
        case .text(let b): return b.raw
        case .image(let b): return b.raw
        case .toolUse(let b): return b.raw
        case .toolResult(let b): return b.raw
        case .thinking(let b): return b.raw
        case .redactedThinking(let b): return b.raw
        case .other(let b): return b.raw
        }
    }
}

public struct SystemBlock: Sendable, Equatable {
    public var text: String
    public var raw: JSONObject
    public init(text: String, raw: JSONObject? = nil) {
        self.text = text
        self.raw = raw ?? JSONObject([("type", "text"), ("text", .string(text))])
    }
}

public enum SystemPrompt: Sendable, Equatable {
    case text(String)
    case blocks([SystemBlock])
}

public struct Tool: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var inputSchema: JSONObject
    /// The tool object as received (`cache_control`, `defer_loading`, ...).
    public var raw: JSONObject
    public init(name: String, description: String? = nil, inputSchema: JSONObject, raw: JSONObject? = nil) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        if let raw {
            self.raw = raw
        } else {
            var r: JSONObject = JSONObject([("name", .string(name))])
            if let description { r["description"] = .string(description) }
            r["input_schema"] = .object(inputSchema)
            self.raw = r
        }
    }
}

/// The top-level `thinking` object. The reference models it as `{enabled: bool = true}`;
/// the Anthropic API sends `{"type": "enabled"|"disabled"|"adaptive", ...}`. Both are read.
public struct ThinkingConfig: Sendable, Equatable {
    public var type: String?
    /// An explicit `enabled` wins; otherwise any `type` but "disabled" means enabled,
    /// and an empty object means enabled (the reference's default).
    public var enabled: Bool
    public var budgetTokens: Int?
    public var raw: JSONObject
    public init(type: String? = nil, enabled: Bool = true, budgetTokens: Int? = nil, raw: JSONObject = JSONObject()) {
        self.type = type
        self.enabled = enabled
        self.budgetTokens = budgetTokens
        self.raw = raw
    }
}

public struct MessagesRequest: Sendable, Equatable {
    /// The model to ask upstream, after routing.
    public var model: String
    /// The model the client asked for.
    public var originalModel: String
    public var maxTokens: Int?
    public var messages: [Message]
    public var system: SystemPrompt?
    public var stopSequences: [String]?
    /// As sent; nil when absent. The reference defaults it to true, and the proxy
    /// streams either way.
    public var stream: Bool?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var metadata: JSONObject?
    public var tools: [Tool]?
    /// Anthropic's server tools (`web_search_*`, `web_fetch_*`, `code_execution_*`, ...): a
    /// `type` and no `input_schema`. The upstream cannot run them, so they are kept out of its
    /// request and the model answers without them.
    public var serverTools: [JSONObject]
    public var toolChoice: JSONObject?
    public var thinking: ThinkingConfig?
    public var extraBody: JSONObject?
    /// The whole request object as received, including keys the proxy does not model
    /// (`output_config`, `context_management`, ...).
    public var raw: JSONObject
    /// The size of the client's JSON body, when it came as bytes (0 otherwise): the upstream body
    /// is about as large, which sizes its buffer.
    public var sourceByteCount = 0

    public init(
        model: String, originalModel: String? = nil, maxTokens: Int? = nil, messages: [Message],
        system: SystemPrompt? = nil, stopSequences: [String]? = nil, stream: Bool? = nil,
        temperature: Double? = nil, topP: Double? = nil, topK: Int? = nil, metadata: JSONObject? = nil,
        tools: [Tool]? = nil, serverTools: [JSONObject] = [], toolChoice: JSONObject? = nil,
        thinking: ThinkingConfig? = nil, extraBody: JSONObject? = nil, raw: JSONObject = JSONObject()
    ) {
        self.model = model
        self.originalModel = originalModel ?? model
        self.maxTokens = maxTokens
        self.messages = messages
        self.system = system
        self.stopSequences = stopSequences
        self.stream = stream
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.metadata = metadata
        self.tools = tools
        self.serverTools = serverTools
        self.toolChoice = toolChoice
        self.thinking = thinking
        self.extraBody = extraBody
        self.raw = raw
    }
}

public struct TokenCountRequest: Sendable, Equatable {
    public var model: String
    public var originalModel: String
    public var messages: [Message]
    public var system: SystemPrompt?
    public var tools: [Tool]?
    /// Server tools, as in `MessagesRequest`: accepted, not counted.
    public var serverTools: [JSONObject]
    public var thinking: ThinkingConfig?
    public var toolChoice: JSONObject?
    public var raw: JSONObject

    public init(
        model: String, originalModel: String? = nil, messages: [Message], system: SystemPrompt? = nil,
        tools: [Tool]? = nil, serverTools: [JSONObject] = [], thinking: ThinkingConfig? = nil,
        toolChoice: JSONObject? = nil, raw: JSONObject = JSONObject()
    ) {
        self.model = model
        self.originalModel = originalModel ?? model
        self.messages = messages
        self.system = system
        self.tools = tools
        self.serverTools = serverTools
        self.thinking = thinking
        self.toolChoice = toolChoice
        self.raw = raw
    }
}
