import Foundation
import EventLoop
import JSON
@testable import NIMProvider
import ScriptedUpstream
import TestSupport
import Testing

/// Polls `condition` every few milliseconds until it holds (then `then`) or `limitMs` passed
/// (then `then` too; the caller's expectations report what did not happen).
func poll(_ loop: EventLoop, limitMs: UInt64 = 5000, until condition: @escaping () -> Bool, then: @escaping () -> Void) {
    let t = try! Timer(loop: loop)
    var waited: UInt64 = 0
    try! t.start(after: .milliseconds(5), repeating: .milliseconds(5)) {
        waited += 5
        if condition() || waited >= limitMs {
            t.close()
            then()
        }
    }
}

extension LoopHTTPClient {
    /// The last bytes as text: checking a growing megabyte stream in full on every poll
    /// would cost more than the stream.
    var tail: String { String(decoding: received.suffix(512), as: UTF8.self) }
}

/// The chunks of a chunked HTTP response (after its head), or nil if it is not complete.
func chunkFrames(_ raw: [UInt8]) -> [[UInt8]]? {
    let crlf: [UInt8] = [13, 10]
    guard let headEnd = raw.indices.first(where: { raw[$0...].starts(with: crlf + crlf) }) else { return nil }
    var i = headEnd + 4
    var frames: [[UInt8]] = []
    while true {
        guard let lineEnd = raw[i...].indices.first(where: { raw[$0...].starts(with: crlf) }),
            let size = Int(String(decoding: raw[i..<lineEnd], as: UTF8.self), radix: 16)
        else { return nil }
        if size == 0 { return frames }
        let start = lineEnd + 2
        guard start + size + 2 <= raw.count else { return nil }
        frames.append(Array(raw[start..<start + size]))
        i = start + size + 2
    }
}

func rawRequest(_ body: String) -> String {
    "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
}

@Suite(.serialized) struct FlowControlTests {
    /// A client that leaves mid-stream makes the proxy cancel its upstream transfer: the
    /// upstream sees its connection close.
    @Test func clientDisconnectClosesTheUpstreamConnection() throws {
        var upstreamStreamsWhileConnected = 0
        var upstreamStreamsAfter = -1
        var providerStreamsAfter = -1
        try withHarness { h, done in
            h.upstream.enqueue(try #require(Scenario.named("hang")))
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.proxyPort, reading: false) { client in
                client.send(rawRequest(simpleRequest))
                client.startReading()
                poll(h.loop, until: { client.text.contains("message_start") && h.upstream.activeStreams == 1 }) {
                    upstreamStreamsWhileConnected = h.upstream.activeStreams
                    client.connection.close()
                    poll(h.loop, until: { h.upstream.activeStreams == 0 && h.provider.openStreams == 0 }) {
                        upstreamStreamsAfter = h.upstream.activeStreams
                        providerStreamsAfter = h.provider.openStreams
                        done()
                    }
                }
            }
        }
        #expect(upstreamStreamsWhileConnected == 1)
        #expect(upstreamStreamsAfter == 0)
        #expect(providerStreamsAfter == 0)
    }

    /// A client that stops reading pauses the upstream transfer once the kernel's buffers
    /// and the server's write queue are full: the proxy's queue for that client never grows
    /// far past the high-water mark, however much the upstream has to send. When the client
    /// reads again, the transfer resumes and everything arrives.
    @Test func slowClientPausesTheUpstreamInsteadOfBuffering() throws {
        var pausesWhileStalled = 0
        var maxQueue = 0
        var completeAnswer = false
        var receivedBytes = 0
        // 24 MB: more than loopback socket buffers can absorb on both hops.
        let chunkCount = 48_000, chunkBytes = 500
        try withHarness { h, done in
            h.upstream.enqueue(.synthetic(chunkCount: chunkCount, chunkBytes: chunkBytes, delayMs: 0))
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.proxyPort, reading: false) { client in
                client.send(rawRequest(simpleRequest))
                // Do not read until the proxy has had to pause the upstream.
                poll(h.loop, limitMs: 10_000, until: { h.provider.upstreamPauses > 0 }) {
                    pausesWhileStalled = h.provider.upstreamPauses
                    client.startReading()
                    poll(h.loop, limitMs: 30_000, until: { client.tail.contains("message_stop") }) {
                        completeAnswer = client.tail.contains("message_stop")
                        receivedBytes = client.received.count
                        maxQueue = h.provider.maxClientQueueBytes
                        client.connection.close()
                        done()
                    }
                }
            }
        }
        #expect(pausesWhileStalled > 0, "the upstream transfer was paused")
        // High-water mark (256 KiB) plus what one upstream read can translate to.
        #expect(maxQueue <= 256 * 1024 + 128 * 1024, "client queue peaked at \(maxQueue) bytes")
        #expect(completeAnswer)
        #expect(receivedBytes > chunkCount * chunkBytes)
    }

    /// curl hands a chunked upstream body over one chunk per call. An upstream that sends 200
    /// events, one per HTTP chunk, must still cost the client a few writes (one per upstream read),
    /// not one per event: each client write is one chunk of the proxy's chunked answer.
    @Test func manySmallUpstreamChunksLeaveInFewClientWrites() throws {
        var raw: [UInt8] = []
        let events = 200
        try withHarness { h, done in
            h.upstream.enqueue(.synthetic(chunkCount: events, chunkBytes: 16, delayMs: 0))
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.proxyPort) { client in
                client.send(rawRequest(simpleRequest))
                poll(h.loop, until: { client.tail.contains("0\r\n\r\n") }) {
                    raw = client.received
                    client.connection.close()
                    done()
                }
            }
        }
        let frames = try #require(chunkFrames(raw), "a complete chunked answer")
        let body = frames.flatMap { $0 }
        let deltas = String(decoding: body, as: UTF8.self).components(separatedBy: "event: content_block_delta").count - 1
        #expect(deltas == events)
        // Head with message_start, then one frame per upstream read (the 200 events are ~35 KB,
        // a few 16 KB reads), then the end. One frame per event would be over 200.
        #expect(frames.count <= 12, "\(frames.count) chunk frames for \(events) events")
    }

    /// The head is held until the upstream's first content, and then the head, `message_start` and
    /// that content leave in one write: the response's first chunk frame.
    @Test func headAndMessageStartLeaveWithTheFirstContent() throws {
        var raw: [UInt8] = []
        let slow = Scenario.stream(
            chunks: [Chunk.role(), Chunk.content("Hello"), Chunk.content(" there"), Chunk.finish("stop")], delayMs: 100)
        try withHarness { h, done in
            h.upstream.enqueue(slow)
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.proxyPort) { client in
                client.send(rawRequest(simpleRequest))
                poll(h.loop, until: { client.tail.contains("0\r\n\r\n") }) {
                    raw = client.received
                    client.connection.close()
                    done()
                }
            }
        }
        let frames = try #require(chunkFrames(raw), "a complete chunked answer")
        let first = String(decoding: try #require(frames.first), as: UTF8.self)
        #expect(first.hasPrefix("event: message_start\n"))
        #expect(first.contains(#""text": "Hello""#))
        #expect(String(decoding: raw.prefix(17), as: UTF8.self) == "HTTP/1.1 200 OK\r\n")
    }

    /// While the upstream has sent its head and a chunk without content, the client has nothing.
    @Test func nothingReachesTheClientBeforeContent() throws {
        var receivedWhileWaiting = -1
        try withHarness { h, done in
            h.upstream.enqueue(Scenario(name: "role only", behaviour: .stream(StreamPlan(chunks: [Chunk.role()], ending: .hang))))
            try LoopHTTPClient.connectOrRecordIssue(h.loop, port: h.proxyPort) { client in
                client.send(rawRequest(simpleRequest))
                poll(h.loop, until: { h.upstream.activeStreams == 1 }) {
                    // A few more turns for the head and the chunk to cross the loopback.
                    poll(h.loop, limitMs: 50, until: { false }) {
                        receivedWhileWaiting = client.received.count
                        client.connection.close()
                        poll(h.loop, until: { h.provider.openStreams == 0 }) { done() }
                    }
                }
            }
        }
        #expect(receivedWhileWaiting == 0)
    }

    /// A burst of concurrent requests with a limit of 2 per second: no window of a second ever
    /// holds more than 2 upstream requests, every client gets its answer, and the clients whose
    /// wait outlasts STREAM_EARLY_START_SECONDS get their stream started early, with pings.
    @Test func burstNeverExceedsTheWindowAndWaitersGetPings() throws {
        var grants: [UInt64] = []
        var arrivals = 0
        var responses: [TestResponse?] = []
        let clients = 6
        try withHarness(configure: {
            $0.upstream.rateLimit = 2
            $0.upstream.rateWindow = .seconds(1)
            $0.upstream.streamEarlyStart = .milliseconds(300)
        }) { h, done in
            h.provider.pingInterval = .milliseconds(100)
            h.upstream.defaultScenario = .text()
            h.provider.grantObserver = { grants.append($0.milliseconds) }
            h.upstream.onRequest = { _ in arrivals += 1 }
            for _ in 0..<clients {
                h.post(body: simpleRequest) { r in
                    responses.append(r)
                    if responses.count == clients { done() }
                }
            }
        }
        #expect(responses.count == clients)
        #expect(arrivals == clients)
        #expect(grants.count == clients)
        // Any window of 1000 ms holds at most 2 grants. They are read on the loop's clock, the one
        // the limiter decides on, so no slack is needed whatever the machine's load.
        for (i, t) in grants.enumerated() {
            let inWindow = grants[i...].prefix { $0 < t + 1000 }.count
            #expect(inWindow <= 2, "grants \(grants)")
        }
        var pings = 0
        for r in responses {
            let events = parseAnthropicSSE(r?.body ?? []).events
            pings += events.filter { $0.type == "ping" }.count
            let summary = AnswerSummary(events)
            #expect(summary.problems.isEmpty, "\(summary.problems)")
            #expect(summary.text == "Hello, world! How can I help?")
        }
        #expect(pings > 0, "clients waiting for a slot were pinged")
    }
}
