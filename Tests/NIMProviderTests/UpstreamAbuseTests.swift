import EventLoop
import JSON
@testable import NIMProvider
import ProxyConfig
import ScriptedUpstream
import TestSupport
import Testing

/// An upstream that answers with absurd numbers or endless bytes: every request ends with an
/// error, no later request waits longer than the server's limits, and memory stays bounded.
@Suite(.serialized) struct UpstreamAbuseTests {
    /// `Retry-After` values beyond `UPSTREAM_MAX_RETRY_AFTER`: the request ends after one upstream
    /// call with the upstream's 429 and the value, the limiter is blocked for the limit only, and
    /// the next request is served once it ends.
    @Test(arguments: ["1000000000", "1e300", "Sun, 06 Nov 99999999999 08:49:37 GMT", "3"])
    func retryAfterBeyondTheLimitEndsTheRequestAtOnce(value: String) throws {
        var first: TestResponse?
        var second: TestResponse?
        var requestsAfterFirst = 0
        var blockAfterFirst = Duration.zero
        try withHarness(configure: { $0.upstream.maxRetryAfter = .milliseconds(300) }) { h, done in
            h.upstream.enqueue(.rateLimited(retryAfter: value))
            h.upstream.enqueue(.text())
            h.post(body: simpleRequest) { r in
                first = r
                requestsAfterFirst = h.upstream.received.count
                blockAfterFirst = h.provider.limiter.blockRemaining(now: h.provider.now)
                h.post(body: simpleRequest) { r in
                    second = r
                    done()
                }
            }
        }
        let r = try #require(first)
        #expect(r.status == 429)
        let message = r.json?["error"]?["message"]?.stringValue ?? ""
        #expect(r.json?["error"]?["type"] == "rate_limit_error")
        #expect(message.hasPrefix("Upstream error 429: "), "\(message)")
        #expect(message.contains("Retry-After: \(value) is longer than UPSTREAM_MAX_RETRY_AFTER"), "\(message)")
        // The client hears how long the upstream asked for, in whole seconds.
        let retryAfter = Int(r.header("retry-after") ?? "") ?? 0
        #expect(retryAfter >= 3, "\(r.header("retry-after") ?? "none")")
        if value == "3" { #expect(retryAfter == 3) }
        #expect(requestsAfterFirst == 1, "not retried")
        #expect(blockAfterFirst > .zero && blockAfterFirst <= .milliseconds(300))
        let next = AnswerSummary(parseAnthropicSSE(try #require(second).body).events)
        #expect(next.text == "Hello, world! How can I help?")
    }

    /// A Retry-After within the limit is still waited for and the request retried.
    @Test func retryAfterWithinTheLimitIsRetried() throws {
        var response: TestResponse?
        var requests = 0
        try withHarness(configure: { $0.upstream.maxRetryAfter = .seconds(2) }) { h, done in
            h.upstream.enqueue(.rateLimited(retryAfter: "0.1"))
            h.upstream.enqueue(.text())
            h.post(body: simpleRequest) { r in
                response = r
                requests = h.upstream.received.count
                done()
            }
        }
        #expect(requests == 2)
        #expect(AnswerSummary(parseAnthropicSSE(try #require(response).body).events).text == "Hello, world! How can I help?")
    }

    /// A line longer than `UPSTREAM_MAX_LINE_BYTES` ends the stream with an error after the text
    /// before it; the next request streams normally.
    @Test func lineBeyondTheLimitEndsTheStream() throws {
        let long = Scenario.stream(chunks: [
            Chunk.role(), Chunk.content("Before. "), Chunk.content(String(repeating: "x", count: 5000)), Chunk.finish("stop"),
        ])
        var first: TestResponse?
        var second: TestResponse?
        try withHarness(configure: { $0.upstream.maxLineBytes = 1024 }) { h, done in
            h.upstream.enqueue(long)
            h.upstream.enqueue(.text())
            h.post(body: simpleRequest) { r in
                first = r
                h.post(body: simpleRequest) { r in
                    second = r
                    done()
                }
            }
        }
        let summary = AnswerSummary(parseAnthropicSSE(try #require(first).body).events)
        #expect(summary.problems.isEmpty, "\(summary.problems)")
        #expect(summary.text == "Before. ")
        #expect(summary.error?["message"] == .string(
            "The upstream sent an SSE line longer than UPSTREAM_MAX_LINE_BYTES (1024 bytes); the stream was ended."))
        #expect(AnswerSummary(parseAnthropicSSE(try #require(second).body).events).text == "Hello, world! How can I help?")
    }

    /// An error body is read up to 64 KB and then the transfer is cancelled: the error shows
    /// what was read, however much the upstream has left to send.
    @Test func errorBodyIsReadOnlyUpToItsLimit() throws {
        let huge = Scenario.httpError(status: 500, message: String(repeating: "y", count: 300_000), type: "server_error", code: nil)
        var response: TestResponse?
        try withHarness { h, done in
            h.upstream.enqueue(huge)
            h.post(body: simpleRequest) { r in
                response = r
                done()
            }
        }
        let r = try #require(response)
        #expect(r.status == 500)
        let message = r.json?["error"]?["message"]?.stringValue ?? ""
        // The message shows the start of what was read, cut to a readable length.
        #expect(message.hasPrefix(#"Upstream error 500: {"error""#), "\(message.prefix(100))")
        #expect(message.hasSuffix("...") && message.unicodeScalars.count < 600)
    }
}
