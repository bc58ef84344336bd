import JSON
import Testing
@testable import StreamTranslation

/// Claude Code compacts the conversation on a 400 whose message matches this, and nothing else.
private func readsAsAnthropics(_ message: String) -> Bool {
    let parts = message.split(separator: " ", omittingEmptySubsequences: false)
    guard parts.count == 9, message.hasPrefix("prompt is too long: "), parts[5] == "tokens", parts[6] == ">",
        parts[8] == "maximum", let n = Int(parts[4]), let m = Int(parts[7]), String(n) == parts[4], String(m) == parts[7]
    else { return false }
    return n > m
}

private func body(_ message: String, code: String? = nil) -> String {
    var error: JSONObject = ["message": .string(message), "type": "BadRequestError"]
    if let code { error["code"] = .string(code) }
    return JSONValue.object(["error": .object(error)]).compactString()
}

@Suite struct ContextLengthRefusalTests {
    let ours = RequestTokens(inputTokens: 90_000, maxTokens: 81_920, contextWindow: 100_000)

    /// The prompt itself is too long, in each server's words.
    @Test(arguments: [
        // vLLM, the total with its parts.
        ("This model's maximum context length is 131072 tokens. However, you requested 250000 tokens (249000 in the "
            + "messages, 1000 in the completion). Please reduce the length of the messages or completion.", 249_000, 131_072),
        // vLLM, newer.
        ("This model's maximum context length is 131072 tokens. However, your request has 140000 input tokens. Please "
            + "reduce the length of the input messages.", 140_000, 131_072),
        // vLLM's V1 engine.
        ("The decoder prompt (length 140000) is longer than the maximum model length of 131072. Make sure that "
            + "`max_model_len` is no smaller than the number of text tokens.", 140_000, 131_072),
        // OpenAI.
        ("This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. "
            + "Please reduce the length of the messages.", 130_000, 128_000),
        ("This model's maximum context length is 128000 tokens. However, your messages resulted in 202868 tokens "
            + "(202767 in the messages, 101 in the functions). Please reduce the length of the messages or functions.",
         202_868, 128_000),
        // OpenAI, older: the prompt alone is over the window.
        ("This model's maximum context length is 4097 tokens, however you requested 4226 tokens (4200 in your prompt; "
            + "26 for the completion). Please reduce your prompt; or completion length.", 4200, 4097),
        // OpenRouter, the prompt over the window.
        ("This endpoint's maximum context length is 163840 tokens. However, you requested about 200000 tokens (180000 "
            + "of text input, 4000 of tool input, 16000 in the output). Please reduce the length of either one, or use "
            + "the \"middle-out\" transform to compress your prompt automatically.", 184_000, 163_840),
        ("This endpoint's maximum context length is 65536 tokens. However, you requested about 92208 tokens (60833 of "
            + "text input, 10042 of tool input, 21333 in the output).", 70875, 65536),
        // TensorRT-LLM (Triton) and NIM.
        ("Cannot process new request: Prompt length (200000) exceeds maximum input length (131072)", 200_000, 131_072),
        ("Encountered an error when fetching new request: Prompt length (5056) exceeds maximum sequence length (2048)",
         5056, 2048),
        ("Input length (200000) exceeds max_seq_len/max input length (131072)", 200_000, 131_072),
        ("in ensemble 'llama', Input length 200000 exceeds maximum allowed token size 131072", 200_000, 131_072),
        // TensorRT-LLM's PyTorch back end (its prompt length a float).
        ("The sum of prompt length (200000.0), query length (0) should not exceed max_num_tokens (131072)", 200_000, 131_072),
        ("Input validation error: `inputs` must have less than 131072 tokens. Given: 200000", 200_000, 131_072),
        // SGLang.
        ("The input (61709 tokens) is longer than the model's context length (40960 tokens).", 61_709, 40_960),
        // An Anthropic-compatible upstream: kept as it is.
        ("prompt is too long: 215000 tokens > 200000 maximum", 215_000, 200_000),
        // Thousands separators and line breaks.
        ("This model's maximum context length is 131,072 tokens.\nHowever, your request has 140,000\ninput tokens.",
         140_000, 131_072),
    ])
    func statedNumbers(message: String, tokens: Int, maximum: Int) {
        let e = mapUpstreamError(status: 400, body: body(message), transport: nil, request: ours)
        #expect(e == {
            var expected = UpstreamError(
                type: .invalidRequest, status: 400, message: "prompt is too long: \(tokens) tokens > \(maximum) maximum")
            expected.statedContextWindow = maximum
            return expected
        }())
        #expect(readsAsAnthropics(e.message))
        #expect(!e.fallbackMayHelp && e.completionBudget == nil)
    }

    /// Without numbers, ours stand in: our count of the prompt and the configured window.
    @Test func ourNumbersWhereTheUpstreamGivesNone() {
        let message = "Your input exceeds the context window of this model. Please adjust your input and try again."
        let e = mapUpstreamError(status: 400, body: body(message, code: "context_length_exceeded"), transport: nil, request: ours)
        // Our count is below the window the upstream says it exceeds: the refusal wins.
        #expect(e.message == "prompt is too long: 100001 tokens > 100000 maximum")
        #expect(readsAsAnthropics(e.message) && e.statedContextWindow == nil)

        let counted = RequestTokens(inputTokens: 150_000, maxTokens: 1000, contextWindow: 131_072)
        #expect(mapUpstreamError(status: 400, body: body(message), transport: nil, request: counted).message
            == "prompt is too long: 150000 tokens > 131072 maximum")
        // The code alone says what it is.
        #expect(mapUpstreamError(status: 400, body: body("Too long.", code: "context_length_exceeded"), transport: nil,
                                 request: counted).message == "prompt is too long: 150000 tokens > 131072 maximum")
    }

    /// Our count with the upstream's window, and the upstream's count without a window.
    @Test func halfStatedNumbers() {
        let noWindow = RequestTokens(inputTokens: 5000, maxTokens: 100, contextWindow: nil)
        // The window stated, the count ours.
        let tgi = "Input validation error: `inputs` must have less than 4096 tokens."
        #expect(mapUpstreamError(status: 422, body: body(tgi), transport: nil, request: noWindow).message
            == "prompt is too long: 5000 tokens > 4096 maximum")
        // The count stated, no window anywhere: the smallest window that keeps the sentence true.
        #expect(mapUpstreamError(status: 400, body: body("Prompt tokens (7000) exceeds context size"), transport: nil,
                                 request: noWindow).message == "prompt is too long: 7000 tokens > 6999 maximum")
        // Nothing known at all: the upstream's own words.
        let bare = mapUpstreamError(status: 400, body: body("the request exceeds the available context size"), transport: nil)
        #expect(bare.message == "Upstream error 400: the request exceeds the available context size")
        #expect(bare.type == .invalidRequest && bare.status == 400 && !bare.fallbackMayHelp)
    }

    /// A count that does not exceed the maximum (exactly the window, or counted by another
    /// tokenizer) is raised so the sentence stays true.
    @Test func theSentenceStaysTrue() {
        #expect(!readsAsAnthropics("prompt is too long: 5 tokens > 6 maximum"))
        #expect(!readsAsAnthropics("prompt is too long: 5 tokens > 4 maximum."))
        let exactly = "This model's maximum context length is 131072 tokens. However, your request has 131072 input tokens."
        #expect(mapUpstreamError(status: 400, body: body(exactly), transport: nil).message
            == "prompt is too long: 131073 tokens > 131072 maximum")
        let small = RequestTokens(inputTokens: 1000, contextWindow: 131_072)
        #expect(mapUpstreamError(status: 400, body: body("context_length_exceeded"), transport: nil, request: small).message
            == "prompt is too long: 131073 tokens > 131072 maximum")
    }

    @Test(arguments: [413, 422, 500, 503])
    func otherStatusesCarryingTheRefusal(status: Int) {
        let message = "The decoder prompt (length 66501) is longer than the maximum model length of 65536."
        let e = mapUpstreamError(status: status, body: #"{"detail": "\#(message)"}"#, transport: nil)
        #expect(e.type == .invalidRequest && e.status == 400)
        #expect(e.message == "prompt is too long: 66501 tokens > 65536 maximum")
    }

    @Test(arguments: [401, 403, 404, 429])
    func statusesWithAFixedMeaning(status: Int) {
        let e = mapUpstreamError(status: status, body: body("maximum context length is 10 tokens"), transport: nil)
        #expect(e.status == status)
    }

    /// Near misses are not context refusals.
    @Test(arguments: [
        "Rate limit reached for requests: Limit 30000 tokens per min, Requested 35000.",
        "max_tokens must be at least 1, got -736.",
        "Input should be a valid dictionary",
        "Function 'abc' must have less than 5 tools",
    ])
    func otherRefusals(message: String) {
        #expect(ContextLengthRefusal.parse(message) == nil)
        #expect(mapUpstreamError(status: 400, body: body(message), transport: nil, request: ours).message
            == "Upstream error 400: \(message)")
    }

    @Test func absurdNumbersAreNotCounts() {
        let refusal = ContextLengthRefusal.parse(
            "This model's maximum context length is 99999999999999999999999 tokens. However, your request has 5 input tokens.")
        #expect(refusal == ContextLengthRefusal(inputTokens: 5))
    }
}

@Suite struct CompletionBudgetTests {
    /// Each server's words when only `max_tokens` pushes the request over the window.
    @Test(arguments: [
        ("This model's maximum context length is 131072 tokens. However, you requested 190000 tokens (108080 in the "
            + "messages, 81920 in the completion). Please reduce the length of the messages or completion.",
         131_072, 108_080, 81_920),
        ("'max_tokens' or 'max_completion_tokens' is too large: 81920. This model's maximum context length is 131072 "
            + "tokens and your request has 60000 input tokens (81920 > 131072 - 60000). None", 131_072, 60_000, 81_920),
        ("This endpoint's maximum context length is 131072 tokens. However, you requested about 138956 tokens (7884 of "
            + "text input, 131072 in the output). Please reduce the length of either one, or use the \"middle-out\" "
            + "transform to compress your prompt automatically.", 131_072, 7884, 131_072),
        ("This model's maximum context length is 4097 tokens, however you requested 4226 tokens (3000 in your prompt; "
            + "1226 for the completion).", 4097, 3000, 1226),
        ("Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and "
            + "1000 `max_new_tokens`", 4096, 4000, 1000),
        ("input length and `max_tokens` exceed context limit: 188059 + 20000 > 200000, decrease input length or "
            + "`max_tokens` and try again", 200_000, 188_059, 20000),
    ])
    func refusalsOfTheBudget(message: String, window: Int, input: Int, completion: Int) {
        let e = mapUpstreamError(status: 400, body: body(message), transport: nil, request: RequestTokens(inputTokens: 1))
        #expect(e.completionBudget == CompletionBudgetRefusal(window: window, inputTokens: input, completionTokens: completion))
        #expect(e.statedContextWindow == window)
        #expect(e.type == .invalidRequest && e.status == 400 && !e.fallbackMayHelp)
        // Claude Code reads this one and retries with a smaller max_tokens itself.
        #expect(e.message == "input length and `max_tokens` exceed context limit: \(input) + \(completion) > \(window), "
            + "decrease input length or `max_tokens` and try again")
    }

    /// Only the total stated: the `max_tokens` we sent tells the prompt's share.
    @Test func theTotalWithOurMaxTokens() {
        let message = "This model's maximum context length is 131072 tokens. However, you requested 171920 tokens. "
            + "Please reduce the length of the messages or completion."
        let sent = RequestTokens(inputTokens: 85_000, maxTokens: 81_920)
        let e = mapUpstreamError(status: 400, body: body(message), transport: nil, request: sent)
        #expect(e.completionBudget == CompletionBudgetRefusal(window: 131_072, inputTokens: 90_000, completionTokens: 81_920))
        // A prompt over the window on its own is too long, whatever was asked on top.
        let big = "This model's maximum context length is 131072 tokens. However, you requested 351430 tokens."
        #expect(mapUpstreamError(status: 400, body: body(big), transport: nil, request: sent).message
            == "prompt is too long: 269510 tokens > 131072 maximum")
        // Without our max_tokens the share is unknown: our count stands in for the prompt.
        #expect(mapUpstreamError(status: 400, body: body(big), transport: nil, request: RequestTokens(inputTokens: 140_000))
            .message == "prompt is too long: 140000 tokens > 131072 maximum")
    }

    @Test func theBudget() {
        #expect(completionBudget(window: 131_072, inputTokens: 108_080, requested: 81_920, margin: 256) == 22_736)
        // Never more than the client asked for.
        #expect(completionBudget(window: 131_072, inputTokens: 1000, requested: 4096, margin: 256) == 4096)
        // Never below one.
        #expect(completionBudget(window: 131_072, inputTokens: 131_000, requested: 4096, margin: 256) == 1)
        #expect(completionBudget(window: 10, inputTokens: 1_000_000, requested: 4096, margin: 256) == 1)
    }

    @Test func theMargins() {
        #expect(CompletionBudgetMargin.statedInput == 256)
        #expect(CompletionBudgetMargin.estimatedInput(inputTokens: 80_000) == 10_256)
        #expect(CompletionBudgetMargin.estimatedInput(inputTokens: 0) == 256)
        // With our estimate of a 100k prompt in a 131k window: room for about 20k tokens of answer.
        let estimated = 100_000
        #expect(completionBudget(
            window: 131_072, inputTokens: estimated, requested: 81_920,
            margin: CompletionBudgetMargin.estimatedInput(inputTokens: estimated)) == 18_316)
    }
}

@Suite struct ContextWindowsTests {
    @Test func configuredThenLearned() {
        var windows = ContextWindows(configured: 0)
        #expect(windows.window(for: "a") == nil)
        windows.learn(model: "a", window: 131_072)
        #expect(windows.window(for: "a") == 131_072 && windows.window(for: "b") == nil)

        var configured = ContextWindows(configured: 200_000)
        #expect(configured.window(for: "a") == 200_000)
        configured.learn(model: "a", window: 131_072)
        #expect(configured.window(for: "a") == 131_072 && configured.window(for: "b") == 200_000)
        // The upstream's latest word wins; nonsense is ignored.
        configured.learn(model: "a", window: 65_536)
        configured.learn(model: "a", window: 0)
        configured.learn(model: "a", window: -5)
        #expect(configured.window(for: "a") == 65_536)
    }

    @Test func theFirstMaxTokens() {
        var windows = ContextWindows(configured: 0)
        #expect(windows.maxTokens(for: "a", inputTokens: 100_000, requested: 81_920) == 81_920)
        windows.learn(model: "a", window: 131_072)
        #expect(windows.maxTokens(for: "a", inputTokens: 100_000, requested: 81_920) == 18_316)
        #expect(windows.maxTokens(for: "a", inputTokens: 1000, requested: 4096) == 4096)
        #expect(windows.maxTokens(for: "b", inputTokens: 100_000, requested: 81_920) == 81_920)
    }

    @Test func theRetryMaxTokens() {
        let refused = CompletionBudgetRefusal(window: 131_072, inputTokens: 108_080, completionTokens: 81_920)
        #expect(refused.retryMaxTokens(requested: 81_920) == 22_736)
        #expect(refused.retryMaxTokens(requested: 1000) == 1000)
    }

    @Test func theTableIsBounded() {
        var windows = ContextWindows(configured: 0)
        for i in 0..<(ContextWindows.maxModels + 10) { windows.learn(model: "m\(i)", window: 1000 + i) }
        #expect(windows.window(for: "m0") == 1000)
        #expect(windows.window(for: "m\(ContextWindows.maxModels - 1)") == 1000 + ContextWindows.maxModels - 1)
        #expect(windows.window(for: "m\(ContextWindows.maxModels)") == nil)
        // A known model is still updated.
        windows.learn(model: "m0", window: 5)
        #expect(windows.window(for: "m0") == 5)
    }
}
