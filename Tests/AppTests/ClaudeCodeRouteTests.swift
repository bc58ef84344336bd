import EventLoop
import JSON
import ProxyConfig
import App
import TestSupport
import Testing

/// The SSE events of a body, as (event name, data) pairs.
func sseEvents(_ text: String) -> [(event: String, data: JSONValue?)] {
    text.split(separator: "\n\n").compactMap { frame in
        var event = ""
        var data: JSONValue?
        for line in frame.split(separator: "\n") {
            if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data = try? JSONValue.parse(Array(line.dropFirst(6).utf8)) }
        }
        return event.isEmpty ? nil : (event, data)
    }
}

/// What current Claude Code asks besides its turns: /api/hello, /v1/models, probes, titles.
@Suite(.serialized) struct ClaudeCodeRouteTests {
    @Test func apiHelloAnswersAtOnce() throws {
        // HEAD is served by the same route (the black-box tests send it on a raw socket).
        try withApp([("GET", "/api/hello", "")]) { r in
            #expect(r[0]?.status == 200)
        }
    }

    @Test func modelsListTiersAndConfiguredModels() throws {
        var settings = Settings()
        settings.upstream.model = "moonshotai/kimi-k2-thinking"
        settings.upstream.modelHaiku = "meta/llama-3.1-8b-instruct"
        try withApp(settings: settings, [
            ("GET", "/v1/models", ""), ("GET", "/v1/models?limit=2", ""), ("GET", "/v1/models?after_id=claude-haiku", ""),
            ("GET", "/v1/models/claude-sonnet", ""), ("GET", "/v1/models/moonshotai/kimi-k2-thinking", ""),
            ("GET", "/v1/models/meta%2Fllama-3.1-8b-instruct", ""), ("GET", "/v1/models/gpt-4", ""),
            ("GET", "/v1/models?limit=0", ""),
        ]) { r in
            #expect(r[0]?.status == 200)
            let data = r[0]?.json?["data"]?.arrayValue ?? []
            #expect(data.compactMap { $0["id"]?.stringValue } == [
                "claude-opus", "claude-sonnet", "claude-haiku", "moonshotai/kimi-k2-thinking", "meta/llama-3.1-8b-instruct",
            ])
            for model in data {
                #expect(model["type"] == "model")
                #expect(model["display_name"]?.stringValue?.isEmpty == false)
                let created = model["created_at"]?.stringValue ?? ""
                // RFC 3339: date, `T`, time, zone.
                #expect(created.count == 20 && created.dropFirst(10).first == "T" && created.hasSuffix("Z"))
            }
            #expect(data[2]["display_name"] == "Claude Haiku (meta/llama-3.1-8b-instruct)")
            #expect(r[0]?.json?["has_more"] == false)
            #expect(r[0]?.json?["first_id"] == "claude-opus")
            #expect(r[0]?.json?["last_id"] == "meta/llama-3.1-8b-instruct")
            #expect(r[1]?.json?["data"]?.arrayValue?.count == 2)
            #expect(r[1]?.json?["has_more"] == true)
            #expect(r[1]?.json?["last_id"] == "claude-sonnet")
            #expect(r[2]?.json?["first_id"] == "moonshotai/kimi-k2-thinking")
            #expect(r[3]?.status == 200)
            #expect(r[3]?.json?["id"] == "claude-sonnet")
            #expect(r[4]?.json?["id"] == "moonshotai/kimi-k2-thinking")
            #expect(r[5]?.json?["id"] == "meta/llama-3.1-8b-instruct")
            #expect(r[6]?.status == 404)
            #expect(errorType(r[6]) == "not_found_error")
            #expect(r[7]?.status == 400)
        }
    }

    @Test func sessionTitleIsStreamedAsAnthropicSSE() throws {
        let body = try Fixture.text("claude-cli-2.1.337-interactive/session-title.json", in: .shared)
        let recorded = try JSONValue.parse(Array(body.utf8))
        let requestBody = try #require(recorded["body"]).compactString()
        try withApp([("POST", "/v1/messages?beta=true", requestBody)]) { r in
            #expect(r[0]?.status == 200)
            #expect(r[0]?.header("content-type") == "text/event-stream")
            let events = sseEvents(r[0]?.text ?? "")
            #expect(events.map(\.event) == [
                "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
                "message_stop",
            ])
            let text = events[2].data?["delta"]?["text"]?.stringValue ?? ""
            let title = (try? JSONValue.parse(Array(text.utf8)))?["title"]?.stringValue ?? ""
            #expect(!title.isEmpty)
            // Usage is counted: the request's tokens in message_start, the answer's in message_delta.
            #expect((events[0].data?["message"]?["usage"]?["input_tokens"]?.intValue ?? 0) > 500)
            #expect((events[4].data?["usage"]?["output_tokens"]?.intValue ?? 0) > 2)
            #expect(events[4].data?["delta"]?["stop_reason"] == "end_turn")
        }
    }

    @Test func oneTokenProbesAnsweredForClaudeAndConfiguredModelsOnly() throws {
        func probe(_ model: String, _ text: String, stream: Bool = false) -> String {
            JSONValue.object(JSONObject([
                ("model", .string(model)), ("max_tokens", 1), ("stream", .bool(stream)),
                ("messages", [["role": "user", "content": [["type": "text", "text": .string(text), "cache_control": ["type": "ephemeral"]]]]]),
            ])).compactString()
        }
        // No upstream in this app: a request that is not answered locally gets 501.
        try withApp([
            ("POST", "/v1/messages", probe("claude-opus-5-5", "quota")),
            ("POST", "/v1/messages", probe("claude-opus-5-5", ".")),
            ("POST", "/v1/messages", probe("claude-haiku-4-5", "Hi", stream: true)),
            ("POST", "/v1/messages", probe("moonshotai/kimi-k2-thinking", "test")),
            ("POST", "/v1/messages", probe("moonshotai/kimi-k2-thinkin", "test")),
        ]) { r in
            #expect(firstText(r[0]) == "Quota check passed.")
            #expect(r[1]?.status == 200)
            #expect(r[1]?.json?["stop_reason"] == "max_tokens")
            #expect(r[2]?.header("content-type") == "text/event-stream")
            #expect(sseEvents(r[2]?.text ?? "").last?.event == "message_stop")
            #expect(r[3]?.status == 200)
            #expect(r[4]?.status == 501)
        }
    }

    @Test func probesGoUpstreamWhenSwitchedOff() throws {
        var settings = Settings()
        settings.localAnswers.networkProbeMock = false
        let body = #"{"model":"claude-opus-5-5","max_tokens":1,"messages":[{"role":"user","content":"quota"}]}"#
        try withApp(settings: settings, [("POST", "/v1/messages", body)]) { r in
            #expect(r[0]?.status == 501)
        }
    }
}
