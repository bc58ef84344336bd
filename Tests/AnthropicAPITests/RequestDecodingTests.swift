import JSON
import TestSupport
import Testing

@testable import AnthropicAPI

private let routing = ModelRouting(default: "target-model-from-settings")

private func decode(_ body: JSONValue) throws(RequestValidationError) -> MessagesRequest {
    try MessagesRequest.decode(body, routing: routing)
}

/// The message a body is refused with, or nil when it decodes.
private func refusal(_ body: JSONValue) -> String? {
    do {
        _ = try decode(body)
        return nil
    } catch {
        return error.message
    }
}

private func body(messages: JSONValue, _ extra: [(String, JSONValue)] = []) -> JSONValue {
    var o = JSONObject([("model", "claude-3-opus"), ("max_tokens", 100), ("messages", messages)])
    for (k, v) in extra { o[k] = v }
    return .object(o)
}

private func blocks(_ items: JSONValue...) -> JSONValue {
    ["role": "user", "content": .array(items)]
}

@Suite struct ModelMappingOnDecodeTests {
    @Test func claudeNameMapsToDefaultAndKeepsOriginal() throws {
        let r = try decode(["model": "claude-3-opus", "max_tokens": 100, "messages": [["role": "user", "content": "hello"]]])
        #expect(r.model == "target-model-from-settings")
        #expect(r.originalModel == "claude-3-opus")
    }

    @Test func nonClaudeUnchanged() throws {
        let r = try decode(["model": "gpt-4", "max_tokens": 100, "messages": [["role": "user", "content": "hello"]]])
        #expect(r.model == "gpt-4")
        #expect(r.originalModel == "gpt-4")
    }

    @Test func providerPrefixedClaude() throws {
        let r = try decode(["model": "anthropic/claude-3-haiku", "messages": [["role": "user", "content": "hello"]]])
        #expect(r.model == "target-model-from-settings")
    }

    @Test func haikuMappedOriginalKept() throws {
        let r = try decode(["model": "claude-3-haiku-20240307", "messages": [["role": "user", "content": "Hi"]], "max_tokens": 100, "stream": true])
        #expect(r.model != "claude-3-haiku-20240307")
        #expect(r.originalModel == "claude-3-haiku-20240307")
        #expect(r.stream == true)
    }

    @Test func clientSuppliedOriginalModelIsKept() throws {
        let r = try decode(["model": "claude-2.1", "original_model": "x", "messages": []])
        #expect(r.originalModel == "x")
        #expect(r.model == "target-model-from-settings")
    }

    @Test func tokenCountRequestMapsModel() throws {
        let r = try TokenCountRequest.decode(["model": "claude-3-sonnet", "messages": [["role": "user", "content": "hello"]]], routing: routing)
        #expect(r.model == "target-model-from-settings")
        #expect(r.originalModel == "claude-3-sonnet")
    }

    @Test func tiersApplyOnDecode() throws {
        let tiers = ModelRouting(default: "d", opus: "o", sonnet: "s", haiku: "h")
        let r = try MessagesRequest.decode(["model": "claude-sonnet-4-5", "messages": []], routing: tiers)
        #expect(r.model == "s")
    }
}

@Suite struct DecodedFieldsTests {
    @Test func allModelledFields() throws {
        let r = try decode([
            "model": "m", "max_tokens": 1.0, "messages": [], "system": "be brief", "stop_sequences": ["a", "b"],
            "stream": false, "temperature": 1, "top_p": 0.5, "top_k": 40, "metadata": ["user_id": "u"],
            "tools": [["name": "Read", "description": "reads", "input_schema": ["type": "object"], "cache_control": ["type": "ephemeral"]]],
            "tool_choice": ["type": "auto"], "thinking": ["type": "enabled", "budget_tokens": 1024],
            "extra_body": ["x": 1], "output_config": ["effort": "medium"],
        ])
        #expect(r.maxTokens == 1)
        #expect(r.system == .text("be brief"))
        #expect(r.stopSequences == ["a", "b"])
        #expect(r.stream == false)
        #expect(r.temperature == 1.0)
        #expect(r.topP == 0.5)
        #expect(r.topK == 40)
        #expect(r.metadata == JSONObject([("user_id", "u")]))
        #expect(r.tools?.first?.name == "Read")
        #expect(r.tools?.first?.description == "reads")
        #expect(r.tools?.first?.inputSchema == JSONObject([("type", "object")]))
        #expect(r.tools?.first?.raw["cache_control"] == ["type": "ephemeral"])
        #expect(r.toolChoice == JSONObject([("type", "auto")]))
        #expect(r.thinking?.enabled == true)
        #expect(r.thinking?.type == "enabled")
        #expect(r.thinking?.budgetTokens == 1024)
        #expect(r.extraBody == JSONObject([("x", 1)]))
        #expect(r.raw["output_config"] == ["effort": "medium"])
    }

    @Test func nullOptionalsAreAbsent() throws {
        let r = try decode([
            "model": "m", "messages": [], "max_tokens": nil, "system": nil, "stream": nil, "temperature": nil,
            "tools": nil, "thinking": nil, "metadata": nil,
        ])
        #expect(r.maxTokens == nil)
        #expect(r.system == nil)
        #expect(r.stream == nil)
        #expect(r.tools == nil)
        #expect(r.thinking == nil)
    }

    @Test func everyBlockKind() throws {
        let r = try decode(body(messages: [
            blocks(
                ["type": "text", "text": "hi", "cache_control": ["type": "ephemeral"]],
                ["type": "image", "source": ["type": "base64", "media_type": "image/png", "data": 12345]],
                ["type": "tool_result", "tool_use_id": "t1", "content": [["type": "text", "text": "ok"]], "is_error": true],
                ["type": "tool_result", "tool_use_id": "t2"],
                ["type": "document", "source": ["type": "text", "data": "doc"]],
                ["type": "web_search_tool_result", "tool_use_id": "s1", "content": []]),
            [
                "role": "assistant", "reasoning_content": "because",
                "content": [
                    ["type": "thinking", "thinking": "hmm", "signature": "sig"],
                    ["type": "redacted_thinking", "data": "abc"],
                    ["type": "server_tool_use", "id": "s1", "name": "web_search", "input": ["query": "q"]],
                    ["type": "tool_use", "id": "t1", "name": "Read", "input": ["path": "a"]],
                ],
            ],
            ["role": "system", "content": "mid-conversation note", "output_config": ["effort": "low"]],
        ]))
        guard case .blocks(let user) = r.messages[0].content, case .blocks(let assistant) = r.messages[1].content else {
            Issue.record("expected block content")
            return
        }
        #expect(user.map(\.type) == ["text", "image", "tool_result", "tool_result", "document", "web_search_tool_result"])
        #expect(user[0] == .text(TextBlock(text: "hi", raw: user[0].raw)))
        #expect(user[0].raw["cache_control"] == ["type": "ephemeral"])
        if case .image(let image) = user[1] { #expect(image.source["data"] == 12345) } else { Issue.record("image") }
        #expect(user[2] == .toolResult(ToolResultBlock(toolUseId: "t1", content: [["type": "text", "text": "ok"]], isError: true, raw: user[2].raw)))
        if case .toolResult(let missing) = user[3] {
            #expect(missing.content == nil)
            #expect(missing.isError == nil)
        } else { Issue.record("tool_result without content") }
        #expect(user[4] == .other(OtherBlock(type: "document", raw: user[4].raw)))
        #expect(user[4].raw["source"] == ["type": "text", "data": "doc"])

        #expect(r.messages[1].role == .assistant)
        #expect(r.messages[1].reasoningContent == "because")
        #expect(assistant[0] == .thinking(ThinkingBlock(thinking: "hmm", signature: "sig", raw: assistant[0].raw)))
        #expect(assistant[1] == .redactedThinking(RedactedThinkingBlock(data: "abc", raw: assistant[1].raw)))
        #expect(assistant[2].type == "server_tool_use")
        #expect(assistant[3] == .toolUse(ToolUseBlock(id: "t1", name: "Read", input: JSONObject([("path", "a")]), raw: assistant[3].raw)))

        #expect(r.messages[2].role == .system)
        #expect(r.messages[2].content == .text("mid-conversation note"))
        #expect(r.messages[2].raw["output_config"] == ["effort": "low"])
    }

    @Test func systemAsBlocks() throws {
        let r = try decode(body(messages: [], [("system", [["type": "text", "text": "a"], ["type": "text", "text": "b", "cache_control": ["type": "ephemeral"]]])]))
        guard case .blocks(let sys) = r.system else {
            Issue.record("expected system blocks")
            return
        }
        #expect(sys.map(\.text) == ["a", "b"])
        #expect(sys[1].raw["cache_control"] == ["type": "ephemeral"])
    }

    @Test(arguments: [
        (["type": "adaptive", "display": "updates"] as JSONValue, "adaptive", true),
        (["type": "enabled", "budget_tokens": 2048], "enabled", true),
        (["type": "disabled"], "disabled", false),
        (["enabled": false], nil, false),
        (["enabled": true], nil, true),
        ([:], nil, true),
        (["type": "disabled", "enabled": true], "disabled", true),
    ] as [(JSONValue, String?, Bool)])
    func thinkingConfig(thinking: JSONValue, type: String?, enabled: Bool) throws {
        let r = try decode(body(messages: [], [("thinking", thinking)]))
        #expect(r.thinking?.type == type)
        #expect(r.thinking?.enabled == enabled)
        #expect(r.thinking?.raw == thinking.objectValue)
    }
}

@Suite struct ValidationErrorTests {
    @Test(arguments: [
        // Pydantic's own locations and wording for what the reference refuses too.
        (body(messages: [blocks(["type": "text", "text": "a"], ["type": "tool_result"])]), "messages.0.content.1.tool_use_id: Field required"),
        (["messages": []], "model: Field required"),
        (["model": 5, "messages": []], "model: Input should be a valid string"),
        (["model": "x"], "messages: Field required"),
        (["model": "x", "messages": "hi"], "messages: Input should be a valid list"),
        (body(messages: [["role": "bot", "content": "x"]]), "messages.0.role: Input should be 'user', 'assistant' or 'system'"),
        (body(messages: [["content": "x"]]), "messages.0.role: Field required"),
        (body(messages: [["role": "user"]]), "messages.0.content: Field required"),
        (body(messages: [["role": "user", "content": 5]]), "messages.0.content: Input should be a valid string or a list of content blocks"),
        (body(messages: ["just text"]), "messages.0: Input should be a valid dictionary"),
        (body(messages: [blocks("text")]), "messages.0.content.0: Input should be a valid dictionary"),
        (body(messages: [blocks(["text": "a"])]), "messages.0.content.0.type: Field required"),
        (body(messages: [blocks(["type": 3])]), "messages.0.content.0.type: Input should be a valid string"),
        (body(messages: [blocks(["type": "text"])]), "messages.0.content.0.text: Field required"),
        (body(messages: [blocks(["type": "text", "text": 1])]), "messages.0.content.0.text: Input should be a valid string"),
        (body(messages: [blocks(["type": "image"])]), "messages.0.content.0.source: Field required"),
        (body(messages: [blocks(["type": "image", "source": "url"])]), "messages.0.content.0.source: Input should be a valid dictionary"),
        (body(messages: [blocks(["type": "tool_use", "id": "a", "name": "b"])]), "messages.0.content.0.input: Field required"),
        (body(messages: [blocks(["type": "tool_use", "id": "a", "input": [:]])]), "messages.0.content.0.name: Field required"),
        (body(messages: [blocks(["type": "tool_use", "id": "a", "name": "b", "input": []])]), "messages.0.content.0.input: Input should be a valid dictionary"),
        (body(messages: [blocks(["type": "thinking"])]), "messages.0.content.0.thinking: Field required"),
        (body(messages: [["role": "user", "content": "x", "reasoning_content": 1]]), "messages.0.reasoning_content: Input should be a valid string"),
        (body(messages: [], [("max_tokens", 1.5)]), "max_tokens: Input should be a valid integer, got a number with a fractional part"),
        (body(messages: [], [("max_tokens", "5")]), "max_tokens: Input should be a valid integer"),
        (body(messages: [], [("max_tokens", true)]), "max_tokens: Input should be a valid integer"),
        (body(messages: [], [("max_tokens", .bigInt("100000000000000000000"))]), "max_tokens: Input should be a valid integer that fits in 64 bits"),
        (body(messages: [], [("temperature", "0.5")]), "temperature: Input should be a valid number"),
        (body(messages: [], [("top_p", false)]), "top_p: Input should be a valid number"),
        (body(messages: [], [("top_k", 2.5)]), "top_k: Input should be a valid integer, got a number with a fractional part"),
        (body(messages: [], [("stream", "true")]), "stream: Input should be a valid boolean"),
        (body(messages: [], [("stop_sequences", "END")]), "stop_sequences: Input should be a valid list"),
        (body(messages: [], [("stop_sequences", ["a", 1])]), "stop_sequences.1: Input should be a valid string"),
        (body(messages: [], [("metadata", "m")]), "metadata: Input should be a valid dictionary"),
        (body(messages: [], [("tool_choice", "auto")]), "tool_choice: Input should be a valid dictionary"),
        (body(messages: [], [("extra_body", [])]), "extra_body: Input should be a valid dictionary"),
        (body(messages: [], [("system", 5)]), "system: Input should be a valid string or a list of text blocks"),
        (body(messages: [], [("system", [["type": "text"]])]), "system.0.text: Field required"),
        (body(messages: [], [("system", [["type": "image", "text": "x"]])]), "system.0.type: Input should be 'text'"),
        (body(messages: [], [("system", [["text": "x"]])]), "system.0.type: Field required"),
        (body(messages: [], [("tools", [["name": "a"]])]), "tools.0.input_schema: Field required"),
        (body(messages: [], [("tools", [["input_schema": [:]]])]), "tools.0.name: Field required"),
        (body(messages: [], [("tools", [["name": "a", "description": 3, "input_schema": [:]]])]), "tools.0.description: Input should be a valid string"),
        (body(messages: [], [("tools", [["name": "a", "input_schema": "{}"]])]), "tools.0.input_schema: Input should be a valid dictionary"),
        (body(messages: [], [("thinking", true)]), "thinking: Input should be a valid dictionary"),
        (body(messages: [], [("thinking", ["enabled": "yes"])]), "thinking.enabled: Input should be a valid boolean"),
        (body(messages: [], [("thinking", ["type": 1])]), "thinking.type: Input should be a valid string"),
        (body(messages: [], [("thinking", ["type": "enabled", "budget_tokens": "many"])]), "thinking.budget_tokens: Input should be a valid integer"),
        ([1], "body: Input should be a valid dictionary"),
    ] as [(JSONValue, String)])
    func refusesWithFieldPath(body: JSONValue, message: String) {
        #expect(refusal(body) == message)
    }

    @Test func errorCarriesLocationAndReason() {
        do {
            _ = try decode(body(messages: [blocks(["type": "tool_use", "name": "b", "input": [:]])]))
            Issue.record("expected a refusal")
        } catch {
            #expect(error.location == "messages.0.content.0.id")
            #expect(error.reason == "Field required")
        }
    }

    @Test func tokenCountRequestValidatesTheSameWay() {
        #expect(throws: RequestValidationError(location: "messages.0.role", reason: "Input should be 'user', 'assistant' or 'system'")) {
            try TokenCountRequest.decode(["model": "m", "messages": [["role": "tool", "content": "x"]]], routing: routing)
        }
    }

    @Test(arguments: [
        // Accepted although the reference refuses (HTTP 422) or mishandles them.
        ["role": "system", "content": "x"] as JSONValue,
        blocks(["type": "tool_result", "tool_use_id": "a"]),
        blocks(["type": "tool_result", "tool_use_id": "a", "content": nil, "is_error": "yes"]),
        blocks(["type": "document", "source": ["type": "base64", "data": "..."], "cache_control": ["type": "ephemeral"]]),
        blocks(["type": "redacted_thinking"]),
        blocks(["type": "some_future_block", "payload": [1, 2, 3]]),
        blocks(["type": "image", "source": ["type": "base64", "data": ["not", "a", "string"]]]),
        blocks(["type": "thinking", "thinking": "t", "signature": 5]),
    ])
    func acceptsWhatClaudeCodeSends(message: JSONValue) {
        #expect(refusal(body(messages: [message], [("context_management", ["edits": []]), ("unknown_key", 1)])) == nil)
    }
}

@Suite struct ClaudeCodeFixtureTests {
    static let names = [
        "reasoning-1-system-role-message", "reasoning-2-after-422", "text-1-system-role-message", "text-2-after-422",
        "tool-1-system-role-message", "tool-2-after-422", "tool-3-tool-result",
    ]

    @Test(arguments: names)
    func fixtureBodyDecodes(name: String) throws {
        let bytes = try Fixture.bytes("claude-cli-2.1.332/\(name).json", in: .shared)
        let fixture = try JSONValue.parse(bytes)
        let body = try #require(fixture["body"])
        let request = try MessagesRequest.decode(body, routing: ModelRouting(default: "nim/model"))
        #expect(request.model == "nim/model")
        #expect(request.originalModel == body["model"]?.stringValue)
        #expect(request.messages.count == body["messages"]?.arrayValue?.count)
        #expect(request.tools?.count == body["tools"]?.arrayValue?.count)
        #expect(request.thinking?.type == "adaptive")
        #expect(request.thinking?.enabled == true)
        #expect(request.stream == true)
        #expect(request.raw["output_config"] != nil)
        #expect(request.raw["context_management"] != nil)
        if name.hasSuffix("system-role-message") {
            #expect(request.messages.contains { $0.role == .system })
        }
        let counted = try TokenCountRequest.decode(body, routing: ModelRouting(default: "nim/model"))
        #expect(counted.messages == request.messages)
    }
}
