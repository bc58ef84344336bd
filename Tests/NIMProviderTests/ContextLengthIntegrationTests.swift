// Context-length refusals over real sockets: each server family's wording reaches Claude Code as
// Anthropic's `prompt is too long: N tokens > M maximum` (which it compacts on), and a refusal
// of the completion budget alone is sent again with a `max_tokens` that fits.

import JSON
@testable import NIMProvider
import ProxyConfig
import ScriptedUpstream
import StreamTranslation
import TestSupport
import Testing

@Suite(.serialized) struct ContextLengthIntegrationTests {
    @Test(arguments: Scenario.contextRefusals)
    func refusalReadsAsAnthropics(_ refusal: Scenario.ContextRefusal) throws {
        var response: TestResponse?
        var requests = 0
        try withHarness(configure: { $0.upstream.model = "scenario:\(refusal.name)" }) { h, done in
            h.post(body: simpleRequest) { r in
                response = r
                requests = h.upstream.received.count
                done()
            }
        }
        let r = try #require(response)
        #expect(r.status == 400)
        let error = anthropicError(r)
        #expect(error.type == "invalid_request_error")
        let message = try #require(error.message)
        // N is the prompt as the upstream counted it: vLLM and OpenRouter say how much of what was
        // requested is the prompt, the others count only the prompt.
        let prompt = ["context_vllm": 249_000, "context_openrouter": 199_000][refusal.name] ?? refusal.requestedTokens
        #expect(message == "prompt is too long: \(prompt) tokens > \(refusal.maximumTokens) maximum")
        #expect(message.wholeMatch(of: #/prompt is too long: \d+ tokens > \d+ maximum/#) != nil)
        #expect(requests == 1, "a prompt that does not fit is not sent again")
    }

    /// The window is learned from the refusal: a later request to that model asks at once for
    /// no more than fits by the proxy's count.
    @Test func completionBudgetRefusalIsSentAgainWithASmallerMaxTokens() throws {
        // About 40,000 estimated input tokens (the scripted upstream counts a quarter of the bytes);
        // with the default `max_tokens` cap of 81,920 that is over its 100,000-token window.
        let text = String(repeating: "word ", count: 32_000)
        let body = #"{"model":"claude-3-5-sonnet-20241022","max_tokens":81920,"messages":[{"role":"user","content":"\#(text)"}]}"#
        var first: TestResponse?
        var second: TestResponse?
        var sentMaxTokens: [Int] = []
        try withHarness(configure: { $0.upstream.model = "scenario:completion_budget" }) { h, done in
            h.post(body: body) { r in
                first = r
                h.post(body: body) { r in
                    second = r
                    sentMaxTokens = h.upstream.received.compactMap { $0.json?["max_tokens"]?.intValue }
                    done()
                }
            }
        }
        for r in [first, second] {
            let r = try #require(r)
            #expect(r.status == 200)
            let summary = AnswerSummary(parseAnthropicSSE(r.body).events)
            #expect(summary.text == "The answer fits the window.")
            #expect(summary.problems.isEmpty, "\(summary.problems)")
        }
        // First request: refused at 81,920, sent again with what fits beside the 40,000 tokens the
        // upstream counted. Second request: capped in the first place from the learned window and
        // our own count of the prompt (cl100k counts this text lower than the scripted upstream
        // does, so it may be refused once more and sent again; it is served either way).
        #expect(sentMaxTokens.count >= 3 && sentMaxTokens.count <= 4, "\(sentMaxTokens)")
        #expect(sentMaxTokens.first == 81920)
        if sentMaxTokens.count >= 3 {
            #expect(sentMaxTokens[1] <= 100_000 - 40_000 && sentMaxTokens[1] > 0)
            #expect(sentMaxTokens[2] < 81920)
        }
    }
}
