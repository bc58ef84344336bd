import AnthropicAPI
import JSON
import Tokenizer

/// The reference's input-token estimate (`get_token_count`): cl100k tokens of every text part,
/// `json.dumps` of structured parts, and fixed overheads. Not what Anthropic would bill; what
/// the reference answers, so Claude Code's context accounting behaves the same.
///
/// Where the reference crashed or refused (system-role messages, `document`, `redacted_thinking`,
/// `server_tool_use` and other block types, a `tool_result` without `content`), this counts what
/// its formula gives those blocks: unknown types as the `json.dumps` text of the block as sent.
public func tokenCount(
    messages: [Message], system: SystemPrompt?, tools: [Tool]?,
    tokenizer: CL100KTokenizer = .shared
) -> Int {
    var total = 0

    switch system {
    case .text(let text) where !text.isEmpty:
        total += tokenizer.count(text) + Overhead.system
    case .blocks(let blocks) where !blocks.isEmpty:
        for block in blocks where !block.text.isEmpty {
            total += tokenizer.count(block.text)
        }
        total += Overhead.system
    default:
        break  // absent, "" and [] are all falsy in the reference's `if system:`
    }

    for message in messages {
        switch message.content {
        case .text(let text):
            total += tokenizer.count(text)
        case .blocks(let blocks):
            for block in blocks {
                total += count(block, tokenizer)
            }
        }
    }

    if let tools, !tools.isEmpty {
        for tool in tools {
            // One string: tokens can span the joins between name, description and schema.
            let text = tool.name + (tool.description ?? "") + JSONValue.object(tool.inputSchema).pythonDumps()
            total += tokenizer.count(text) + Overhead.tool
        }
    }

    total += messages.count * Overhead.message
    return max(1, total)
}

extension TokenCountRequest {
    public func inputTokens(tokenizer: CL100KTokenizer = .shared) -> Int {
        tokenCount(messages: messages, system: system, tools: tools, tokenizer: tokenizer)
    }
}

extension MessagesRequest {
    public func inputTokens(tokenizer: CL100KTokenizer = .shared) -> Int {
        tokenCount(messages: messages, system: system, tools: tools, tokenizer: tokenizer)
    }
}

/// The reference's fixed per-part additions.
enum Overhead {
    static let message = 4
    static let system = 4
    static let toolUse = 15
    static let toolResult = 8
    static let tool = 5
    /// An image without usable data.
    static let image = 765
    /// The floor for an image with data; above it, one token per 3000 characters of data.
    static let minimumImage = 85
}

private func count(_ block: ContentBlock, _ tokenizer: CL100KTokenizer) -> Int {
    switch block {
    case .text(let b):
        return tokenizer.count(b.text)
    case .thinking(let b):
        return tokenizer.count(b.thinking)
    case .toolUse(let b):
        return tokenizer.count(b.name) + tokenizer.count(JSONValue.object(b.input).pythonDumps())
            + tokenizer.count(b.id) + Overhead.toolUse
    case .image(let b):
        return imageTokens(source: b.source)
    case .toolResult(let b):
        let content: Int
        switch b.content {
        case nil: content = 0  // the reference's default "" for a missing key
        case .string(let s)?: content = tokenizer.count(s)
        case let value?: content = tokenizer.count(value.pythonDumps())
        }
        return content + tokenizer.count(b.toolUseId) + Overhead.toolResult
    case .redactedThinking, .other:
        return tokenizer.count(JSONValue.object(block.raw).pythonDumps())
    }
}

/// `source.get("data") or source.get("base64") or ""`, then `max(85, len(data) // 3000)` when that
/// is truthy, else 765. `len` is Python's: characters of a string, members of a list or dict.
/// A truthy number or boolean made the reference raise; it counts as an image without data here.
func imageTokens(source: JSONValue) -> Int {
    guard case .object(let object) = source else { return Overhead.image }
    let data = [object["data"], object["base64"]].lazy.compactMap { $0 }.first(where: \.isPythonTruthy)
    let length: Int
    switch data {
    case .string(let s)?: length = s.unicodeScalars.count
    case .array(let a)?: length = a.count
    case .object(let o)?: length = o.count
    default: return Overhead.image
    }
    return max(Overhead.minimumImage, length / 3000)
}
