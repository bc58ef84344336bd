// Scenario: what the scripted upstream answers to one chat-completions request.
//
// A streamed scenario is compiled once, when it is made, into the exact writes it puts on the wire
// (`data: {json}\n\n` frames, split or merged as asked, with the pauses between them), so serving it
// to ten thousand clients formats nothing per request: every stream shares the same byte arrays.

import JSON

/// One scripted answer. Plain value; build it with the named constructors or `stream(...)`.
public struct Scenario: Sendable {
    /// The catalog name (`Scenario.named(_:)`, and the `"scenario:NAME"` model field).
    public var name: String
    public var behaviour: Behaviour
    /// What the proxy should turn this scenario into, when that is fixed.
    public var expected: ExpectedAnswer?

    public enum Behaviour: Sendable {
        case stream(StreamPlan)
        /// A complete, non-streamed answer: an HTTP error, or a 200 that is no event stream (an
        /// HTML page, a JSON body).
        case httpError(HTTPErrorReply)
        /// The connection is closed before any byte of an answer (HTTP/2: the stream is reset).
        case dropConnection
        /// One element per request, in order; once exhausted the last element repeats.
        case sequence([Scenario])
        /// Chosen from the request body (the conversation so far), for multi-turn exchanges
        /// such as a tool call followed by an answer that uses the tool's result.
        case byRequest(@Sendable (JSONValue) -> Scenario)
    }

    public init(name: String, behaviour: Behaviour, expected: ExpectedAnswer? = nil) {
        self.name = name
        self.behaviour = behaviour
        self.expected = expected
    }

    /// The stream plan, when this scenario streams.
    public var streamPlan: StreamPlan? {
        if case .stream(let plan) = behaviour { return plan }
        return nil
    }

    /// The chunks a streamed scenario sends (empty for errors and sequences).
    public var chunks: [JSONValue] { streamPlan?.chunks ?? [] }
}

/// A complete non-streamed response, usually an error.
public struct HTTPErrorReply: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// How a stream's frames map onto writes (each write is one HTTP chunk and one socket write).
public enum ChunkSplit: Sendable, Equatable {
    /// One write per SSE frame.
    case none
    /// Each frame in pieces of `bytes` bytes, `gapMs` apart.
    case everyBytes(Int, gapMs: UInt64 = 0)
    /// Each frame cut right after the first byte of every multi-byte UTF-8 character, `gapMs` apart,
    /// so a client meets characters split across reads.
    case insideMultibyte(gapMs: UInt64 = 1)
    /// Frames not separated by a delay or a pause go out in one write (many events per read).
    case coalesced
}

/// What happens after the last chunk.
public enum StreamEnding: Sendable, Equatable {
    /// `data: [DONE]`, then the end of the HTTP body.
    case done
    /// The TCP connection is closed without `[DONE]` and without the terminating HTTP chunk.
    case cut
    /// Nothing more: the response stays open until the client leaves or the upstream shuts down.
    case hang
}

/// A streamed answer and its compiled wire form.
public struct StreamPlan: Sendable {
    public let chunks: [JSONValue]
    /// Silence before every frame but the first.
    public let delayMs: UInt64
    public let chunkSplit: ChunkSplit
    /// Extra silence before the frame of chunk `i` (index `chunks.count` is the `[DONE]` frame).
    public let pauses: [Int: UInt64]
    public let ending: StreamEnding
    /// How each element of `chunks` is framed on the wire.
    public let format: WireFormat
    let steps: [WireStep]

    public init(chunks: [JSONValue], delayMs: UInt64 = 0, chunkSplit: ChunkSplit = .none,
                pauses: [Int: UInt64] = [:], ending: StreamEnding = .done) {
        self.chunks = chunks
        self.delayMs = delayMs
        self.chunkSplit = chunkSplit
        self.pauses = pauses
        self.ending = ending
        format = .openAI
        var frames = chunks.map { StreamPlan.frame($0) }
        if ending == .done { frames.append(StreamPlan.doneFrame) }
        steps = StreamPlan.compile(frames: frames, delayMs: delayMs, split: chunkSplit, pauses: pauses)
    }

    /// An Anthropic Messages stream: each event goes out as `event: <its type>` and its data, and
    /// `.done` ends the body after the last event (Anthropic sends no `[DONE]`). Index `i` of
    /// `pauses` is the frame of event `i`.
    public init(anthropicEvents events: [JSONValue], delayMs: UInt64 = 0, chunkSplit: ChunkSplit = .none,
                pauses: [Int: UInt64] = [:], ending: StreamEnding = .done) {
        chunks = events
        self.delayMs = delayMs
        self.chunkSplit = chunkSplit
        self.pauses = pauses
        self.ending = ending
        format = .anthropic
        steps = StreamPlan.compile(frames: events.map { StreamPlan.anthropicFrame($0) }, delayMs: delayMs,
                                   split: chunkSplit, pauses: pauses)
    }

    /// The SSE frame of one Anthropic event: `event: <type>\ndata: {compact json}\n\n`.
    public static func anthropicFrame(_ event: JSONValue) -> [UInt8] {
        Array("event: \(event["type"]?.stringValue ?? "message")\ndata: ".utf8) + event.compactBytes() + [10, 10]
    }

    /// The SSE frame of one chunk: `data: {compact json}\n\n`.
    public static func frame(_ chunk: JSONValue) -> [UInt8] {
        Array("data: ".utf8) + chunk.compactBytes() + [10, 10]
    }

    public static let doneFrame = Array("data: [DONE]\n\n".utf8)

    /// The payload of each write, in order.
    public var writes: [[UInt8]] {
        steps.compactMap { if case .write(let bytes) = $0 { return bytes } else { return nil } }
    }

    /// The whole response body as the client receives it (after HTTP de-chunking).
    public var body: [UInt8] { writes.flatMap { $0 } }

    /// The total silence the stream holds, in milliseconds.
    public var totalPauseMs: UInt64 {
        steps.reduce(0) { if case .pause(let ms) = $1 { return $0 + ms } else { return $0 } }
    }

    private static func compile(frames: [[UInt8]], delayMs: UInt64, split: ChunkSplit,
                                pauses: [Int: UInt64]) -> [WireStep] {
        // (gap before, bytes) for every piece.
        var pieces: [(gap: UInt64, bytes: [UInt8])] = []
        for (index, frame) in frames.enumerated() {
            let gap = (index > 0 ? delayMs : 0) + (pauses[index] ?? 0)
            switch split {
            case .none, .coalesced:
                pieces.append((gap, frame))
            case .everyBytes(let size, let gapMs):
                let size = max(1, size)
                var start = 0
                while start < frame.count {
                    let end = min(frame.count, start + size)
                    pieces.append((start == 0 ? gap : gapMs, Array(frame[start..<end])))
                    start = end
                }
            case .insideMultibyte(let gapMs):
                var start = 0
                for (offset, byte) in frame.enumerated() where byte >= 0xC0 {
                    pieces.append((start == 0 ? gap : gapMs, Array(frame[start...offset])))
                    start = offset + 1
                }
                if start < frame.count { pieces.append((start == 0 ? gap : gapMs, Array(frame[start...]))) }
            }
        }
        if split == .coalesced {
            var merged: [(gap: UInt64, bytes: [UInt8])] = []
            for piece in pieces {
                if piece.gap == 0, !merged.isEmpty {
                    merged[merged.count - 1].bytes += piece.bytes
                } else {
                    merged.append(piece)
                }
            }
            pieces = merged
        }
        var steps: [WireStep] = []
        steps.reserveCapacity(pieces.count * 2)
        for piece in pieces {
            if piece.gap > 0 { steps.append(.pause(piece.gap)) }
            steps.append(.write(piece.bytes))
        }
        return steps
    }
}

/// The protocol a stream plan speaks.
public enum WireFormat: Sendable, Equatable {
    /// OpenAI chat completions: `data:` frames ending with `data: [DONE]`.
    case openAI
    /// Anthropic Messages: named events, ending with `message_stop` (or an `error` event).
    case anthropic
}

enum WireStep: Sendable {
    case write([UInt8])
    case pause(UInt64)
}

/// The Anthropic answer a correct proxy makes of a scenario.
public struct ExpectedAnswer: Sendable, Equatable {
    /// Concatenated thinking deltas.
    public var thinking: String
    /// Concatenated text deltas.
    public var text: String
    public var tools: [ExpectedToolUse]
    /// `message_delta.delta.stop_reason`.
    public var stopReason: String
    /// `message_delta.usage.output_tokens` when the upstream reported usage.
    public var outputTokens: Int?

    public init(thinking: String = "", text: String = "", tools: [ExpectedToolUse] = [], stopReason: String,
                outputTokens: Int? = nil) {
        self.thinking = thinking
        self.text = text
        self.tools = tools
        self.stopReason = stopReason
        self.outputTokens = outputTokens
    }
}

public struct ExpectedToolUse: Sendable, Equatable {
    public var name: String
    /// The upstream's call id (nil where the proxy makes one up).
    public var id: String?
    /// The parsed JSON of the concatenated `input_json_delta` fragments.
    public var input: JSONValue

    public init(name: String, id: String? = nil, input: JSONValue) {
        self.name = name
        self.id = id
        self.input = input
    }
}
