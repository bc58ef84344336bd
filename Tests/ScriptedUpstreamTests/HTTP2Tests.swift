// The upstream over HTTP/2 with prior knowledge: the proxy's own client (CurlMulti with
// `httpVersion: .http2`) gets the same bytes, statuses and failures as over HTTP/1.1, and a bare
// nghttp2 client shows the multiplexing itself: many streams per connection, one stream reset or
// cut while its neighbours go on, flow control and a full socket parking the player.
//
// libcurl before 8.0 cannot reuse a prior-knowledge connection (curl issue 10634: a second
// transfer on it fails with "Error in the HTTP2 framing layer"), so the curl tests that need two
// transfers on one connection run only with a fixed libcurl; the nghttp2 client covers the same
// server behaviour everywhere.

import CCurl
import CNGHTTP2
import EventLoop
import JSON
import Testing
import TestSupport
@testable import UpstreamClient
@testable import ScriptedUpstream

/// What one curl transfer delivered.
final class CurlAnswer: UpstreamTransferDelegate {
    var status: Int?
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    /// Set once the transfer completed: nil inside means success.
    var failure: UpstreamFailure??
    var onBody: ((UpstreamTransfer, CurlAnswer) -> Void)?
    var onComplete: ((CurlAnswer) -> Void)?
    var onHead: (() -> Void)?

    func transferDidReceiveHead(_ transfer: UpstreamTransfer, status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        self.headers = headers
        onHead?()
    }
    func transferDidReceiveBody(_ transfer: UpstreamTransfer, _ bytes: UnsafeRawBufferPointer) {
        body += bytes
        onBody?(transfer, self)
    }
    func transferDidComplete(_ transfer: UpstreamTransfer, failure: UpstreamFailure?) {
        self.failure = .some(failure)
        onComplete?(self)
    }
    func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
}

/// Whether this libcurl can put a second transfer on a prior-knowledge HTTP/2 connection.
let libcurlReusesPriorKnowledge: Bool = curl_version_info(CURLVERSION_FIRST).pointee.version_num >= 0x08_00_00

@Suite(.serialized) struct HTTP2Tests {
    /// An HTTP/2 upstream (and, with `alsoHTTP1`, an HTTP/1.1 one) and a curl multi on a fresh loop
    /// that must close cleanly; `finish` tears everything down.
    func withUpstreams(timeoutMs: UInt64 = 20_000, alsoHTTP1: Bool = false,
                       sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: (_ h2: ScriptedUpstream, _ h1: ScriptedUpstream?, _ curl: CurlMulti,
                                _ finish: @escaping () -> Void) throws -> Void) throws {
        var keep: [AnyObject] = []
        let run = try runLoop(timeout: .milliseconds(timeoutMs)) { loop in
            let h2 = ScriptedUpstream(loop: loop)
            try h2.start(http2: true)
            var h1: ScriptedUpstream?
            if alsoHTTP1 {
                h1 = ScriptedUpstream(loop: loop)
                try h1?.start()
            }
            let curl = try CurlMulti(loop: loop)
            keep = [h2, curl] + (h1.map { [$0] } ?? [])
            var finished = false
            try body(h2, h1, curl) {
                guard !finished else { return }
                finished = true
                curl.close()
                h2.shutdown {}
                h1?.shutdown {}
            }
        }
        withExtendedLifetime(keep) {}
        run.expectClean(sourceLocation: sourceLocation)
    }

    /// Starts one chat-completions POST; the answer must be kept alive by the caller (curl holds
    /// its delegate weakly).
    @discardableResult
    func send(_ curl: CurlMulti, port: Int, version: UpstreamHTTPVersion = .http2, body: [UInt8] = chatBody(),
              path: String = "/v1/chat/completions", into answer: CurlAnswer) -> UpstreamTransfer {
        curl.start(UpstreamRequest(
            url: "http://127.0.0.1:\(port)\(path)",
            headers: [("Content-Type", "application/json"), ("Authorization", "Bearer nvapi-test")],
            body: body, httpVersion: version), delegate: answer)
    }

    static let comparedNames = ScenarioTests.streamedNames

    // MARK: Through curl

    /// The same scenario through curl over HTTP/2 and over HTTP/1.1 arrives byte for byte the same.
    @Test(arguments: comparedNames)
    func curlReceivesTheSameBodyAsOverHTTP1(name: String) throws {
        let scenario = name == "stall" ? Scenario.stall(pauseMs: 5) : try #require(Scenario.named(name))
        let plan = try #require(scenario.streamPlan)
        let overH2 = CurlAnswer(), overH1 = CurlAnswer()
        var recordedBodies: [[UInt8]?] = []
        var connections: [Int] = []
        var activeAfter = -1
        try withUpstreams(alsoHTTP1: true) { h2, h1, curl, finish in
            let h1 = try #require(h1)
            h2.enqueue(scenario)
            h1.enqueue(scenario)
            var left = 2
            let done: (CurlAnswer) -> Void = { _ in
                left -= 1
                guard left == 0 else { return }
                recordedBodies = [h2.received.first?.body, h1.received.first?.body]
                connections = [h2.connectionsAccepted, h1.connectionsAccepted]
                whenTrue(h2.loop, { h2.activeStreams == 0 }) {
                    activeAfter = h2.activeStreams
                    finish()
                }
            }
            overH2.onComplete = done
            overH1.onComplete = done
            send(curl, port: h2.port, into: overH2)
            send(curl, port: h1.port, version: .http1_1, into: overH1)
        }
        #expect(overH2.failure == .some(nil))
        #expect(overH1.failure == .some(nil))
        #expect(overH2.status == 200)
        #expect(overH2.header("content-type") == "text/event-stream")
        #expect(overH2.body == plan.body)
        #expect(overH2.body == overH1.body)
        #expect(recordedBodies == [chatBody(), chatBody()])
        #expect(connections == [1, 1])
        #expect(activeAfter == 0)
    }

    /// DATA frames of several KB (a tool call's arguments, events an upstream batches) arrive whole
    /// and in order. (With a 4 KB `CURLOPT_BUFFERSIZE`, libcurl 7.88 stalls this transfer.)
    @Test func framesLargerThanTheTransferBufferArriveWhole() throws {
        let scenario = Scenario.synthetic(chunkCount: 40, chunkBytes: 6_000)
        let plan = try #require(scenario.streamPlan)
        let answer = CurlAnswer()
        try withUpstreams { h2, _, curl, finish in
            h2.enqueue(scenario)
            answer.onComplete = { _ in finish() }
            send(curl, port: h2.port, into: answer)
        }
        #expect(answer.failure == .some(nil))
        #expect(answer.body.count > 40 * 6_000)
        #expect(answer.body == plan.body)
    }

    @Test func curlRequestIsRecordedWithMethodPathHeadersAndBody() throws {
        let body = chatBody(model: "meta/llama-3.1-8b-instruct", content: "Grüße, 世界")
        let answer = CurlAnswer()
        var records: [RecordedRequest] = []
        var hooked: [RecordedRequest] = []
        var port = 0
        try withUpstreams { h2, _, curl, finish in
            port = h2.port
            h2.onRequest = { hooked.append($0) }
            answer.onComplete = { _ in
                records = h2.received
                finish()
            }
            send(curl, port: h2.port, body: body, path: "/v1/chat/completions?trace=1", into: answer)
        }
        #expect(answer.failure == .some(nil))
        #expect(records.count == 1)
        #expect(hooked.count == 1)
        let record = try #require(records.first)
        #expect(record.method == "POST")
        #expect(record.path == "/v1/chat/completions")
        #expect(record.query == "trace=1")
        #expect(record.body == body)
        #expect(record.header("Authorization") == "Bearer nvapi-test")
        #expect(record.header("content-type") == "application/json")
        #expect(record.header("content-length") == String(body.count))
        #expect(record.header("host") == "127.0.0.1:\(port)")
        // HTTP/2 names arrive lowercase and pseudo-headers are not headers.
        #expect(record.headers.allSatisfy { $0.name == $0.name.lowercased() && !$0.name.hasPrefix(":") })
        #expect(record.json?["messages"]?.arrayValue?.first?["content"] == "Grüße, 世界")
        #expect(hooked.first?.body == body)
    }

    /// Over HTTP/2 the body goes through curl's read callback (so it can be let go once the answer
    /// begins): a body many times curl's 16 KB upload buffer arrives whole, and the transfer no
    /// longer holds it once the answer has begun.
    @Test func largeBodyIsReadWholeAndReleasedOnceTheAnswerBegins() throws {
        let body = chatBody(content: String(repeating: "0123456789abcdef", count: 20_000))
        let answer = CurlAnswer()
        var records: [RecordedRequest] = []
        var transfer: UpstreamTransfer?
        var heldAtHead: Bool?
        try withUpstreams { h2, _, curl, finish in
            answer.onComplete = { _ in
                records = h2.received
                finish()
            }
            answer.onHead = { heldAtHead = transfer?.holdsUploadBody }
            transfer = send(curl, port: h2.port, body: body, into: answer)
            #expect(transfer?.holdsUploadBody == true)
        }
        #expect(answer.failure == .some(nil))
        #expect(records.first?.body == body)
        #expect(heldAtHead == false)
    }

    @Test func pacedScenarioTakesAtLeastItsPauses() throws {
        let scenario = Scenario.synthetic(chunkCount: 6, chunkBytes: 8, delayMs: 25)
        let plan = try #require(scenario.streamPlan)
        let answer = CurlAnswer()
        var elapsed: UInt64 = 0
        try withUpstreams { h2, _, curl, finish in
            h2.enqueue(scenario)
            let start = h2.loop.now.milliseconds
            answer.onComplete = { _ in
                elapsed = h2.loop.now.milliseconds - start
                finish()
            }
            send(curl, port: h2.port, into: answer)
        }
        #expect(plan.totalPauseMs == 25 * UInt64(plan.writes.count - 1))
        #expect(elapsed >= plan.totalPauseMs)
        #expect(answer.body == plan.body)
        #expect(answer.failure == .some(nil))
    }

    @Test(arguments: [("error_429_retry_after", 429, "2"), ("error_503", 503, nil), ("error_400", 400, nil)] as [(String, Int, String?)])
    func errorScenarioArrivesWithStatusHeadersAndBody(name: String, status: Int, retryAfter: String?) throws {
        let reply: HTTPErrorReply
        if case .httpError(let r) = try #require(Scenario.named(name)).behaviour { reply = r } else {
            Issue.record("\(name) is not an error scenario")
            return
        }
        let answer = CurlAnswer()
        var played = -1, active = -1
        try withUpstreams { h2, _, curl, finish in
            answer.onComplete = { _ in
                played = h2.scenariosPlayed
                active = h2.activeStreams
                finish()
            }
            send(curl, port: h2.port, body: chatBody(model: "scenario:\(name)"), into: answer)
        }
        #expect(answer.failure == .some(nil))
        #expect(answer.status == status)
        #expect(answer.header("retry-after") == retryAfter)
        #expect(answer.header("content-type") == "application/json")
        #expect(answer.header("content-length") == String(reply.body.count))
        #expect(answer.body == reply.body)
        #expect(played == 1)
        #expect(active == 0)
    }

    @Test func cutReachesCurlAsAFailedTransfer() throws {
        let plan = try #require(Scenario.cut().streamPlan)
        let answer = CurlAnswer()
        var ended = -1
        try withUpstreams { h2, _, curl, finish in
            h2.enqueue(.cut())
            answer.onComplete = { _ in
                whenTrue(h2.loop, { h2.activeStreams == 0 }) {
                    ended = h2.endedStreams
                    finish()
                }
            }
            send(curl, port: h2.port, into: answer)
        }
        guard case .some(.some(.transport(let detail))) = answer.failure else {
            Issue.record("expected a transport failure, got \(String(describing: answer.failure))")
            return
        }
        #expect(detail.contains("INTERNAL_ERROR") || detail.contains("HTTP/2"), "\(detail)")
        // Every chunk written before the cut arrived; the end never did.
        #expect(answer.body == plan.body)
        #expect(!String(decoding: answer.body, as: UTF8.self).contains("[DONE]"))
        #expect(ended == 1)
    }

    /// curl keeps the reset of a cancelled transfer until it next uses the connection, so a lone
    /// cancelled stream ends when curl lets go of its connection; the stream must end then, long
    /// before its scenario would.
    @Test func cancelledTransferEndsItsStreamWhenCurlLetsGo() throws {
        let answer = CurlAnswer()
        var activeWhileStreaming = -1, activeAfter = -1, ended = -1
        var elapsed: UInt64 = .max
        try withUpstreams { h2, _, curl, finish in
            // Ten seconds of stream if nothing stops it.
            h2.enqueue(.synthetic(chunkCount: 1_000, chunkBytes: 8, delayMs: 10))
            answer.onBody = { transfer, _ in
                answer.onBody = nil
                activeWhileStreaming = h2.activeStreams
                transfer.cancel()
                let start = h2.loop.now.milliseconds
                h2.loop.onNextTurn { curl.close() }
                whenTrue(h2.loop, { h2.activeStreams == 0 }) {
                    elapsed = h2.loop.now.milliseconds - start
                    activeAfter = h2.activeStreams
                    ended = h2.endedStreams
                    finish()
                }
            }
            send(curl, port: h2.port, into: answer)
        }
        #expect(activeWhileStreaming == 1)
        #expect(activeAfter == 0)
        #expect(ended == 1)
        #expect(elapsed < 2_000, "\(elapsed) ms")
        #expect(answer.failure == nil, "a cancelled transfer reports nothing")
    }

    /// Transfers started as connections fill (the steady state of a proxy under load) share them:
    /// 100 streams per connection, curl's default and the advertised limit.
    @Test(.enabled(if: libcurlReusesPriorKnowledge, "libcurl < 8.0 cannot reuse a prior-knowledge connection"))
    func curlSharesConnectionsAmongConcurrentTransfers() throws {
        let count = 200
        let scenario = Scenario.synthetic(chunkCount: 5, chunkBytes: 16, delayMs: 50)
        var answers: [CurlAnswer] = []
        var peakActive = 0, connections = -1
        try withUpstreams(timeoutMs: 30_000) { h2, _, curl, finish in
            h2.defaultScenario = scenario
            h2.onRequest = { _ in peakActive = max(peakActive, h2.activeStreams + 1) }
            var left = count
            func start(_ n: Int) {
                for _ in 0..<n {
                    let answer = CurlAnswer()
                    answer.onComplete = { _ in
                        left -= 1
                        if left == 0 {
                            connections = h2.connectionsAccepted
                            finish()
                        }
                    }
                    answers.append(answer)
                    send(curl, port: h2.port, into: answer)
                }
            }
            // One transfer opens the first connection; once it streams, 99 more fill it and one
            // opens the second; once that one streams, the last 99 fill the second.
            start(1)
            whenTrue(h2.loop, { h2.activeStreams == 1 }) {
                start(100)
                whenTrue(h2.loop, { h2.activeStreams == 101 }) { start(99) }
            }
        }
        #expect(answers.count == count)
        #expect(answers.allSatisfy { $0.failure == .some(nil) && $0.body == scenario.streamPlan?.body })
        #expect(connections >= 2 && connections <= 4, "\(connections) connections")
        #expect(peakActive == count)
    }

    /// All 200 at once: curl opens a connection for every transfer that finds the others full
    /// unless it may wait for a connection still being made (CURLOPT_PIPEWAIT), which the
    /// proxy's client does not ask for.
    @Test(.enabled(if: libcurlReusesPriorKnowledge, "libcurl < 8.0 cannot reuse a prior-knowledge connection"))
    func curlBurstOfTransfersCompletes() throws {
        let count = 200
        let scenario = Scenario.synthetic(chunkCount: 5, chunkBytes: 16, delayMs: 50)
        var answers: [CurlAnswer] = []
        var connections = -1
        try withUpstreams(timeoutMs: 30_000) { h2, _, curl, finish in
            h2.defaultScenario = scenario
            var left = count
            for _ in 0..<count {
                let answer = CurlAnswer()
                answer.onComplete = { _ in
                    left -= 1
                    if left == 0 {
                        connections = h2.connectionsAccepted
                        finish()
                    }
                }
                answers.append(answer)
                send(curl, port: h2.port, into: answer)
            }
        }
        #expect(answers.count == count)
        #expect(answers.allSatisfy { $0.failure == .some(nil) && $0.body == scenario.streamPlan?.body })
        withKnownIssue("without CURLOPT_PIPEWAIT a burst opens a connection per transfer that does not fit") {
            #expect(connections <= 4, "\(connections) connections")
        }
    }

    @Test(.enabled(if: libcurlReusesPriorKnowledge, "libcurl < 8.0 cannot reuse a prior-knowledge connection"))
    func curlCancelLeavesTheOtherStreamOnTheConnectionGoing() throws {
        let slow = Scenario.synthetic(chunkCount: 20, chunkBytes: 8, delayMs: 10)
        let cancelled = CurlAnswer(), kept = CurlAnswer()
        var activeAfterCancel = -1, connections = -1
        try withUpstreams { h2, _, curl, finish in
            h2.defaultScenario = slow
            kept.onComplete = { _ in
                connections = h2.connectionsAccepted
                finish()
            }
            kept.onBody = { _, _ in
                kept.onBody = nil
                cancelled.onBody = { transfer, _ in
                    cancelled.onBody = nil
                    transfer.cancel()
                    whenTrue(h2.loop, { h2.activeStreams == 1 }) { activeAfterCancel = h2.activeStreams }
                }
                h2.loop.onNextTurn { send(curl, port: h2.port, into: cancelled) }
            }
            send(curl, port: h2.port, into: kept)
        }
        #expect(activeAfterCancel == 1)
        #expect(kept.failure == .some(nil))
        #expect(kept.body == slow.streamPlan?.body)
        #expect(connections == 1)
    }

    @Test(.enabled(if: libcurlReusesPriorKnowledge, "libcurl < 8.0 cannot reuse a prior-knowledge connection"))
    func curlSeesACutOnlyOnItsOwnTransfer() throws {
        let slow = Scenario.synthetic(chunkCount: 10, chunkBytes: 8, delayMs: 10)
        let cut = CurlAnswer(), kept = CurlAnswer()
        var connections = -1
        try withUpstreams { h2, _, curl, finish in
            h2.namedScenarios["slow"] = slow
            var left = 2
            let done: (CurlAnswer) -> Void = { _ in
                left -= 1
                if left == 0 {
                    connections = h2.connectionsAccepted
                    finish()
                }
            }
            cut.onComplete = done
            kept.onComplete = done
            kept.onBody = { _, _ in
                kept.onBody = nil
                h2.loop.onNextTurn { send(curl, port: h2.port, body: chatBody(model: "scenario:cut"), into: cut) }
            }
            send(curl, port: h2.port, body: chatBody(model: "scenario:slow"), into: kept)
        }
        #expect(kept.failure == .some(nil))
        #expect(kept.body == slow.streamPlan?.body)
        if case .some(.some(.transport(let detail))) = cut.failure {
            #expect(detail.contains("INTERNAL_ERROR") || detail.contains("HTTP/2"), "\(detail)")
        } else {
            Issue.record("the cut transfer should fail, got \(String(describing: cut.failure))")
        }
        #expect(cut.body == Scenario.cut().streamPlan?.body)
        #expect(connections == 1)
    }

    // MARK: Through a bare HTTP/2 client

    /// Starts an HTTP/2 upstream on a fresh loop that must close cleanly.
    func withUpstream(timeoutMs: UInt64 = 20_000, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: (ScriptedUpstream, @escaping () -> Void) throws -> Void) throws {
        var keep: [AnyObject] = []
        let run = try runLoop(timeout: .milliseconds(timeoutMs)) { loop in
            let upstream = ScriptedUpstream(loop: loop)
            try upstream.start(http2: true)
            keep = [upstream]
            try body(upstream) { upstream.shutdown {} }
        }
        withExtendedLifetime(keep) {}
        run.expectClean(sourceLocation: sourceLocation)
    }

    /// Each compiled write leaves as one DATA frame, and the last one carries the end of the stream.
    @Test func eachWriteIsOneDataFrame() throws {
        let scenario = Scenario.unicode()
        let plan = try #require(scenario.streamPlan)
        var answer: H2TestClient.Answer?
        var kept: [H2TestClient] = []
        try withUpstream { upstream, finish in
            upstream.enqueue(scenario)
            H2TestClient.connect(upstream.loop, port: upstream.port) { client in
                guard let client else { finish(); return }
                kept.append(client)
                let id = client.request(body: chatBody())
                client.onUpdate = { c in
                    guard let a = c.answers[id], a.closeCode != nil else { return }
                    answer = a
                    c.onUpdate = nil
                    c.close()
                    finish()
                }
            }
        }
        let a = try #require(answer)
        #expect(a.status == 200)
        #expect(a.closeCode == 0)
        #expect(a.body == plan.body)
        #expect(a.frameSizes == plan.writes.map(\.count))
    }

    /// 200 paced streams on two connections of 100 (the advertised limit), all at once.
    @Test func manyStreamsShareAFewConnections() throws {
        let perConnection = 100
        let scenario = Scenario.synthetic(chunkCount: 4, chunkBytes: 16, delayMs: 20)
        var bodies: [[UInt8]] = []
        var peakActive = 0, connections = -1, ended = -1
        var kept: [H2TestClient] = []
        try withUpstream { upstream, finish in
            upstream.defaultScenario = scenario
            upstream.onRequest = { _ in peakActive = max(peakActive, upstream.activeStreams + 1) }
            for _ in 0..<2 {
                H2TestClient.connect(upstream.loop, port: upstream.port) { client in
                    guard let client else { finish(); return }
                    kept.append(client)
                    let ids = (0..<perConnection).map { _ in client.request(body: chatBody()) }
                    client.onUpdate = { c in
                        guard ids.allSatisfy({ c.answers[$0]?.closeCode != nil }) else { return }
                        c.onUpdate = nil
                        bodies += ids.map { c.answers[$0]?.body ?? [] }
                        c.close()
                        guard bodies.count == 2 * perConnection else { return }
                        whenTrue(upstream.loop, { upstream.activeStreams == 0 }) {
                            connections = upstream.connectionsAccepted
                            ended = upstream.endedStreams
                            finish()
                        }
                    }
                }
            }
        }
        #expect(bodies.count == 2 * perConnection)
        #expect(bodies.allSatisfy { $0 == scenario.streamPlan?.body })
        #expect(connections == 2)
        #expect(ended == 2 * perConnection)
        #expect(peakActive == 2 * perConnection)
    }

    @Test func clientResetEndsOnlyThatStream() throws {
        let slow = Scenario.synthetic(chunkCount: 10, chunkBytes: 8, delayMs: 10)
        var kept: [H2TestClient] = []
        var activeAfterReset = -1, keptAnswer: H2TestClient.Answer?, ended = -1
        try withUpstream { upstream, finish in
            upstream.defaultScenario = slow
            upstream.enqueue(.stall(pauseMs: nil))
            H2TestClient.connect(upstream.loop, port: upstream.port) { client in
                guard let client else { finish(); return }
                kept.append(client)
                let hanging = client.request(body: chatBody())
                let going = client.request(body: chatBody())
                var resetSent = false
                client.onUpdate = { c in
                    if !resetSent, let body = c.answers[hanging]?.body, !body.isEmpty {
                        resetSent = true
                        c.reset(hanging)
                        whenTrue(upstream.loop, { upstream.activeStreams <= 1 }) {
                            activeAfterReset = upstream.activeStreams
                        }
                    }
                    guard let a = c.answers[going], a.closeCode != nil else { return }
                    keptAnswer = a
                    c.onUpdate = nil
                    ended = upstream.endedStreams
                    c.close()
                    finish()
                }
            }
        }
        #expect(activeAfterReset == 1)
        #expect(keptAnswer?.closeCode == 0)
        #expect(keptAnswer?.body == slow.streamPlan?.body)
        #expect(ended == 2)
    }

    @Test func cutResetsItsStreamWithInternalErrorAndSparesTheOthers() throws {
        let slow = Scenario.synthetic(chunkCount: 10, chunkBytes: 8, delayMs: 5)
        var kept: [H2TestClient] = []
        var cut: H2TestClient.Answer?, other: H2TestClient.Answer?
        var connectionOpen = false
        try withUpstream { upstream, finish in
            upstream.enqueue(.cut())
            upstream.enqueue(slow)
            H2TestClient.connect(upstream.loop, port: upstream.port) { client in
                guard let client else { finish(); return }
                kept.append(client)
                let a = client.request(body: chatBody())
                let b = client.request(body: chatBody())
                client.onUpdate = { c in
                    guard c.answers[a]?.closeCode != nil, c.answers[b]?.closeCode != nil else { return }
                    c.onUpdate = nil
                    cut = c.answers[a]
                    other = c.answers[b]
                    connectionOpen = !c.ended
                    c.close()
                    finish()
                }
            }
        }
        #expect(cut?.status == 200)
        #expect(cut?.closeCode == NGHTTP2_INTERNAL_ERROR.rawValue)
        #expect(cut?.body == Scenario.cut().streamPlan?.body)
        #expect(other?.closeCode == 0)
        #expect(other?.body == slow.streamPlan?.body)
        #expect(connectionOpen)
    }

    /// A stream whose flow-control window stays shut parks its player once it buffered enough;
    /// opening the window resumes it and nothing is lost.
    @Test func shutWindowParksThePlayerUntilItOpens() throws {
        let scenario = Scenario.synthetic(chunkCount: 64, chunkBytes: 4_096)
        let plan = try #require(scenario.streamPlan)
        var kept: [H2TestClient] = []
        var parked = false, receivedWhileParked = -1
        var answer: H2TestClient.Answer?
        try withUpstream { upstream, finish in
            upstream.enqueue(scenario)
            H2TestClient.connect(upstream.loop, port: upstream.port, initialWindow: 1_024, manualWindow: true) { client in
                guard let client else { finish(); return }
                kept.append(client)
                let id = client.request(body: chatBody())
                client.hold(id)
                whenTrue(upstream.loop, { upstream.blockedStreams == 1 }) {
                    parked = true
                    receivedWhileParked = client.answers[id]?.body.count ?? -1
                    client.release(id)
                }
                client.onUpdate = { c in
                    guard let a = c.answers[id], a.closeCode != nil else { return }
                    c.onUpdate = nil
                    answer = a
                    c.close()
                    finish()
                }
            }
        }
        #expect(parked)
        #expect(receivedWhileParked <= 1_024)
        #expect(answer?.closeCode == 0)
        #expect(answer?.body == plan.body)
    }

    /// A client that stops reading fills the socket; the streams park until it drains.
    @Test func fullSocketParksThePlayerUntilItDrains() throws {
        let scenario = Scenario.synthetic(chunkCount: 256, chunkBytes: 64 * 1024)
        let plan = try #require(scenario.streamPlan)
        var kept: [H2TestClient] = []
        var parked = false
        var answer: H2TestClient.Answer?
        try withUpstream(timeoutMs: 60_000) { upstream, finish in
            upstream.enqueue(scenario)
            H2TestClient.connect(upstream.loop, port: upstream.port, initialWindow: 1 << 30, connectionWindow: 1 << 30) { client in
                guard let client else { finish(); return }
                kept.append(client)
                let id = client.request(body: chatBody())
                client.onUpdate = { c in
                    guard c.answers[id]?.status != nil, !parked else { return }
                    c.connection.stopReading()
                    whenTrue(upstream.loop, { upstream.blockedStreams == 1 }) {
                        parked = true
                        c.onUpdate = { c in
                            guard let a = c.answers[id], a.closeCode != nil else { return }
                            c.onUpdate = nil
                            answer = a
                            c.close()
                            finish()
                        }
                        try? c.connection.resumeReading()
                    }
                }
            }
        }
        #expect(parked)
        #expect(answer?.closeCode == 0)
        #expect(answer?.body.count == plan.body.count)
        #expect(answer?.body == plan.body)
    }

    @Test func shutdownEndsHangingStreamsAndSaysGoAway() throws {
        var kept: [H2TestClient] = []
        var ended = -1
        var client: H2TestClient?
        let run = try runLoop { loop in
            let upstream = ScriptedUpstream(loop: loop)
            try upstream.start(http2: true)
            upstream.defaultScenario = .stall(pauseMs: nil)
            H2TestClient.connect(loop, port: upstream.port) { c in
                guard let c else { return }
                kept.append(c)
                client = c
                c.request(body: chatBody())
            }
            whenTrue(loop, { upstream.activeStreams == 1 }) {
                upstream.shutdown { ended = upstream.endedStreams }
            }
        }
        run.expectClean()
        #expect(ended == 1)
        #expect(client?.goAwayReceived == true)
        #expect(client?.ended == true)
    }

    @Test func http1ClientIsTurnedAway() throws {
        var exchange: Exchange?
        var played = -1
        try withUpstream { upstream, finish in
            post(upstream.loop, port: upstream.port) { result in
                exchange = result
                played = upstream.scenariosPlayed
                finish()
            }
        }
        #expect(exchange?.ended == true)
        #expect(exchange?.response == nil)
        #expect(played == 0)
    }
}
