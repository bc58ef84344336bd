import EventLoop
import HTTPServer
import TestSupport
import Testing

@testable import UpstreamClient

/// Records what a transfer delivered.
final class Recorder: UpstreamTransferDelegate {
    var status: Int?
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var failure: UpstreamFailure??
    var bodyCalls = 0
    var onBody: ((UpstreamTransfer, Recorder) -> Void)?
    var onComplete: ((Recorder) -> Void)?

    func transferDidReceiveHead(_ transfer: UpstreamTransfer, status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        self.headers = headers
    }
    func transferDidReceiveBody(_ transfer: UpstreamTransfer, _ bytes: UnsafeRawBufferPointer) {
        bodyCalls += 1
        body += bytes
        onBody?(transfer, self)
    }
    func transferDidComplete(_ transfer: UpstreamTransfer, failure: UpstreamFailure?) {
        self.failure = .some(failure)
        onComplete?(self)
    }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A loopback HTTP server and a curl multi on one loop; `done` tears both down.
func withUpstream(
    config: HTTPServerConfig = HTTPServerConfig(),
    sourceLocation: SourceLocation = #_sourceLocation,
    handler: @escaping (EventLoop, HTTPRequest, HTTPResponder) -> Void,
    _ body: (_ loop: EventLoop, _ curl: CurlMulti, _ port: Int, _ done: @escaping () -> Void) throws -> Void
) throws {
    var config = config
    config.host = "127.0.0.1"
    config.port = 0
    var keep: [AnyObject] = []
    let run = try runLoop { loop in
        let server = HTTPServer(loop: loop, config: config) { request, responder in handler(loop, request, responder) }
        let port = try server.start()
        let curl = try CurlMulti(loop: loop)
        keep = [server, curl]
        var finished = false
        try body(loop, curl, port) {
            guard !finished else { return }
            finished = true
            curl.close()
            server.beginShutdown(timeout: .milliseconds(500)) {}
        }
    }
    withExtendedLifetime(keep) {}
    run.expectClean(sourceLocation: sourceLocation)
}

@Suite(.serialized) struct CurlMultiTests {
    @Test func postsTheBodyAndReceivesStatusHeadersAndBody() throws {
        var seen: HTTPRequest?
        let recorder = Recorder()
        try withUpstream(handler: { _, request, responder in
            seen = request
            responder.respond(status: 201, headers: [("Content-Type", "text/plain"), ("X-Test", "yes")],
                              body: Array("got \(request.body.count) bytes".utf8))
        }) { loop, curl, port, done in
            recorder.onComplete = { _ in done() }
            curl.start(UpstreamRequest(
                url: "http://127.0.0.1:\(port)/v1/chat/completions", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer k")],
                body: Array(#"{"a":1}"#.utf8)), delegate: recorder)
        }
        #expect(recorder.status == 201)
        #expect(recorder.text == "got 7 bytes")
        #expect(recorder.headers.contains { $0.name == "x-test" && $0.value == "yes" })
        #expect(recorder.failure == .some(nil))
        #expect(seen?.method == "POST")
        #expect(seen?.path == "/v1/chat/completions")
        #expect(seen?.header("authorization") == "Bearer k")
        #expect(seen?.header("expect") == nil)
        #expect(String(decoding: seen?.body ?? [], as: UTF8.self) == #"{"a":1}"#)
    }

    /// A body this large is read through the read callback over HTTP/1.1 too (shared with the
    /// caller rather than copied); it must arrive whole, without `Expect: 100-continue`.
    @Test func postsALargeBodyOverHTTP1WithoutCopyingIt() throws {
        var seen: HTTPRequest?
        var heldWhileSending = false
        let recorder = Recorder()
        let body = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        var transfer: UpstreamTransfer?
        try withUpstream(handler: { _, request, responder in
            seen = request
            heldWhileSending = transfer?.holdsUploadBody ?? false
            responder.respond(status: 200, body: Array("ok".utf8))
        }) { loop, curl, port, done in
            recorder.onComplete = { _ in done() }
            transfer = curl.start(UpstreamRequest(
                url: "http://127.0.0.1:\(port)/v1/chat/completions", headers: [("Content-Type", "application/json")],
                body: body, httpVersion: .http1_1), delegate: recorder)
        }
        #expect(recorder.status == 200)
        #expect(heldWhileSending)
        #expect(transfer?.holdsUploadBody == false)
        #expect(seen?.header("expect") == nil)
        #expect(seen?.body.count == body.count)
        #expect(seen?.body == body)
    }

    @Test func streamedChunksArriveInOrder() throws {
        let recorder = Recorder()
        try withUpstream(handler: { loop, _, responder in
            responder.startStream(status: 200, headers: [("Content-Type", "text/event-stream")])
            var n = 0
            func next() {
                n += 1
                responder.write(Array("data: \(n)\n\n".utf8))
                if n == 5 { responder.finish() } else {
                    let t = try! Timer(loop: loop)
                    try! t.start(after: .milliseconds(5)) { t.close(); next() }
                }
            }
            next()
        }) { loop, curl, port, done in
            recorder.onComplete = { _ in done() }
            curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/s", body: []), delegate: recorder)
        }
        #expect(recorder.text == (1...5).map { "data: \($0)\n\n" }.joined())
        #expect(recorder.failure == .some(nil))
    }

    /// A transfer started from inside another's body callback (curl refuses to be re-entered
    /// there) is added once curl has returned, and completes.
    @Test func transferStartedInsideACallbackCompletes() throws {
        let first = Recorder(), second = Recorder()
        try withUpstream(handler: { _, request, responder in
            responder.respond(status: 200, body: Array("answer to \(request.path)".utf8))
        }) { _, curl, port, done in
            first.onBody = { _, _ in
                guard first.bodyCalls == 1 else { return }
                second.onComplete = { _ in done() }
                curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/second"), delegate: second)
            }
            curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/first"), delegate: first)
        }
        #expect(first.text == "answer to /first")
        #expect(second.status == 200)
        #expect(second.text == "answer to /second")
        #expect(second.failure == .some(nil))
    }

    @Test func connectionIsReusedForSequentialTransfers() throws {
        var connectionIDs: [UInt64] = []
        try withUpstream(handler: { _, request, responder in
            connectionIDs.append(request.connectionID)
            responder.respond(status: 200, body: Array("ok".utf8))
        }) { loop, curl, port, done in
            var recorders: [Recorder] = []
            var remaining = 3
            func one() {
                let r = Recorder()
                recorders.append(r)  // the transfer holds its delegate weakly
                r.onComplete = { _ in
                    remaining -= 1
                    if remaining == 0 { done() } else { one() }
                }
                curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/x", body: Array("{}".utf8)), delegate: r)
            }
            one()
        }
        #expect(connectionIDs.count == 3)
        #expect(Set(connectionIDs).count == 1)
    }

    @Test func errorStatusDeliversItsBody() throws {
        let recorder = Recorder()
        try withUpstream(handler: { loop, _, responder in
            responder.respond(status: 429, headers: [("Retry-After", "7"), ("Content-Type", "application/json")],
                              body: Array(#"{"error":{"message":"slow down"}}"#.utf8))
        }) { _, curl, port, done in
            recorder.onComplete = { _ in done() }
            curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/x", body: Array("{}".utf8)), delegate: recorder)
        }
        #expect(recorder.status == 429)
        #expect(recorder.headers.contains { $0.name == "retry-after" && $0.value == "7" })
        #expect(recorder.text.contains("slow down"))
        #expect(recorder.failure == .some(nil))
    }

    @Test func refusedConnectionIsAConnectFailure() throws {
        let recorder = Recorder()
        // Bind then close a listener to get a port nobody listens on.
        var closedPort = 0
        _ = try runLoop { loop in
            let l = try TCPListener(loop: loop)
            try l.bind(host: "127.0.0.1", port: 0)
            closedPort = try l.localAddress.port
            l.close()
        }
        try withUpstream(handler: { _, _, r in r.respond(status: 200) }) { _, curl, _, done in
            recorder.onComplete = { _ in done() }
            curl.start(UpstreamRequest(url: "http://127.0.0.1:\(closedPort)/x", body: []), delegate: recorder)
        }
        guard case .some(.some(.connect)) = recorder.failure else {
            Issue.record("expected a connect failure, got \(String(describing: recorder.failure))")
            return
        }
        #expect(recorder.status == nil)
    }

    @Test func silentUpstreamHitsTheStallTimeout() throws {
        let recorder = Recorder()
        var upstreamSawClientLeave = false
        try withUpstream(handler: { loop, _, responder in
            responder.startStream(status: 200)
            responder.write(Array("data: first\n\n".utf8))
            responder.onClientGone = { upstreamSawClientLeave = true }
            // Then nothing more.
        }) { loop, curl, port, done in
            recorder.onComplete = { _ in
                // Give the server a moment to notice the closed connection.
                let t = try! Timer(loop: loop)
                try! t.start(after: .milliseconds(50)) { t.close(); done() }
            }
            curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/x", body: [], stallTimeout: .milliseconds(150)), delegate: recorder)
        }
        #expect(recorder.failure == .some(.stalled(.milliseconds(150))))
        #expect(recorder.text == "data: first\n\n")
        #expect(upstreamSawClientLeave)
    }

    @Test func cancelClosesTheUpstreamConnectionAndStaysSilent() throws {
        let recorder = Recorder()
        var upstreamSawClientLeave = false
        try withUpstream(handler: { loop, _, responder in
            responder.startStream(status: 200)
            responder.write(Array("data: 1\n\n".utf8))
            responder.onClientGone = { upstreamSawClientLeave = true }
        }) { loop, curl, port, done in
            recorder.onBody = { transfer, _ in
                transfer.cancel()
                // Wait until the server saw the connection close.
                let t = try! Timer(loop: loop)
                var polls = 0
                try! t.start(after: .milliseconds(5), repeating: .milliseconds(5)) {
                    polls += 1
                    if upstreamSawClientLeave || polls > 400 {
                        curlActiveAfterCancel = curl.activeTransferCount
                        t.close()
                        done()
                    }
                }
            }
            curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/x", body: []), delegate: recorder)
        }
        #expect(upstreamSawClientLeave)
        #expect(recorder.failure == nil, "no completion after cancel")
        #expect(curlActiveAfterCancel == 0)
    }

    /// A paused transfer stops reading: the upstream's writes back up on its side, so what
    /// the proxy holds stays bounded however much the upstream has to send.
    @Test func pausedTransferStopsReadingUntilResumed() throws {
        let recorder = Recorder()
        let total = 8 << 20
        var serverBlocked = false
        var receivedWhilePaused = 0
        try withUpstream(handler: { loop, _, responder in
            responder.startStream(status: 200)
            let block = [UInt8](repeating: 65, count: 64 * 1024)
            var sent = 0
            func pump() {
                while sent < total {
                    sent += block.count
                    if !responder.write(block) {
                        serverBlocked = true
                        responder.onWritable = { pump() }
                        return
                    }
                }
                responder.finish()
            }
            pump()
        }) { loop, curl, port, done in
            var paused = false
            recorder.onBody = { transfer, r in
                guard !paused, r.body.count >= 256 * 1024 else { return }
                paused = true
                transfer.pause()
                let mark = r.body.count
                let t = try! Timer(loop: loop)
                try! t.start(after: .milliseconds(200)) {
                    t.close()
                    receivedWhilePaused = r.body.count - mark
                    transfer.resume()
                }
            }
            recorder.onComplete = { _ in done() }
            curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/big", body: []), delegate: recorder)
        }
        #expect(recorder.body.count == total)
        #expect(receivedWhilePaused == 0)
        #expect(serverBlocked, "the upstream felt backpressure while the transfer was paused")
        #expect(recorder.failure == .some(nil))
    }
}

/// The multi's open transfers after a cancel (set by that test on the loop thread).
nonisolated(unsafe) var curlActiveAfterCancel = -1

@Suite(.serialized) struct CurlDetachTests {
    /// A detached transfer reads the rest of the body quietly, so its connection serves the
    /// next transfer (a cancel would close it).
    @Test func detachedTransferKeepsTheConnectionForTheNextOne() throws {
        var connectionIDs: [UInt64] = []
        let first = Recorder()
        let second = Recorder()
        try withUpstream(handler: { loop, request, responder in
            connectionIDs.append(request.connectionID)
            responder.startStream(status: 200)
            responder.write(Array("data: [DONE]\n\n".utf8))
            let t = try! Timer(loop: loop)
            try! t.start(after: .milliseconds(30)) {
                t.close()
                responder.write(Array("trailing bytes\n".utf8))
                responder.finish()
            }
        }) { loop, curl, port, done in
            first.onBody = { transfer, _ in
                transfer.detach(grace: .seconds(2))
                // Start the next request once the first body has ended.
                let t = try! Timer(loop: loop)
                try! t.start(after: .milliseconds(100)) {
                    t.close()
                    second.onComplete = { _ in done() }
                    curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/b", body: []), delegate: second)
                }
            }
            curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/a", body: []), delegate: first)
        }
        #expect(first.failure == nil, "a detached transfer reports nothing")
        #expect(first.text == "data: [DONE]\n\n")
        #expect(second.failure == .some(nil))
        #expect(connectionIDs.count == 2)
        #expect(Set(connectionIDs).count == 1, "the second transfer reused the connection")
    }

    // MARK: reused handles and header lists

    /// One request of a sequence, and what the server saw of it.
    struct Exchange {
        var request: UpstreamRequest
        var seenMethod: String?
        var seenBody: [UInt8] = []
        var seenHeaders: [(name: String, value: String)] = []
        let recorder = Recorder()
    }

    /// Runs `requests` one after another on one multi (each starts when the last completed);
    /// the server answers each with its method and body size. Returns the exchanges and the
    /// handles the multi made.
    func sequence(_ requests: [(Int) -> UpstreamRequest]) throws -> (exchanges: [Exchange], handlesMade: Int, sharedLists: Int) {
        var exchanges: [Exchange] = []
        var current = -1
        var handlesMade = 0
        var sharedLists = 0
        try withUpstream(handler: { _, request, responder in
            exchanges[current].seenMethod = request.method
            exchanges[current].seenBody = request.body
            exchanges[current].seenHeaders = request.headers
            responder.respond(status: 200, body: Array("\(request.method) \(current) \(request.body.count)".utf8))
        }) { loop, curl, port, done in
            exchanges = requests.map { Exchange(request: $0(port)) }
            func next() {
                current += 1
                guard current < exchanges.count else {
                    handlesMade = curl.easyHandlesMade
                    sharedLists = curl.sharedHeaderListCount
                    done()
                    return
                }
                // A turn later: the finished transfer's handle is given back after its completion.
                exchanges[current].recorder.onComplete = { _ in loop.onNextTurn { next() } }
                curl.start(exchanges[current].request, delegate: exchanges[current].recorder)
            }
            next()
        }
        return (exchanges, handlesMade, sharedLists)
    }

    /// A finished transfer's handle serves the next, and nothing of the last request goes with it:
    /// a copied body, a body read through the callback, no body, another method, other headers.
    @Test func aReusedHandleCarriesNothingOfTheLastRequest() throws {
        let large = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let json: [(name: String, value: String)] = [("Content-Type", "application/json"), ("Authorization", "Bearer a")]
        let (exchanges, handlesMade, sharedLists) = try sequence([
            { UpstreamRequest(url: "http://127.0.0.1:\($0)/a", headers: json, body: Array("small".utf8), httpVersion: .http1_1) },
            { UpstreamRequest(url: "http://127.0.0.1:\($0)/b", headers: json, body: large, httpVersion: .http1_1) },
            { UpstreamRequest(url: "http://127.0.0.1:\($0)/c", method: "GET", headers: [("X-Other", "1")]) },
            { UpstreamRequest(url: "http://127.0.0.1:\($0)/d", method: "PUT", headers: json, body: Array("put".utf8)) },
            { UpstreamRequest(url: "http://127.0.0.1:\($0)/e", headers: json, body: Array("again".utf8)) },
        ])
        #expect(handlesMade == 1, "every transfer after the first reused the handle")
        #expect(sharedLists == 2)
        #expect(exchanges.map(\.seenMethod) == ["POST", "POST", "GET", "PUT", "POST"])
        #expect(exchanges.map { String(decoding: $0.seenBody.prefix(8), as: UTF8.self) }
            == ["small", String(decoding: large.prefix(8), as: UTF8.self), "", "put", "again"])
        #expect(exchanges[1].seenBody == large)
        #expect(exchanges.map(\.recorder.text) == ["POST 0 5", "POST 1 300000", "GET 2 0", "PUT 3 3", "POST 4 5"])
        for exchange in exchanges {
            #expect(exchange.recorder.failure == .some(nil))
            #expect(exchange.recorder.bodyCalls == 1, "each recorder heard only its own transfer")
        }
        #expect(exchanges[2].seenHeaders.contains { $0.name.lowercased() == "x-other" })
        #expect(!exchanges[2].seenHeaders.contains { $0.name.lowercased() == "authorization" })
        #expect(exchanges[4].seenHeaders.contains { $0.name.lowercased() == "authorization" && $0.value == "Bearer a" })
        #expect(!exchanges[4].seenHeaders.contains { $0.name.lowercased() == "x-other" })
    }

    /// A transfer cancelled mid-body leaves curl's handle in a state nobody should inherit (a
    /// half-read response, maybe a pause): it is freed, and the next transfer gets a new one.
    @Test func aCancelledTransfersHandleIsNotReused() throws {
        let first = Recorder()
        let second = Recorder()
        var handlesMade = 0
        var spareAfterCancel = -1
        try withUpstream(handler: { _, request, responder in
            if request.path == "/stream" {
                responder.startStream(status: 200)
                responder.write(Array("data: 1\n\n".utf8))
            } else {
                responder.respond(status: 200, body: Array("ok".utf8))
            }
        }) { loop, curl, port, done in
            first.onBody = { transfer, _ in
                loop.onNextTurn {
                    transfer.cancel()
                    spareAfterCancel = curl.spareEasyCount
                    second.onComplete = { _ in
                        handlesMade = curl.easyHandlesMade
                        done()
                    }
                    curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/plain", body: []), delegate: second)
                }
            }
            curl.start(UpstreamRequest(url: "http://127.0.0.1:\(port)/stream", body: []), delegate: first)
        }
        #expect(spareAfterCancel == 0)
        #expect(handlesMade == 2)
        #expect(first.failure == nil)
        #expect(second.text == "ok")
        #expect(second.failure == .some(nil))
    }

    @Test func httpsSchemeIsFoundInAnyCase() {
        #expect(UpstreamRequest.isHTTPS("https://a"))
        #expect(UpstreamRequest.isHTTPS("HTTPS://a"))
        #expect(UpstreamRequest.isHTTPS("hTtPs:"))
        #expect(!UpstreamRequest.isHTTPS("http://a"))
        #expect(!UpstreamRequest.isHTTPS("https"))
        #expect(!UpstreamRequest.isHTTPS(""))
        #expect(!UpstreamRequest.isHTTPS("xhttps://a"))
    }

    @Test func headerNamesAreLowercasedAndNonUTF8OnesDropped() {
        func name(_ bytes: [UInt8]) -> String? { bytes.withUnsafeBytes { UpstreamTransfer.lowercased($0) } }
        #expect(name(Array("Content-Type".utf8)) == "content-type")
        #expect(name(Array("X-RateLimit-9_z".utf8)) == "x-ratelimit-9_z")
        #expect(name([]) == "")
        #expect(name(Array("Ünï-ÄB".utf8)) == "Ünï-Äb", "only ASCII letters change case")
        #expect(name([0x58, 0xFF, 0x41]) == nil)
    }
}
