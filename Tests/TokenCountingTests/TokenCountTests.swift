import AnthropicAPI
import JSON
import TestSupport
import Testing
import Tokenizer

@testable import TokenCounting

/// Counts a `/v1/messages/count_tokens` body the way the server will: parse, decode, count.
private func count(_ body: String) throws -> Int {
    let value = try JSONValue.parse(body)
    let request = try TokenCountRequest.decode(value, routing: ModelRouting(default: "m"))
    return request.inputTokens()
}

private func body(messages: String, system: String? = nil, tools: String? = nil) -> String {
    var s = #"{"model": "claude-x", "messages": \#(messages)"#
    if let system { s += #", "system": \#(system)"# }
    if let tools { s += #", "tools": \#(tools)"# }
    return s + "}"
}

private func user(_ content: String) -> String { #"{"role": "user", "content": \#(content)}"# }

/// Expected numbers come from running the reference's `get_token_count` (tiktoken 0.12,
/// cl100k_base) on the same inputs; its own tests only assert bounds, checked here as well.
@Suite struct TokenCountTests {
    // Ports of the reference's TestGetTokenCount.

    @Test func emptyMessagesCountOne() throws {
        #expect(try count(body(messages: "[]")) == 1)
    }

    @Test func simpleMessage() throws {
        let n = try count(body(messages: "[\(user(#""Hello world""#))]"))
        #expect(n == 6)
        #expect(n >= 3)
    }

    @Test func messageWithSystemPrompt() throws {
        #expect(try count(body(messages: "[\(user(#""Hello""#))]", system: #""You are a helpful assistant""#)) == 14)
    }

    @Test func listContent() throws {
        #expect(try count(body(messages: "[\(user(#"[{"type": "text", "text": "Hello world"}]"#))]")) == 6)
    }

    @Test func thinkingBlock() throws {
        let blocks = #"[{"type": "thinking", "thinking": "Let me think about this..."}]"#
        #expect(try count(body(messages: "[\(user(blocks))]")) == 10)
    }

    @Test func toolUseBlock() throws {
        // The reference's case has no id; an empty one counts the same (zero tokens).
        let blocks = #"[{"type": "tool_use", "id": "", "name": "search", "input": {"query": "test"}}]"#
        #expect(try count(body(messages: "[\(user(blocks))]")) == 26)
    }

    @Test func toolResultBlock() throws {
        let blocks = #"[{"type": "tool_result", "tool_use_id": "", "content": "Search results here"}]"#
        #expect(try count(body(messages: "[\(user(blocks))]")) == 15)
    }

    @Test func toolDefinitions() throws {
        let tools = #"[{"name": "search", "description": "Search for information", "input_schema": {"type": "object", "properties": {}}}]"#
        #expect(try count(body(messages: "[\(user(#""Use the search tool""#))]", tools: tools)) == 28)
    }

    @Test func systemAsList() throws {
        #expect(try count(body(messages: "[\(user(#""Hello""#))]", system: #"[{"type": "text", "text": "System prompt"}]"#)) == 11)
    }

    @Test func toolResultWithDictContent() throws {
        let blocks = #"[{"type": "tool_result", "tool_use_id": "", "content": {"result": "data"}}]"#
        #expect(try count(body(messages: "[\(user(blocks))]")) == 18)
    }

    @Test func multipleMessagesAddOverhead() throws {
        let single = try count(body(messages: "[\(user(#""Hi""#))]"))
        let double = try count(body(messages: "[\(user(#""Hi""#)), \(user(#""Hello""#))]"))
        #expect(single == 5)
        #expect(double == 10)
    }

    @Test func perMessageOverheadIsFour() throws {
        #expect(try count(body(messages: "[\(user(#""x""#))]")) == 5)
    }

    @Test func systemOverhead() throws {
        let without = try count(body(messages: "[\(user(#""Hi""#))]"))
        let with = try count(body(messages: "[\(user(#""Hi""#))]", system: #""You are helpful""#))
        #expect(with == 12)
        #expect(with >= without + 4)
        let dicts = try count(body(messages: "[\(user(#""Hi""#))]", system: #"[{"type": "text", "text": "System prompt from dict"}]"#))
        #expect(dicts == 13)
    }

    @Test func toolUseCountsItsId() throws {
        let blocks = #"[{"type": "tool_use", "id": "call_abc123", "name": "search", "input": {"q": "test"}}]"#
        #expect(try count(body(messages: "[\(user(blocks))]")) == 30)
    }

    @Test func toolResultCountsItsToolUseId() throws {
        let blocks = #"[{"type": "tool_result", "tool_use_id": "call_xyz", "content": "ok"}]"#
        #expect(try count(body(messages: "[\(user(blocks))]")) == 15)
    }

    @Test func unknownBlockCountsItsJSON() throws {
        #expect(try count(body(messages: "[\(user(#"[{"type": "custom", "spec": "data"}]"#))]")) == 16)
    }

    @Test func imageBlocks() throws {
        let x3000 = String(repeating: "x", count: 3000)
        let a10000 = String(repeating: "a", count: 10000)
        let png = #"[{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "\#(x3000)"}}]"#
        #expect(try count(body(messages: "[\(user(png))]")) == 89)
        let plain = #"[{"type": "image", "source": {"data": "\#(a10000)"}}]"#
        #expect(try count(body(messages: "[\(user(plain))]")) == 89)
    }

    @Test func knownPayload() throws {
        let tokenizer = CL100KTokenizer.shared
        let minimum = tokenizer.count("You are a helpful assistant.") + tokenizer.count("Hello, how are you?") + 8
        let n = try count(body(messages: "[\(user(#""Hello, how are you?""#))]", system: #""You are a helpful assistant.""#))
        #expect(n == 20)
        #expect(n >= minimum)
    }

    // Edge cases, expected values again from the reference.

    @Test func imageSizes() throws {
        let big = String(repeating: "Q", count: 600_000)
        #expect(try count(body(messages: "[\(user(#"[{"type": "image", "source": {"type": "base64", "data": "\#(big)"}}]"#))]")) == 204)
        // An empty "data" falls through to "base64", as `or` does.
        let viaKey = String(repeating: "Q", count: 300_001)
        #expect(try count(body(messages: "[\(user(#"[{"type": "image", "source": {"data": "", "base64": "\#(viaKey)"}}]"#))]")) == 104)
        #expect(try count(body(messages: "[\(user(#"[{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]"#))]")) == 769)
        #expect(try count(body(messages: "[\(user(#"[{"type": "image", "source": {"data": [1, 2, 3]}}]"#))]")) == 89)
    }

    @Test func imageRuleDirectly() {
        #expect(imageTokens(source: .string("abc")) == 765)
        #expect(imageTokens(source: ["data": .string(String(repeating: "é", count: 300_000))]) == 100)
        #expect(imageTokens(source: ["data": 0, "base64": "abc"]) == 85)
        // The reference raised on len(5); no data to measure, so the no-data price.
        #expect(imageTokens(source: ["data": 5]) == 765)
        #expect(imageTokens(source: ["data": .null]) == 765)
    }

    @Test func emptySystemAndToolsAddNothing() throws {
        #expect(try count(body(messages: "[\(user(#""Hi""#))]", system: #""""#)) == 5)
        #expect(try count(body(messages: "[\(user(#""Hi""#))]", system: "[]")) == 5)
        #expect(try count(body(messages: "[\(user(#""Hi""#))]", tools: "[]")) == 5)
    }

    @Test func blocksTheReferenceRejectedCountAsTheirJSON() throws {
        #expect(try count(body(messages: "[\(user(#"[{"type": "redacted_thinking", "data": "abc=="}]"#))]")) == 20)
        let document = #"[{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Ünïcode doc"}, "title": "T"}]"#
        #expect(try count(body(messages: "[\(user(document))]")) == 47)
    }

    @Test func toolResultContentShapes() throws {
        #expect(try count(body(messages: "[\(user(#"[{"type": "tool_result", "tool_use_id": "t1", "content": null}]"#))]")) == 15)
        #expect(try count(body(messages: "[\(user(#"[{"type": "tool_result", "tool_use_id": "t1"}]"#))]")) == 14)
        let list = #"[{"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": "line 1\nline 2"}], "is_error": false}]"#
        #expect(try count(body(messages: "[\(user(list))]")) == 36)
    }

    @Test func toolInputIsDumpedLikePython() throws {
        // ensure_ascii escapes, ", " and ": " separators, floats and literals as Python writes them.
        let blocks = #"[{"type": "tool_use", "id": "toolu_9", "name": "Write", "input": {"path": "/tmp/é.txt", "content": "日本語 😀", "n": 1.5, "ok": true, "none": null}}]"#
        #expect(try count(body(messages: "[\(user(blocks))]")) == 78)
    }

    @Test func toolsWithoutDescription() throws {
        let tools = #"[{"name": "a", "description": null, "input_schema": {"type": "object"}}, {"name": "b", "description": "", "input_schema": {"x": {"y": [1, 2]}}}]"#
        #expect(try count(body(messages: "[\(user(#""Hi""#))]", tools: tools)) == 36)
    }

    @Test func mixedBlocksAndEmptyTexts() throws {
        let messages = #"[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [{"type": "text", "text": "A"}, {"type": "thinking", "thinking": "B"}, {"type": "text", "text": ""}]}]"#
        let system = #"[{"type": "text", "text": "S1"}, {"type": "text", "text": ""}, {"type": "text", "text": "S2"}]"#
        #expect(try count(body(messages: messages, system: system)) == 19)
    }

    @Test func specialTokenTextIsCounted() throws {
        // The reference's tiktoken.encode raised on this text (count_tokens answered 500).
        #expect(try count(body(messages: "[\(user(#""say <|endoftext|> now""#))]")) == 12)
    }

    // The seven recorded Claude Code requests, counted by the reference's own function (blocks
    // as dicts; system-role messages counted like any other, which its pydantic model refused).
    @Test(arguments: [
        ("reasoning-1-system-role-message.json", 11309),
        ("reasoning-2-after-422.json", 11375),
        ("text-1-system-role-message.json", 11307),
        ("text-2-after-422.json", 11373),
        ("tool-1-system-role-message.json", 11308),
        ("tool-2-after-422.json", 11374),
        ("tool-3-tool-result.json", 11493),
    ])
    func claudeCodeFixtures(file: String, expected: Int) throws {
        let fixture = try JSONValue.parse(Fixture.bytes("claude-cli-2.1.332/\(file)", in: .shared))
        let body = try #require(fixture["body"])
        let routing = ModelRouting(default: "m")
        #expect(try TokenCountRequest.decode(body, routing: routing).inputTokens() == expected)
        #expect(try MessagesRequest.decode(body, routing: routing).inputTokens() == expected)
    }
}
