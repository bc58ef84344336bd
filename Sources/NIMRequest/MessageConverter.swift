import AnthropicAPI
import JSON
import Text

/// Anthropic messages, system prompt and tools to their OpenAI chat-completions form.
///
/// Follows the reference's converter, with these fixes (see docs/differences.md):
/// messages with role `system` become system messages in place; user images become
/// OpenAI `image_url` parts; tool results come before the user's text of the same
/// message, so every tool message directly follows the assistant message that called it.
public enum MessageConverter {
    public static func convertMessages(_ messages: [Message]) -> [JSONValue] {
        var out: [JSONValue] = []
        out.reserveCapacity(messages.count)
        for message in messages {
            switch message.content {
            case .text(let text):
                out.append(plainMessage(role: message.role.rawValue, content: .string(text)))
            case .blocks(let blocks):
                switch message.role {
                case .assistant: out.append(assistantMessage(blocks))
                case .user: out.append(contentsOf: userMessages(blocks))
                case .system: out.append(systemMessage(blocks))
                }
            }
        }
        return out
    }

    /// The chat messages of a request: the system prompt's message first (when it has text),
    /// then `messages` converted.
    public static func convertMessages(_ messages: [Message], system: SystemPrompt?) -> [JSONValue] {
        var out = convertMessages(messages)
        if let system, isTruthy(system), let systemMessage = convertSystem(system) {
            out.insert(systemMessage, at: 0)
        }
        return out
    }

    static func isTruthy(_ system: SystemPrompt) -> Bool {
        switch system {
        case .text(let s): return !s.isEmpty
        case .blocks(let b): return !b.isEmpty
        }
    }

    /// The system prompt as one system message; nil when it has no text blocks.
    public static func convertSystem(_ system: SystemPrompt?) -> JSONValue? {
        switch system {
        case nil:
            return nil
        case .text(let s):
            return plainMessage(role: "system", content: .string(s))
        case .blocks(let blocks):
            // The reference keeps only blocks typed "text"; the decoder already
            // guarantees that for system blocks.
            guard !blocks.isEmpty else { return nil }
            let joined = blocks.map(\.text).joined(separator: "\n\n")
            return plainMessage(role: "system", content: .string(joined.pythonStripped()))
        }
    }

    public static func convertTools(_ tools: [Tool]) -> [JSONValue] {
        tools.map { tool in
            .object(JSONObject([
                ("type", "function"),
                ("function", .object(JSONObject([
                    ("name", .string(tool.name)),
                    ("description", .string(tool.description ?? "")),
                    ("parameters", .object(tool.inputSchema)),
                ]))),
            ]))
        }
    }

    /// Anthropic `tool_choice` in OpenAI's form. The reference forwarded the Anthropic
    /// object unchanged, which OpenAI-compatible servers reject or misread.
    /// Returns the choice (nil to omit) and whether parallel tool calls must be off.
    public static func convertToolChoice(_ choice: JSONObject) -> (choice: JSONValue?, disableParallel: Bool) {
        let disableParallel = choice["disable_parallel_tool_use"]?.boolValue == true
        switch choice["type"]?.stringValue {
        case "auto": return (.string("auto"), disableParallel)
        case "any": return (.string("required"), disableParallel)
        case "none": return (.string("none"), disableParallel)
        case "tool":
            guard let name = choice["name"]?.stringValue else { return (nil, disableParallel) }
            return (
                .object(JSONObject([
                    ("type", "function"),
                    ("function", .object(JSONObject([("name", .string(name))]))),
                ])), disableParallel
            )
        default:
            return (nil, disableParallel)
        }
    }

    // MARK: roles

    private static func plainMessage(role: String, content: JSONValue) -> JSONValue {
        .object(JSONObject([("role", .string(role)), ("content", content)]))
    }

    private static func systemMessage(_ blocks: [ContentBlock]) -> JSONValue {
        var parts: [String] = []
        for case .text(let t) in blocks { parts.append(t.text) }
        return plainMessage(role: "system", content: .string(parts.joined(separator: "\n\n")))
    }

    /// Thinking and text keep their order in one content string; tool calls follow.
    private static func assistantMessage(_ blocks: [ContentBlock]) -> JSONValue {
        var parts: [String] = []
        var toolCalls: [JSONValue] = []
        for block in blocks {
            switch block {
            case .text(let t):
                parts.append(t.text)
            case .thinking(let t):
                parts.append("<think>\n\(t.thinking)\n</think>")
            case .toolUse(let t):
                toolCalls.append(.object(JSONObject([
                    ("id", .string(t.id)),
                    ("type", "function"),
                    ("function", .object(JSONObject([
                        ("name", .string(t.name)),
                        ("arguments", .string(JSONValue.object(t.input).pythonDumps())),
                    ]))),
                ])))
            default:
                continue
            }
        }
        var content = parts.joined(separator: "\n\n")
        // NIM (Mistral models especially) refuses an empty assistant message without tool calls.
        if content.isEmpty && toolCalls.isEmpty { content = " " }
        var msg = JSONObject([("role", "assistant"), ("content", .string(content))])
        if !toolCalls.isEmpty { msg["tool_calls"] = .array(toolCalls) }
        return .object(msg)
    }

    private static func userMessages(_ blocks: [ContentBlock]) -> [JSONValue] {
        var toolMessages: [JSONValue] = []
        var texts: [String] = []
        var parts: [JSONValue] = []
        var hasImage = false
        for block in blocks {
            switch block {
            case .text(let t):
                texts.append(t.text)
                parts.append(.object(JSONObject([("type", "text"), ("text", .string(t.text))])))
            case .image(let image):
                guard let url = imageURL(image.source) else { continue }
                hasImage = true
                parts.append(.object(JSONObject([
                    ("type", "image_url"),
                    ("image_url", .object(JSONObject([("url", .string(url))]))),
                ])))
            case .toolResult(let r):
                toolMessages.append(.object(JSONObject([
                    ("role", "tool"),
                    ("tool_call_id", .string(r.toolUseId)),
                    ("content", .string(toolResultText(r.content))),
                ])))
            default:
                continue
            }
        }
        var out = toolMessages
        if hasImage {
            out.append(plainMessage(role: "user", content: .array(parts)))
        } else if !texts.isEmpty {
            out.append(plainMessage(role: "user", content: .string(texts.joined(separator: "\n"))))
        }
        return out
    }

    /// A base64 source becomes a data URL; a URL source passes through.
    private static func imageURL(_ source: JSONValue) -> String? {
        guard case .object(let s) = source else { return nil }
        switch s["type"]?.stringValue {
        case "url":
            return s["url"]?.stringValue
        default:
            guard let data = (s["data"] ?? s["base64"])?.stringValue, !data.isEmpty else { return nil }
            let mediaType = s["media_type"]?.stringValue ?? "image/png"
            return "data:\(mediaType);base64,\(data)"
        }
    }

    /// The reference's rules: a list joins each item's `text` (or the item's Python
    /// `str()`) with newlines; anything falsy becomes ""; other values their `str()`.
    static func toolResultText(_ content: JSONValue?) -> String {
        guard let content else { return "" }
        switch content {
        case .array(let items):
            return items.map { item -> String in
                if case .object(let o) = item {
                    if let text = o["text"] { return text.pythonStr }
                    return item.pythonStr
                }
                return item.pythonStr
            }.joined(separator: "\n")
        default:
            return content.isPythonTruthy ? content.pythonStr : ""
        }
    }

    // MARK: writing the messages without a tree

    /// `convertMessages(messages, system:)`'s compact JSON, written straight into `writer`: the
    /// same bytes, without a `JSONValue` for every message, part and tool call. Texts joined by
    /// the conversion are written part by part rather than joined first.
    public static func writeMessages(_ messages: [Message], system: SystemPrompt?, into w: inout CompactJSONWriter) {
        w.raw("[")
        var first = true
        func separate(_ w: inout CompactJSONWriter) {
            if !first { w.raw(",") }
            first = false
        }
        if let system, isTruthy(system) {
            switch system {
            case .text(let s):
                separate(&w)
                writePlain(role: "system", content: s, into: &w)
            case .blocks(let blocks):
                // Stripped as a whole, so joined first.
                separate(&w)
                writePlain(role: "system", content: blocks.map(\.text).joined(separator: "\n\n").pythonStripped(), into: &w)
            }
        }
        for message in messages {
            switch message.content {
            case .text(let text):
                separate(&w)
                writePlain(role: message.role.rawValue, content: text, into: &w)
            case .blocks(let blocks):
                switch message.role {
                case .assistant:
                    separate(&w)
                    writeAssistant(blocks, into: &w)
                case .user:
                    writeUser(blocks, into: &w, separate: separate)
                case .system:
                    separate(&w)
                    w.raw(#"{"role":"system","content":"#)
                    writeJoined(blocks, separator: "\n\n", into: &w)
                    w.raw("}")
                }
            }
        }
        w.raw("]")
    }

    private static func writePlain(role: String, content: String, into w: inout CompactJSONWriter) {
        w.raw(#"{"role":"#)
        w.string(role)
        w.raw(#","content":"#)
        w.string(content)
        w.raw("}")
    }

    /// The text blocks' texts joined by `separator`, as one string.
    private static func writeJoined(_ blocks: [ContentBlock], separator: StaticString, into w: inout CompactJSONWriter) {
        w.openString()
        var any = false
        for case .text(let t) in blocks {
            if any { w.stringPart(separator) }
            any = true
            w.stringPart(t.text)
        }
        w.closeString()
    }

    /// `convertTools(tools)`'s compact JSON.
    public static func writeTools(_ tools: [Tool], into w: inout CompactJSONWriter) {
        w.raw("[")
        for (i, tool) in tools.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw(#"{"type":"function","function":{"name":"#)
            w.string(tool.name)
            w.raw(#","description":"#)
            w.string(tool.description ?? "")
            w.raw(#","parameters":"#)
            w.value(.object(tool.inputSchema))
            w.raw("}}")
        }
        w.raw("]")
    }

    /// `assistantMessage`'s bytes.
    private static func writeAssistant(_ blocks: [ContentBlock], into w: inout CompactJSONWriter) {
        var parts = 0
        var onlyPartEmpty = false
        var toolCalls = 0
        for block in blocks {
            switch block {
            case .text(let t):
                parts += 1
                onlyPartEmpty = t.text.isEmpty
            case .thinking: parts += 1
            case .toolUse: toolCalls += 1
            default: continue
            }
        }
        // The joined content is empty only when there is no part or one empty text (a thinking
        // part has its tags); NIM refuses an empty assistant message without tool calls.
        let contentEmpty = parts == 0 || (parts == 1 && onlyPartEmpty)
        w.raw(#"{"role":"assistant","content":"#)
        if contentEmpty && toolCalls == 0 {
            w.raw(#"" ""#)
        } else {
            w.openString()
            var any = false
            for block in blocks {
                switch block {
                case .text(let t):
                    if any { w.stringPart("\n\n") }
                    any = true
                    w.stringPart(t.text)
                case .thinking(let t):
                    if any { w.stringPart("\n\n") }
                    any = true
                    w.stringPart("<think>\n")
                    w.stringPart(t.thinking)
                    w.stringPart("\n</think>")
                default:
                    continue
                }
            }
            w.closeString()
        }
        if toolCalls > 0 {
            w.raw(#","tool_calls":["#)
            var firstCall = true
            for case .toolUse(let t) in blocks {
                if !firstCall { w.raw(",") }
                firstCall = false
                w.raw(#"{"id":"#)
                w.string(t.id)
                w.raw(#","type":"function","function":{"name":"#)
                w.string(t.name)
                w.raw(#","arguments":"#)
                w.string(JSONValue.object(t.input).pythonDumps())
                w.raw("}}")
            }
            w.raw("]")
        }
        w.raw("}")
    }

    /// `userMessages`' bytes: the tool results' messages, then the user's own (if any).
    private static func writeUser(
        _ blocks: [ContentBlock], into w: inout CompactJSONWriter, separate: (inout CompactJSONWriter) -> Void
    ) {
        var texts = 0
        var hasImage = false
        for block in blocks {
            switch block {
            case .text: texts += 1
            case .image(let image) where imageURL(image.source) != nil: hasImage = true
            case .toolResult(let r):
                separate(&w)
                w.raw(#"{"role":"tool","tool_call_id":"#)
                w.string(r.toolUseId)
                w.raw(#","content":"#)
                w.string(toolResultText(r.content))
                w.raw("}")
            default: continue
            }
        }
        if hasImage {
            separate(&w)
            w.raw(#"{"role":"user","content":["#)
            var firstPart = true
            for block in blocks {
                switch block {
                case .text(let t):
                    if !firstPart { w.raw(",") }
                    firstPart = false
                    w.raw(#"{"type":"text","text":"#)
                    w.string(t.text)
                    w.raw("}")
                case .image(let image):
                    guard let url = imageURL(image.source) else { continue }
                    if !firstPart { w.raw(",") }
                    firstPart = false
                    w.raw(#"{"type":"image_url","image_url":{"url":"#)
                    w.string(url)
                    w.raw("}}")
                default:
                    continue
                }
            }
            w.raw("]}")
        } else if texts > 0 {
            separate(&w)
            w.raw(#"{"role":"user","content":"#)
            writeJoined(blocks, separator: "\n", into: &w)
            w.raw("}")
        }
    }
}
