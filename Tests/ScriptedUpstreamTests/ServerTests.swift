// The upstream over real loopback sockets: bytes on the wire, recording, scenario choice, errors,
// the cut, the stall, backpressure, and a loop left with no handle open.

import EventLoop
import JSON
import Testing
import TestSupport
@testable import ScriptedUpstream

@Suite struct ServerTests {
    /// Starts an upstream on a fresh loop, runs `body`, and requires the loop to close cleanly.
    /// `body` must call `finish` once done; that shuts the upstream down.
    func withUpstream(timeoutMs: UInt64 = 20_000,
                      _ body: (ScriptedUpstream, Int, @escaping () -> Void) throws -> Void) throws {
        let run = try runLoop(timeout: .milliseconds(timeoutMs)) { loop in
            let upstream = ScriptedUpstream(loop: loop)
            let port = try upstream.start()
            try body(upstream, port) { upstream.shutdown {} }
        }
        run.expectClean()
    }

    static let streamedNames = ScenarioTests.streamedNames

    @Test(arguments: streamedNames)
    func scenarioBytesOnTheWire(name: String) throws {
        let scenario = try #require(Scenario.named(name))
        let plan = try #require(scenario.streamPlan)
        var exchange: Exchange?
        var streamsAfter = -1
        try withUpstream { upstream, port, finish in
            // Short pauses keep the stall scenario quick; the wire bytes do not change.
            upstream.enqueue(name == "stall" ? .stall(pauseMs: 5) : scenario)
            post(upstream.loop, port: port) { result in
                exchange = result
                streamsAfter = upstream.activeStreams
                finish()
            }
        }
        let result = try #require(exchange)
        let response = try #require(result.response)
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/event-stream")
        #expect(response.header("Transfer-Encoding") == "chunked")
        #expect(response.body == plan.body)
        // One HTTP chunk per compiled write, byte for byte.
        let frames = result.chunkFrames
        #expect(frames.terminated)
        #expect(frames.payloads == plan.writes)
        #expect(streamsAfter == 0)
    }

    @Test func unicodeWritesEndInsideCharacters() throws {
        var exchange: Exchange?
        try withUpstream { upstream, port, finish in
            upstream.enqueue(.unicode())
            post(upstream.loop, port: port) { exchange = $0; finish() }
        }
        let payloads = try #require(exchange).chunkFrames.payloads
        #expect(payloads.contains { String(validating: $0, as: UTF8.self) == nil })
        let text = try #require(exchange).dataLines.compactMap {
            (try? JSONValue.parse($0))?["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue
        }.joined()
        #expect(text == "héllo 世界 🤔 \"quoted\"\nnaïve ✓ 👍🏽")
    }

    @Test func recordsMethodPathHeadersAndBody() throws {
        let body = chatBody(content: "Grüße, 世界")
        var records: [RecordedRequest] = []
        var hookCount = 0
        try withUpstream { upstream, port, finish in
            upstream.onRequest = { _ in hookCount += 1 }
            post(upstream.loop, port: port,
                 headers: [("Content-Type", "application/json"), ("Authorization", "Bearer nvapi-test")],
                 body: body) { _ in
                post(upstream.loop, port: port, path: "/chat/completions?x=1", body: Array("{\"model\":\"m\"}".utf8)) { _ in
                    records = upstream.received
                    finish()
                }
            }
        }
        #expect(records.count == 2)
        #expect(hookCount == 2)
        let first = try #require(records.first)
        #expect(first.method == "POST")
        #expect(first.path == "/v1/chat/completions")
        #expect(first.body == body)
        #expect(first.header("authorization") == "Bearer nvapi-test")
        #expect(first.header("Content-Length") == String(body.count))
        #expect(first.json?["messages"]?.arrayValue?.first?["content"] == "Grüße, 世界")
        #expect(first.model == "meta/llama-3.1-8b-instruct")
        #expect(records[1].path == "/chat/completions")
        #expect(records[1].query == "x=1")
        #expect(records[1].json == ["model": "m"])
    }

    @Test func queueThenModelThenDefault() throws {
        var results: [Exchange] = []
        var queuedAfter = -1
        try withUpstream { upstream, port, finish in
            upstream.defaultScenario = .length()
            upstream.enqueue(.rateLimited())
            upstream.enqueue(.tool())
            upstream.enqueue(.sequence([.unauthorized(), .empty()]))
            let bodies = [chatBody(model: "scenario:text"), chatBody(), chatBody(), chatBody(), chatBody(model: "scenario:reasoning"), chatBody()]
            postInTurn(upstream.loop, port: port, bodies: bodies) {
                results = $0
                queuedAfter = upstream.queuedCount
                finish()
            }
        }
        #expect(queuedAfter == 0)
        #expect(results.map { $0.response?.status ?? 0 } == [429, 200, 401, 200, 200, 200])
        #expect(results[1].response?.body == Scenario.tool().streamPlan?.body)
        #expect(results[3].response?.body == Scenario.empty().streamPlan?.body)
        #expect(results[4].response?.body == Scenario.reasoning().streamPlan?.body)
        #expect(results[5].response?.body == Scenario.length().streamPlan?.body)
    }

    @Test func sequenceByModelAdvancesPerRequestAndRepeatsItsLast() throws {
        var statuses: [Int] = []
        try withUpstream { upstream, port, finish in
            let model = chatBody(model: "scenario:retry_429_then_text")
            postInTurn(upstream.loop, port: port, bodies: [model, model, model]) {
                statuses = $0.map { $0.response?.status ?? 0 }
                finish()
            }
        }
        #expect(statuses == [429, 200, 200])
    }

    @Test func namedScenariosAndUnknownNames() throws {
        var results: [Exchange] = []
        try withUpstream { upstream, port, finish in
            upstream.namedScenarios["mine"] = .stream(chunks: [Chunk.content("custom")], name: "mine")
            postInTurn(upstream.loop, port: port,
                       bodies: [chatBody(model: "scenario:mine"), chatBody(model: "scenario:nope")]) {
                results = $0
                finish()
            }
        }
        #expect(results[0].dataLines.first?.contains("\"custom\"") == true)
        #expect(results[1].response?.status == 404)
        #expect(results[1].response?.json?["error"]?["code"] == "model_not_found")
    }

    @Test(arguments: [
        ("error_400", 400, nil), ("error_401", 401, nil), ("error_429", 429, nil),
        ("error_429_retry_after", 429, "2"), ("error_500", 500, nil), ("error_503", 503, nil),
    ] as [(String, Int, String?)])
    func errorStatusesAndHeaders(name: String, status: Int, retryAfter: String?) throws {
        var exchange: Exchange?
        var active = -1
        try withUpstream { upstream, port, finish in
            post(upstream.loop, port: port, body: chatBody(model: "scenario:\(name)")) {
                exchange = $0
                active = upstream.activeStreams
                finish()
            }
        }
        let response = try #require(exchange?.response)
        #expect(response.status == status)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.header("Retry-After") == retryAfter)
        let error = try #require(response.json?["error"])
        #expect(error["message"]?.stringValue?.isEmpty == false)
        #expect(error["type"]?.stringValue?.isEmpty == false)
        #expect(error.objectValue?.keys.contains("code") == true)
        #expect(active == 0)
    }

    @Test func otherPathsMethodsAndBodies() throws {
        var results: [TestResponse?] = []
        var recorded = -1
        var queued = -1
        try withUpstream { upstream, port, finish in
            upstream.enqueue(.text())
            let loop = upstream.loop
            post(loop, port: port, path: "/v1/models", method: "GET", body: []) { a in
                post(loop, port: port, method: "GET", body: []) { b in
                    post(loop, port: port, body: Array("not json".utf8)) { c in
                        post(loop, port: port, path: "/health", method: "GET", body: []) { d in
                            results = [a.response, b.response, c.response, d.response]
                            recorded = upstream.received.count
                            queued = upstream.queuedCount
                            finish()
                        }
                    }
                }
            }
        }
        #expect(results.map { $0?.status ?? 0 } == [404, 405, 400, 200])
        #expect(results[2]?.json?["error"]?["code"] == "invalid_json")
        // The malformed body was recorded but did not use up the queued scenario.
        #expect(recorded == 1)
        #expect(queued == 1)
    }

    @Test func cutClosesTheConnectionWithoutTheEnd() throws {
        var exchange: Exchange?
        var active = -1
        var ended = -1
        try withUpstream { upstream, port, finish in
            upstream.enqueue(.cut())
            post(upstream.loop, port: port) { result in
                exchange = result
                // The server learns of the cut from its own socket; wait for that.
                whenTrue(upstream.loop, { upstream.activeStreams == 0 }) {
                    active = upstream.activeStreams
                    ended = upstream.endedStreams
                    finish()
                }
            }
        }
        let result = try #require(exchange)
        #expect(result.ended)
        #expect(result.response == nil)
        let frames = result.chunkFrames
        #expect(!frames.terminated)
        #expect(frames.payloads == Scenario.cut().streamPlan?.writes)
        let text = String(decoding: result.bodyBytes, as: UTF8.self)
        #expect(text.contains("\"Partial \""))
        #expect(text.contains("\"answer\""))
        #expect(!text.contains("[DONE]"))
        #expect(!text.contains("finish_reason\":\"stop"))
        #expect(active == 0)
        #expect(ended == 1)
    }

    @Test func stallHoldsBackTheRestForItsPause() throws {
        let pauseMs: UInt64 = 60
        var exchange: Exchange?
        var elapsed: UInt64 = 0
        try withUpstream { upstream, port, finish in
            upstream.enqueue(.stall(pauseMs: pauseMs))
            let start = upstream.loop.now.milliseconds
            post(upstream.loop, port: port) { result in
                elapsed = upstream.loop.now.milliseconds - start
                exchange = result
                finish()
            }
        }
        #expect(elapsed >= pauseMs)
        #expect(exchange?.response?.body == Scenario.stall(pauseMs: pauseMs).streamPlan?.body)
    }

    @Test func hangStaysOpenUntilTheClientLeaves() throws {
        var sawHead = false
        var activeWhileHanging = -1
        var activeAfter = -1
        try withUpstream { upstream, port, finish in
            upstream.enqueue(.stall(pauseMs: nil))
            let expected = try #require(Scenario.stall(pauseMs: nil).streamPlan).body
            LoopHTTPClient.connect(upstream.loop, port: port) { result in
                guard case .success(let client) = result else { finish(); return }
                client.onUpdate = { c in
                    let received = Exchange(raw: c.received, ended: c.ended, response: nil)
                    guard received.bodyBytes == expected, !sawHead else { return }
                    sawHead = true
                    activeWhileHanging = upstream.activeStreams
                    c.onUpdate = nil
                    c.close()
                    whenTrue(upstream.loop, { upstream.activeStreams == 0 }) {
                        activeAfter = upstream.activeStreams
                        finish()
                    }
                }
                client.send(LoopHTTPClient.requestBytes(method: "POST", path: "/v1/chat/completions", body: chatBody()))
            }
        }
        #expect(sawHead)
        #expect(activeWhileHanging == 1)
        #expect(activeAfter == 0)
    }

    @Test func shutdownEndsHangingStreams() throws {
        var exchange: Exchange?
        var ended = -1
        let run = try runLoop { loop in
            let upstream = ScriptedUpstream(loop: loop)
            let port = try upstream.start()
            upstream.defaultScenario = .stall(pauseMs: nil)
            post(loop, port: port) { exchange = $0 }
            whenTrue(loop, { upstream.activeStreams == 1 }) {
                upstream.shutdown { ended = upstream.endedStreams }
            }
        }
        run.expectClean()
        #expect(ended == 1)
        #expect(exchange?.ended == true)
    }

    @Test func clientLeavingStopsAPacedStream() throws {
        var ended = -1
        var firstFrameSeen = false
        try withUpstream { upstream, port, finish in
            upstream.enqueue(.synthetic(chunkCount: 10_000, chunkBytes: 8, delayMs: 10))
            LoopHTTPClient.connect(upstream.loop, port: port) { result in
                guard case .success(let client) = result else { finish(); return }
                client.onUpdate = { c in
                    guard !firstFrameSeen, !Exchange(raw: c.received, ended: false).bodyBytes.isEmpty else { return }
                    firstFrameSeen = true
                    c.onUpdate = nil
                    c.close()
                    whenTrue(upstream.loop, { upstream.activeStreams == 0 }) {
                        ended = upstream.endedStreams
                        finish()
                    }
                }
                client.send(LoopHTTPClient.requestBytes(method: "POST", path: "/v1/chat/completions", body: chatBody()))
            }
        }
        #expect(firstFrameSeen)
        #expect(ended == 1)
    }

    /// A client that stops reading makes the upstream wait for `onWritable`, and nothing is lost.
    @Test func backpressureParksAndResumesTheStream() throws {
        let scenario = Scenario.synthetic(chunkCount: 256, chunkBytes: 64 * 1024)
        var body: [UInt8] = []
        var parked = false
        try withUpstream(timeoutMs: 60_000) { upstream, port, finish in
            upstream.enqueue(scenario)
            LoopHTTPClient.connect(upstream.loop, port: port) { result in
                guard case .success(let client) = result else { finish(); return }
                client.connection.stopReading()
                whenTrue(upstream.loop, { upstream.blockedStreams == 1 }) {
                    parked = true
                    try? client.connection.resumeReading()
                }
                client.onUpdate = { c in
                    guard let response = c.responses.first else { return }
                    c.onUpdate = nil
                    body = response.body
                    c.close()
                    finish()
                }
                client.send(LoopHTTPClient.requestBytes(method: "POST", path: "/v1/chat/completions", body: chatBody()))
            }
        }
        #expect(parked)
        #expect(body == scenario.streamPlan?.body)
    }

    @Test func manyConcurrentPacedStreams() throws {
        let count = 40
        let scenario = Scenario.synthetic(chunkCount: 5, chunkBytes: 10, delayMs: 2)
        var bodies: [[UInt8]] = []
        var ended = -1
        try withUpstream { upstream, port, finish in
            upstream.defaultScenario = scenario
            for _ in 0..<count {
                post(upstream.loop, port: port) { exchange in
                    bodies.append(exchange.response?.body ?? [])
                    guard bodies.count == count else { return }
                    whenTrue(upstream.loop, { upstream.activeStreams == 0 }) {
                        ended = upstream.endedStreams
                        finish()
                    }
                }
            }
        }
        #expect(bodies.count == count)
        #expect(bodies.allSatisfy { $0 == scenario.streamPlan?.body })
        #expect(ended == count)
    }
}
