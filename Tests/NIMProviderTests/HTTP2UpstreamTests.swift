// The proxy with UPSTREAM_HTTP_VERSION=2 against the scripted upstream speaking HTTP/2 with prior
// knowledge: what an Anthropic client receives is the same as over HTTP/1.1.
//
// libcurl before 8.0 fails any transfer that reuses a prior-knowledge connection (curl issue
// 10634), so the test of several requests over one connection runs only with a fixed libcurl.

import AnthropicAPI
import CCurl
import EventLoop
import JSON
import NIMProvider
import ProxyConfig
import App
import ScriptedUpstream
import TestSupport
import UpstreamClient
import Testing

@Suite(.serialized) struct HTTP2UpstreamTests {
    /// A text answer, tool calls and thinking each arrive as the scenario's expected answer, and
    /// the upstream received the request body the builder makes over HTTP/2.
    @Test(arguments: ["text", "tool", "two_tools", "reasoning"])
    func scenarioStreamsItsAnswerOverHTTP2(name: String) throws {
        let scenario = try #require(Scenario.named(name))
        let expected = try #require(scenario.expected)
        var response: TestResponse?
        var received: [RecordedRequest] = []
        var connections = -1
        var settings = Settings()
        try withHarness(http2: true) { h, done in
            settings = h.settings
            h.upstream.enqueue(scenario)
            h.post(body: simpleRequest) { r in
                response = r
                received = h.upstream.received
                connections = h.upstream.connectionsAccepted
                done()
            }
        }
        let r = try #require(response)
        #expect(r.status == 200)
        let (events, done) = parseAnthropicSSE(r.body)
        #expect(done, "[DONE] trailer")
        let summary = AnswerSummary(events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.thinking == expected.thinking)
        #expect(summary.text == expected.text)
        #expect(summary.stopReason == expected.stopReason)
        if let tokens = expected.outputTokens { #expect(summary.outputTokens == tokens) }
        #expect(summary.tools.map(\.name) == expected.tools.map(\.name))
        #expect(summary.tools.map(\.input) == expected.tools.map { Optional($0.input) })
        for (got, want) in zip(summary.tools, expected.tools) where want.id != nil {
            #expect(got.id == want.id)
        }

        #expect(received.count == 1)
        let sent = try #require(received.first)
        #expect(sent.path == "/v1/chat/completions")
        #expect(sent.header("authorization") == "Bearer test-key")
        #expect(sent.json == (try expectedUpstreamBody(simpleRequest, settings: settings)))
        #expect(connections == 1)
    }

    /// A cut upstream stream fails that transfer only; the proxy reports it like a dropped connection.
    @Test func cutStreamEndsTheAnswerWithTheError() throws {
        var response: TestResponse?
        try withHarness(http2: true) { h, done in
            h.upstream.enqueue(.cut())
            h.post(body: simpleRequest) { r in
                response = r
                done()
            }
        }
        let summary = AnswerSummary(parseAnthropicSSE(try #require(response).body).events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.text == "Partial answer")
        #expect(summary.error?["message"]?.stringValue?.contains("peer closed connection") == true)
    }

    /// Requests one after another share the upstream connection.
    @Test(.enabled(if: curl_version_info(CURLVERSION_FIRST).pointee.version_num >= 0x08_00_00,
                   "libcurl < 8.0 cannot reuse a prior-knowledge connection"))
    func consecutiveRequestsShareOneConnection() throws {
        var answers: [AnswerSummary] = []
        var connections = -1
        try withHarness(http2: true) { h, done in
            h.upstream.defaultScenario = .tool()
            func next() {
                h.post(body: simpleRequest) { r in
                    answers.append(AnswerSummary(parseAnthropicSSE(r?.body ?? []).events))
                    if answers.count < 3 {
                        next()
                    } else {
                        connections = h.upstream.connectionsAccepted
                        done()
                    }
                }
            }
            next()
        }
        #expect(answers.count == 3)
        #expect(answers.allSatisfy { $0.problems.isEmpty && $0.tools.map(\.name) == Scenario.tool().expected?.tools.map(\.name) })
        #expect(connections == 1)
    }
}

@Suite struct HTTP2StartupCheckTests {
    /// `UPSTREAM_HTTP_VERSION=2` over plain HTTP is refused at startup where libcurl cannot reuse
    /// such connections, and never for the default or over TLS.
    @Test func priorKnowledgeNeedsANewEnoughLibcurl() {
        var s = Settings()
        s.upstream.baseURL = "http://127.0.0.1:9/v1"
        #expect(NIMProvider.startupProblem(s) == nil)
        s.upstream.httpVersion = .http2
        let old = libcurlVersion.major < 8
        #expect((NIMProvider.startupProblem(s) != nil) == old)
        if old { #expect(NIMProvider.startupProblem(s)?.contains("UPSTREAM_HTTP_VERSION=2") == true) }
        s.upstream.baseURL = "https://nim.example/v1"
        #expect(NIMProvider.startupProblem(s) == nil)
    }

    @Test func unreadableCAFileIsRefusedAtStartup() {
        var s = Settings()
        s.upstream.caFile = "/nonexistent/ca.pem"
        #expect(NIMProvider.startupProblem(s)?.hasPrefix("UPSTREAM_CA_FILE=/nonexistent/ca.pem cannot be read") == true)
        s.upstream.caFile = Fixture.repositoryPath("Package.swift")
        #expect(NIMProvider.startupProblem(s) == nil)
    }
}
