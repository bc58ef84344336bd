import EventLoop
import HTTPServer
import Testing
import TestSupport

/// The per-peer limits over real sockets: connections, unsent answers, a body's total time, the
/// strict parser's refusals.
@Suite(.serialized) struct LimitTests {
    @Test func aConnectionOverTheLimitGets503AndTheOthersAreServed() throws {
        var config = HTTPServerConfig()
        config.maxConnections = 1
        var held: LoopHTTPClient?
        var refused: LoopHTTPClient?
        var refusedCount: UInt64 = 0
        try withServer(config: config, handler: { _, responder in okText(responder, "served") }) { loop, server, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { first in
                held = first
                try? LoopHTTPClient.connectOrRecordIssue(loop, port: port) { second in
                    refused = second
                    second.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    second.onEnd = { _ in
                        refusedCount = server.refusedConnections
                        first.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                        first.onReceive = { c in
                            if c.responses.count == 1 { c.close(); done() }
                        }
                    }
                }
            }
        }
        #expect(refused?.responses.map(\.status) == [503])
        #expect(refused?.responses.first?.header("connection") == "close")
        #expect(refused?.responses.first?.text.contains("Too many connections") == true)
        #expect(held?.responses.map(\.text) == ["served"])
        #expect(refusedCount == 1)
    }

    @Test func pipelinedRequestsWaitWhileTheirAnswersAreUnread() throws {
        let requests = 400
        let bodySize = 100_000
        var config = HTTPServerConfig()
        config.maxQueuedResponseBytes = 64 * 1024
        var queuedAtDispatch: [Int] = []
        var handledBeforeReading = -1
        var client: LoopHTTPClient?
        let body = [UInt8](repeating: 0x62, count: bodySize)
        let headLength = "HTTP/1.1 200 OK\r\nContent-Length: \(bodySize)\r\n\r\n".utf8.count
        try withServer(config: config, handler: { _, responder in
            queuedAtDispatch.append(responder.queuedBytes)
            responder.respond(status: 200, body: body)
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port, reading: false) { c in
                client = c
                c.send(String(repeating: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", count: requests))
                let later = try! Timer(loop: loop)
                try? later.start(after: .milliseconds(200)) {
                    later.close()
                    handledBeforeReading = queuedAtDispatch.count
                    c.onReceive = { c in
                        if c.received.count >= requests * (headLength + bodySize) { c.close(); done() }
                    }
                    c.startReading()
                }
            }
        }
        // Answers the kernel could not take stayed below the limit whenever a request was started.
        #expect(queuedAtDispatch.count == requests)
        #expect((queuedAtDispatch.max() ?? .max) <= 64 * 1024)
        #expect(handledBeforeReading < requests)
        #expect(client?.responses.count == requests)
    }

    @Test func aBodyTrickledPastItsDeadlineGets408() throws {
        var config = HTTPServerConfig()
        config.bodyTimeout = .milliseconds(100)
        var client: LoopHTTPClient?
        var sent = 0
        try withServer(config: config, handler: { _, responder in okText(responder, "should not happen") }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
                let drip = try! Timer(loop: loop)
                try? drip.start(after: .milliseconds(10), repeating: .milliseconds(10)) {
                    if c.ended || sent == 1000 { drip.close(); return }
                    c.send("x")
                    sent += 1
                }
                c.onEnd = { _ in done() }
            }
        }
        #expect(client?.responses.first?.status == 408)
        #expect(sent < 1000)
    }

    @Test func anUnsupportedVersionGets505() throws {
        let response = try expectErrorAndClose(script: ["GET / HTTP/2.0\r\nHost: x\r\n\r\n"])
        #expect(response?.status == 505)
        #expect(response?.text.contains("HTTP/2.0 is not supported") == true)
    }

    @Test func whitespaceBeforeAColonGets400() throws {
        let response = try expectErrorAndClose(script: ["GET / HTTP/1.1\r\nHost: x\r\nX-Space : v\r\n\r\n"])
        #expect(response?.status == 400)
    }

    @Test func aLongRequestLineGets414() throws {
        var config = HTTPServerConfig()
        config.maxRequestLineBytes = 100
        let response = try expectErrorAndClose(config: config, script: ["GET /" + String(repeating: "a", count: 200) + " HTTP/1.1\r\n\r\n"])
        #expect(response?.status == 414)
    }
}

/// Sends `script` and waits for the server to answer and close.
func expectErrorAndClose(config: HTTPServerConfig = HTTPServerConfig(), script: [String],
                         sourceLocation: SourceLocation = #_sourceLocation) throws -> TestResponse? {
    var client: LoopHTTPClient?
    var handlerCalls = 0
    try withServer(config: config, sourceLocation: sourceLocation, handler: { _, responder in
        handlerCalls += 1
        okText(responder, "unexpected")
    }) { loop, _, port, done in
        try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
            client = c
            for part in script { c.send(part) }
            c.onEnd = { _ in done() }
        }
    }
    #expect(handlerCalls == 0, sourceLocation: sourceLocation)
    #expect(client?.ended == true, sourceLocation: sourceLocation)
    let responses = client?.responses ?? []
    #expect(responses.count == 1, sourceLocation: sourceLocation)
    #expect(responses.first?.header("connection") == "close", sourceLocation: sourceLocation)
    return responses.first
}
