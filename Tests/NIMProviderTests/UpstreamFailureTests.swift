// When the upstream fails, over real sockets against the scripted upstream: before any content the
// client gets the HTTP error Anthropic would send; after content, an SSE `error` event. A reset is
// retried once on a new connection, an overloaded model falls back to the next, the concurrency
// cap holds, and `stream: false` gets one JSON message.

import EventLoop
import Foundation
import JSON
import Metrics
import Logging
@testable import NIMProvider
import ProxyConfig
import ScriptedUpstream
import StreamTranslation
import TestSupport
import Testing

/// Log lines written to a temporary file and read back.
final class CapturedLog {
    let path: String
    let fd: Int32

    init() {
        path = NSTemporaryDirectory() + "nim-proxy-test-log-\(UUID().uuidString)"
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    }

    var logger: Logger { Logger(minimum: .info, fileDescriptor: fd) }

    func lines(_ message: String) -> [JSONValue] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
            .filter { $0["msg"]?.stringValue == message }
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

/// A complete (non-streamed) upstream answer with any status, type and body.
func rawReply(status: Int, contentType: String, body: String) -> Scenario {
    Scenario(name: "raw_\(status)", behaviour: .httpError(HTTPErrorReply(
        status: status, headers: [("Content-Type", contentType)], body: Array(body.utf8))))
}

let htmlPage = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"

/// Posts one request and records the response and how many requests the upstream saw.
func exchange(
    configure: @escaping (inout Settings) -> Void = { _ in }, log: Logger = .silent, body: String = simpleRequest,
    _ setUp: (ScriptedUpstream) -> Void
) throws -> (response: TestResponse, upstreamRequests: [RecordedRequest]) {
    var response: TestResponse?
    var received: [RecordedRequest] = []
    try withHarness(log: log, configure: configure) { h, done in
        setUp(h.upstream)
        h.post(body: body) { r in
            response = r
            received = h.upstream.received
            done()
        }
    }
    return (try #require(response), received)
}

/// An Anthropic error answer: its status, and the error object.
func anthropicError(_ r: TestResponse) -> (type: String?, message: String?) {
    #expect(r.header("content-type") == "application/json")
    #expect(r.json?["type"] == "error")
    return (r.json?["error"]?["type"]?.stringValue, r.json?["error"]?["message"]?.stringValue)
}

let streamingFalseRequest =
    #"{"model":"claude-3-5-sonnet-20241022","max_tokens":1024,"stream":false,"messages":[{"role":"user","content":"Hi"}]}"#

@Suite(.serialized) struct UpstreamFailureTests {
    /// A proxy's HTML error page is the error the mapping makes of it, as an HTTP error: never a
    /// 200 stream with the page as the answer's text.
    @Test func htmlBadGatewayIsAnHTTPError() throws {
        let (r, sent) = try exchange { $0.enqueue(rawReply(status: 502, contentType: "text/html", body: htmlPage)) }
        let expected = mapUpstreamError(status: 502, body: htmlPage, transport: nil)
        #expect(r.status == expected.status)
        #expect(r.status >= 500)
        let error = anthropicError(r)
        #expect(error.type == expected.type.rawValue)
        #expect(error.message == expected.message)
        #expect(sent.count == 1)
    }

    /// A 200 that is not an event stream (a captive portal's page) is an `api_error`, never an
    /// empty answer.
    @Test(arguments: [
        ("text/html", "<html><body>Sign in to the network</body></html>", "Sign in to the network"),
        ("application/json", #"{"ok":true}"#, #"{"ok":true}"#),
    ])
    func twoHundredThatIsNotAnEventStreamIsAnAPIError(contentType: String, body: String, shown: String) throws {
        let (r, _) = try exchange { $0.enqueue(rawReply(status: 200, contentType: contentType, body: body)) }
        #expect(r.status == 500)
        let error = anthropicError(r)
        #expect(error.type == "api_error")
        #expect(error.message?.contains("with Content-Type \(contentType) instead of an event stream") == true, "\(error)")
        // The page's text, not its markup.
        #expect(error.message?.contains(shown) == true, "\(error)")
        #expect(error.message?.contains("<html>") == false)
    }

    /// The connection breaks after the head, before any content: one retry on a new connection,
    /// which answers; the client sees only the answer.
    @Test func resetBeforeContentIsRetriedOnceOnANewConnection() throws {
        var connections = 0
        var response: TestResponse?
        var requests = 0
        try withHarness { h, done in
            h.upstream.enqueue(Scenario(name: "reset", behaviour: .stream(StreamPlan(chunks: [], ending: .cut))))
            h.upstream.enqueue(.text())
            h.post(body: simpleRequest) { r in
                response = r
                requests = h.upstream.received.count
                connections = h.upstream.connectionsAccepted
                done()
            }
        }
        let r = try #require(response)
        #expect(r.status == 200)
        let summary = AnswerSummary(parseAnthropicSSE(r.body).events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.text == "Hello, world! How can I help?")
        #expect(requests == 2)
        #expect(connections == 2, "the retry opened a new connection")
    }

    /// Two resets in a row: the one retry is spent, and the client gets the connection error.
    @Test func resetTwiceIsAnHTTPError() throws {
        let (r, sent) = try exchange {
            $0.enqueue(Scenario(name: "reset", behaviour: .stream(StreamPlan(chunks: [], ending: .cut))))
            $0.enqueue(Scenario(name: "reset", behaviour: .stream(StreamPlan(chunks: [], ending: .cut))))
            $0.enqueue(.text())
        }
        #expect(sent.count == 2)
        let expected = mapUpstreamError(status: nil, body: nil, transport: .streamInterrupted(detail: nil))
        #expect(r.status == expected.status)
        #expect(anthropicError(r).type == expected.type.rawValue)
    }

    /// No upstream at all: the connection error after the one retry, as an HTTP error.
    @Test func noUpstreamIsAConnectionError() throws {
        let (r, _) = try exchange(configure: { $0.upstream.baseURL = "http://127.0.0.1:1/v1" }) { _ in }
        let expected = mapUpstreamError(status: nil, body: nil, transport: .connectionFailed)
        #expect(r.status == expected.status)
        #expect(anthropicError(r).message == expected.message)
    }

    /// Silence after the head and before any content: the timeout as an HTTP error.
    @Test func stallBeforeContentIsAnErrorStatus() throws {
        let (r, _) = try exchange(configure: { $0.upstream.stallTimeout = .milliseconds(200) }) {
            $0.enqueue(Scenario(name: "silent", behaviour: .stream(StreamPlan(chunks: [Chunk.role()], ending: .hang))))
        }
        let expected = mapUpstreamError(status: nil, body: nil, transport: .streamTimedOut)
        #expect(r.status == expected.status)
        let error = anthropicError(r)
        #expect(error.type == expected.type.rawValue)
        #expect(error.message == expected.message)
    }

    /// An error chunk before content is the error as an HTTP status too.
    @Test func errorChunkBeforeContentIsAnHTTPError() throws {
        let (r, _) = try exchange {
            $0.enqueue(.stream(chunks: [Chunk.role(), ["error": ["message": "model crashed"]]]))
        }
        #expect(r.status == 500)
        #expect(anthropicError(r).message == "model crashed")
    }

    /// A malformed line ends the attempt there, even when `[DONE]` follows in the same read: after
    /// content, an error event; before content, an HTTP error.
    @Test func malformedLineEndsTheAttemptWhateverFollows() throws {
        let content = #"data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}"# + "\n\n"
        let rest = "data: {not json\n\ndata: [DONE]\n\n"
        let (after, _) = try exchange { $0.enqueue(rawReply(status: 200, contentType: "text/event-stream", body: content + rest)) }
        let summary = AnswerSummary(parseAnthropicSSE(after.body).events)
        #expect(after.status == 200)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.text == "Hi")
        #expect(summary.error?["message"]?.stringValue?.hasPrefix("Invalid JSON in upstream stream") == true)
        let (before, _) = try exchange { $0.enqueue(rawReply(status: 200, contentType: "text/event-stream", body: rest)) }
        #expect(before.status == 500)
        #expect(anthropicError(before).message?.hasPrefix("Invalid JSON in upstream stream") == true)
    }

    /// An overloaded model falls back to the next configured one: the client gets the good
    /// model's answer, named in `message_start` and in the log line, and the upstream saw the same
    /// body with the model replaced.
    @Test func overloadedModelFallsBackToTheNextOne() throws {
        let log = CapturedLog()
        let (r, sent) = try exchange(configure: {
            $0.upstream.model = "scenario:bad"
            $0.upstream.modelFallbacks = ["scenario:good"]
        }, log: log.logger) { upstream in
            upstream.namedScenarios["bad"] = .overloaded()
            upstream.namedScenarios["good"] = .text()
        }
        #expect(r.status == 200)
        let (events, _) = parseAnthropicSSE(r.body)
        let summary = AnswerSummary(events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.text == "Hello, world! How can I help?")
        #expect(events.first?.data["message"]?["model"] == "scenario:good")
        #expect(sent.map(\.model) == ["scenario:bad", "scenario:good"])
        if sent.count == 2, case .object(var first)? = sent[0].json {
            first["model"] = "scenario:good"
            #expect(JSONValue.object(first) == sent[1].json, "only the model differs")
        }
        let finished = log.lines("upstream stream finished")
        #expect(finished.count == 1)
        #expect(finished.first?["model"] == "scenario:good")
        #expect(finished.first?["models_tried"] == ["scenario:bad", "scenario:good"])
        #expect(log.lines("upstream fallback").first?["to"] == "scenario:good")
    }

    /// The provider's observer hears each step: the slot, the failed attempt, the fallback, the
    /// first content and the end.
    @Test func observerHearsAttemptsFallbacksAndTheEnd() throws {
        var seen: [UpstreamObservation] = []
        try withHarness(configure: {
            $0.upstream.model = "scenario:error_503"
            $0.upstream.modelFallbacks = ["scenario:text"]
        }) { h, done in
            h.provider.observer = { seen.append($0) }
            h.post(body: simpleRequest) { _ in done() }
        }
        func kind(_ o: UpstreamObservation) -> String {
            switch o {
            case .rateLimitWait: return "wait"
            case .attemptFailed(let model, let error): return "failed \(model) \(error?.status ?? 0)"
            case .retry(let reason): return "retry \(reason)"
            case .fallback(let from, let to): return "fallback \(from) \(to)"
            case .firstContent: return "first content"
            case .finished(let outcome, _): return "finished \(outcome)"
            }
        }
        #expect(seen.map(kind) == [
            "wait", "failed scenario:error_503 529", "fallback scenario:error_503 scenario:text", "wait", "first content",
            "finished served(model: \"scenario:text\")",
        ])
    }

    /// The same steps as `/metrics` counts them: one overloaded attempt, one served, the fallback
    /// between them, the waits and the first content.
    @Test func metricsCountAttemptsByOutcomeAndTheFallback() throws {
        let metrics = ProxyMetrics()
        try withHarness(configure: {
            $0.upstream.model = "scenario:error_503"
            $0.upstream.modelFallbacks = ["scenario:text"]
        }) { h, done in
            h.provider.observer = { metrics.record($0) }
            h.post(body: simpleRequest) { _ in done() }
        }
        #expect(metrics.upstreamRequestCount(model: "scenario:error_503", outcome: .overloaded) == 1)
        #expect(metrics.upstreamRequestCount(model: "scenario:text", outcome: .success) == 1)
        #expect(metrics.fallbackCount(from: "scenario:error_503", to: "scenario:text") == 1)
        #expect(metrics.rateLimitWaitCount == 2)
        #expect(metrics.firstContentCount == 1)
        let text = metrics.render()
        #expect(text.contains(#"nim_proxy_upstream_requests_total{provider="nvidia_nim",model="scenario:text",outcome="success"} 1"#), "\(text)")
    }

    /// Each failure's outcome label, from the error the client would get.
    @Test func failedAttemptsAreLabelledByTheirError() {
        let cases: [(UpstreamError, UpstreamOutcome)] = [
            (mapUpstreamError(status: 429, body: nil, transport: nil), .rateLimited),
            (mapUpstreamError(status: 503, body: nil, transport: nil), .overloaded),
            (mapUpstreamError(status: 502, body: "<html><title>502 Bad Gateway</title></html>", transport: nil), .serverError),
            (mapUpstreamError(status: nil, body: nil, transport: .timedOut), .timeout),
            (mapUpstreamError(status: nil, body: nil, transport: .connectionFailed), .connectionError),
            (mapUpstreamError(status: nil, body: nil, transport: .streamInterrupted(detail: nil)), .cut),
            (mapUpstreamError(status: 200, body: "<html>portal</html>", transport: nil, contentType: "text/html"), .invalidResponse),
            (mapUpstreamError(status: 401, body: nil, transport: nil), .clientError),
            (mapUpstreamError(
                status: 400,
                body: #"{"error":{"message":"This model's maximum context length is 131072 tokens. However, you requested 250000 tokens (249000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion."}}"#,
                transport: nil), .contextLength),
        ]
        for (error, outcome) in cases {
            #expect(ProxyMetrics.outcome(of: error) == outcome, "\(error.message)")
        }
    }

    /// A model that keeps answering 429 falls back once the limiter's retries are spent; the next
    /// model is not held by the minute-long block a 429 answered to the client would set.
    @Test func rateLimitedModelFallsBackAfterTheLimitersRetries() throws {
        var response: TestResponse?
        var models: [String?] = []
        var block = Duration.zero
        try withHarness(configure: {
            $0.upstream.model = "scenario:error_429"
            $0.upstream.modelFallbacks = ["scenario:text"]
        }) { h, done in
            h.post(body: simpleRequest) { r in
                response = r
                models = h.upstream.received.map(\.model)
                block = h.provider.limiter.blockRemaining(now: h.provider.now)
                done()
            }
        }
        #expect(models == Array(repeating: "scenario:error_429", count: 4) + ["scenario:text"])
        #expect(response?.status == 200)
        #expect(AnswerSummary(parseAnthropicSSE(response?.body ?? []).events).text == "Hello, world! How can I help?")
        #expect(block < .seconds(1), "\(block)")
    }

    /// A tier's list is used for that tier's names; a refusal that is the request's fault (400)
    /// does not fall back.
    @Test func tierFallbacksAndNoFallbackForTheRequestsOwnError() throws {
        let (r, sent) = try exchange(configure: {
            $0.upstream.model = "scenario:error_500"
            $0.upstream.modelFallbacks = ["scenario:never"]
            $0.upstream.modelSonnetFallbacks = ["scenario:error_400", "scenario:text"]
        }) { _ in }
        #expect(sent.map(\.model) == ["scenario:error_500", "scenario:error_400"])
        #expect(r.status == 400)
        #expect(anthropicError(r).type == "invalid_request_error")
    }

    /// Content reached the client: a later failure is never retried or replaced by a fallback.
    @Test func noFallbackOnceContentWasSent() throws {
        let (r, sent) = try exchange(configure: {
            $0.upstream.model = "scenario:cut"
            $0.upstream.modelFallbacks = ["scenario:text"]
        }) { _ in }
        #expect(sent.count == 1)
        let summary = AnswerSummary(parseAnthropicSSE(r.body).events)
        #expect(summary.text == "Partial answer")
        #expect(summary.error != nil)
    }

    /// With PROVIDER_MAX_CONCURRENCY=2, five concurrent requests never have more than two upstream
    /// streams open at once, and every one gets its whole answer.
    @Test func concurrencyCapOfTwoUnderFiveConcurrentStreams() throws {
        var responses: [TestResponse?] = []
        var mostAtUpstream = 0
        var mostAtProxy = 0
        let clients = 5
        try withHarness(configure: { $0.upstream.maxConcurrency = 2 }) { h, done in
            h.upstream.defaultScenario = .synthetic(chunkCount: 5, chunkBytes: 16, delayMs: 20)
            h.upstream.onRequest = { _ in
                // Called before the new stream is counted.
                mostAtUpstream = max(mostAtUpstream, h.upstream.activeStreams + 1)
            }
            for _ in 0..<clients {
                h.post(body: simpleRequest) { r in
                    responses.append(r)
                    if responses.count == clients {
                        mostAtProxy = h.provider.maxConcurrentStreamsSeen
                        done()
                    }
                }
            }
        }
        #expect(responses.count == clients)
        #expect(mostAtUpstream == 2)
        #expect(mostAtProxy == 2)
        var texts = Set<String>()
        for r in responses {
            let summary = AnswerSummary(parseAnthropicSSE(r?.body ?? []).events)
            #expect(r?.status == 200)
            #expect(summary.problems.isEmpty, "\(summary.problems)")
            #expect(summary.stopReason == "end_turn")
            texts.insert(summary.text)
        }
        #expect(texts.count == 1 && texts.first?.isEmpty == false, "every client got the same whole answer")
    }

    /// A request waiting for a place shows in `/health`; its client leaving frees the place in
    /// line, and the streams before it are unaffected.
    @Test func clientLeavingWhileWaitingForASlot() throws {
        var waitingInHealth: JSONValue?
        var waitingAfterLeave = -1
        var openAfterLeave = -1
        var upstreamRequests = -1
        try withHarness(configure: { $0.upstream.maxConcurrency = 1 }) { h, done in
            h.upstream.defaultScenario = try #require(Scenario.named("hang"))
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.proxyPort) { first in
                first.send(rawRequest(simpleRequest))
                poll(h.loop, until: { h.upstream.activeStreams == 1 }) {
                    try? LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.proxyPort) { second in
                        second.send(rawRequest(simpleRequest))
                        poll(h.loop, until: { h.provider.waitingForConcurrency == 1 }) {
                            LoopHTTPClient.fetch(h.loop, port: h.proxyPort, method: "GET", path: "/health", headers: [], body: []) { health in
                                waitingInHealth = health?.json?["provider"]?["waiting_for_concurrency"]
                                second.connection.close()
                                poll(h.loop, until: { h.provider.waitingForConcurrency == 0 && h.provider.openStreams == 1 }) {
                                    waitingAfterLeave = h.provider.waitingForConcurrency
                                    openAfterLeave = h.provider.openStreams
                                    upstreamRequests = h.upstream.received.count
                                    first.connection.close()
                                    poll(h.loop, until: { h.provider.openStreams == 0 }) { done() }
                                }
                            }
                        }
                    }
                }
            }
        }
        #expect(waitingInHealth == 1)
        #expect(waitingAfterLeave == 0)
        #expect(openAfterLeave == 1)
        #expect(upstreamRequests == 1, "the request that left never reached the upstream")
    }

    /// A wait past STREAM_EARLY_START_SECONDS starts the stream (head, message_start, pings);
    /// a failure after that is an SSE error event.
    @Test func failureAfterAnEarlyStartIsAnErrorEvent() throws {
        var second: TestResponse?
        try withHarness(configure: {
            $0.upstream.rateLimit = 1
            $0.upstream.rateWindow = .seconds(1)
            $0.upstream.streamEarlyStart = .milliseconds(200)
        }) { h, done in
            h.provider.pingInterval = .milliseconds(50)
            h.upstream.enqueue(.text())
            h.upstream.enqueue(.overloaded())
            h.post(body: simpleRequest) { _ in }
            h.post(body: simpleRequest) { r in
                second = r
                done()
            }
        }
        let r = try #require(second)
        #expect(r.status == 200)
        let (events, _) = parseAnthropicSSE(r.body)
        let summary = AnswerSummary(events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(events.first?.type == "message_start")
        #expect(events.contains { $0.type == "ping" })
        #expect(summary.error?["type"] == "overloaded_error")
    }

    /// Shutdown while a request waits for its slot: an HTTP 503, nothing was streamed.
    @Test func shutdownWhileWaitingIsAnHTTPError() throws {
        var second: TestResponse?
        try withHarness(configure: { $0.upstream.maxConcurrency = 1 }) { h, done in
            h.upstream.defaultScenario = try #require(Scenario.named("hang"))
            h.post(body: simpleRequest) { _ in }
            h.post(body: simpleRequest) { r in second = r }
            poll(h.loop, until: { h.provider.waitingForConcurrency == 1 }) {
                h.provider.close()
                poll(h.loop, until: { second != nil }) { done() }
            }
        }
        let r = try #require(second)
        #expect(r.status == 503)
        #expect(anthropicError(r).message == "The server is shutting down.")
    }

    // MARK: stream: false

    @Test func streamFalseGetsOneJSONMessage() throws {
        let (r, _) = try exchange(body: streamingFalseRequest) { $0.enqueue(.text()) }
        #expect(r.status == 200)
        #expect(r.header("content-type") == "application/json")
        let m = try #require(r.json)
        #expect(m["type"] == "message")
        #expect(m["role"] == "assistant")
        #expect(m["model"] == "test-model")
        #expect(m["id"]?.stringValue?.hasPrefix("msg_") == true)
        #expect(m["content"] == [["type": "text", "text": "Hello, world! How can I help?"]])
        #expect(m["stop_reason"] == "end_turn")
        #expect(m["usage"]?["input_tokens"]?.intValue == 5)
        #expect(m["usage"]?["output_tokens"] == .int(try #require(Scenario.text().expected?.outputTokens)))
    }

    @Test func streamFalseCarriesToolCalls() throws {
        let (r, _) = try exchange(body: streamingFalseRequest) { $0.enqueue(.tool()) }
        let expected = try #require(Scenario.tool().expected)
        let blocks = try #require(r.json?["content"]?.arrayValue)
        let tools = blocks.filter { $0["type"] == "tool_use" }
        #expect(tools.map { $0["name"]?.stringValue } == expected.tools.map(\.name))
        #expect(tools.map { $0["input"] } == expected.tools.map { Optional($0.input) })
        #expect(r.json?["stop_reason"] == "tool_use")
    }

    @Test func streamFalseCarriesThinking() throws {
        let (r, _) = try exchange(body: streamingFalseRequest) { $0.enqueue(.reasoning()) }
        let expected = try #require(Scenario.reasoning().expected)
        let blocks = try #require(r.json?["content"]?.arrayValue)
        #expect(blocks.first?["type"] == "thinking")
        #expect(blocks.first?["thinking"]?.stringValue == expected.thinking)
        #expect(blocks.filter { $0["type"] == "text" }.compactMap { $0["text"]?.stringValue }.joined() == expected.text)
    }

    /// The same error statuses as a stream before content, and a cut after content is retried
    /// (nothing reached the client) and falls back like any failure.
    @Test func streamFalseErrorsAreHTTPErrors() throws {
        let (r, _) = try exchange(body: streamingFalseRequest) { $0.enqueue(.overloaded()) }
        #expect(r.status == 529)
        #expect(anthropicError(r).type == "overloaded_error")
        let (cut, sent) = try exchange(configure: { $0.upstream.modelFallbacks = ["scenario:text"] }, body: streamingFalseRequest) {
            $0.enqueue(.cut())
            $0.enqueue(.cut())
        }
        #expect(sent.map(\.model) == ["test-model", "test-model", "scenario:text"])
        #expect(cut.status == 200)
        #expect(cut.json?["content"]?.arrayValue?.first?["text"] == "Hello, world! How can I help?")
        #expect(cut.json?["model"] == "scenario:text")
    }
}
