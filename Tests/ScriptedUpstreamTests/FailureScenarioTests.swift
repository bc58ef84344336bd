// The failure scenarios of issue 11 over real loopback sockets: what each puts on the wire, and
// the counters (`GET /stats`) a test of a proxy's concurrency cap reads.

import CCurl
import EventLoop
import JSON
import Testing
import TestSupport
@testable import ScriptedUpstream
@testable import UpstreamClient

private func withUpstream(_ body: (ScriptedUpstream, Int, @escaping () -> Void) throws -> Void) throws {
    let run = try runLoop { loop in
        let upstream = ScriptedUpstream(loop: loop)
        let port = try upstream.start()
        try body(upstream, port) { upstream.shutdown {} }
    }
    run.expectClean()
}

private func named(_ name: String) -> [UInt8] { chatBody(model: "scenario:\(name)") }

private func body(_ response: TestResponse?) -> String { response.map { $0.text } ?? "" }

@Suite struct FailureScenarioTests {
    @Test func htmlAndJSONInsteadOfAStream() throws {
        var results: [Exchange] = []
        try withUpstream { upstream, port, finish in
            postInTurn(upstream.loop, port: port, bodies: [named("html_502"), named("html_200"), named("json_200")]) {
                results = $0
                finish()
            }
        }
        let (bad, portal, json) = (results[0].response, results[1].response, results[2].response)
        #expect(bad?.status == 502)
        #expect(bad?.header("Content-Type") == "text/html")
        #expect(body(bad).contains("<center><h1>502 Bad Gateway</h1></center>") && body(bad).contains("nginx"))
        #expect(portal?.status == 200)
        #expect(portal?.header("Content-Type") == "text/html; charset=utf-8")
        #expect(body(portal).hasPrefix("<!DOCTYPE html>"))
        #expect(json?.status == 200)
        #expect(json?.header("Content-Type") == "application/json")
        #expect(json?.json?["object"] == "chat.completion")
        #expect(json?.json?["choices"]?.arrayValue?.first?["message"]?["content"] == "An answer that was not streamed.")
    }

    @Test func overloadedTwiceThenText() throws {
        var results: [Exchange] = []
        try withUpstream { upstream, port, finish in
            let b = named("overloaded_twice_then_text")
            postInTurn(upstream.loop, port: port, bodies: [b, b, b, b]) {
                results = $0
                finish()
            }
        }
        #expect(results.map { $0.response?.status ?? 0 } == [503, 503, 200, 200])
        #expect(results[0].response?.json?["error"]?["code"] == "overloaded")
        #expect(results[0].response?.json?["error"]?["message"]?.stringValue?.contains("overloaded") == true)
        #expect(results[2].dataLines.joined().contains("\"Hello\""))
    }

    @Test func stormOf429sAlwaysSaysRetryAfterOne() throws {
        var results: [Exchange] = []
        try withUpstream { upstream, port, finish in
            let b = named("storm_429")
            postInTurn(upstream.loop, port: port, bodies: [b, b, b]) {
                results = $0
                finish()
            }
        }
        #expect(results.map { $0.response?.status ?? 0 } == [429, 429, 429])
        #expect(results.allSatisfy { $0.response?.header("Retry-After") == "1" })
    }

    /// Each phrasing carries the numbers a reader must find in it, and is a 400 in that server's
    /// error shape.
    @Test(arguments: Scenario.contextRefusals)
    func contextRefusals(refusal: Scenario.ContextRefusal) throws {
        var exchange: Exchange?
        try withUpstream { upstream, port, finish in
            post(upstream.loop, port: port, body: named(refusal.name)) {
                exchange = $0
                finish()
            }
        }
        let response = try #require(exchange?.response)
        #expect(response.status == 400)
        #expect(response.header("Content-Type") == "application/json")
        let json = try #require(response.json)
        let message = try #require(json["error"]?["message"]?.stringValue ?? json["message"]?.stringValue)
        #expect(message.contains("\(refusal.requestedTokens)"), "\(message)")
        #expect(message.contains("\(refusal.maximumTokens)"), "\(message)")
        switch refusal.name {
        case "context_vllm":
            #expect(message == "This model's maximum context length is 131072 tokens. However, you requested 250000 tokens (249000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.")
            #expect(json["object"] == "error" && json["code"] == 400)
        case "context_trtllm":
            #expect(message == "The sum of prompt length (200000.0), query length (0) should not exceed max_num_tokens (131072)")
            #expect(json["type"] == "BadRequestError")
        case "context_openai":
            #expect(json["error"]?["code"] == "context_length_exceeded")
            #expect(message.hasPrefix("This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens."))
        default:
            #expect(message.hasPrefix("This endpoint's maximum context length is 163840 tokens. However, you requested about 200000 tokens (199000 of text input, 1000 in the output)."))
            #expect(message.contains("\"middle-out\""))
        }
    }

    /// Refused while input plus `max_tokens` is over the window, answered once `max_tokens` leaves
    /// room for the input.
    @Test func completionBudgetRefusesUntilMaxTokensFits() throws {
        let content = String(repeating: "x", count: 2000)
        func request(maxTokens: Int) -> JSONValue {
            ["model": "m", "messages": [["role": "user", "content": .string(content)]], "stream": true, "max_tokens": .int(maxTokens)]
        }
        let input = Scenario.estimatedInputTokens(request(maxTokens: 0))
        #expect(input == (request(maxTokens: 0)["messages"]!.compactBytes().count + 3) / 4)
        let window = 1000
        var results: [Exchange] = []
        try withUpstream { upstream, port, finish in
            upstream.namedScenarios["budget"] = .completionBudget(window: window)
            let over = request(maxTokens: window - input + 1)
            let fits = request(maxTokens: window - input)
            var bodies = [over, fits].map { body -> [UInt8] in
                var object = body.objectValue!
                object["model"] = "scenario:budget"
                return JSONValue.object(object).compactBytes()
            }
            bodies.append(bodies[0])
            postInTurn(upstream.loop, port: port, bodies: bodies) {
                results = $0
                finish()
            }
        }
        #expect(results.map { $0.response?.status ?? 0 } == [400, 200, 400])
        let message = results[0].response?.json?["message"]?.stringValue
        #expect(message == "This model's maximum context length is \(window) tokens. However, you requested \(window + 1) tokens (\(input) in the messages, \(window - input + 1) in the completion). Please reduce the length of the messages or completion.")
        #expect(results[1].dataLines.joined().contains("The answer fits the window."))
    }

    @Test func resetThenText() throws {
        var results: [Exchange] = []
        var dropped = -1
        try withUpstream { upstream, port, finish in
            let b = named("reset_then_text")
            postInTurn(upstream.loop, port: port, bodies: [b, b]) {
                results = $0
                dropped = upstream.droppedConnections
                finish()
            }
        }
        #expect(results[0].raw.isEmpty && results[0].ended)
        #expect(results[1].response?.status == 200)
        #expect(dropped == 1)
    }

    @Test func cutAfterContent() throws {
        var exchange: Exchange?
        try withUpstream { upstream, port, finish in
            post(upstream.loop, port: port, body: named("cut_after_content")) {
                exchange = $0
                finish()
            }
        }
        let result = try #require(exchange)
        #expect(result.ended)
        #expect(!result.chunkFrames.terminated)
        #expect(result.dataLines.joined().contains("The first part of the answer"))
        #expect(!result.dataLines.contains("[DONE]"))
    }

    /// Streams open at once peak where a test's cap should hold them; `GET /stats` reports it.
    @Test func statsCountRequestsAndPeakConcurrentStreams() throws {
        var stats: JSONValue?
        try withUpstream { upstream, port, finish in
            let loop = upstream.loop
            for _ in 0..<3 { post(loop, port: port, body: named("hang")) { _ in } }
            whenTrue(loop, { upstream.activeStreams == 3 }) {
                post(loop, port: port, path: "/stats", method: "GET", body: []) { exchange in
                    stats = exchange.response?.json
                    finish()
                }
            }
        }
        #expect(stats == (try JSONValue.parse(#"{"completion_requests":3,"messages_requests":0,"scenarios_played":3,"active_streams":3,"peak_active_streams":3,"ended_streams":0,"dropped_connections":0}"#)))
    }
}

extension HTTP2Tests {
    /// A dropped connection reaches curl, the proxy's client, as a failed transfer with no status
    /// over both protocols (HTTP/2: the stream is reset before its headers).
    @Test(arguments: [UpstreamHTTPVersion.http1_1, .http2])
    func droppedConnectionReachesCurlBeforeAnyByte(version: UpstreamHTTPVersion) throws {
        let answer = CurlAnswer()
        var dropped = -1
        try withUpstreams(alsoHTTP1: true) { h2, h1, curl, finish in
            let upstream = version == .http2 ? h2 : h1!
            upstream.enqueue(.dropConnection())
            answer.onComplete = { _ in
                dropped = upstream.droppedConnections
                finish()
            }
            send(curl, port: upstream.port, version: version, into: answer)
        }
        guard case .some(.some) = answer.failure else {
            Issue.record("expected a failed transfer, got \(String(describing: answer.failure))")
            return
        }
        #expect(answer.status == nil)
        #expect(answer.body.isEmpty)
        #expect(dropped == 1)
    }
}
