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

}
