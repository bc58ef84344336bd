import AnthropicAPI
import EventLoop
#if canImport(Glibc)
import Glibc
#endif
import HTTPServer
import JSON
import NIMRequest
import StreamTranslation
import RateLimit
import UpstreamClient

/// One `/v1/messages` stream: `message_start` at once (the reference yields it before calling
/// upstream; here it leaves just after the upstream request, in the same loop turn), pings
/// while waiting for a rate-limit slot or a retry, then the
/// upstream answer translated chunk by chunk. A slow client pauses the upstream transfer;
/// a client that leaves cancels it.
///
/// Loop-confined.
final class UpstreamStream: UpstreamTransferDelegate {
    private enum Phase {
        case created
        case waitingForSlot(NIMProvider.Limiter.Ticket)
        case waitingToRetry
        /// Posted; no response head yet.
        case requesting
        /// A 2xx head arrived: translating the body.
        case streaming
        /// A non-2xx head arrived: collecting the error body.
        case failedStatus(Int)
        case done
    }

    private unowned let provider: NIMProvider
    /// Needed only to build the upstream body once; dropped then (a decoded request is ~0.5 KB
    /// per stream, held for the whole stream otherwise).
    private var request: MessagesRequest?
    private let responder: HTTPResponder
    private let requestID: UInt64
    private var translator: StreamTranslator
    private var parser: OpenAISSEParser
    private var phase = Phase.created
    private var transfer: UpstreamTransfer?
    private var attempt = 0
    /// The last answer's `Retry-After`, as sent and as read.
    private var retryAfterHeader: String?
    private var retryAfterSeconds: Double?
    private var errorBody: [UInt8] = []
    private var pingTimer: Timer?
    private var retryTimer: Timer?
    private let started: LoopInstant
    /// Kept for a 429 retry and dropped once a 2xx head arrived, after which nothing resends.
    private var bodyBytes: [UInt8]?
    /// Set while one upstream read is being translated; output collects in `pending`.
    private var batching = false
    private var pending: [UInt8] = []
    private var responseStarted = false

    init(provider: NIMProvider, request: MessagesRequest, inputTokens: Int, responder: HTTPResponder, requestID: UInt64) {
        self.provider = provider
        self.request = request
        self.responder = responder
        self.requestID = requestID
        started = provider.loop.now
        parser = OpenAISSEParser(maxLineBytes: provider.settings.upstream.maxLineBytes)
        let count = provider.countTokens
        translator = StreamTranslator(
            model: request.model, inputTokens: inputTokens, messageID: MessageID.make(),
            countTokens: { count($0) })
    }

    func begin() {
        responder.onClientGone = { [unowned self] in self.clientGone() }
        responder.onWritable = { [unowned self] in self.transfer?.resume() }
        // The upstream request goes out first: it is the long wait, and in a burst of requests
        // each client write can hand the CPU to the woken client before the next request is sent.
        acquireSlot()
        startResponseIfNeeded()
    }

    /// The head and `message_start` leave in one write, before anything else is written
    /// (an upstream that answers at once, or a failure to start, can come before `begin` ends).
    private func startResponseIfNeeded() {
        guard !responseStarted else { return }
        responseStarted = true
        responder.startStream(status: 200, headers: [
            ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
        ], firstBytes: translator.start())
    }

    // MARK: slot and retries

    private func acquireSlot() {
        if let ticket = provider.requestSlot(for: self) {
            phase = .waitingForSlot(ticket)
            startPings()
        } else {
            send()
        }
    }

    func slotGranted() {
        guard case .waitingForSlot = phase else { return }
        send()
    }

    private func startPings() {
        guard pingTimer == nil, let t = try? Timer(loop: provider.loop) else { return }
        pingTimer = t
        let interval = provider.pingInterval
        try? t.start(after: interval, repeating: interval) { [unowned self] in
            self.emit(AnthropicSSE.ping())
        }
    }

    private func stopPings() {
        pingTimer?.close()
        pingTimer = nil
    }

    private func send() {
        stopPings()
        phase = .requesting
        errorBody.removeAll()
        retryAfterHeader = nil
        retryAfterSeconds = nil
        let settings = provider.settings
        if bodyBytes == nil, let request {
            bodyBytes = RequestBuilder.upstreamBodyBytes(request, nim: settings.upstream.nim)
        }
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"), ("Accept", "text/event-stream"),
        ]
        if !settings.upstream.apiKey.isEmpty {
            headers.append(("Authorization", "Bearer \(settings.upstream.apiKey)"))
        }
        if attempt == 0, let request {
            provider.log.info("upstream request", [
                ("request_id", .int(Int(requestID))), ("model", .string(request.model)),
                ("messages", .int(request.messages.count)), ("tools", .int(request.tools?.count ?? 0)),
                ("body_bytes", .int(bodyBytes?.count ?? 0)),
            ])
        }
        request = nil
        let upstream = UpstreamRequest(
            url: provider.endpoint, method: "POST", headers: headers, body: bodyBytes ?? [],
            connectTimeout: settings.upstream.connectTimeout,
            totalTimeout: settings.upstream.totalTimeout ?? .zero,
            stallTimeout: settings.upstream.stallTimeout,
            httpVersion: UpstreamHTTPVersion(settings.upstream.httpVersion),
            caFile: settings.upstream.caFile)
        do {
            let curl = try provider.curl()
            transfer = curl.start(upstream, delegate: self)
            curl.runDueWork()
        } catch {
            fail(UpstreamError(type: .api, status: 500, message: "The upstream client could not start: \(error)"), note: nil)
        }
    }

    // MARK: UpstreamTransferDelegate

    func transferDidReceiveHead(_ transfer: UpstreamTransfer, status: Int, headers: [(name: String, value: String)]) {
        guard case .requesting = phase else { return }
        if (200..<300).contains(status) {
            phase = .streaming
            bodyBytes = nil
        } else {
            phase = .failedStatus(status)
            retryAfterHeader = headers.first { $0.name == "retry-after" }?.value
            retryAfterSeconds = retryAfterHeader.flatMap { parseRetryAfter($0, now: time(nil)) }
        }
    }

    func transferDidReceiveBody(_ transfer: UpstreamTransfer, _ bytes: UnsafeRawBufferPointer) {
        switch phase {
        case .streaming:
            // One upstream read often holds many SSE events, and curl hands a chunked body
            // over one chunk per call: collect the output until `transferDidEndDelivery`, so a
            // fast upstream costs one client write per read rather than per event.
            batching = true
            for event in parser.feed(bytes) {
                handle(event)
                if case .done = phase { break }
            }
        case .failedStatus(let status):
            // Error bodies are small; keep enough to show the upstream's message, and stop
            // reading there: an endless error body would otherwise hold the client forever.
            errorBody += bytes.prefix(Self.maxErrorBodyBytes - errorBody.count)
            if errorBody.count >= Self.maxErrorBodyBytes {
                transfer.cancel()
                self.transfer = nil
                upstreamRefused(status: status)
            }
        default:
            break
        }
    }

    static let maxErrorBodyBytes = 64 * 1024

    func transferDidEndDelivery(_ transfer: UpstreamTransfer) {
        guard batching else { return }
        batching = false
        flushPending()
    }

    func transferDidComplete(_ transfer: UpstreamTransfer, failure: UpstreamFailure?) {
        self.transfer = nil
        switch phase {
        case .streaming:
            if let failure {
                let kind: TransportFailure
                if case .stalled = failure { kind = .streamTimedOut } else { kind = .streamInterrupted(detail: nil) }
                fail(mapUpstreamError(status: nil, body: nil, transport: kind), note: failure.description)
                return
            }
            for event in parser.finish() {
                handle(event)
                if case .done = phase { return }
            }
            // The upstream closed without `[DONE]`: the reference's loop simply ends.
            complete(translator.finish(), outcome: "ended")
        case .failedStatus(let status):
            if failure == nil || !errorBody.isEmpty {
                upstreamRefused(status: status)
            } else {
                fail(mapUpstreamError(status: nil, body: nil, transport: .connectionFailed), note: failure?.description)
            }
        case .requesting:
            let kind: TransportFailure
            switch failure {
            case .timeout?, .stalled?: kind = .timedOut
            default: kind = .connectionFailed
            }
            fail(mapUpstreamError(status: nil, body: nil, transport: kind), note: failure?.description)
        default:
            break
        }
    }

    private func handle(_ event: OpenAIStreamEvent) {
        switch event {
        case .chunk(let chunk):
            emit(translator.consume(chunk: chunk))
            if translator.isFinished {
                transfer?.detach()
                transfer = nil
                complete([], outcome: "upstream error chunk")
            }
        case .done:
            // Let the body end on its own so the connection is reused.
            transfer?.detach()
            transfer = nil
            complete(translator.finish(), outcome: "done")
        case .malformed(_, let reason):
            transfer?.cancel()
            transfer = nil
            fail(mapUpstreamError(status: nil, body: nil, transport: .malformedStream(reason: reason)), note: nil)
        case .tooLong(let limit):
            transfer?.cancel()
            transfer = nil
            fail(mapUpstreamError(status: nil, body: nil, transport: .lineTooLong(limit: limit)), note: nil)
        }
    }

    /// A non-2xx answer: 429 is retried (the reference's `execute_with_retry`), anything
    /// else ends the stream with the mapped error.
    private func upstreamRefused(status: Int) {
        let body = String(decoding: errorBody, as: UTF8.self)
        if status == 429 {
            let decision = provider.limiter.on429(
                attempt: attempt, retryAfter: retryAfterSeconds.flatMap(RetryPolicy.retryAfter(seconds:)), random: provider.random(),
                now: provider.now)
            if case .retryAfterTooLong(let asked) = decision {
                let error = UpstreamError.retryAfterTooLong(
                    body: body, retryAfter: asked, headerValue: retryAfterHeader ?? "",
                    limit: provider.limiter.retry.maxRetryAfter)
                // The limiter is already blocked for as long as the server allows.
                fail(error, note: "status 429, Retry-After beyond the limit")
                return
            }
            if case .retry(let after) = decision {
                attempt += 1
                provider.log.warning("upstream 429, retrying", [
                    ("request_id", .int(Int(requestID))), ("attempt", .int(attempt)), ("delay_seconds", .double(after.inSeconds)),
                ])
                phase = .waitingToRetry
                startPings()
                if let t = try? Timer(loop: provider.loop) {
                    retryTimer = t
                    try? t.start(after: after) { [unowned self] in
                        self.retryTimer?.close()
                        self.retryTimer = nil
                        self.acquireSlot()
                    }
                    return
                }
                acquireSlot()
                return
            }
        }
        let error = mapUpstreamError(status: status, body: body, transport: nil)
        if let block = error.rateLimitBlock { provider.limiter.blocked(for: block, now: provider.now) }
        fail(error, note: "status \(status)")
    }

    // MARK: output

    private func emit(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, !responder.isClosed else { return }
        if batching {
            pending += bytes
            // curl may read several times before the delivery ends: write on the way once
            // there is enough, so a slow client's queue is checked (and the upstream paused)
            // every 64 KB rather than once per burst.
            if pending.count >= 64 * 1024 { flushPending() }
            return
        }
        write(bytes)
    }

    private func flushPending() {
        guard !pending.isEmpty else { return }
        // Handing the buffer over (not `removeAll(keepingCapacity:)`, which copies a shared
        // buffer anyway) leaves nothing allocated between reads.
        let bytes = pending
        pending = []
        if !responder.isClosed { write(bytes) }
    }

    private func write(_ bytes: [UInt8]) {
        startResponseIfNeeded()
        let writable = responder.write(bytes)
        provider.noteClientQueue(responder.queuedBytes)
        if !writable, let transfer, !transfer.isPaused {
            transfer.pause()
            provider.upstreamPauses += 1
        }
    }

    private func fail(_ error: UpstreamError, note: String?) {
        provider.log.warning("upstream failed", [
            ("request_id", .int(Int(requestID))), ("error_type", .string(error.type.rawValue)),
            ("message", .string(error.message)), ("detail", note.map { .string($0) } ?? .null),
        ])
        complete(translator.fail(error: error), outcome: "error")
    }

    private func complete(_ tail: [UInt8], outcome: String) {
        if case .done = phase { return }
        batching = false
        // The last events and the end of the body leave in one write.
        var last = pending
        pending.removeAll()
        last += tail
        phase = .done
        stopPings()
        retryTimer?.close()
        retryTimer = nil
        responder.onClientGone = nil
        responder.onWritable = nil
        startResponseIfNeeded()
        responder.finish(lastBytes: last)
        provider.log.info("upstream stream finished", [
            ("request_id", .int(Int(requestID))), ("outcome", .string(outcome)),
            ("ms", .int(started.duration(to: provider.loop.now).wholeMilliseconds)), ("retries", .int(attempt)),
        ])
        provider.finished(self)
    }

    /// Shutdown: end the message with an error block.
    func abort(reason: String) {
        if case .done = phase { return }
        if case .waitingForSlot(let ticket) = phase { provider.cancelSlot(ticket) }
        transfer?.cancel()
        transfer = nil
        complete(translator.fail(error: UpstreamError(type: .api, status: 503, message: reason)), outcome: "aborted")
    }

    private func clientGone() {
        if case .waitingForSlot(let ticket) = phase { provider.cancelSlot(ticket) }
        transfer?.cancel()
        transfer = nil
        phase = .done
        stopPings()
        retryTimer?.close()
        retryTimer = nil
        provider.log.info("client left, upstream cancelled", [("request_id", .int(Int(requestID)))])
        provider.finished(self)
    }
}

@available(*, unavailable)
extension UpstreamStream: Sendable {}
