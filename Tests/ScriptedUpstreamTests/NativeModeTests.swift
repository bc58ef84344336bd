// The Anthropic-native mode over loopback sockets: `/v1/messages` answers the native catalog's
// compiled bytes, refusals carry Anthropic's error JSON, and requests are recorded as on the
// OpenAI path.

import EventLoop
import JSON
import Testing
import TestSupport
@testable import ScriptedUpstream

func messagesBody(model: String, stream: Bool = true) -> [UInt8] {
    let body: JSONValue = [
        "model": .string(model), "max_tokens": 64,
        "messages": [["role": "user", "content": "hi"]], "stream": .bool(stream),
    ]
    return body.compactBytes()
}

@Suite struct NativeModeTests {
    func withUpstream(_ body: (ScriptedUpstream, Int, @escaping () -> Void) throws -> Void) throws {
        let run = try runLoop(timeout: .seconds(20)) { loop in
            let upstream = ScriptedUpstream(loop: loop)
            let port = try upstream.start()
            try body(upstream, port) { upstream.shutdown {} }
        }
        run.expectClean()
    }

    static let streamedNames = ["text", "thinking", "tool", "unicode", "synthetic", "error_event"]

    @Test(arguments: streamedNames)
    func nativeScenarioBytesOnTheWire(name: String) throws {
        var exchange: Exchange?
        try withUpstream { upstream, port, finish in
            post(upstream.loop, port: port, path: "/v1/messages", body: messagesBody(model: "scenario:\(name)")) {
                exchange = $0
                finish()
            }
        }
        var scenario = try #require(Scenario.native(name))
        if case .byRequest(let choose) = scenario.behaviour { scenario = choose(["stream": true]) }
        let plan = try #require(scenario.streamPlan)
        #expect(plan.format == .anthropic)
        let result = try #require(exchange)
        let response = try #require(result.response)
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/event-stream")
        #expect(response.body == plan.body)
        #expect(result.chunkFrames.payloads == plan.writes)
        // Named Anthropic events, never OpenAI's `[DONE]`.
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(text.hasPrefix("event: message_start\ndata: {\"type\":\"message_start\""))
        #expect(!text.contains("[DONE]"))
        let frames = text.split(separator: "\n\n").map(String.init)
        #expect(frames.count == plan.chunks.count)
        for (frame, event) in zip(frames, plan.chunks) {
            let type = try #require(event["type"]?.stringValue)
            #expect(frame.hasPrefix("event: \(type)\ndata: "))
            #expect(try JSONValue.parse(Array(frame.utf8.dropFirst("event: \(type)\ndata: ".utf8.count))) == event)
        }
        let last = name == "error_event" ? "error" : "message_stop"
        #expect(plan.chunks.last?["type"]?.stringValue == last)
    }

    @Test func textWithoutStreamIsOneJSONMessage() throws {
        var exchange: Exchange?
        try withUpstream { upstream, port, finish in
            post(upstream.loop, port: port, path: "/v1/messages", body: messagesBody(model: "scenario:text", stream: false)) {
                exchange = $0
                finish()
            }
        }
        let response = try #require(exchange?.response)
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.json?["type"]?.stringValue == "message")
        #expect(response.json?["content"]?.arrayValue?.first?["text"]?.stringValue == "Hello, world! How can I help?")
    }

    @Test(arguments: [("error_400", 400, "invalid_request_error"), ("error_401", 401, "authentication_error"),
                      ("error_404", 404, "not_found_error"), ("error_429", 429, "rate_limit_error"),
                      ("error_500", 500, "api_error"), ("overloaded_529", 529, "overloaded_error")])
    func errorsAreAnthropicJSON(name: String, status: Int, type: String) throws {
        var exchange: Exchange?
        try withUpstream { upstream, port, finish in
            post(upstream.loop, port: port, path: "/v1/messages", body: messagesBody(model: "scenario:\(name)")) {
                exchange = $0
                finish()
            }
        }
        let response = try #require(exchange?.response)
        #expect(response.status == status)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.json?["type"]?.stringValue == "error")
        #expect(response.json?["error"]?["type"]?.stringValue == type)
        #expect(response.json?["error"]?["message"]?.stringValue?.isEmpty == false)
    }

    @Test func unknownScenarioIsAnAnthropicNotFound() throws {
        var exchange: Exchange?
        try withUpstream { upstream, port, finish in
            post(upstream.loop, port: port, path: "/v1/messages", body: messagesBody(model: "scenario:no_such")) {
                exchange = $0
                finish()
            }
        }
        let response = try #require(exchange?.response)
        #expect(response.status == 404)
        #expect(response.json?["error"]?["type"]?.stringValue == "not_found_error")
    }

    @Test func recordsPathKeysAndBodyAndCountsApart() throws {
        var records: [RecordedRequest] = []
        var messages = -1, completions = -1
        let body = messagesBody(model: "scenario:text")
        try withUpstream { upstream, port, finish in
            post(upstream.loop, port: port, path: "/v1/messages",
                 headers: [("Content-Type", "application/json"), ("x-api-key", "lm-key"),
                           ("Authorization", "Bearer lm-key")], body: body) { _ in
                records = upstream.received
                messages = upstream.messagesRequests
                completions = upstream.completionRequests
                finish()
            }
        }
        let record = try #require(records.first)
        #expect(records.count == 1)
        #expect(record.path == "/v1/messages")
        #expect(record.header("x-api-key") == "lm-key")
        #expect(record.header("authorization") == "Bearer lm-key")
        #expect(record.body == body)
        #expect(record.model == "scenario:text")
        #expect(messages == 1)
        #expect(completions == 0)
    }

    @Test func nativeCutEndsWithoutTheLastChunk() throws {
        var exchange: Exchange?
        try withUpstream { upstream, port, finish in
            post(upstream.loop, port: port, path: "/v1/messages", body: messagesBody(model: "scenario:cut")) {
                exchange = $0
                finish()
            }
        }
        let result = try #require(exchange)
        #expect(result.ended)
        #expect(!result.chunkFrames.terminated)
        #expect(result.bodyBytes == Scenario.nativeCut().streamPlan?.body)
    }

    @Test func syntheticTakesItsLengthFromTheName() throws {
        let plan = try #require(Scenario.native("synthetic_7")?.streamPlan)
        // message_start, block start, seven deltas, block stop, message_delta, message_stop.
        #expect(plan.chunks.count == 12)
        #expect(plan.chunks.filter { $0["type"]?.stringValue == "content_block_delta" }.count == 7)
        #expect(Scenario.native("synthetic_x") == nil)
        #expect(Scenario.native("synthetic_-1") == nil)
    }
}
