import AnthropicAPI
import EventLoop
import JSON
@testable import NIMProvider
import NIMRequest
import ProxyConfig
import ScriptedUpstream
import StreamTranslation
import TestSupport
import Testing

/// The body the upstream must receive for a request: the request builder's output for the
/// decoded request, byte for byte after a compact round trip.
func expectedUpstreamBody(_ body: String, settings: Settings) throws -> JSONValue {
    let routing = ModelRouting(default: settings.upstream.model, opus: settings.upstream.modelOpus, sonnet: settings.upstream.modelSonnet, haiku: settings.upstream.modelHaiku)
    let request = try MessagesRequest.decode(try JSONValue.parse(body), routing: routing)
    return .object(RequestBuilder.upstreamBody(request, nim: settings.upstream.nim))
}

@Suite(.serialized) struct StreamingIntegrationTests {
    static let answeredScenarios = [
        "text", "reasoning", "think_tags", "tool", "two_tools", "task", "task_invalid", "heuristic_tool",
        "control_tokens", "empty", "length", "unicode",
    ]

    /// One scenario at a time over real sockets: the whole Anthropic event sequence is
    /// well formed and carries the scenario's answer, and the upstream received exactly the
    /// body the request builder makes, with the key.
    @Test(arguments: answeredScenarios)
    func scenarioStreamsItsAnswer(name: String) throws {
        let scenario = try #require(Scenario.named(name))
        let expected = try #require(scenario.expected)
        var response: TestResponse?
        var received: [RecordedRequest] = []
        var settings = Settings()
        try withHarness { h, done in
            settings = h.settings
            h.upstream.enqueue(scenario)
            h.post(body: simpleRequest) { r in
                response = r
                received = h.upstream.received
                done()
            }
        }
        let r = try #require(response)
        #expect(r.status == 200)
        #expect(r.header("content-type") == "text/event-stream")
        let (events, done) = parseAnthropicSSE(r.body)
        #expect(done, "[DONE] trailer")
        let summary = AnswerSummary(events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.thinking == expected.thinking)
        #expect(summary.text == expected.text)
        // The catalog records the reference's answer; text-form tool calls ending with
        // `end_turn` is one of its defects we fix (docs/differences.md).
        let stopReason = name == "heuristic_tool" ? "tool_use" : expected.stopReason
        #expect(summary.stopReason == stopReason)
        if let tokens = expected.outputTokens { #expect(summary.outputTokens == tokens) }
        #expect(summary.tools.map(\.name) == expected.tools.map(\.name))
        #expect(summary.tools.map(\.input) == expected.tools.map { Optional($0.input) })
        for (got, want) in zip(summary.tools, expected.tools) where want.id != nil {
            #expect(got.id == want.id)
        }
        #expect(events.first?.data["message"]?["model"] == "test-model")
        #expect(events.first?.data["message"]?["usage"]?["input_tokens"]?.intValue == 5)

        #expect(received.count == 1)
        let sent = try #require(received.first)
        #expect(sent.path == "/v1/chat/completions")
        #expect(sent.header("authorization") == "Bearer test-key")
        #expect(sent.header("content-type") == "application/json")
        #expect(sent.json == (try expectedUpstreamBody(simpleRequest, settings: settings)))
    }

    /// A refusal before any content is the HTTP error Anthropic would send (a 503 that says
    /// "overloaded" is a 529), never a 200 stream carrying the error as text.
    @Test(arguments: [
        ("error_400", 400, "invalid_request_error"), ("error_401", 401, "authentication_error"),
        ("error_500", 500, "api_error"), ("error_503", 529, "overloaded_error"),
    ])
    func upstreamErrorStatusIsAnHTTPError(name: String, _ status: Int, _ type: String) throws {
        var response: TestResponse?
        var requests = 0
        try withHarness { h, done in
            h.upstream.enqueue(try #require(Scenario.named(name)))
            h.post(body: simpleRequest) { r in
                response = r
                requests = h.upstream.received.count
                done()
            }
        }
        let r = try #require(response)
        #expect(r.status == status)
        #expect(r.header("content-type") == "application/json")
        #expect(r.json?["type"] == "error")
        #expect(r.json?["error"]?["type"]?.stringValue == type)
        #expect(r.json?["error"]?["message"]?.stringValue?.hasPrefix("Upstream error ") == true, "\(r.json ?? .null)")
        #expect(requests == 1, "only 429 is retried, and no fallback is configured")
    }

    /// The reference retries a 429 three times (four calls); then the client gets the 429 with a
    /// `retry-after` (the limiter's block after the last refusal).
    @Test func fourTooManyRequestsSurfaceAsTheRateLimitError() throws {
        var response: TestResponse?
        var requests = 0
        try withHarness { h, done in
            h.upstream.defaultScenario = try #require(Scenario.named("error_429"))
            h.post(body: simpleRequest) { r in
                response = r
                requests = h.upstream.received.count
                done()
            }
        }
        let r = try #require(response)
        #expect(requests == 4)
        #expect(r.status == 429)
        #expect(r.json?["error"]?["type"] == "rate_limit_error")
        #expect(r.json?["error"]?["message"]?.stringValue?.hasPrefix("Upstream error 429: ") == true)
        let retryAfter = try #require(r.header("retry-after"))
        #expect((Int(retryAfter) ?? 0) >= 1, "\(retryAfter)")
    }

    @Test func tooManyRequestsThenSuccessIsRetriedAndStreams() throws {
        var response: TestResponse?
        var requests = 0
        try withHarness { h, done in
            h.upstream.enqueue(try #require(Scenario.named("error_429")))
            h.upstream.enqueue(.text())
            h.post(body: simpleRequest) { r in
                response = r
                requests = h.upstream.received.count
                done()
            }
        }
        let summary = AnswerSummary(parseAnthropicSSE(try #require(response).body).events)
        #expect(requests == 2)
        #expect(summary.text == "Hello, world! How can I help?")
        #expect(summary.problems.isEmpty, "\(summary.problems)")
    }

    /// A cut after content: the content stands, then Anthropic's SSE `error` event ends the body,
    /// with no made-up `message_delta`/`message_stop`, and no retry.
    @Test func connectionCutMidStreamEndsWithAnErrorEvent() throws {
        var response: TestResponse?
        var requests = 0
        try withHarness { h, done in
            h.upstream.enqueue(try #require(Scenario.named("cut")))
            h.upstream.enqueue(.text())
            h.post(body: simpleRequest) { r in
                response = r
                requests = h.upstream.received.count
                done()
            }
        }
        let r = try #require(response)
        #expect(r.status == 200)
        let (events, trailer) = parseAnthropicSSE(r.body)
        let summary = AnswerSummary(events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.text == "Partial answer")
        #expect(summary.stopReason == nil)
        #expect(!trailer)
        #expect(events.last?.name == "error")
        #expect(summary.error?["type"] == "api_error")
        #expect(summary.error?["message"]?.stringValue?.contains("peer closed connection") == true)
        #expect(requests == 1, "content had reached the client: never retried")
    }

    /// Silence after content: the content stands and the stream ends with a timeout error event.
    @Test func stallAfterContentEndsWithAnErrorEvent() throws {
        var response: TestResponse?
        try withHarness(configure: { $0.upstream.stallTimeout = .milliseconds(200) }) { h, done in
            h.upstream.enqueue(try #require(Scenario.named("hang")))
            h.post(body: simpleRequest) { r in
                response = r
                done()
            }
        }
        let summary = AnswerSummary(parseAnthropicSSE(try #require(response).body).events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.text == "Hello wor")
        let expected = mapUpstreamError(status: nil, body: nil, transport: .streamTimedOut)
        #expect(summary.error?["message"]?.stringValue == expected.message)
        #expect(summary.error?["type"]?.stringValue == expected.type.rawValue)
    }

    /// Each recorded Claude Code request streams to completion, and the upstream receives
    /// the converted body (system prompt first, tools converted, system-role messages in place).
    @Test(arguments: [
        "reasoning-1-system-role-message", "reasoning-2-after-422", "text-1-system-role-message",
        "text-2-after-422", "tool-1-system-role-message", "tool-2-after-422", "tool-3-tool-result",
    ])
    func claudeCodeFixtureStreamsToCompletion(name: String) throws {
        let file = try Fixture.bytes("claude-cli-2.1.332/\(name).json", in: .shared)
        let body = try #require(try JSONValue.parse(file)["body"]).compactString()
        var response: TestResponse?
        var sent: RecordedRequest?
        var settings = Settings()
        try withHarness { h, done in
            settings = h.settings
            h.upstream.enqueue(.text())
            h.post("/v1/messages?beta=true", body: body) { r in
                response = r
                sent = h.upstream.received.first
                done()
            }
        }
        let summary = AnswerSummary(parseAnthropicSSE(try #require(response).body).events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.text == "Hello, world! How can I help?")
        #expect(sent?.json == (try expectedUpstreamBody(body, settings: settings)))
        #expect(sent?.json?["messages"]?.arrayValue?.first?["role"] == "system")
    }

    @Test func missingKeyForNvidiaIsAnAuthenticationError() throws {
        var response: TestResponse?
        try withHarness(configure: {
            $0.upstream.apiKey = ""
            $0.upstream.baseURL = Settings.defaultNvidiaNimBaseURL
        }) { h, done in
            h.post(body: simpleRequest) { r in
                response = r
                done()
            }
        }
        #expect(response?.status == 401)
        #expect(response?.json?["error"]?["type"] == "authentication_error")
        #expect(response?.json?["error"]?["message"]?.stringValue?.contains("NVIDIA_NIM_API_KEY") == true)
    }
}
