import EventLoop
import HTTPServer
import Testing
import TestSupport

@Suite(.serialized) struct StreamingTests {
    @Test func slowReaderKeepsServerBufferingBoundedByTheHighWaterMark() throws {
        let total = 8 << 20
        let piece = [UInt8](repeating: 0x78, count: 16 * 1024)
        var config = HTTPServerConfig()
        config.writeHighWaterBytes = 128 * 1024
        config.writeLowWaterBytes = 32 * 1024
        var maxQueued = 0
        var pausedForBackpressure = 0
        var client: LoopHTTPClient?
        try withServer(config: config, handler: { _, responder in
            responder.startStream(status: 200, headers: [("Content-Type", "application/octet-stream")])
            var sent = 0
            func pump() {
                while sent < total {
                    let more = responder.write(piece)
                    sent += piece.count
                    maxQueued = max(maxQueued, responder.queuedBytes)
                    if !more {
                        pausedForBackpressure += 1
                        return
                    }
                }
                responder.finish()
            }
            responder.onWritable = { pump() }
            pump()
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port, reading: false) { c in
                client = c
                c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
                // Start reading late so the server's queue has to fill first.
                let delay = try! Timer(loop: loop)
                try? delay.start(after: .milliseconds(50)) {
                    delay.close()
                    c.startReading()
                    c.onReceive = { c in
                        if c.received.count > total, c.responses.count == 1 { c.close(); done() }
                    }
                }
            }
        }
        #expect(pausedForBackpressure > 0)
        // At most one piece plus its chunk framing beyond the mark.
        #expect(maxQueued >= 128 * 1024)
        #expect(maxQueued <= 128 * 1024 + piece.count + 16)
        #expect(client?.responses.first?.chunked == true)
        #expect(client?.responses.first?.body.count == total)
    }

    @Test func streamToAnHTTP10ClientIsCloseDelimited() throws {
        var client: LoopHTTPClient?
        try withServer(handler: { _, responder in
            responder.startStream(status: 200, headers: [("Content-Type", "text/plain")])
            responder.write(Array("part1,".utf8))
            responder.write(Array("part2".utf8))
            responder.finish()
        }) { loop, _, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                c.onEnd = { _ in done() }
            }
        }
        #expect(client?.text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\npart1,part2")
    }

    @Test func clientLeavingMidBodyNeverReachesTheHandler() throws {
        var handlerCalls = 0
        var openAfter = -1
        try withServer(handler: { _, responder in
            handlerCalls += 1
            okText(responder, "x")
        }) { loop, server, port, done in
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
                let poll = try! Timer(loop: loop)
                try? poll.start(after: .milliseconds(10), repeating: .milliseconds(5)) {
                    if !c.connection.isClosed {
                        c.close()
                        return
                    }
                    guard server.openConnections == 0 else { return }
                    poll.close()
                    openAfter = server.openConnections
                    done()
                }
            }
        }
        #expect(handlerCalls == 0)
        #expect(openAfter == 0)
    }

    @Test func clientLeavingMidStreamFiresOnClientGoneOnce() throws {
        var goneCalls = 0
        var writesAfterGone: [Bool] = []
        var inFlightDuring = -1
        var inFlightAfter = -1
        var eventLoop: EventLoop?
        try withServer(handler: { _, responder in
            responder.startStream(status: 200, headers: [("Content-Type", "text/event-stream")])
            responder.write(Array("event: ping\n\n".utf8))
            responder.onClientGone = {
                goneCalls += 1
                #expect(responder.isClosed)
                writesAfterGone.append(responder.write(Array("late".utf8)))
                responder.finish()
            }
            // Keeps "streaming" until the client leaves.
            let tick = try! Timer(loop: eventLoop!)
            try? tick.start(after: .milliseconds(5), repeating: .milliseconds(5)) {
                if responder.isClosed { tick.close() } else { responder.write(Array("data: x\n\n".utf8)) }
            }
        }) { loop, server, port, done in
            eventLoop = loop
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
                c.onReceive = { c in
                    guard c.text.contains("event: ping") else { return }
                    inFlightDuring = server.inFlightRequests
                    c.onReceive = nil
                    c.close()
                    let poll = try! Timer(loop: loop)
                    try? poll.start(after: .milliseconds(5), repeating: .milliseconds(5)) {
                        guard goneCalls == 1 else { return }
                        poll.close()
                        inFlightAfter = server.inFlightRequests
                        done()
                    }
                }
            }
        }
        #expect(goneCalls == 1)
        #expect(writesAfterGone == [false])
        #expect(inFlightDuring == 1)
        #expect(inFlightAfter == 0)
    }

    @Test func clientVanishingRightAfterItsRequestCancelsTheStream() throws {
        var gone = 0
        var openAfter = -1
        var eventLoop: EventLoop?
        try withServer(handler: { _, responder in
            responder.startStream(status: 200)
            responder.write(Array("event: ping\n\n".utf8))
            responder.onClientGone = { gone += 1 }
            let tick = try! Timer(loop: eventLoop!)
            try? tick.start(after: .milliseconds(5), repeating: .milliseconds(5)) {
                if responder.isClosed { tick.close() } else { responder.write(Array("data: x\n\n".utf8)) }
            }
        }) { loop, server, port, done in
            eventLoop = loop
            try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                guard case .success(let connection) = result else { return }
                try? connection.write(Array("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}".utf8))
                connection.close()
            }
            // Polls instead of guessing how long the server needs; the watchdog bounds it.
            let poll = try! Timer(loop: loop)
            try? poll.start(after: .milliseconds(5), repeating: .milliseconds(5)) {
                guard gone == 1, server.openConnections == 0 else { return }
                poll.close()
                openAfter = server.openConnections
                done()
            }
        }
        #expect(gone == 1)
        #expect(openAfter == 0)
    }

    @Test func aFailedWriteReportsTheClientGoneWhileReadsArePaused() throws {
        var config = HTTPServerConfig()
        config.maxHeaderBytes = 1024
        var gone = 0
        var eventLoop: EventLoop?
        var clientClosed = false
        try withServer(config: config, handler: { _, responder in
            responder.onClientGone = { gone += 1 }
            // Streams only once the client is gone, so only a write can tell.
            let tick = try! Timer(loop: eventLoop!)
            try? tick.start(after: .milliseconds(5), repeating: .milliseconds(5)) {
                if responder.isClosed { tick.close(); return }
                guard clientClosed else { return }
                if !responder.hasStarted { responder.startStream(status: 200) }
                responder.write([UInt8](repeating: 0x7a, count: 1024))
            }
        }) { loop, server, port, done in
            eventLoop = loop
            try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                guard case .success(let connection) = result else { return }
                // One request, then more pipelined bytes than the server buffers, so it stops reading
                // and cannot see the close.
                var bytes = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                bytes += [UInt8](repeating: 0x41, count: 200 * 1024)
                try? connection.write(bytes) { _ in
                    connection.close()
                    clientClosed = true
                }
            }
            let poll = try! Timer(loop: loop)
            try? poll.start(after: .milliseconds(5), repeating: .milliseconds(5)) {
                guard gone == 1, server.openConnections == 0 else { return }
                poll.close()
                done()
            }
        }
        #expect(gone == 1)
    }

    @Test func gracefulShutdownLetsTheStreamFinishAndRefusesNewConnections() throws {
        var client: LoopHTTPClient?
        var refused: UVError?
        var completed = false
        var goneCalls = 0
        var eventLoop: EventLoop?
        try withLoop { loop in
            eventLoop = loop
            var config = HTTPServerConfig()
            config.port = 0
            var idleClient: LoopHTTPClient?
            let server = HTTPServer(loop: loop, config: config) { _, responder in
                responder.onClientGone = { goneCalls += 1 }
                responder.startStream(status: 200)
                responder.write(Array("first".utf8))
                var count = 0
                let tick = try! Timer(loop: eventLoop!)
                try? tick.start(after: .milliseconds(10), repeating: .milliseconds(10)) {
                    count += 1
                    responder.write(Array(" more".utf8))
                    if count == 5 {
                        tick.close()
                        responder.finish()
                    }
                }
            }
            let port = try server.start()
            // An idle keep-alive connection: closed at once by the shutdown.
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in idleClient = c }
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
                c.onReceive = { c in
                    guard c.text.contains("first"), !server.isShuttingDown else { return }
                    #expect(server.openConnections == 2)
                    server.beginShutdown(timeout: .milliseconds(5000)) {
                        completed = true
                        #expect(server.openConnections == 0)
                    }
                    try? TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                        switch result {
                        case .failure(let error): refused = error
                        case .success(let late): late.close()
                        }
                    }
                }
            }
            _ = idleClient
        }
        #expect(completed)
        #expect(goneCalls == 0)
        #expect(refused?.name == "ECONNREFUSED")
        #expect(client?.ended == true)
        let response = client?.responses.first
        #expect(response?.text == "first more more more more more")
        // The head went out before shutdown began, so it could not announce the close.
        #expect(response?.header("connection") == nil)
    }

    @Test func shutdownTimeoutForceClosesAStuckResponse() throws {
        var completed = false
        var goneCalls = 0
        var client: LoopHTTPClient?
        try withLoop { loop in
            var config = HTTPServerConfig()
            config.port = 0
            let server = HTTPServer(loop: loop, config: config) { _, responder in
                responder.onClientGone = { goneCalls += 1 }
                // Never answers.
            }
            let port = try server.start()
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n")
                let later = try! Timer(loop: loop)
                try? later.start(after: .milliseconds(10)) {
                    later.close()
                    #expect(server.inFlightRequests == 1)
                    server.beginShutdown(timeout: .milliseconds(30)) { completed = true }
                }
            }
        }
        #expect(completed)
        #expect(goneCalls == 1)
        #expect(client?.ended == true)
        #expect(client?.received.isEmpty == true)
    }

    @Test func shutdownBeforeStartCompletesFromTheLoop() throws {
        var completed = false
        try withLoop { loop in
            let server = HTTPServer(loop: loop) { _, responder in okText(responder, "x") }
            server.beginShutdown(timeout: .milliseconds(100)) { completed = true }
            #expect(!completed)
        }
        #expect(completed)
    }

    @Test func pipelinedBytesBehindASlowStreamAreParsedAfterIt() throws {
        var client: LoopHTTPClient?
        var eventLoop: EventLoop?
        try withServer(handler: { request, responder in
            if request.path == "/stream" {
                responder.startStream(status: 200)
                let tick = try! Timer(loop: eventLoop!)
                var count = 0
                try? tick.start(after: .milliseconds(5), repeating: .milliseconds(5)) {
                    count += 1
                    responder.write(Array("s\(count)".utf8))
                    if count == 3 { tick.close(); responder.finish() }
                }
            } else {
                okText(responder, "after:\(request.body.count)")
            }
        }) { loop, _, port, done in
            eventLoop = loop
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { c in
                client = c
                c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nPOST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nab")
                let later = try! Timer(loop: loop)
                try? later.start(after: .milliseconds(5)) {
                    later.close()
                    c.send("c")
                }
                c.onReceive = { c in
                    if c.responses.count == 2 { c.close(); done() }
                }
            }
        }
        #expect(client?.responses.map(\.text) == ["s1s2s3", "after:3"])
    }
}
