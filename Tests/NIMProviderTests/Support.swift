import AnthropicAPI
import Foundation
import EventLoop
import JSON
import Logging
import NIMProvider
import ProxyConfig
import App
import RateLimit
import ScriptedUpstream
import TestSupport
import Testing

/// One Anthropic SSE event as the client receives it.
struct SSEEvent {
    var name: String
    var data: JSONValue
    var type: String? { data["type"]?.stringValue }
}

/// Splits an Anthropic SSE body into events (`event:` + `data:` frames); the reference's
/// trailing `[DONE]` line is reported separately.
func parseAnthropicSSE(_ bytes: [UInt8]) -> (events: [SSEEvent], done: Bool) {
    let text = String(decoding: bytes, as: UTF8.self)
    var events: [SSEEvent] = []
    var done = false
    for frame in text.components(separatedBy: "\n\n") where !frame.isEmpty {
        if frame == "[DONE]" {
            done = true
            continue
        }
        var name = ""
        var data = ""
        for line in frame.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data += line.dropFirst(6) }
        }
        if let json = try? JSONValue.parse(data) { events.append(SSEEvent(name: name, data: json)) }
    }
    return (events, done)
}

/// What a client makes of a stream: the concatenated deltas per block kind, the tool calls,
/// the stop reason and output tokens, and whether the block protocol was respected.
struct AnswerSummary: Equatable {
    var thinking = ""
    var text = ""
    var tools: [(id: String, name: String, input: JSONValue?)] = []
    var stopReason: String?
    var outputTokens: Int?
    /// The `error` object of an SSE `error` event (Anthropic's mid-stream failure), which ends
    /// the stream in place of `message_delta` and `message_stop`.
    var error: JSONValue?
    var problems: [String] = []

    static func == (a: AnswerSummary, b: AnswerSummary) -> Bool {
        a.thinking == b.thinking && a.text == b.text && a.stopReason == b.stopReason
            && a.outputTokens == b.outputTokens && a.problems == b.problems
            && a.tools.map(\.id) == b.tools.map(\.id) && a.tools.map(\.name) == b.tools.map(\.name)
            && a.tools.map(\.input) == b.tools.map(\.input)
    }

    init() {}

    init(_ events: [SSEEvent]) {
        var open: (index: Int, kind: String)?
        var toolJSON: [Int: String] = [:]
        var seenIndices = Set<Int>()
        for (i, e) in events.enumerated() {
            if e.name != e.type { problems.append("event name \(e.name) vs type \(e.type ?? "nil")") }
            switch e.type {
            case "message_start":
                if i != 0 { problems.append("message_start not first") }
            case "content_block_start":
                let index = e.data["index"]?.intValue ?? -1
                if let o = open { problems.append("block \(index) opened while \(o.index) open") }
                if seenIndices.contains(index) { problems.append("index \(index) reused") }
                seenIndices.insert(index)
                let kind = e.data["content_block"]?["type"]?.stringValue ?? "?"
                open = (index, kind)
                if kind == "tool_use" {
                    tools.append((e.data["content_block"]?["id"]?.stringValue ?? "",
                                  e.data["content_block"]?["name"]?.stringValue ?? "", nil))
                    toolJSON[index] = ""
                }
            case "content_block_delta":
                let index = e.data["index"]?.intValue ?? -1
                if open?.index != index { problems.append("delta for closed block \(index)") }
                let delta = e.data["delta"]
                switch delta?["type"]?.stringValue {
                case "thinking_delta": thinking += delta?["thinking"]?.stringValue ?? ""
                case "text_delta": text += delta?["text"]?.stringValue ?? ""
                case "input_json_delta": toolJSON[index, default: ""] += delta?["partial_json"]?.stringValue ?? ""
                default: problems.append("unknown delta")
                }
            case "content_block_stop":
                let index = e.data["index"]?.intValue ?? -1
                if open?.index != index { problems.append("stop for block \(index) not open") }
                if open?.kind == "tool_use", let json = toolJSON[index] {
                    tools[tools.count - 1].input = try? JSONValue.parse(json)
                }
                open = nil
            case "message_delta":
                if open != nil { problems.append("message_delta with a block open") }
                stopReason = e.data["delta"]?["stop_reason"]?.stringValue
                outputTokens = e.data["usage"]?["output_tokens"]?.intValue
            case "message_stop":
                if i != events.count - 1 { problems.append("message_stop not last") }
            case "ping":
                break
            case "error":
                if i != events.count - 1 { problems.append("error not last") }
                error = e.data["error"]
            default:
                problems.append("unknown event \(e.type ?? "nil")")
            }
        }
        if events.last?.type != "message_stop" && events.last?.type != "error" { problems.append("no message_stop") }
        if error != nil && events.contains(where: { $0.type == "message_stop" || $0.type == "message_delta" }) {
            problems.append("error event with a message_delta or message_stop")
        }
    }
}

/// The proxy (with its upstream side) and a scripted upstream on one loop.
final class Harness {
    let loop: EventLoop
    let upstream: ScriptedUpstream
    let app: ProxyApp
    let provider: NIMProvider
    let proxyPort: Int
    var settings: Settings

    /// Retries fast enough for tests, with the reference's count and doubling.
    static let fastRetry = RetryPolicy(maxRetries: 3, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100), jitter: .zero,
                                      exhaustedBlock: .milliseconds(50))

    /// `http2`: the upstream speaks HTTP/2 with prior knowledge and the proxy is told to as well.
    init(loop: EventLoop, http2: Bool = false, log: Logger = .silent, configure: (inout Settings) -> Void = { _ in }) throws {
        self.loop = loop
        upstream = ScriptedUpstream(loop: loop)
        let upstreamPort = try upstream.start(http2: http2)
        var s = Settings()
        s.http.host = "127.0.0.1"
        s.http.port = 0
        s.upstream.baseURL = "http://127.0.0.1:\(upstreamPort)/v1"
        s.upstream.apiKey = "test-key"
        s.upstream.model = "test-model"
        if http2 { s.upstream.httpVersion = .http2 }
        configure(&s)
        settings = s
        app = ProxyApp(loop: loop, settings: s, log: .silent)
        provider = try NIMProvider(loop: loop, settings: s, log: log, random: { 0 }, retry: Harness.fastRetry)
        app.streamer = provider
        proxyPort = try app.start()
    }

    func post(_ path: String = "/v1/messages", body: String, _ completion: @escaping (TestResponse?) -> Void) {
        LoopHTTPClient.fetch(loop, port: proxyPort, method: "POST", path: path,
                             headers: [("Content-Type", "application/json")], body: Array(body.utf8), completion)
    }

    func shutdown() {
        app.shutdown(timeout: .milliseconds(500)) { [self] in
            provider.close()
            upstream.shutdown {}
        }
    }
}

/// Runs a scenario against a fresh harness; `body` calls `done` when finished.
func withHarness(
    http2: Bool = false, log: Logger = .silent, configure: (inout Settings) -> Void = { _ in },
    timeout: Duration = .seconds(20),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (Harness, _ done: @escaping () -> Void) throws -> Void
) throws {
    try runHarness(timeout: timeout, sourceLocation: sourceLocation, make: {
        try Harness(loop: $0, http2: http2, log: log, configure: configure)
    }, body)
}

/// A harness the loop tests can stop.
protocol LoopHarness: AnyObject {
    func shutdown()
}

extension Harness: LoopHarness {}

/// Runs a loop with the harness `make` builds, hands it to `body` with a `done` that shuts it down
/// (once), and checks the loop ended clean.
func runHarness<H: LoopHarness>(
    timeout: Duration, sourceLocation: SourceLocation, make: (EventLoop) throws -> H,
    _ body: (H, _ done: @escaping () -> Void) throws -> Void
) throws {
    var keep: H?
    let run = try runLoop(timeout: timeout) { loop in
        let h = try make(loop)
        keep = h
        var finished = false
        try body(h) {
            guard !finished else { return }
            finished = true
            h.shutdown()
        }
    }
    withExtendedLifetime(keep) {}
    run.expectClean(sourceLocation: sourceLocation)
}

let simpleRequest = #"{"model":"claude-3-5-sonnet-20241022","max_tokens":1024,"messages":[{"role":"user","content":"Hi"}]}"#
