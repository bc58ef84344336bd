// The Anthropic-native pass-through over real sockets: a client, an HTTP server whose handler
// hands the request to `AnthropicPassthrough`, and the scripted upstream's native mode, on one loop.

import EventLoop
import Foundation
import HTTPServer
import JSON
@testable import NIMProvider
import ScriptedUpstream
import StreamTranslation
import TestSupport
import Testing
import UpstreamClient

/// Loop-confined.
final class PassthroughHarness {
    let loop: EventLoop
    let upstream: ScriptedUpstream
    let curl: CurlMulti
    let server: HTTPServer
    private(set) var port = 0
    var native: NativeUpstream
    /// The provider's model that replaces the client's.
    var model = "scenario:text"
    var outcomes: [AnthropicPassthrough.Outcome] = []
    /// The latest pass-through, for its counters.
    var last: AnthropicPassthrough?

    init(loop: EventLoop, apiKey: String? = nil, baseURL: ((Int) -> String)? = nil) throws {
        self.loop = loop
        upstream = ScriptedUpstream(loop: loop)
        let upstreamPort = try upstream.start()
        native = NativeUpstream(baseURL: baseURL?(upstreamPort) ?? "http://127.0.0.1:\(upstreamPort)/v1", apiKey: apiKey,
                                connectTimeout: .seconds(2))
        curl = try CurlMulti(loop: loop)
        var config = HTTPServerConfig()
        config.port = 0
        var handle: ((HTTPRequest, HTTPResponder) -> Void)?
        server = HTTPServer(loop: loop, config: config) { handle?($0, $1) }
        handle = { [unowned self] request, responder in
            guard let pass = AnthropicPassthrough(
                loop: loop, curl: curl, upstream: native, body: request.body, model: model, responder: responder,
                onFinish: { [unowned self] in outcomes.append($0) })
            else {
                responder.respond(status: 400)
                return
            }
            last = pass
            pass.start()
        }
        port = try server.start()
    }

    func shutdown() {
        last = nil
        server.beginShutdown(timeout: .milliseconds(500)) { [self] in
            curl.close()
            upstream.shutdown {}
        }
    }
}

func withPassthrough(
    apiKey: String? = nil, baseURL: ((Int) -> String)? = nil, timeout: Duration = .seconds(30),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (PassthroughHarness, _ done: @escaping () -> Void) throws -> Void
) throws {
    try runHarness(timeout: timeout, sourceLocation: sourceLocation, make: {
        try PassthroughHarness(loop: $0, apiKey: apiKey, baseURL: baseURL)
    }, body)
}

extension PassthroughHarness: LoopHarness {}

/// A client body in a layout no serialiser of ours writes: spaces around the colons, `model`
/// in the middle, a nested `model` that must stay, and escapes that must stay as they are.
func clientBody(stream: Bool = true) -> String {
    #"{ "max_tokens" : 64,  "model" : "claude-sonnet-4-5" ,"stream":\#(stream), "metadata": {"model": "keep-me"},"#
        + #" "messages":[{"role":"user","content":"h\u00e9llo \"quoted\" {not json}"}] }"#
}

@Suite(.serialized) struct PassthroughTests {
    @Test(arguments: ["text", "thinking", "tool", "unicode", "error_event"])
    func streamsAreByteIdenticalAndOnlyTheModelChanges(name: String) throws {
        var response: TestResponse?
        var records: [RecordedRequest] = []
        var outcomes: [AnthropicPassthrough.Outcome] = []
        try withPassthrough { h, done in
            h.model = "scenario:\(name)"
            LoopHTTPClient.fetch(h.loop, port: h.port, method: "POST", path: "/v1/messages",
                                 headers: [("Content-Type", "application/json")], body: Array(clientBody().utf8)) {
                response = $0
                records = h.upstream.received
                outcomes = h.outcomes
                done()
            }
        }
        var scenario = try #require(Scenario.native(name))
        if case .byRequest(let choose) = scenario.behaviour { scenario = choose(["stream": true]) }
        let plan = try #require(scenario.streamPlan)
        let got = try #require(response)
        #expect(got.status == 200)
        #expect(got.header("Content-Type") == "text/event-stream")
        #expect(got.body == plan.body)
        #expect(outcomes == [.relayed(status: 200)])
        let record = try #require(records.first)
        #expect(records.count == 1)
        #expect(record.path == "/v1/messages")
        let expectedBody = clientBody().replacingOccurrences(of: #""claude-sonnet-4-5""#, with: "\"scenario:\(name)\"")
        #expect(record.body == Array(expectedBody.utf8))
        // No key configured: none is sent.
        #expect(record.header("x-api-key") == nil)
        #expect(record.header("authorization") == nil)
    }

    @Test func theKeyGoesInBothHeadersWhenSet() throws {
        var records: [RecordedRequest] = []
        try withPassthrough(apiKey: "lm-secret") { h, done in
            LoopHTTPClient.fetch(h.loop, port: h.port, method: "POST", path: "/v1/messages",
                                 headers: [("Content-Type", "application/json")], body: Array(clientBody().utf8)) { _ in
                records = h.upstream.received
                done()
            }
        }
        let record = try #require(records.first)
        #expect(record.header("x-api-key") == "lm-secret")
        #expect(record.header("authorization") == "Bearer lm-secret")
        #expect(record.header("anthropic-version") == "2023-06-01")
    }

    /// A base URL without `/v1` reaches the same endpoint.
    @Test func aBaseWithoutV1ReachesV1Messages() throws {
        var records: [RecordedRequest] = []
        var status: Int?
        try withPassthrough(baseURL: { "http://127.0.0.1:\($0)/" }) { h, done in
            LoopHTTPClient.fetch(h.loop, port: h.port, method: "POST", path: "/v1/messages",
                                 headers: [("Content-Type", "application/json")], body: Array(clientBody().utf8)) {
                status = $0?.status
                records = h.upstream.received
                done()
            }
        }
        #expect(status == 200)
        #expect(records.map(\.path) == ["/v1/messages"])
    }

    @Test func aWholeJSONAnswerIsRelayedAsItCame() throws {
        var response: TestResponse?
        try withPassthrough { h, done in
            LoopHTTPClient.fetch(h.loop, port: h.port, method: "POST", path: "/v1/messages",
                                 headers: [("Content-Type", "application/json")], body: Array(clientBody(stream: false).utf8)) {
                response = $0
                done()
            }
        }
        guard case .byRequest(let choose) = Scenario.nativeText().behaviour,
              case .httpError(let reply) = choose(["stream": false]).behaviour
        else {
            Issue.record("the native text scenario answers by request")
            return
        }
        let got = try #require(response)
        #expect(got.status == 200)
        #expect(got.header("Content-Type") == "application/json")
        #expect(got.body == reply.body)
    }

    @Test(arguments: [("error_400", 400, "invalid_request_error"), ("error_401", 401, "authentication_error"),
                      ("error_404", 404, "not_found_error"), ("error_429", 429, "rate_limit_error"),
                      ("error_500", 500, "api_error"), ("overloaded_529", 529, "overloaded_error")])
    func anUpstreamErrorBeforeContentIsMapped(name: String, status: Int, type: String) throws {
        var response: TestResponse?
        var outcomes: [AnthropicPassthrough.Outcome] = []
        try withPassthrough { h, done in
            h.model = "scenario:\(name)"
            LoopHTTPClient.fetch(h.loop, port: h.port, method: "POST", path: "/v1/messages",
                                 headers: [("Content-Type", "application/json")], body: Array(clientBody().utf8)) {
                response = $0
                outcomes = h.outcomes
                done()
            }
        }
        let got = try #require(response)
        #expect(got.status == status)
        #expect(got.header("Content-Type") == "application/json")
        #expect(got.json?["type"]?.stringValue == "error")
        #expect(got.json?["error"]?["type"]?.stringValue == type)
        // The upstream's own words stay in the message.
        let upstreamMessage = try #require(Scenario.native(name).flatMap { scenario -> String? in
            guard case .httpError(let reply) = scenario.behaviour else { return nil }
            return (try? JSONValue.parse(reply.body))?["error"]?["message"]?.stringValue
        })
        #expect(got.json?["error"]?["message"]?.stringValue == "Upstream error \(status): \(upstreamMessage)")
        guard case .failed(let error)? = outcomes.first else {
            Issue.record("outcome \(outcomes)")
            return
        }
        #expect(error.status == status)
    }

    @Test func noUpstreamIsAConnectionError() throws {
        var response: TestResponse?
        // A port that was bound and closed again: nothing listens there.
        let closedPort = try closedLoopbackPort()
        try withPassthrough(baseURL: { _ in "http://127.0.0.1:\(closedPort)/v1" }) { h, done in
            LoopHTTPClient.fetch(h.loop, port: h.port, method: "POST", path: "/v1/messages",
                                 headers: [("Content-Type", "application/json")], body: Array(clientBody().utf8)) {
                response = $0
                done()
            }
        }
        let expected = mapUpstreamError(status: nil, body: nil, transport: .connectionFailed)
        let got = try #require(response)
        #expect(got.status == expected.status)
        #expect(got.json == expected.anthropicBody)
    }

    /// A stream that breaks after content keeps what was relayed and ends with Anthropic's
    /// `error` event, as the translating path does.
    @Test func aBrokenStreamEndsWithAnErrorEvent() throws {
        var raw: [UInt8] = []
        try withPassthrough { h, done in
            h.model = "scenario:cut"
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.port) { client in
                client.send(rawRequest(clientBody()))
                poll(h.loop, until: { client.ended || client.tail.contains("event: error") }) {
                    raw = client.received
                    client.close()
                    done()
                }
            }
        }
        let body = try #require(chunkFrames(raw)).flatMap { $0 }
        let plan = try #require(Scenario.nativeCut().streamPlan)
        #expect(body.starts(with: plan.body))
        let expected = mapUpstreamError(status: nil, body: nil, transport: .streamInterrupted(detail: nil))
        #expect(Array(body.dropFirst(plan.body.count)) == AnthropicSSE.error(type: expected.type.rawValue, message: expected.message))
    }

    @Test func aClientThatLeavesCancelsTheUpstream() throws {
        var whileConnected = 0
        var after = -1
        var outcomes: [AnthropicPassthrough.Outcome] = []
        try withPassthrough { h, done in
            h.model = "scenario:hang"
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.port) { client in
                client.send(rawRequest(clientBody()))
                poll(h.loop, until: { client.text.contains("Thinking it over") && h.upstream.activeStreams == 1 }) {
                    whileConnected = h.upstream.activeStreams
                    client.connection.close()
                    poll(h.loop, until: { h.upstream.activeStreams == 0 && !h.outcomes.isEmpty }) {
                        after = h.upstream.activeStreams
                        outcomes = h.outcomes
                        done()
                    }
                }
            }
        }
        #expect(whileConnected == 1)
        #expect(after == 0)
        #expect(outcomes == [.clientGone])
    }

    /// Shutdown: a stream under way ends with the SSE `error` event the translating path sends.
    @Test func abortAfterContentEndsWithTheShutdownError() throws {
        var raw: [UInt8] = []
        var outcomes: [AnthropicPassthrough.Outcome] = []
        var upstreamAfter = -1
        try withPassthrough { h, done in
            h.model = "scenario:hang"
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.port) { client in
                client.send(rawRequest(clientBody()))
                poll(h.loop, until: { client.text.contains("Thinking it over") }) {
                    h.last?.abort()
                    poll(h.loop, until: { client.tail.hasSuffix("0\r\n\r\n") && h.upstream.activeStreams == 0 }) {
                        raw = client.received
                        outcomes = h.outcomes
                        upstreamAfter = h.upstream.activeStreams
                        client.close()
                        done()
                    }
                }
            }
        }
        let body = try #require(chunkFrames(raw)).flatMap { $0 }
        let plan = try #require(Scenario.nativeHang().streamPlan)
        #expect(body.starts(with: plan.body))
        #expect(Array(body.dropFirst(plan.body.count)) == AnthropicSSE.error(type: "api_error", message: "The server is shutting down."))
        #expect(outcomes.count == 1)
        #expect(upstreamAfter == 0)
    }

    /// A client that stops reading pauses the upstream transfer; once it reads again every byte
    /// arrives, identical to what the upstream sent.
    @Test func aSlowClientPausesTheUpstream() throws {
        var pausesWhileStalled = 0
        var raw: [UInt8] = []
        let big = Scenario.nativeSynthetic(chunkCount: 48_000, chunkBytes: 500)
        try withPassthrough { h, done in
            h.upstream.namedScenarios["big"] = big
            h.model = "scenario:big"
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.port, reading: false) { client in
                client.send(rawRequest(clientBody()))
                poll(h.loop, limitMs: 10_000, until: { (h.last?.pauses ?? 0) > 0 }) {
                    pausesWhileStalled = h.last?.pauses ?? 0
                    client.startReading()
                    poll(h.loop, limitMs: 30_000, until: { client.tail.contains("message_stop") && client.tail.hasSuffix("0\r\n\r\n") }) {
                        raw = client.received
                        client.close()
                        done()
                    }
                }
            }
        }
        #expect(pausesWhileStalled > 0, "the upstream transfer was paused")
        let body = try #require(chunkFrames(raw)).flatMap { $0 }
        #expect(body == big.streamPlan?.body)
    }
}

/// A loopback port nothing listens on.
func closedLoopbackPort() throws -> Int {
    var port = 0
    let run = try runLoop { loop in
        let server = HTTPServer(loop: loop, config: { var c = HTTPServerConfig(); c.port = 0; return c }()) { _, r in r.respond(status: 500) }
        port = try server.start()
        server.beginShutdown(timeout: .zero) {}
    }
    run.expectClean()
    return port
}

@Suite struct ModelSpliceTests {
    func splice(_ body: String, _ model: String = "local/qwen") -> String? {
        AnthropicPassthrough.replacingModel(in: Array(body.utf8), with: model).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func onlyTheTopLevelValueChanges() {
        #expect(splice(#"{"model":"claude","x":1}"#) == #"{"model":"local/qwen","x":1}"#)
        #expect(splice(" {\n \"a\" : [1, {\"model\": \"n\"}],\t\"model\" :\"claude\" , \"b\":\"}\\\"\" } ")
                == " {\n \"a\" : [1, {\"model\": \"n\"}],\t\"model\" :\"local/qwen\" , \"b\":\"}\\\"\" } ")
        // A value that is no string is replaced all the same.
        #expect(splice(#"{"model":42}"#) == #"{"model":"local/qwen"}"#)
        #expect(splice(#"{"model":"c"}"#, "a\"b") == #"{"model":"a\"b"}"#)
    }

    @Test func theScannerFindsTheRangeOrDeclines() {
        func range(_ s: String) -> Range<Int>? { AnthropicPassthrough.modelValueRange(in: Array(s.utf8)) }
        #expect(range(#"{"model":"c"}"#) == 9..<12)
        #expect(range(#"{"a":{"model":"c"}}"#) == nil)
        #expect(range(#"{"model":"c","model":"d"}"#) == nil)
        #expect(range(#"{"mod\u0065l":"c"}"#) == nil)
        #expect(range(#"{"model":"c""#) == nil)
        #expect(range(#"{"model":"c"} x"#) == nil)
        #expect(range(#"["model"]"#) == nil)
        #expect(range(#"{"model":"unterminated}"#) == nil)
    }

    @Test func whatTheScannerDeclinesGoesThroughTheParser() {
        // An escaped key spelling `model`: the parser sees one `model` and sets it.
        let escaped = splice(#"{"mod\u0065l":"c","x":1}"#).flatMap { try? JSONValue.parse(Array($0.utf8)) }
        #expect(escaped?["model"]?.stringValue == "local/qwen")
        #expect(escaped?["x"]?.intValue == 1)
        // No `model` at all: one is added.
        let added = splice(#"{"x":1}"#).flatMap { try? JSONValue.parse(Array($0.utf8)) }
        #expect(added?["model"]?.stringValue == "local/qwen")
        #expect(splice("[1]") == nil)
        #expect(splice("not json") == nil)
    }

    @Test func baseURLs() {
        #expect(AnthropicPassthrough.messagesURL(base: "http://localhost:1234/v1") == "http://localhost:1234/v1/messages")
        #expect(AnthropicPassthrough.messagesURL(base: "http://localhost:1234/v1/") == "http://localhost:1234/v1/messages")
        #expect(AnthropicPassthrough.messagesURL(base: "http://localhost:8080") == "http://localhost:8080/v1/messages")
        #expect(AnthropicPassthrough.messagesURL(base: "http://localhost:8080/") == "http://localhost:8080/v1/messages")
        #expect(AnthropicPassthrough.messagesURL(base: "http://h/v1/messages") == "http://h/v1/messages")
        #expect(AnthropicPassthrough.messagesURL(base: "http://h/proxy") == "http://h/proxy/v1/messages")
    }
}
