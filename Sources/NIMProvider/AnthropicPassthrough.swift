import AnthropicAPI
import EventLoop
import HTTPServer
import JSON
import StreamTranslation
import UpstreamClient

/// Where an Anthropic-native provider (LM Studio, llama.cpp) listens, and how to reach it.
public struct NativeUpstream: Sendable {
    /// The provider's base URL, with or without `/v1` (see `AnthropicPassthrough.messagesURL`).
    public var baseURL: String
    /// Sent as both `x-api-key` and `Authorization: Bearer` when set: llama.cpp's server reads
    /// `Authorization` and falls back to `X-Api-Key`; LM Studio's Anthropic endpoint takes either.
    public var apiKey: String?
    public var connectTimeout: Duration
    /// The whole transfer; zero: no limit.
    public var totalTimeout: Duration
    /// No byte for this long while not paused ends the transfer; zero: never.
    public var stallTimeout: Duration
    /// No progress sending the request body for this long ends the exchange; nil: not watched.
    public var sendTimeout: Duration?
    public var httpVersion: UpstreamHTTPVersion
    public var caFile: String?

    public init(baseURL: String, apiKey: String? = nil, connectTimeout: Duration = .seconds(10),
                totalTimeout: Duration = .zero, stallTimeout: Duration = .seconds(120),
                httpVersion: UpstreamHTTPVersion = .auto, caFile: String? = nil) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.stallTimeout = stallTimeout
        self.httpVersion = httpVersion
        self.caFile = caFile
    }

    public var messagesURL: String { AnthropicPassthrough.messagesURL(base: baseURL) }
}

/// One `/v1/messages` request passed through to an Anthropic-native provider: the client's body
/// goes out with only `model` replaced, and the answer's status, content type and body bytes come
/// back unchanged, chunk by chunk. Nothing is parsed or translated on the way back, which makes
/// this the cheapest path the proxy has.
///
/// A slow client pauses the upstream transfer; a client that leaves cancels it. A failure before
/// any byte reached the client (a non-2xx answer, no connection, a timeout) becomes the same
/// Anthropic error the translating path gives, through `mapUpstreamError`.
///
/// The responder's callbacks keep the object alive until the exchange ends; the caller need not.
///
/// Loop-confined.
public final class AnthropicPassthrough: UpstreamTransferDelegate {
    public enum Outcome: Equatable, Sendable {
        /// The upstream's answer (of this status) was relayed to its end.
        case relayed(status: Int)
        /// The client got this error: as the whole response, or as the last SSE event of a
        /// stream that broke.
        case failed(UpstreamError)
        case clientGone
    }

    private let curl: CurlMulti
    private let loop: EventLoop
    private let upstream: NativeUpstream
    private let responder: HTTPResponder
    private var body: [UInt8]?
    private var transfer: UpstreamTransfer?
    private var onFinish: ((Outcome) -> Void)?
    private var status = 0
    private var contentType: String?
    private var retryAfter: String?
    /// Bytes read in the current delivery, written once it ends (one client write per read).
    private var pending: [UInt8] = []
    /// A refusal's body so far.
    private var errorBody: [UInt8] = []
    private var responseStarted = false
    private var ended = false

    /// Times the upstream transfer was paused for a slow client.
    public private(set) var pauses = 0
    /// Body bytes handed to the client.
    public private(set) var relayedBytes = 0

    /// `curl` is the provider's own multi handle (its connection pool), on `loop`.
    /// `body` is the client's request body as received; `model` the provider's model name that
    /// replaces the client's. Fails only when the body is not a JSON object.
    public init?(loop: EventLoop, curl: CurlMulti, upstream: NativeUpstream, body: [UInt8], model: String,
                 responder: HTTPResponder, onFinish: ((Outcome) -> Void)? = nil) {
        guard let sent = Self.replacingModel(in: body, with: model) else { return nil }
        self.curl = curl
        self.loop = loop
        self.upstream = upstream
        self.body = sent
        self.responder = responder
        self.onFinish = onFinish
    }

    /// The request headers for the upstream.
    static func headers(apiKey: String?) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"), ("anthropic-version", "2023-06-01"),
        ]
        if let apiKey, !apiKey.isEmpty {
            headers.append(("x-api-key", apiKey))
            headers.append(("Authorization", "Bearer \(apiKey)"))
        }
        return headers
    }

    public func start() {
        guard let body, transfer == nil, !ended else { return }
        self.body = nil
        responder.onClientGone = { [self] in
            transfer?.cancel()
            transfer = nil
            end(.clientGone)
        }
        responder.onWritable = { [self] in
            if let transfer, transfer.isPaused { transfer.resume() }
        }
        var request = UpstreamRequest(
            url: upstream.messagesURL, method: "POST", headers: Self.headers(apiKey: upstream.apiKey), body: body,
            connectTimeout: upstream.connectTimeout, totalTimeout: upstream.totalTimeout,
            stallTimeout: upstream.stallTimeout, httpVersion: upstream.httpVersion, caFile: upstream.caFile)
        request.sendTimeout = upstream.sendTimeout
        transfer = curl.start(request, delegate: self)
        curl.runDueWork()
    }

    /// Shutdown: the transfer ends and the client hears that the server is stopping.
    public func abort() {
        guard !ended else { return }
        transfer?.cancel()
        transfer = nil
        // As the translating path answers at shutdown.
        fail(UpstreamError(type: .api, status: 503, message: "The server is shutting down."))
    }

    // MARK: UpstreamTransferDelegate

    public func transferDidReceiveHead(_ transfer: UpstreamTransfer, status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        contentType = headers.first { $0.name == "content-type" }?.value
        retryAfter = headers.first { $0.name == "retry-after" }?.value
    }

    public func transferDidReceiveBody(_ transfer: UpstreamTransfer, _ bytes: UnsafeRawBufferPointer) {
        if (200..<300).contains(status) {
            pending.append(contentsOf: bytes)
            // curl may read several times before the delivery ends: write on the way once there is
            // enough, so a slow client's queue is checked every 64 KB rather than once per burst.
            if pending.count >= 64 * 1024 { flush() }
            return
        }
        errorBody += bytes.prefix(Self.maxErrorBodyBytes - errorBody.count)
        if errorBody.count >= Self.maxErrorBodyBytes {
            // An endless error body would hold the client forever: what is kept is enough.
            transfer.cancel()
            self.transfer = nil
            loop.onNextTurn { [self] in failRefused() }
        }
    }

    static let maxErrorBodyBytes = 64 * 1024

    public func transferDidEndDelivery(_ transfer: UpstreamTransfer) {
        flush()
    }

    public func transferDidComplete(_ transfer: UpstreamTransfer, failure: UpstreamFailure?) {
        self.transfer = nil
        guard !ended else { return }
        if status != 0, !(200..<300).contains(status) {
            if failure == nil || !errorBody.isEmpty {
                failRefused()
            } else {
                fail(mapUpstreamError(status: nil, body: nil, transport: .connectionFailed))
            }
            return
        }
        flush()
        guard let failure else {
            if responseStarted {
                responder.finish()
            } else {
                // A 2xx with an empty body is relayed as it came.
                responder.startStream(status: status, headers: clientHeaders, firstBytes: [])
                responder.finish()
            }
            end(.relayed(status: status))
            return
        }
        let transport: TransportFailure
        switch failure {
        case .connect, .transport: transport = responseStarted ? .streamInterrupted(detail: nil) : .connectionFailed
        case .timeout, .stalled: transport = responseStarted ? .streamTimedOut : .timedOut
        }
        fail(mapUpstreamError(status: nil, body: nil, transport: transport))
    }

    // MARK: relaying

    private var clientHeaders: [(name: String, value: String)] {
        contentType.map { [("Content-Type", $0)] } ?? []
    }

    private func flush() {
        guard !pending.isEmpty, !ended else { return }
        let bytes = pending
        pending = []
        relayedBytes += bytes.count
        if !responseStarted {
            responseStarted = true
            responder.startStream(status: status, headers: clientHeaders, firstBytes: bytes)
            if !responder.isWritable { pauseTransfer() }
            return
        }
        if !responder.write(bytes) { pauseTransfer() }
    }

    private func pauseTransfer() {
        guard let transfer, !transfer.isPaused, !responder.isClosed else { return }
        transfer.pause()
        pauses += 1
    }

    private func failRefused() {
        guard !ended else { return }
        fail(mapUpstreamError(status: status, body: String(decoding: errorBody, as: UTF8.self), transport: nil,
                              contentType: contentType))
    }

    /// Before any byte: the error is the response. After: an event stream ends with Anthropic's
    /// `error` event, as on the translating path; any other body can only end where it broke.
    private func fail(_ error: UpstreamError) {
        guard !ended else { return }
        if !responseStarted {
            var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
            if error.type == .rateLimit, let retryAfter { headers.append(("retry-after", retryAfter)) }
            responder.respond(status: error.status, headers: headers, body: error.anthropicBody.compactBytes())
        } else if isEventStream(contentType: contentType) {
            responder.finish(lastBytes: AnthropicSSE.error(type: error.type.rawValue, message: error.message))
        } else {
            responder.finish()
        }
        end(.failed(error))
    }

    private func end(_ outcome: Outcome) {
        guard !ended else { return }
        ended = true
        pending = []
        errorBody = []
        responder.onClientGone = nil
        responder.onWritable = nil
        let report = onFinish
        onFinish = nil
        report?(outcome)
    }

    // MARK: the request

    /// The endpoint for a base URL: trailing slashes dropped; a base ending in `/v1` gets
    /// `/messages`, one already ending in `/messages` is used as it is, any other gets
    /// `/v1/messages` (`http://localhost:1234` and `http://localhost:1234/v1` both reach LM
    /// Studio's `/v1/messages`).
    public static func messagesURL(base: String) -> String {
        var base = Substring(base)
        while base.hasSuffix("/") { base = base.dropLast() }
        if base.hasSuffix("/messages") { return String(base) }
        if base.hasSuffix("/v1") { return base + "/messages" }
        return base + "/v1/messages"
    }

    /// The client's body with only the top-level `model` value replaced, every other byte as it
    /// came: a splice where `modelValueRange` finds the member, otherwise (an escaped key, a
    /// repeated or missing `model`) through the JSON parser. Nil when the body is no JSON object.
    public static func replacingModel(in body: [UInt8], with model: String) -> [UInt8]? {
        let value = JSONValue.string(model).compactBytes()
        if let range = modelValueRange(in: body) {
            var out: [UInt8] = []
            out.reserveCapacity(body.count - range.count + value.count)
            out += body[..<range.lowerBound]
            out += value
            out += body[range.upperBound...]
            return out
        }
        guard case .object(var object)? = try? JSONValue.parse(body) else { return nil }
        object["model"] = .string(model)
        return JSONValue.object(object).compactBytes(reservingCapacity: body.count + value.count)
    }

    /// The bytes of the value of the one top-level `"model"` member. Nil when the body is not an
    /// object this scanner follows, a key is written with escapes (it could spell `model`), or
    /// `model` is missing or repeated (parsers differ on which one counts). Scalars are not
    /// validated: the body was parsed already to route it.
    static func modelValueRange(in body: [UInt8]) -> Range<Int>? {
        body.withUnsafeBufferPointer { b -> Range<Int>? in
            let n = b.count
            var i = 0
            func skipSpace() { while i < n, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
            /// From an opening quote at `i`: past the closing quote; false if the string never ends.
            func skipString() -> Bool {
                i += 1
                while i < n {
                    switch b[i] {
                    case 0x22: i += 1; return true
                    case 0x5C: i += 2
                    default: i += 1
                    }
                }
                return false
            }
            func skipValue() -> Bool {
                guard i < n else { return false }
                switch b[i] {
                case 0x22:
                    return skipString()
                case 0x7B, 0x5B:
                    var depth = 0
                    while i < n {
                        switch b[i] {
                        case 0x22:
                            guard skipString() else { return false }
                            continue
                        case 0x7B, 0x5B: depth += 1
                        case 0x7D, 0x5D:
                            depth -= 1
                            if depth == 0 { i += 1; return true }
                        default: break
                        }
                        i += 1
                    }
                    return false
                default:
                    let start = i
                    while i < n {
                        let c = b[i]
                        if c == 0x2C || c == 0x7D || c == 0x5D || c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { break }
                        i += 1
                    }
                    return i > start
                }
            }
            skipSpace()
            guard i < n, b[i] == 0x7B else { return nil }
            i += 1
            skipSpace()
            if i < n, b[i] == 0x7D { return nil }
            var found: Range<Int>?
            while true {
                guard i < n, b[i] == 0x22 else { return nil }
                let keyStart = i + 1
                guard skipString() else { return nil }
                let key = UnsafeBufferPointer(rebasing: b[keyStart..<i - 1])
                if key.contains(0x5C) { return nil }
                let isModel = key.elementsEqual("model".utf8)
                skipSpace()
                guard i < n, b[i] == 0x3A else { return nil }
                i += 1
                skipSpace()
                let valueStart = i
                guard skipValue() else { return nil }
                if isModel {
                    if found != nil { return nil }
                    found = valueStart..<i
                }
                skipSpace()
                guard i < n else { return nil }
                if b[i] == 0x2C {
                    i += 1
                    skipSpace()
                    continue
                }
                guard b[i] == 0x7D else { return nil }
                i += 1
                break
            }
            skipSpace()
            return i == n ? found : nil
        }
    }
}

@available(*, unavailable)
extension AnthropicPassthrough: Sendable {}
