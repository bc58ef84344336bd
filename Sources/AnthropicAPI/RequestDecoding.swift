import JSON

/// A request body the proxy refuses, with the offending field named the way pydantic
/// names it (`messages.0.content.1.tool_use_id: Field required`), so messages stay
/// recognisable to anyone who knows the reference. Only the first problem is reported.
public struct RequestValidationError: Error, Sendable, Equatable {
    /// Dotted path of the field, list indices as numbers; "body" for the root.
    public let location: String
    /// What is wrong, in pydantic's wording.
    public let reason: String
    /// `location: reason`.
    public let message: String

    public init(location: String, reason: String) {
        self.location = location
        self.reason = reason
        self.message = "\(location): \(reason)"
    }
}

extension MessagesRequest {
    /// Validates a `/v1/messages` body and maps its model through `routing`.
    ///
    /// Field rules follow the reference's pydantic models, loosened where it refuses what
    /// Claude Code sends (system-role messages, newer block types, `tool_result` without
    /// `content`, the `thinking.type` form) and tightened where pydantic's lax mode guesses
    /// (numbers must be JSON numbers, booleans JSON booleans; an integer field accepts an
    /// integral float such as `1.0`, as pydantic does).
    public static func decode(_ body: JSONValue, routing: ModelRouting) throws(RequestValidationError) -> MessagesRequest {
        let root = try FieldReader.rootObject(body)
        let r = FieldReader(object: root, path: [])
        let model = try r.requiredString("model")
        let maxTokens = try r.optionalInt("max_tokens")
        let messages = try decodeMessages(r)
        let system = try decodeSystem(r)
        let stopSequences = try r.optionalStringList("stop_sequences")
        let stream = try r.optionalBool("stream")
        let temperature = try r.optionalDouble("temperature")
        let topP = try r.optionalDouble("top_p")
        let topK = try r.optionalInt("top_k")
        let metadata = try r.optionalObject("metadata")
        let (tools, serverTools) = try decodeTools(r)
        let toolChoice = withoutServerToolChoice(try r.optionalObject("tool_choice"), tools: tools, serverTools: serverTools)
        let thinking = try decodeThinking(r)
        let extraBody = try r.optionalObject("extra_body")
        // The reference lets a client pre-set original_model; honoured for parity.
        let originalModel = try r.optionalString("original_model") ?? model
        return MessagesRequest(
            model: routing.resolve(model), originalModel: originalModel, maxTokens: maxTokens,
            messages: messages, system: system, stopSequences: stopSequences, stream: stream,
            temperature: temperature, topP: topP, topK: topK, metadata: metadata, tools: tools,
            serverTools: serverTools, toolChoice: toolChoice, thinking: thinking, extraBody: extraBody, raw: root)
    }
}

extension TokenCountRequest {
    /// Validates a `/v1/messages/count_tokens` body with the same field rules as
    /// `MessagesRequest.decode`.
    public static func decode(_ body: JSONValue, routing: ModelRouting) throws(RequestValidationError) -> TokenCountRequest {
        let root = try FieldReader.rootObject(body)
        let r = FieldReader(object: root, path: [])
        let model = try r.requiredString("model")
        let messages = try decodeMessages(r)
        let system = try decodeSystem(r)
        let (tools, serverTools) = try decodeTools(r)
        let thinking = try decodeThinking(r)
        let toolChoice = withoutServerToolChoice(try r.optionalObject("tool_choice"), tools: tools, serverTools: serverTools)
        return TokenCountRequest(
            model: routing.resolve(model), originalModel: model, messages: messages, system: system,
            tools: tools, serverTools: serverTools, thinking: thinking, toolChoice: toolChoice, raw: root)
    }
}

// MARK: - Parts shared by both requests

private func decodeMessages(_ r: FieldReader) throws(RequestValidationError) -> [Message] {
    let items = try r.requiredList("messages")
    var messages: [Message] = []
    messages.reserveCapacity(items.count)
    for (i, item) in items.enumerated() {
        let m = try r.element(of: "messages", at: i, item)
        messages.append(try decodeMessage(m))
    }
    return messages
}

private func decodeMessage(_ r: FieldReader) throws(RequestValidationError) -> Message {
    let roleName = try r.required("role")
    guard case .string(let s) = roleName, let role = Role(rawValue: s) else {
        throw r.error(at: "role", "Input should be 'user', 'assistant' or 'system'")
    }
    let contentValue = try r.required("content")
    let content = try decodeContent(contentValue, r.child("content"))
    let reasoning = try r.optionalString("reasoning_content")
    return Message(role: role, content: content, reasoningContent: reasoning, raw: r.object)
}

private func decodeContent(_ value: JSONValue, _ path: FieldPath) throws(RequestValidationError) -> MessageContent {
    switch value {
    case .string(let s):
        return .text(s)
    case .array(let items):
        var blocks: [ContentBlock] = []
        blocks.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            let b = try FieldReader.object(item, at: path.appending(index: i))
            blocks.append(try decodeBlock(b))
        }
        return .blocks(blocks)
    default:
        throw path.error("Input should be a valid string or a list of content blocks")
    }
}

private func decodeBlock(_ r: FieldReader) throws(RequestValidationError) -> ContentBlock {
    let type = try r.requiredString("type")
    switch type {
    case "text":
        return .text(TextBlock(text: try r.requiredString("text"), raw: r.object))
    case "image":
        let source = try r.requiredObject("source")
        return .image(ImageBlock(source: .object(source), raw: r.object))
    case "tool_use":
        let id = try r.requiredString("id")
        let name = try r.requiredString("name")
        let input = try r.requiredObject("input")
        return .toolUse(ToolUseBlock(id: id, name: name, input: input, raw: r.object))
    case "tool_result":
        let id = try r.requiredString("tool_use_id")
        // Absent content is a valid empty result in the API; is_error is advisory, so a
        // malformed one is ignored rather than refused (the reference never reads it).
        return .toolResult(
            ToolResultBlock(
                toolUseId: id, content: r.object["content"], isError: r.object["is_error"]?.boolValue,
                raw: r.object))
    case "thinking":
        let thinking = try r.requiredString("thinking")
        return .thinking(
            ThinkingBlock(thinking: thinking, signature: r.object["signature"]?.stringValue, raw: r.object))
    case "redacted_thinking":
        // Unknown to the reference, so never refused: the proxy only passes it over.
        return .redactedThinking(RedactedThinkingBlock(data: r.object["data"]?.stringValue ?? "", raw: r.object))
    default:
        return .other(OtherBlock(type: type, raw: r.object))
    }
}

private func decodeSystem(_ r: FieldReader) throws(RequestValidationError) -> SystemPrompt? {
    guard let value = r.object["system"], !value.isNull else { return nil }
    switch value {
    case .string(let s):
        return .text(s)
    case .array(let items):
        var blocks: [SystemBlock] = []
        for (i, item) in items.enumerated() {
            let b = try r.element(of: "system", at: i, item)
            let type = try b.required("type")
            guard type == .string("text") else { throw b.error(at: "type", "Input should be 'text'") }
            blocks.append(SystemBlock(text: try b.requiredString("text"), raw: b.object))
        }
        return .blocks(blocks)
    default:
        throw r.error(at: "system", "Input should be a valid string or a list of text blocks")
    }
}

private func decodeTools(_ r: FieldReader) throws(RequestValidationError) -> (tools: [Tool]?, serverTools: [JSONObject]) {
    guard let items = try r.optionalList("tools") else { return (nil, []) }
    var tools: [Tool] = []
    var serverTools: [JSONObject] = []
    tools.reserveCapacity(items.count)
    for (i, item) in items.enumerated() {
        let t = try r.element(of: "tools", at: i, item)
        if isServerTool(t.object) {
            serverTools.append(t.object)
            continue
        }
        let name = try t.requiredString("name")
        let description = try t.optionalString("description")
        let schema = try t.requiredObject("input_schema")
        tools.append(Tool(name: name, description: description, inputSchema: schema, raw: t.object))
    }
    return (tools, serverTools)
}

/// A server tool names its kind in `type` and has no `input_schema`; `type: "custom"` is the
/// explicit form of an ordinary tool, which must have a schema.
private func isServerTool(_ tool: JSONObject) -> Bool {
    guard let type = tool["type"]?.stringValue, !type.isEmpty, type != "custom" else { return false }
    return tool["input_schema"] == nil
}

/// A `tool_choice` the upstream could not honour once the server tools are gone: one naming a
/// server tool, or `any` when no other tool is left, is dropped (the model then answers freely).
private func withoutServerToolChoice(_ choice: JSONObject?, tools: [Tool]?, serverTools: [JSONObject]) -> JSONObject? {
    guard let choice, !serverTools.isEmpty else { return choice }
    let type = choice["type"]?.stringValue
    if type == "tool", let name = choice["name"]?.stringValue,
        serverTools.contains(where: { $0["name"]?.stringValue == name })
    {
        return nil
    }
    if type == "any", tools?.isEmpty ?? true { return nil }
    return choice
}

private func decodeThinking(_ r: FieldReader) throws(RequestValidationError) -> ThinkingConfig? {
    guard let obj = try r.optionalObject("thinking") else { return nil }
    let t = FieldReader(object: obj, path: r.path.appending("thinking"))
    let type = try t.optionalString("type")
    let explicit = try t.optionalBool("enabled")
    let budget = try t.optionalInt("budget_tokens")
    let enabled = explicit ?? (type != "disabled")
    return ThinkingConfig(type: type, enabled: enabled, budgetTokens: budget, raw: obj)
}

// MARK: - Field access with pydantic-style locations

/// Where a field lies, kept for the error that may name it. Every member of every block gets
/// one, and almost none is ever named: up to four parts live inline (no allocation per block),
/// list positions stay numbers until an error spells them out.
struct FieldPath: Sendable {
    enum Part: Sendable {
        case key(String)
        case index(Int)

        var text: String {
            switch self {
            case .key(let key): key
            case .index(let index): String(index)
            }
        }
    }

    private var count = 0
    private var inline: (Part?, Part?, Part?, Part?) = (nil, nil, nil, nil)
    /// The parts after the first four.
    private var deeper: [Part] = []

    init(parts: [String]) {
        for part in parts { append(.key(part)) }
    }

    func appending(_ key: String) -> FieldPath {
        var path = self
        path.append(.key(key))
        return path
    }

    func appending(index: Int) -> FieldPath {
        var path = self
        path.append(.index(index))
        return path
    }

    private mutating func append(_ part: Part) {
        switch count {
        case 0: inline.0 = part
        case 1: inline.1 = part
        case 2: inline.2 = part
        case 3: inline.3 = part
        default: deeper.append(part)
        }
        count += 1
    }

    var parts: [String] {
        [inline.0, inline.1, inline.2, inline.3].prefix(count).compactMap { $0?.text } + deeper.map(\.text)
    }

    func error(_ reason: String) -> RequestValidationError {
        RequestValidationError(location: count == 0 ? "body" : parts.joined(separator: "."), reason: reason)
    }
}

/// Reads typed members of one JSON object, naming failures by their full path.
/// Optional fields treat an explicit `null` as absent, as pydantic's `Optional[...] = None` does.
struct FieldReader {
    let object: JSONObject
    let path: FieldPath

    init(object: JSONObject, path: [String]) {
        self.object = object
        self.path = FieldPath(parts: path)
    }

    init(object: JSONObject, path: FieldPath) {
        self.object = object
        self.path = path
    }

    static func rootObject(_ value: JSONValue) throws(RequestValidationError) -> JSONObject {
        guard case .object(let o) = value else { throw FieldPath(parts: []).error("Input should be a valid dictionary") }
        return o
    }

    static func object(_ value: JSONValue, at path: FieldPath) throws(RequestValidationError) -> FieldReader {
        guard case .object(let o) = value else { throw path.error("Input should be a valid dictionary") }
        return FieldReader(object: o, path: path)
    }

    func child(_ key: String) -> FieldPath { path.appending(key) }

    func error(at key: String, _ reason: String) -> RequestValidationError { child(key).error(reason) }

    func element(of key: String, at index: Int, _ value: JSONValue) throws(RequestValidationError) -> FieldReader {
        try FieldReader.object(value, at: child(key).appending(index: index))
    }

    func required(_ key: String) throws(RequestValidationError) -> JSONValue {
        guard let v = object[key] else { throw error(at: key, "Field required") }
        return v
    }

    private func present(_ key: String) -> JSONValue? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    func requiredString(_ key: String) throws(RequestValidationError) -> String {
        guard case .string(let s) = try required(key) else { throw error(at: key, "Input should be a valid string") }
        return s
    }

    func optionalString(_ key: String) throws(RequestValidationError) -> String? {
        guard let v = present(key) else { return nil }
        guard case .string(let s) = v else { throw error(at: key, "Input should be a valid string") }
        return s
    }

    func requiredObject(_ key: String) throws(RequestValidationError) -> JSONObject {
        guard case .object(let o) = try required(key) else { throw error(at: key, "Input should be a valid dictionary") }
        return o
    }

    func optionalObject(_ key: String) throws(RequestValidationError) -> JSONObject? {
        guard let v = present(key) else { return nil }
        guard case .object(let o) = v else { throw error(at: key, "Input should be a valid dictionary") }
        return o
    }

    func requiredList(_ key: String) throws(RequestValidationError) -> [JSONValue] {
        guard case .array(let a) = try required(key) else { throw error(at: key, "Input should be a valid list") }
        return a
    }

    func optionalList(_ key: String) throws(RequestValidationError) -> [JSONValue]? {
        guard let v = present(key) else { return nil }
        guard case .array(let a) = v else { throw error(at: key, "Input should be a valid list") }
        return a
    }

    func optionalStringList(_ key: String) throws(RequestValidationError) -> [String]? {
        guard let items = try optionalList(key) else { return nil }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else {
                throw child(key).appending(index: i).error("Input should be a valid string")
            }
            out.append(s)
        }
        return out
    }

    func optionalBool(_ key: String) throws(RequestValidationError) -> Bool? {
        guard let v = present(key) else { return nil }
        guard case .bool(let b) = v else { throw error(at: key, "Input should be a valid boolean") }
        return b
    }

    func optionalInt(_ key: String) throws(RequestValidationError) -> Int? {
        guard let v = present(key) else { return nil }
        switch v {
        case .int(let i):
            return i
        case .double(let d):
            guard d.rounded(.towardZero) == d else {
                throw error(at: key, "Input should be a valid integer, got a number with a fractional part")
            }
            // Int(exactly:) is nil outside Int's range (and for infinities).
            guard let i = Int(exactly: d) else { throw error(at: key, "Input should be a valid integer") }
            return i
        case .bigInt:
            throw error(at: key, "Input should be a valid integer that fits in 64 bits")
        default:
            throw error(at: key, "Input should be a valid integer")
        }
    }

    /// JSON has no infinity, but `1e999` parses to one, and the upstream body could not carry
    /// it: refused with pydantic's wording for a float field that disallows it.
    func optionalDouble(_ key: String) throws(RequestValidationError) -> Double? {
        guard let v = present(key) else { return nil }
        guard let d = v.numberValue else { throw error(at: key, "Input should be a valid number") }
        guard d.isFinite else { throw error(at: key, "Input should be a finite number") }
        return d
    }
}
