import EventLoop
import HTTPServer
import Testing
import TestSupport

@Suite struct RequestValueTests {
    @Test func targetSplitsIntoPathAndQuery() {
        let request = HTTPRequest(method: "POST", target: "/v1/messages?beta=true")
        #expect(request.path == "/v1/messages")
        #expect(request.query == "beta=true")
        #expect(HTTPRequest(method: "GET", target: "/health").query == nil)
        #expect(HTTPRequest(method: "GET", target: "/a?").query == "")
        #expect(HTTPRequest(method: "GET", target: "http://example.com:8082/v1/x?y=1").path == "/v1/x")
        #expect(HTTPRequest(method: "GET", target: "http://example.com").path == "/")
        let absoluteWithQuery = HTTPRequest(method: "GET", target: "http://example.com?a=/b")
        #expect(absoluteWithQuery.path == "/")
        #expect(absoluteWithQuery.query == "a=/b")
        let onlyQuery = HTTPRequest(method: "GET", target: "?x")
        #expect(onlyQuery.path == "")
        #expect(onlyQuery.query == "x")
        // A value made in code can hold any text: the cuts fall on the ASCII separators only.
        let accented = HTTPRequest(method: "GET", target: "/caf\u{E9}\u{301}?q=\u{1F600}")
        #expect(accented.path == "/caf\u{E9}\u{301}")
        #expect(accented.query == "q=\u{1F600}")
        #expect(HTTPRequest(method: "GET", target: "a:b/c").path == "a:b/c")
    }

    @Test func headerLookupIgnoresCase() {
        let request = HTTPRequest(method: "GET", target: "/", headers: [("X-Api-Key", "k1"), ("x-api-key", "k2")])
        #expect(request.header("x-api-key") == "k1")
        #expect(request.header("X-API-KEY") == "k1")
        #expect(request.header("missing") == nil)
    }

    @Test func knownHeadersAreFoundInAnyCaseAndFollowChanges() {
        var request = HTTPRequest(method: "GET", target: "/", headers: [
            ("X-Other", "1"), ("HOST", "a"), ("Content-Type", "text/plain"), ("host", "b"), ("X-API-KEY", "k"),
            ("Authorization", "Bearer t"), ("Origin", "o"), ("Hosts", "no"), ("x-api-kez", "no"),
        ])
        #expect(request.header(.host) == "a")
        #expect(request.header(.contentType) == "text/plain")
        #expect(request.header(.apiKey) == "k")
        #expect(request.header(.authorization) == "Bearer t")
        #expect(request.header(.origin) == "o")
        // Repeated fields are all searched, in order.
        #expect(request.firstHeader(.host) { $0 != "a" } == "b")
        #expect(request.firstHeader(.host) { $0 == "c" } == nil)
        #expect(request.firstHeader(.origin) { $0 == "o" } == "o")
        // Every known name, and the string lookup agrees with the index.
        for known in KnownHeader.allCases {
            let name = known.name.description
            #expect(request.header(known) == request.header(name.uppercased()), "\(name)")
        }
        request.headers = [("host", "z")]
        #expect(request.header(.host) == "z")
        #expect(request.header(.apiKey) == nil)
        #expect(request.firstHeader(.contentType) { _ in true } == nil)
        request.headers.append(("Origin", "p"))
        #expect(request.header(.origin) == "p")
        #expect(HTTPRequest(method: "GET", target: "/").header(.host) == nil)
    }

    @Test func defaultErrorBodyIsEscapedJSON() {
        let (type, body) = HTTPServerConfig.defaultErrorBody(status: 400, message: "bad \"x\"\n\u{1}")
        #expect(type == "application/json")
        #expect(String(decoding: body, as: UTF8.self) == #"{"error":{"status":400,"message":"bad \"x\"\n\u0001"}}"#)
    }
}

@Suite(.serialized) struct ServerTests {
    @Test func keepAliveServesTwoRequestsOnOneConnection() throws {
        var connectionIDs: [UInt64] = []
        var requestIDs: [UInt64] = []
        var client: LoopHTTPClient?
        try withServer(handler: { request, responder in
            connectionIDs.append(request.connectionID)
            requestIDs.append(request.requestID)
            #expect(request.keepAlive)
            #expect(request.remoteAddress.hasPrefix("127.0.0.1:"))
            okText(responder, "path=\(request.path)")
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
                c.onReceive = { c in
                    let responses = c.responses
                    if responses.count == 1 && connectionIDs.count == 1 {
                        c.send("GET /two?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                    } else if responses.count == 2 {
                        #expect(!c.ended)
                        c.close()
                        done()
                    }
                }
            }
        }
        let responses = client?.responses ?? []
        #expect(responses.map(\.text) == ["path=/one", "path=/two"])
        #expect(responses.allSatisfy { $0.status == 200 && $0.header("connection") == nil })
        #expect(connectionIDs.count == 2 && connectionIDs[0] == connectionIDs[1])
        #expect(requestIDs == [1, 2])
    }

    @Test func pipelinedRequestsAreAnsweredInOrderEvenWhenTheFirstIsSlow() throws {
        var handled: [String] = []
        var client: LoopHTTPClient?
        var eventLoop: EventLoop?
        try withServer(handler: { request, responder in
            handled.append(request.path)
            if request.path == "/slow" {
                let timer = try! Timer(loop: eventLoop!)
                try? timer.start(after: .milliseconds(30)) {
                    timer.close()
                    okText(responder, "slow")
                }
            } else {
                okText(responder, "fast")
            }
        }) { loop, _, port, done in
            eventLoop = loop
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /last HTTP/1.1\r\nHost: x\r\n\r\n")
                c.onReceive = { c in
                    if c.responses.count == 3 { c.close(); done() }
                }
            }
        }
        #expect(client?.responses.map(\.text) == ["slow", "fast", "fast"])
        // The second request reached the handler only after the first was answered.
        #expect(handled == ["/slow", "/fast", "/last"])
    }

    @Test func contentLengthAndChunkedBodiesArriveWhole() throws {
        var bodies: [String] = []
        var client: LoopHTTPClient?
        try withServer(handler: { request, responder in
            bodies.append(String(decoding: request.body, as: UTF8.self))
            okText(responder, "got \(request.body.count)")
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel")
                c.send("lo")
                c.send("POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                c.onReceive = { c in
                    if c.responses.count == 2 { c.close(); done() }
                }
            }
        }
        #expect(bodies == ["hello", "hello world"])
        #expect(client?.responses.map(\.text) == ["got 5", "got 11"])
    }

    @Test func expectContinueGetsA100BeforeTheBodyIsSent() throws {
        var client: LoopHTTPClient?
        var sawContinueBeforeBody = false
        try withServer(handler: { request, responder in
            okText(responder, String(decoding: request.body, as: UTF8.self))
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
                var sentBody = false
                c.onReceive = { c in
                    if !sentBody && c.text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\n") {
                        sawContinueBeforeBody = true
                        sentBody = true
                        c.send("data")
                    }
                    if c.responses.count == 2 { c.close(); done() }
                }
            }
        }
        #expect(sawContinueBeforeBody)
        #expect(client?.responses.map(\.status) == [100, 200])
        #expect(client?.responses.last?.text == "data")
    }

    @Test func headerSectionOver64KiBGets431() throws {
        let big = String(repeating: "a", count: 65 * 1024)
        let response = try expectErrorAndClose(script: ["GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n"])
        #expect(response?.status == 431)
        #expect(response?.header("content-type") == "application/json")
        #expect(response?.text.contains("\"status\":431") == true)
    }

    @Test func declaredBodyOverTheLimitGets413WithoutReadingIt() throws {
        var config = HTTPServerConfig()
        config.maxBodyBytes = 1000
        let response = try expectErrorAndClose(config: config, script: [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "b", count: 100),
        ])
        #expect(response?.status == 413)
    }

    @Test func expectContinueOverTheLimitGets413InsteadOf100() throws {
        var config = HTTPServerConfig()
        config.maxBodyBytes = 1000
        let response = try expectErrorAndClose(config: config, script: [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
        ])
        #expect(response?.status == 413)
    }

    @Test func chunkedBodyAccumulatingOverTheLimitGets413() throws {
        var config = HTTPServerConfig()
        config.maxBodyBytes = 1000
        let chunk = "258\r\n" + String(repeating: "c", count: 600) + "\r\n"
        let response = try expectErrorAndClose(config: config, script: [
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", chunk, chunk, "0\r\n\r\n",
        ])
        #expect(response?.status == 413)
    }

    @Test func malformedRequestGets400() throws {
        let response = try expectErrorAndClose(script: ["THIS IS NOT HTTP\r\n\r\n"])
        #expect(response?.status == 400)
        let badLength = try expectErrorAndClose(script: ["POST / HTTP/1.1\r\nContent-Length: x1\r\n\r\n"])
        #expect(badLength?.status == 400)
    }

    @Test func customErrorBodyIsUsed() throws {
        var config = HTTPServerConfig()
        config.errorBody = { status, _ in ("text/plain", Array("custom \(status)".utf8)) }
        let response = try expectErrorAndClose(config: config, script: ["BAD\r\n\r\n"])
        #expect(response?.text == "custom 400")
        #expect(response?.header("content-type") == "text/plain")
    }

    @Test func slowHeadersTimeOutWith408() throws {
        var config = HTTPServerConfig()
        config.headerTimeout = .milliseconds(50)
        var client: LoopHTTPClient?
        var sentBytes = 0
        let script = Array("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: \(String(repeating: "s", count: 300))\r\n\r\n".utf8)
        try withServer(config: config, handler: { _, responder in
            okText(responder, "should not happen")
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                let drip = try! Timer(loop: loop)
                try? drip.start(after: .zero, repeating: .milliseconds(10)) {
                    if c.ended || sentBytes == script.count { drip.close(); return }
                    c.send([script[sentBytes]])
                    sentBytes += 1
                }
                c.onEnd = { _ in done() }
            }
        }
        #expect(client?.ended == true)
        #expect(sentBytes < script.count)
        #expect(client?.responses.first?.status == 408)
    }

    @Test func stalledBodyTimesOutWith408() throws {
        var config = HTTPServerConfig()
        config.idleTimeout = .milliseconds(50)
        let response = try expectErrorAndClose(config: config, script: [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        ])
        #expect(response?.status == 408)
    }

    @Test func upgradeRequestIsAnsweredThenTheConnectionCloses() throws {
        var client: LoopHTTPClient?
        var keepAlive: Bool?
        try withServer(handler: { request, responder in
            keepAlive = request.keepAlive
            responder.respond(status: 404, body: Array("no websockets".utf8))
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\u{1}\u{2}binary")
                c.onEnd = { _ in done() }
            }
        }
        #expect(keepAlive == false)
        #expect(client?.responses.map(\.status) == [404])
        #expect(client?.responses.first?.header("connection") == "close")
    }

    @Test func idleKeepAliveConnectionIsClosedSilently() throws {
        var config = HTTPServerConfig()
        config.idleTimeout = .milliseconds(50)
        var client: LoopHTTPClient?
        var bytesAfterResponse = -1
        try withServer(config: config, handler: { _, responder in okText(responder, "hi") }) { loop, server, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                var responseLength = 0
                c.onReceive = { c in
                    if responseLength == 0, c.responses.count == 1 { responseLength = c.received.count }
                }
                c.onEnd = { c in
                    bytesAfterResponse = c.received.count - responseLength
                    #expect(server.openConnections <= 1)
                    done()
                }
            }
        }
        #expect(client?.responses.count == 1)
        #expect(client?.responses.first?.header("connection") == nil)
        #expect(bytesAfterResponse == 0)
    }

    @Test func eachRequestMovesTheIdleDeadlineLater() throws {
        // The idle timer is not re-armed for every request: one armed for an earlier deadline fires
        // early and must re-arm for the rest, not close a connection that was used since.
        var config = HTTPServerConfig()
        config.idleTimeout = .milliseconds(200)
        var client: LoopHTTPClient?
        var sentLast: LoopInstant?
        var closedAfterLast: Duration?
        try withServer(config: config, handler: { _, responder in okText(responder, "hi") }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                // Two more requests, each 120 ms after the one before: the third comes after the
                // first request's idle deadline, before the second's.
                let later = try! Timer(loop: loop)
                var sent = 1
                try? later.start(after: .milliseconds(120), repeating: .milliseconds(120)) {
                    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    sent += 1
                    if sent == 3 {
                        later.close()
                        sentLast = loop.now
                    }
                }
                c.onEnd = { _ in
                    closedAfterLast = sentLast.map { $0.duration(to: loop.now) }
                    done()
                }
            }
        }
        #expect(client?.responses.count == 3)
        // Closed by the idle timeout that counts from the last answer, not earlier.
        #expect(closedAfterLast.map { $0 >= .milliseconds(190) } == true, "\(String(describing: closedAfterLast))")
    }

    @Test func freshConnectionThatNeverSpeaksIsClosedAfterTheIdleTimeout() throws {
        var config = HTTPServerConfig()
        config.idleTimeout = .milliseconds(30)
        var client: LoopHTTPClient?
        try withServer(config: config, handler: { _, responder in okText(responder, "x") }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.onEnd = { _ in done() }
            }
        }
        #expect(client?.ended == true)
        #expect(client?.received.isEmpty == true)
    }

    @Test func http10ClosesByDefaultAndKeepsAliveWhenAsked() throws {
        var client: LoopHTTPClient?
        var second: LoopHTTPClient?
        try withServer(handler: { request, responder in
            okText(responder, request.keepAlive ? "keep" : "close")
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET / HTTP/1.0\r\n\r\n")
                c.onEnd = { _ in
                    try? LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c2 in
                        second = c2
                        c2.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                        c2.onReceive = { c2 in
                            if c2.responses.count == 1 { c2.close(); done() }
                        }
                    }
                }
            }
        }
        #expect(client?.responses.first?.text == "close")
        #expect(client?.responses.first?.header("connection") == "close")
        #expect(second?.responses.first?.text == "keep")
        #expect(second?.responses.first?.header("connection") == "keep-alive")
        #expect(second?.ended == false)
    }

    @Test func headAndNoContentResponsesCarryNoBody() throws {
        var client: LoopHTTPClient?
        try withServer(handler: { request, responder in
            if request.path == "/empty" {
                responder.respond(status: 204, body: Array("ignored".utf8))
            } else {
                okText(responder, "twelve bytes")
            }
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /empty HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
                c.onReceive = { c in
                    if c.text.components("twelve bytes") == 1 && c.text.hasSuffix("twelve bytes") { c.close(); done() }
                }
            }
        }
        let text = client?.text ?? ""
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK"))
    }

    @Test func callerConnectionCloseHeaderClosesAfterTheResponse() throws {
        var client: LoopHTTPClient?
        try withServer(handler: { _, responder in
            responder.respond(status: 200, headers: [("Connection", "close")], body: Array("bye".utf8))
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /ignored HTTP/1.1\r\nHost: x\r\n\r\n")
                c.onEnd = { _ in done() }
            }
        }
        #expect(client?.responses.count == 1)
        #expect(client?.responses.first?.header("connection") == "close")
        #expect(client?.text.components("Connection") == 1)
    }
}

extension String {
    func components(_ needle: String) -> Int {
        var count = 0
        var rest = Substring(self)
        while let range = rest.firstRange(of: needle) {
            count += 1
            rest = rest[range.upperBound...]
        }
        return count
    }
}
