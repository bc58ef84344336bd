import EventLoop
import HTTPServer
import TestSupport
import Testing

/// `startStream(firstBytes:)` and `finish(lastBytes:)` put the first and last body bytes in the
/// same write as the head and the end of the body; the client sees an ordinary chunked body.
@Suite(.serialized) struct CoalescedWriteTests {
    func roundTrip(version: String, _ respond: @escaping (HTTPResponder) -> Void) throws -> TestResponse? {
        var response: TestResponse?
        var keep: HTTPServer?
        let run = try runLoop { loop in
            var config = HTTPServerConfig()
            config.host = "127.0.0.1"
            config.port = 0
            let server = HTTPServer(loop: loop, config: config) { _, responder in respond(responder) }
            keep = server
            let port = try server.start()
            LoopHTTPClient.connect(loop, port: port) { result in
                guard case .success(let client) = result else { return }
                client.onUpdate = { c in
                    if c.ended {
                        response = TestResponse.parseAll(c.received, closed: true).first
                        server.beginShutdown(timeout: .milliseconds(500)) {}
                    }
                }
                client.send("GET / \(version)\r\nHost: x\r\nConnection: close\r\n\r\n")
            }
        }
        withExtendedLifetime(keep) {}
        run.expectClean()
        return response
    }

    @Test func firstAndLastBytesFrameAsChunks() throws {
        let r = try roundTrip(version: "HTTP/1.1") { responder in
            responder.startStream(status: 200, headers: [("Content-Type", "text/plain")], firstBytes: Array("first ".utf8))
            responder.write(Array("middle ".utf8))
            responder.finish(lastBytes: Array("last".utf8))
        }
        #expect(r?.status == 200)
        #expect(r?.header("transfer-encoding") == "chunked")
        #expect(r?.text == "first middle last")
    }

    @Test func emptyFirstAndLastBytesChangeNothing() throws {
        let r = try roundTrip(version: "HTTP/1.1") { responder in
            responder.startStream(status: 200)
            responder.write(Array("only".utf8))
            responder.finish()
        }
        #expect(r?.text == "only")
    }

    @Test func http10StreamsCarryTheBytesUntilClose() throws {
        let r = try roundTrip(version: "HTTP/1.0") { responder in
            responder.startStream(status: 200, firstBytes: Array("a".utf8))
            responder.finish(lastBytes: Array("b".utf8))
        }
        #expect(r?.header("transfer-encoding") == nil)
        #expect(r?.text == "ab")
    }

    /// A streamed answer whole before it starts: head, body and the end of the body in one write.
    @Test func wholeStreamedAnswerIsAnOrdinaryChunkedBody() throws {
        let r = try roundTrip(version: "HTTP/1.1") { responder in
            responder.streamWhole(status: 200, headers: [("Content-Type", "text/event-stream")], body: Array("all of it".utf8))
            // Over: nothing more is sent.
            responder.write(Array("late".utf8))
            responder.finish(lastBytes: Array("later".utf8))
        }
        #expect(r?.status == 200)
        #expect(r?.header("transfer-encoding") == "chunked")
        #expect(r?.header("content-type") == "text/event-stream")
        #expect(r?.text == "all of it")
    }

    @Test func wholeStreamedAnswerOverHTTP10EndsWithTheConnection() throws {
        let r = try roundTrip(version: "HTTP/1.0") { responder in
            responder.streamWhole(status: 200, body: Array("ab".utf8))
        }
        #expect(r?.header("transfer-encoding") == nil)
        #expect(r?.text == "ab")
    }
}
