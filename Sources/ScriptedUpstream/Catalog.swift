// The named scenarios: one per behaviour of NIM streams the proxy must handle.
//
// Each expected answer follows the reference's streaming consumer
// (providers/nvidia_nim/client.py): `reasoning_content` and `<think>` text become thinking, the
// rest of `content` is text after control tokens and `● <function=...>` calls are taken out,
// native tool-call fragments assemble per index, Task arguments get `run_in_background: false`
// (or `{}` when they never parse), an answer with neither text nor tools gets a single " " text,
// and finish reasons map stop -> end_turn, tool_calls -> tool_use, length -> max_tokens.

import JSON
import Text

extension Scenario {
    /// Prompt tokens every scripted usage chunk reports.
    public static let promptTokens = 12

    /// Names accepted by `named(_:)` (and as `"scenario:NAME"` in a request's model field).
    public static let catalogNames = [
        "text", "reasoning", "think_tags", "tool", "two_tools", "task", "task_invalid", "heuristic_tool",
        "control_tokens", "empty", "length", "unicode", "error_400", "error_401", "error_429",
        "error_429_retry_after", "error_500", "error_503", "cut", "stall", "hang", "retry_429_then_text",
        "synthetic", "tool_roundtrip",
        // The upstream failures of issue 11.
        "html_502", "html_200", "json_200", "overloaded_503", "context_vllm", "context_trtllm",
        "context_openai", "context_openrouter", "completion_budget", "reset_then_text", "storm_429",
        "cut_after_content", "overloaded_twice_then_text",
    ]

    /// A catalog scenario by name.
    public static func named(_ name: String) -> Scenario? {
        switch name {
        case "text": text()
        case "reasoning": reasoning()
        case "think_tags": thinkTags()
        case "tool": tool()
        case "two_tools": twoTools()
        case "task": task()
        case "task_invalid": taskInvalid()
        case "heuristic_tool": heuristicTool()
        case "control_tokens": controlTokens()
        case "empty": empty()
        case "length": length()
        case "unicode": unicode()
        case "error_400": badRequest()
        case "error_401": unauthorized()
        case "error_429": rateLimited()
        case "error_429_retry_after": rateLimited(retryAfter: "2")
        case "error_500": internalError()
        case "error_503": overloaded()
        case "cut": cut()
        case "stall": stall()
        case "hang": stall(pauseMs: nil)
        case "retry_429_then_text": sequence([rateLimited(), text()], name: "retry_429_then_text")
        case "synthetic": synthetic()
        case "tool_roundtrip": toolRoundTrip()
        case "html_502": html502()
        case "html_200": html200()
        case "json_200": json200()
        case "overloaded_503": overloaded(name: "overloaded_503")
        case "context_vllm", "context_trtllm", "context_openai", "context_openrouter": contextRefusal(name)
        case "completion_budget": completionBudget()
        case "reset_then_text": sequence([dropConnection(), text()], name: "reset_then_text")
        case "storm_429": rateLimitStorm()
        case "cut_after_content": cut(texts: ["The first part of the answer", " and a second part"], name: "cut_after_content")
        case "overloaded_twice_then_text":
            sequence([overloaded(name: "overloaded_503"), overloaded(name: "overloaded_503"), text()],
                     name: "overloaded_twice_then_text")
        default: nil
        }
    }

    // MARK: Generic

    /// Plays `chunks` as given, then `[DONE]`.
    public static func stream(chunks: [JSONValue], delayMs: UInt64 = 0, chunkSplit: ChunkSplit = .none,
                              name: String = "stream", expected: ExpectedAnswer? = nil) -> Scenario {
        Scenario(name: name, behaviour: .stream(StreamPlan(chunks: chunks, delayMs: delayMs, chunkSplit: chunkSplit)),
                 expected: expected)
    }

    /// Benchmark stream: `chunkCount` text deltas of `chunkBytes` ASCII bytes each, `delayMs` apart,
    /// then the finish chunk, a usage chunk and `[DONE]`.
    public static func synthetic(chunkCount: Int = 20, chunkBytes: Int = 16, delayMs: UInt64 = 0) -> Scenario {
        let piece = syntheticText(bytes: chunkBytes)
        var chunks = [Chunk.role()]
        chunks.reserveCapacity(chunkCount + 3)
        // Every delta is the same value, so every frame shares one byte array once compiled.
        let delta = Chunk.content(piece)
        for _ in 0..<max(0, chunkCount) { chunks.append(delta) }
        chunks.append(Chunk.finish("stop"))
        chunks.append(Chunk.usage(prompt: promptTokens, completion: max(0, chunkCount)))
        let text = String(repeating: piece, count: max(0, chunkCount))
        return Scenario(
            name: "synthetic",
            behaviour: .stream(StreamPlan(chunks: chunks, delayMs: delayMs)),
            expected: ExpectedAnswer(text: text.isEmpty ? " " : text, stopReason: "end_turn",
                                     outputTokens: max(0, chunkCount)))
    }

    /// Words cut to exactly `bytes` ASCII bytes.
    static func syntheticText(bytes: Int) -> String {
        let words = "lorem ipsum dolor sit amet consectetur adipiscing elit "
        var out = ""
        while out.utf8.count < bytes { out += words }
        return String(out.utf8.prefix(max(0, bytes)))!
    }

    /// Each request takes the next scenario; the last one repeats once all were used.
    public static func sequence(_ scenarios: [Scenario], name: String = "sequence") -> Scenario {
        precondition(!scenarios.isEmpty, "an empty sequence answers nothing")
        return Scenario(name: name, behaviour: .sequence(scenarios), expected: scenarios.last?.expected)
    }

    // MARK: Text and thinking

    /// Plain text in several chunks, with a `delta: null` chunk among them.
    public static func text() -> Scenario {
        let parts = ["Hello", ", world", "! How can", " I help?"]
        var chunks = [Chunk.role()]
        chunks += parts.prefix(2).map { Chunk.content($0) }
        chunks.append(Chunk.nullDelta())
        chunks += parts.dropFirst(2).map { Chunk.content($0) }
        chunks += [Chunk.finish("stop"), Chunk.usage(prompt: promptTokens, completion: 9)]
        return stream(chunks: chunks, name: "text",
                      expected: ExpectedAnswer(text: parts.joined(), stopReason: "end_turn", outputTokens: 9))
    }

    /// `reasoning_content` deltas, then text.
    public static func reasoning() -> Scenario {
        let chunks = [
            Chunk.role(),
            Chunk.reasoning("The user greets me."),
            Chunk.reasoning(" I should answer briefly."),
            Chunk.content("Hi"),
            Chunk.content(" there."),
            Chunk.finish("stop"),
            Chunk.usage(prompt: promptTokens, completion: 14),
        ]
        return stream(chunks: chunks, name: "reasoning",
                      expected: ExpectedAnswer(thinking: "The user greets me. I should answer briefly.",
                                               text: "Hi there.", stopReason: "end_turn", outputTokens: 14))
    }

    /// `<think>` tags in `content`, both tags split across chunks.
    public static func thinkTags() -> Scenario {
        let chunks = [
            Chunk.role(),
            Chunk.content("<thi"),
            Chunk.content("nk>Two plus two"),
            Chunk.content(" is four.</th"),
            Chunk.content("ink>The answer"),
            Chunk.content(" is 4."),
            Chunk.finish("stop"),
            Chunk.usage(prompt: promptTokens, completion: 16),
        ]
        return stream(chunks: chunks, name: "think_tags",
                      expected: ExpectedAnswer(thinking: "Two plus two is four.", text: "The answer is 4.",
                                               stopReason: "end_turn", outputTokens: 16))
    }

    // MARK: Tools

    /// A two-turn exchange for end-to-end runs with a real client: while the conversation has
    /// no tool result after the last assistant turn, ask for a `Bash` call; once it has one,
    /// answer with the tool's output. The command computes its marker (`$((6*7))`), so the
    /// answer can only contain `nim-proxy-e2e-42` if a shell really ran it.
    public static func toolRoundTrip(command: String = "echo nim-proxy-e2e-$((6*7))") -> Scenario {
        let arguments = JSONValue.object(JSONObject([
            ("command", .string(command)), ("description", "Print the end-to-end marker"),
        ])).compactString()
        let ask = stream(chunks: [
            Chunk.role(),
            Chunk.content("Running the command."),
            Chunk.toolCall(index: 0, id: "call_e2e_bash", name: "Bash", arguments: arguments),
            Chunk.finish("tool_calls"),
            Chunk.usage(prompt: promptTokens, completion: 20),
        ], name: "tool_roundtrip_call")
        return Scenario(name: "tool_roundtrip", behaviour: .byRequest { request in
            let messages = request["messages"]?.arrayValue ?? []
            let lastAssistant = messages.lastIndex { $0["role"] == "assistant" } ?? -1
            let results = messages.suffix(from: lastAssistant + 1).filter { $0["role"] == "tool" }
            guard let result = results.last?["content"]?.stringValue else { return ask }
            let output = result.trimmingUnicodeWhitespace()
            return stream(chunks: [
                Chunk.role(),
                Chunk.content("The command printed: "),
                Chunk.content(output),
                Chunk.finish("stop"),
                Chunk.usage(prompt: promptTokens, completion: 8),
            ], name: "tool_roundtrip_answer")
        })
    }

    /// One native tool call: the id on the first fragment, name and arguments in fragments.
    public static func tool() -> Scenario {
        let chunks = [
            Chunk.role(),
            Chunk.toolCall(index: 0, id: "call_bash_1", name: "Ba", arguments: ""),
            Chunk.toolCall(index: 0, name: "sh"),
            Chunk.toolCall(index: 0, arguments: "{\"command\":"),
            Chunk.toolCall(index: 0, arguments: " \"ls -la\"}"),
            Chunk.finish("tool_calls"),
            Chunk.usage(prompt: promptTokens, completion: 20),
        ]
        return stream(chunks: chunks, name: "tool", expected: ExpectedAnswer(
            tools: [ExpectedToolUse(name: "Bash", id: "call_bash_1", input: ["command": "ls -la"])],
            stopReason: "tool_use", outputTokens: 20))
    }

    /// Text, then two tool calls (indices 0 and 1) in one answer.
    public static func twoTools() -> Scenario {
        let chunks = [
            Chunk.role(),
            Chunk.content("I'll read both."),
            Chunk.toolCall(index: 0, id: "call_read_0", name: "Read", arguments: ""),
            Chunk.toolCall(index: 0, arguments: "{\"file_path\": "),
            Chunk.toolCall(index: 0, arguments: "\"a.txt\"}"),
            Chunk.toolCall(index: 1, id: "call_grep_1", name: "Grep", arguments: "{\"pattern\""),
            Chunk.toolCall(index: 1, arguments: ": \"TODO\"}"),
            Chunk.finish("tool_calls"),
            Chunk.usage(prompt: promptTokens, completion: 31),
        ]
        return stream(chunks: chunks, name: "two_tools", expected: ExpectedAnswer(
            text: "I'll read both.",
            tools: [
                ExpectedToolUse(name: "Read", id: "call_read_0", input: ["file_path": "a.txt"]),
                ExpectedToolUse(name: "Grep", id: "call_grep_1", input: ["pattern": "TODO"]),
            ],
            stopReason: "tool_use", outputTokens: 31))
    }

    /// A `Task` call whose valid JSON arguments arrive in fragments (and ask for background).
    public static func task() -> Scenario {
        let chunks = [
            Chunk.role(),
            Chunk.toolCall(index: 0, id: "call_task_1", name: "Task", arguments: "{\"description\": \"Explore\", "),
            Chunk.toolCall(index: 0, arguments: "\"prompt\": \"Find the config\", \"subagent_type\": \"Explore\", "),
            Chunk.toolCall(index: 0, arguments: "\"run_in_background\": true}"),
            Chunk.finish("tool_calls"),
            Chunk.usage(prompt: promptTokens, completion: 25),
        ]
        return stream(chunks: chunks, name: "task", expected: ExpectedAnswer(
            tools: [ExpectedToolUse(name: "Task", id: "call_task_1", input: [
                "description": "Explore", "prompt": "Find the config", "subagent_type": "Explore",
                "run_in_background": false,
            ])],
            stopReason: "tool_use", outputTokens: 25))
    }

    /// A `Task` call whose arguments never form valid JSON.
    public static func taskInvalid() -> Scenario {
        let chunks = [
            Chunk.role(),
            Chunk.toolCall(index: 0, id: "call_task_bad", name: "Task", arguments: "{\"description\": \"x\", "),
            Chunk.toolCall(index: 0, arguments: "\"prompt\": oops}"),
            Chunk.finish("tool_calls"),
            Chunk.usage(prompt: promptTokens, completion: 9),
        ]
        return stream(chunks: chunks, name: "task_invalid", expected: ExpectedAnswer(
            tools: [ExpectedToolUse(name: "Task", id: "call_task_bad", input: [:])],
            stopReason: "tool_use", outputTokens: 9))
    }

    /// A tool call written as text (`● <function=Bash><parameter=command>...`), split across chunks.
    public static func heuristicTool() -> Scenario {
        let chunks = [
            Chunk.role(),
            Chunk.content("Let me list the files.\n● <func"),
            Chunk.content("tion=Bash><parameter=com"),
            Chunk.content("mand>ls -la</param"),
            Chunk.content("eter>"),
            Chunk.finish("stop"),
            Chunk.usage(prompt: promptTokens, completion: 18),
        ]
        return stream(chunks: chunks, name: "heuristic_tool", expected: ExpectedAnswer(
            text: "Let me list the files.\n",
            tools: [ExpectedToolUse(name: "Bash", input: ["command": "ls -la"])],
            stopReason: "end_turn", outputTokens: 18))
    }

    /// Text carrying `<|...|>` control tokens, one of them split across chunks.
    public static func controlTokens() -> Scenario {
        let chunks = [
            Chunk.role(),
            Chunk.content("Hello <|tool_calls_section_begin|>there"),
            Chunk.content(" friend <|tool_call_"),
            Chunk.content("end|>, bye"),
            Chunk.finish("stop"),
            Chunk.usage(prompt: promptTokens, completion: 11),
        ]
        return stream(chunks: chunks, name: "control_tokens", expected: ExpectedAnswer(
            text: "Hello there friend , bye", stopReason: "end_turn", outputTokens: 11))
    }

    // MARK: Stops and characters

    /// No content at all: only the finish reason (and usage).
    public static func empty() -> Scenario {
        stream(chunks: [Chunk.finish("stop"), Chunk.usage(prompt: promptTokens, completion: 0)], name: "empty",
               expected: ExpectedAnswer(text: " ", stopReason: "end_turn", outputTokens: 0))
    }

    /// The model ran out of tokens: `finish_reason: "length"`.
    public static func length() -> Scenario {
        let chunks = [
            Chunk.role(),
            Chunk.content("This answer is cut"),
            Chunk.content(" short because"),
            Chunk.finish("length"),
            Chunk.usage(prompt: promptTokens, completion: 8),
        ]
        return stream(chunks: chunks, name: "length", expected: ExpectedAnswer(
            text: "This answer is cut short because", stopReason: "max_tokens", outputTokens: 8))
    }

    /// CJK, accents and emoji, every frame written in pieces that end inside a UTF-8 character.
    public static func unicode() -> Scenario {
        let parts = ["héllo ", "世界 ", "🤔 \"quoted\"\n", "naïve ✓ 👍🏽"]
        var chunks = [Chunk.role()]
        chunks += parts.map { Chunk.content($0) }
        chunks += [Chunk.finish("stop"), Chunk.usage(prompt: promptTokens, completion: 13)]
        return stream(chunks: chunks, chunkSplit: .insideMultibyte(gapMs: 1), name: "unicode",
                      expected: ExpectedAnswer(text: parts.joined(), stopReason: "end_turn", outputTokens: 13))
    }

    // MARK: Failures

    /// An HTTP error with an OpenAI-style JSON body.
    public static func httpError(status: Int, message: String, type: String, code: JSONValue,
                                 retryAfter: String? = nil, name: String? = nil) -> Scenario {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let retryAfter { headers.append(("Retry-After", retryAfter)) }
        let reply = HTTPErrorReply(status: status, headers: headers,
                                   body: openAIErrorBody(message: message, type: type, code: code))
        return Scenario(name: name ?? "error_\(status)", behaviour: .httpError(reply))
    }

    public static func badRequest(message: String = "Invalid request: messages must not be empty") -> Scenario {
        httpError(status: 400, message: message, type: "invalid_request_error", code: nil)
    }

    public static func unauthorized(message: String = "Authentication failed: invalid API key") -> Scenario {
        httpError(status: 401, message: message, type: "authentication_error", code: "invalid_api_key")
    }

    /// 429, with a `Retry-After` header when given (seconds or an HTTP date).
    public static func rateLimited(retryAfter: String? = nil,
                                   message: String = "Rate limit exceeded: 40 requests per minute") -> Scenario {
        httpError(status: 429, message: message, type: "rate_limit_error", code: "rate_limit_exceeded",
                  retryAfter: retryAfter, name: retryAfter == nil ? "error_429" : "error_429_retry_after")
    }

    public static func internalError(message: String = "Internal server error") -> Scenario {
        httpError(status: 500, message: message, type: "server_error", code: nil)
    }

    /// 503 whose message says "overloaded" (the reference maps such 5xx to overloaded_error).
    public static func overloaded(message: String = "The model is overloaded, at capacity. Try again later.",
                                  name: String = "error_503") -> Scenario {
        httpError(status: 503, message: message, type: "server_error", code: "overloaded", name: name)
    }

    /// Some text chunks, then the connection closes: no finish reason, no `[DONE]`, no last HTTP chunk.
    public static func cut(texts: [String] = ["Partial ", "answer"], name: String = "cut") -> Scenario {
        let chunks = [Chunk.role()] + texts.map { Chunk.content($0) }
        return Scenario(name: name, behaviour: .stream(StreamPlan(chunks: chunks, ending: .cut)))
    }

    /// Two text chunks, then silence for `pauseMs`, then the rest of the answer; with `pauseMs` nil
    /// the silence lasts until the client leaves (or the upstream shuts down).
    public static func stall(pauseMs: UInt64? = 60_000) -> Scenario {
        let head = [Chunk.role(), Chunk.content("Hello"), Chunk.content(" wor")]
        guard let pauseMs else {
            return Scenario(name: "hang", behaviour: .stream(StreamPlan(chunks: head, ending: .hang)))
        }
        let chunks = head + [Chunk.content("ld"), Chunk.finish("stop"), Chunk.usage(prompt: promptTokens, completion: 3)]
        return Scenario(
            name: "stall",
            behaviour: .stream(StreamPlan(chunks: chunks, pauses: [head.count: pauseMs])),
            expected: ExpectedAnswer(text: "Hello world", stopReason: "end_turn", outputTokens: 3))
    }
}

// MARK: Upstream failures (issue 11)

extension Scenario {
    /// The connection closes before any byte of an answer: to the proxy, a reset or an empty reply.
    public static func dropConnection() -> Scenario {
        Scenario(name: "drop_connection", behaviour: .dropConnection)
    }

    /// A complete answer with any status and body.
    public static func reply(status: Int, contentType: String, body: String, name: String) -> Scenario {
        Scenario(name: name, behaviour: .httpError(HTTPErrorReply(
            status: status, headers: [("Content-Type", contentType)], body: Array(body.utf8))))
    }

    /// A 502 with the HTML page nginx answers when the server behind it is down.
    public static func html502() -> Scenario {
        reply(status: 502, contentType: "text/html", body: """
            <html>
            <head><title>502 Bad Gateway</title></head>
            <body>
            <center><h1>502 Bad Gateway</h1></center>
            <hr><center>nginx</center>
            </body>
            </html>

            """, name: "html_502")
    }

    /// A 200 HTML page instead of a stream, as a captive portal or a proxy's login page answers.
    public static func html200() -> Scenario {
        reply(status: 200, contentType: "text/html; charset=utf-8", body: """
            <!DOCTYPE html>
            <html><head><title>Sign in to the network</title></head>
            <body><h1>Welcome</h1><p>Accept the terms of use to continue to the Internet.</p>
            <form method="post" action="/login"><button>Accept</button></form></body></html>

            """, name: "html_200")
    }

    /// A 200 chat completion as one JSON body, as a server that ignores `stream: true` answers.
    public static func json200() -> Scenario {
        let body: JSONValue = .object(JSONObject([
            ("id", "chatcmpl-scripted-json"), ("object", "chat.completion"), ("created", 1_700_000_000),
            ("model", "scripted"),
            ("choices", [.object(JSONObject([
                ("index", 0),
                ("message", .object(JSONObject([("role", "assistant"), ("content", "An answer that was not streamed.")]))),
                ("finish_reason", "stop"),
            ]))]),
            ("usage", .object(JSONObject([
                ("prompt_tokens", .int(promptTokens)), ("completion_tokens", 7), ("total_tokens", .int(promptTokens + 7)),
            ]))),
        ]))
        return reply(status: 200, contentType: "application/json", body: body.compactString(), name: "json_200")
    }

    /// `storm_429`: every request gets 429 with `Retry-After: 1`.
    public static func rateLimitStorm() -> Scenario {
        httpError(status: 429, message: "Too many requests: the free tier's limit was reached", type: "rate_limit_error",
                  code: "rate_limit_exceeded", retryAfter: "1", name: "storm_429")
    }

    /// One context-length refusal: the scenario's name, the token count the message gives for the
    /// request, and the window it gives.
    public struct ContextRefusal: Sendable, Equatable {
        public var name: String
        public var requestedTokens: Int
        public var maximumTokens: Int
    }

    /// The four phrasings, with the numbers a reader of each message must find in it.
    public static let contextRefusals: [ContextRefusal] = [
        ContextRefusal(name: "context_vllm", requestedTokens: 250_000, maximumTokens: 131_072),
        ContextRefusal(name: "context_trtllm", requestedTokens: 200_000, maximumTokens: 131_072),
        ContextRefusal(name: "context_openai", requestedTokens: 130_000, maximumTokens: 128_000),
        ContextRefusal(name: "context_openrouter", requestedTokens: 200_000, maximumTokens: 163_840),
    ]

    /// A 400 refusing the request as longer than the model's context, worded as each server family
    /// words it: vLLM (most NIM models), TensorRT-LLM's PyTorch back end (its prompt length is a
    /// float), OpenAI, OpenRouter.
    public static func contextRefusal(_ name: String) -> Scenario? {
        let body: JSONValue
        switch name {
        case "context_vllm":
            body = vllmError(contextRefusalMessageVLLM(window: 131_072, messages: 249_000, completion: 1_000))
        case "context_trtllm":
            body = vllmError("The sum of prompt length (200000.0), query length (0) should not exceed max_num_tokens (131072)")
        case "context_openai":
            body = ["error": .object(JSONObject([
                ("message", "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages."),
                ("type", "invalid_request_error"), ("param", "messages"), ("code", "context_length_exceeded"),
            ]))]
        case "context_openrouter":
            body = ["error": .object(JSONObject([
                ("message", "This endpoint's maximum context length is 163840 tokens. However, you requested about 200000 tokens (199000 of text input, 1000 in the output). Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically."),
                ("code", 400),
            ]))]
        default:
            return nil
        }
        return reply(status: 400, contentType: "application/json", body: body.compactString(), name: name)
    }

    /// vLLM's refusal of messages plus completion longer than the window.
    public static func contextRefusalMessageVLLM(window: Int, messages: Int, completion: Int) -> String {
        "This model's maximum context length is \(window) tokens. However, you requested \(messages + completion) tokens "
            + "(\(messages) in the messages, \(completion) in the completion). Please reduce the length of the messages or completion."
    }

    /// vLLM's (and TensorRT-LLM's OpenAI server's) error body.
    static func vllmError(_ message: String) -> JSONValue {
        .object(JSONObject([
            ("object", "error"), ("message", .string(message)), ("type", "BadRequestError"), ("param", nil), ("code", 400),
        ]))
    }

    /// The scripted upstream's token estimate of a request: a quarter of the bytes of its
    /// `messages` as compact JSON, rounded up. Crude, but the same body always gives the same
    /// number, which is all a proxy's retry with a smaller `max_tokens` needs.
    public static func estimatedInputTokens(_ request: JSONValue) -> Int {
        let bytes = (request["messages"] ?? .array([])).compactBytes().count
        return (bytes + 3) / 4
    }

    /// `completion_budget`: refuses with vLLM's wording when the estimated input plus the
    /// request's `max_tokens` exceeds `window`, answers text otherwise; so a proxy that sends again
    /// with `max_tokens` at most `window` minus the input gets its answer.
    public static func completionBudget(window: Int = 100_000) -> Scenario {
        let answer = stream(chunks: [
            Chunk.role(), Chunk.content("The answer fits the window."), Chunk.finish("stop"),
            Chunk.usage(prompt: promptTokens, completion: 6),
        ], name: "completion_budget_answer",
           expected: ExpectedAnswer(text: "The answer fits the window.", stopReason: "end_turn", outputTokens: 6))
        return Scenario(name: "completion_budget", behaviour: .byRequest { request in
            let input = estimatedInputTokens(request)
            let maxTokens = request["max_tokens"]?.intValue ?? request["max_completion_tokens"]?.intValue ?? 0
            guard input + maxTokens > window else { return answer }
            return reply(status: 400, contentType: "application/json",
                         body: vllmError(contextRefusalMessageVLLM(window: window, messages: input, completion: maxTokens)).compactString(),
                         name: "completion_budget_refusal")
        })
    }
}
