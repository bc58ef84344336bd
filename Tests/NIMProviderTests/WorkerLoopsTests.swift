import App
import EventLoop
import HTTPServer
import JSON
import NIMProvider
import ProxyConfig
import ScriptedUpstream
import TestSupport
import Testing

/// Two loops in one process over loopback sockets: the test's loop is the main one (it owns the
/// listener, the scripted upstream and a stand-in bot route), and one worker loop runs on its own
/// thread with its own app and upstream client.
final class TwoLoopHarness: LoopHarness {
    let loop: EventLoop
    let upstream: ScriptedUpstream
    let app: ProxyApp
    let provider: NIMProvider
    let mailbox: LoopMailbox
    let workers: WorkerLoops
    let proxyPort: Int
    var shutdownTimeout = Duration.milliseconds(500)

    /// Bot routes stand in for the CLI and store API: served only by the main loop's app.
    static let botPath = "/store/which_loop"
    static let botStreamPath = "/store/stream"
    /// Writes `floodChunks` of `floodChunkBytes`, waiting whenever the responder says the far
    /// side is full.
    static let botFloodPath = "/store/flood"
    static let floodChunks = 256
    static let floodChunkBytes = 64 * 1024
    /// Times the flood found the responder not writable and waited for `onWritable`.
    var floodWaits = 0
    var onFloodWait: (() -> Void)?

    /// One chunk a millisecond until the first wait, as a CLI's output comes: the worker's report
    /// that its client is full has time to arrive before the flood ends (the kernel's buffers take
    /// megabytes first).
    private func floodInTurns(_ responder: HTTPResponder, left: Int) {
        guard left > 0 else { return responder.finish() }
        guard let timer = try? Timer(loop: loop) else { return responder.finish() }
        try? timer.start(after: floodWaits == 0 ? .milliseconds(1) : .zero) { [unowned self] in
            timer.close()
            let writable = responder.write([UInt8](repeating: UInt8(ascii: "a"), count: Self.floodChunkBytes))
            if writable {
                floodInTurns(responder, left: left - 1)
            } else {
                floodWaits += 1
                responder.onWritable = { [unowned self] in
                    responder.onWritable = nil
                    floodInTurns(responder, left: left - 1)
                }
                onFloodWait?()
            }
        }
    }

    init(loop: EventLoop, configure: (inout Settings) -> Void = { _ in }) throws {
        self.loop = loop
        upstream = ScriptedUpstream(loop: loop)
        upstream.defaultScenario = .text()
        let upstreamPort = try upstream.start()
        var s = Settings()
        s.http.host = "127.0.0.1"
        s.http.port = 0
        s.upstream.baseURL = "http://127.0.0.1:\(upstreamPort)/v1"
        s.upstream.apiKey = "test-key"
        s.upstream.model = "test-model"
        configure(&s)
        let settings = s
        // One rate window and concurrency line per provider for both loops, as `main` makes them.
        let admissions = try ProviderAdmissions.makeAll(settings: settings)
        app = ProxyApp(loop: loop, settings: settings, log: .silent)
        provider = try NIMProvider(loop: loop, settings: settings, log: .silent, admissions: admissions)
        app.streamer = provider
        app.register("POST", Self.botPath) { request, _, responder in
            responder.respond(status: 200, headers: [("Content-Type", "application/json")],
                              body: Array(#"{"loop":"main","request":\#(request.requestID)}"#.utf8))
        }
        app.register("POST", Self.botStreamPath) { _, _, responder in
            responder.startStream(status: 200, headers: [("Content-Type", "application/x-ndjson")], firstBytes: Array("one\n".utf8))
            responder.write(Array("two\n".utf8))
            responder.finish(lastBytes: Array("three\n".utf8))
        }
        // As the bot API adds its CLI and store fields: only the main loop's app has them.
        app.healthContributors.append { [("main_loop_only", .bool(true))] }
        mailbox = try LoopMailbox(loop: loop)
        proxyPort = try app.start()
        workers = WorkerLoops(
            main: app, mailbox: mailbox, workers: 1,
            forwardToMain: { path in path.hasPrefix("/store/") },
            makeWorker: { loop, _ in
                let app = ProxyApp(loop: loop, settings: settings, log: .silent)
                let provider = try NIMProvider(loop: loop, settings: settings, log: .silent, admissions: admissions)
                app.streamer = provider
                return WorkerParts(app: app, close: { provider.close() })
            })
        workers.onProblem = { problem in Issue.record("\(problem)") }
        app.register("POST", Self.botFloodPath) { [unowned self] _, _, responder in
            responder.startStream(status: 200, headers: [("Content-Type", "application/octet-stream")])
            floodInTurns(responder, left: Self.floodChunks)
        }
    }

    /// Starts the worker; `then` runs once it takes connections.
    func start(_ then: @escaping () -> Void) throws {
        try workers.start(onReady: then)
    }

    func request(_ method: String = "POST", _ path: String, body: String = "", _ completion: @escaping (TestResponse?) -> Void) {
        LoopHTTPClient.fetch(loop, port: proxyPort, method: method, path: path,
                             headers: [("Content-Type", "application/json")], body: Array(body.utf8), completion)
    }

    /// Runs `requests` one after another (each on a new connection, so the loops take turns).
    func inTurn(_ requests: [(method: String, path: String, body: String)], _ completion: @escaping ([TestResponse?]) -> Void) {
        var answers: [TestResponse?] = []
        func next() {
            guard answers.count < requests.count else { return completion(answers) }
            let r = requests[answers.count]
            request(r.method, r.path, body: r.body) { answer in
                answers.append(answer)
                next()
            }
        }
        next()
    }

    func shutdown() {
        var left = 2
        let drained = { [self] in
            left -= 1
            guard left == 0 else { return }
            provider.close()
            mailbox.close()
            upstream.shutdown {}
        }
        app.shutdown(timeout: shutdownTimeout, completion: drained)
        workers.shutdown(timeout: shutdownTimeout, completion: drained)
    }
}

func withTwoLoops(configure: (inout Settings) -> Void = { _ in }, sourceLocation: SourceLocation = #_sourceLocation,
                  _ body: @escaping (TwoLoopHarness, _ done: @escaping () -> Void) throws -> Void) throws {
    try runHarness(timeout: .seconds(20), sourceLocation: sourceLocation,
                   make: { try TwoLoopHarness(loop: $0, configure: configure) }) { h, done in
        try h.start {
            do { try body(h, done) } catch {
                Issue.record(error)
                done()
            }
        }
    }
}

let countTokensRequest = #"{"model":"claude-3-sonnet","messages":[{"role":"user","content":"hello"}]}"#

@Suite(.serialized) struct WorkerLoopsTests {
    static let floodBytes = TwoLoopHarness.floodChunks * TwoLoopHarness.floodChunkBytes

    /// Connections alternate between the loops; on each, a stream and a local answer (a token
    /// count) work.
    @Test func connectionsLandOnBothLoopsAndEachServesStreamsAndLocalAnswers() throws {
        var answers: [TestResponse?] = []
        var mainConnections: UInt64 = 0
        var handedOff: UInt64 = 0
        try withTwoLoops { h, done in
            h.inTurn([
                ("POST", "/v1/messages", simpleRequest), ("POST", "/v1/messages", simpleRequest),
                ("POST", "/v1/messages/count_tokens", countTokensRequest), ("POST", "/v1/messages/count_tokens", countTokensRequest),
            ]) { results in
                answers = results
                mainConnections = h.app.server.totalConnections
                handedOff = h.workers.handedOff
                done()
            }
        }
        #expect(mainConnections == 2)
        #expect(handedOff == 2)
        #expect(answers.count == 4)
        for stream in answers.prefix(2) {
            let r = try #require(stream)
            #expect(r.status == 200)
            let summary = AnswerSummary(parseAnthropicSSE(r.body).events)
            #expect(summary.problems.isEmpty, "\(summary.problems)")
            #expect(summary.text == Scenario.text().expected?.text)
        }
        let counts = try answers.suffix(2).map { answer in
            let r = try #require(answer)
            #expect(r.status == 200)
            return try #require((try JSONValue.parse(r.body))["input_tokens"]?.intValue)
        }
        #expect(counts[0] > 0)
        #expect(counts[0] == counts[1])
    }

    /// A bot route reached through the worker's connection is answered by the main loop's app
    /// (the worker's has no such route); a streamed answer crosses whole and in order.
    @Test func botRoutesThroughAWorkerAnswerFromTheMainLoop() throws {
        var answers: [TestResponse?] = []
        var handedOff: UInt64 = 0
        var counted = 0
        try withTwoLoops { h, done in
            h.inTurn([
                ("POST", TwoLoopHarness.botPath, "{}"), ("POST", TwoLoopHarness.botPath, "{}"),
                ("POST", "/v1/models/none/at-all", "{}"), ("POST", TwoLoopHarness.botStreamPath, "{}"),
            ]) { results in
                answers = results
                handedOff = h.workers.handedOff
                counted = h.app.metrics.requestCount(route: TwoLoopHarness.botPath, status: 200)
                done()
            }
        }
        #expect(handedOff == 2)
        #expect(answers.count == 4)
        // Request numbers are the process's: the main loop's odd, the worker's even.
        for (answer, number) in zip(answers.prefix(2), [1, 2]) {
            let r = try #require(answer)
            #expect(r.status == 200)
            #expect(String(decoding: r.body, as: UTF8.self) == #"{"loop":"main","request":\#(number)}"#)
        }
        // Both calls counted by the main loop's metrics: the worker did not run its own pipeline.
        #expect(counted == 2)
        let streamed = try #require(answers[3])
        #expect(streamed.status == 200)
        #expect(streamed.header("content-type") == "application/x-ndjson")
        #expect(String(decoding: streamed.body, as: UTF8.self) == "one\ntwo\nthree\n")
    }

    /// A bot answer streamed from the main loop to a worker's client that does not read: the
    /// worker's full connection makes the main loop's responder unwritable, and the flood resumes
    /// when the client reads; every byte arrives.
    @Test func aForwardedStreamFeelsTheWorkersBackpressure() throws {
        var received = 0
        var waits = 0
        try withTwoLoops { h, done in
            // The first connection takes the main loop's turn; the second, the worker's, floods.
            LoopHTTPClient.connect(h.loop, port: h.proxyPort) { result in
                guard case .success(let first) = result else { return done() }
                LoopHTTPClient.connect(h.loop, port: h.proxyPort, reading: false) { result in
                    guard case .success(let client) = result else { return done() }
                    first.close()
                    h.onFloodWait = {
                        h.onFloodWait = nil
                        client.onUpdate = { c in
                            received = c.received.count
                            // Every byte of the body, then the chunked body's end.
                            guard c.ended || (received > Self.floodBytes && c.received.suffix(5) == Array("0\r\n\r\n".utf8))
                            else { return }
                            waits = h.floodWaits
                            c.onUpdate = nil
                            if !c.ended { c.close() }
                            done()
                        }
                        client.startReading()
                    }
                    client.send(LoopHTTPClient.requestBytes(method: "POST", path: TwoLoopHarness.botFloodPath, body: Array("{}".utf8)))
                }
            }
        }
        #expect(waits > 0)
        #expect(received > Self.floodBytes)
    }

    /// `/health` asked on the worker's connection is gathered there from both loops: it counts a
    /// connection open on each, says how many loops there are, and has the main loop's own parts.
    /// `/metrics` (asked on the main loop's) adds both loops' counts.
    @Test func healthAndMetricsCoverBothLoops() throws {
        var health: JSONValue?
        var scrape = ""
        try withTwoLoops { h, done in
            // The first connection stays open on the main loop; the second, the worker's, asks.
            LoopHTTPClient.connect(h.loop, port: h.proxyPort) { result in
                guard case .success(let idle) = result else { return done() }
                h.request("GET", "/health") { r in
                    health = r.flatMap { try? JSONValue.parse($0.body) }
                    idle.close()
                    // One token count on each loop, then the scrape.
                    h.inTurn([
                        ("POST", "/v1/messages/count_tokens", countTokensRequest),
                        ("POST", "/v1/messages/count_tokens", countTokensRequest),
                        ("GET", ProxyApp.metricsPath, ""),
                    ]) { results in
                        scrape = results.last?.map { String(decoding: $0.body, as: UTF8.self) } ?? ""
                        done()
                    }
                }
            }
        }
        let fields = try #require(health)
        #expect(fields["workers"]?.intValue == 2)
        #expect(fields["http"]?["open_connections"]?.intValue == 2)
        #expect(fields["http"]?["in_flight_requests"]?.intValue == 1)
        #expect(fields["provider"]?["rate_limit"]?.intValue == 40)
        #expect(fields["main_loop_only"]?.boolValue == true)
        #expect(scrape.contains("nim_proxy_requests_total{route=\"/v1/messages/count_tokens\",status=\"200\"} 2\n"), "\(scrape)")
        #expect(scrape.contains("nim_proxy_requests_total{route=\"/health\",status=\"200\"} 1\n"), "\(scrape)")
    }

    /// `MAX_CONNECTIONS` is one limit for the process: with one connection open on each loop and
    /// a limit of two, the third (the main loop's turn, where only one is open) is refused.
    @Test func maxConnectionsCountsEveryLoop() throws {
        var refused: TestResponse?
        try withTwoLoops(configure: { $0.http.maxConnections = 2 }) { h, done in
            LoopHTTPClient.connect(h.loop, port: h.proxyPort) { first in
                LoopHTTPClient.connect(h.loop, port: h.proxyPort) { second in
                    guard case .success(let onMain) = first, case .success(let onWorker) = second else { return done() }
                    // An answer on the worker's connection: it has been adopted and counted.
                    onWorker.onReceive = { c in
                        guard c.responses.first != nil else { return }
                        c.onReceive = nil
                        LoopHTTPClient.fetch(h.loop, port: h.proxyPort, method: "GET", path: "/") { r in
                            refused = r
                            onMain.close()
                            onWorker.close()
                            done()
                        }
                    }
                    onWorker.send(LoopHTTPClient.requestBytes(method: "GET", path: "/"))
                }
            }
        }
        #expect(refused?.status == 503)
    }

    /// `PROVIDER_MAX_CONCURRENCY=1` holds for the process: with a stream open on one loop, the
    /// other loop's stream waits for the place, and `/health` adds both loops' streams.
    @Test func oneConcurrencyCapForBothLoops() throws {
        var provider: JSONValue?
        try withTwoLoops(configure: { $0.upstream.maxConcurrency = 1 }) { h, done in
            h.upstream.defaultScenario = .stall(pauseMs: nil)
            var clients: [LoopHTTPClient] = []
            for _ in 0..<2 {
                LoopHTTPClient.connect(h.loop, port: h.proxyPort) { result in
                    guard case .success(let client) = result else { return done() }
                    clients.append(client)
                    client.send(LoopHTTPClient.requestBytes(
                        method: "POST", path: "/v1/messages", headers: [("Content-Type", "application/json")],
                        body: Array(simpleRequest.utf8)))
                }
            }
            // Asked until both streams are in (each loop reports its own streams).
            var asked = 0
            func ask() {
                asked += 1
                h.request("GET", "/health") { r in
                    let fields = r.flatMap { try? JSONValue.parse($0.body) }?["provider"]
                    let waiting = fields?["waiting_for_concurrency"]?.intValue ?? 0
                    if waiting == 1 || asked == 500 {
                        provider = fields
                        for client in clients { client.close() }
                        done()
                    } else {
                        h.loop.onNextTurn(ask)
                    }
                }
            }
            ask()
        }
        let fields = try #require(provider)
        #expect(fields["waiting_for_concurrency"]?.intValue == 1)
        #expect(fields["concurrent_streams"]?.intValue == 1)
        #expect(fields["open_streams"]?.intValue == 2)
        #expect(fields["max_concurrency"]?.intValue == 1)
    }

    /// Shutting down with a stream open on each loop ends both streams within the timeout, joins
    /// the worker's thread and leaves both loops closed clean.
    @Test func shutdownEndsStreamsOpenOnBothLoops() throws {
        var clients: [LoopHTTPClient] = []
        try withTwoLoops { h, done in
            h.upstream.defaultScenario = .stall(pauseMs: nil)
            h.shutdownTimeout = .milliseconds(200)
            var receiving = 0
            for _ in 0..<2 {
                LoopHTTPClient.connect(h.loop, port: h.proxyPort) { result in
                    guard case .success(let client) = result else { return done() }
                    clients.append(client)
                    var counted = false
                    client.onReceive = { c in
                        guard !counted, c.text.contains("Hello") else { return }
                        counted = true
                        receiving += 1
                        if receiving == 2 { done() }
                    }
                    client.send(LoopHTTPClient.requestBytes(
                        method: "POST", path: "/v1/messages", headers: [("Content-Type", "application/json")],
                        body: Array(simpleRequest.utf8)))
                }
            }
        }
        #expect(clients.count == 2)
        for client in clients {
            #expect(client.ended)
            #expect(client.text.contains(#"{"type": "text_delta", "text": " wor"}"#))
        }
    }
}
