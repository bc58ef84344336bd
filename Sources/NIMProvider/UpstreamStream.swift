import AnthropicAPI
import App
import EventLoop
#if canImport(Glibc)
import Glibc
#endif
import HTTPServer
import JSON
import NIMRequest
import ProxyConfig
import StreamTranslation
import RateLimit
import UpstreamClient

/// One `/v1/messages` request's upstream side: the I/O shell of a `StreamLifecycle`. It feeds the
/// lifecycle what the slots, the transfer, the client and the timers do, and runs the actions it
/// returns; every way out goes through the lifecycle's one `teardown`.
///
/// The answer is translated chunk by chunk. Nothing reaches the client before the upstream's first
/// content: then the head, `message_start` and that content leave in one write. A slow client
/// pauses the upstream transfer; a client that leaves cancels it.
///
/// Loop-confined.
final class UpstreamStream: UpstreamTransferDelegate {
    typealias Lifecycle = StreamLifecycle<LoopInstant>

    private unowned let provider: NIMProvider
    /// Needed only to build the upstream body at the first attempt; dropped then (a decoded
    /// request is ~0.5 KB per stream, held for the whole stream otherwise).
    private var request: MessagesRequest?
    private let responder: HTTPResponder
    private let requestID: UInt64
    private let inputTokens: Int
    private let messageID: String
    private var machine: Lifecycle
    private var translator: StreamTranslator
    /// The model `translator` was made for, and the attempts sent so far.
    private var translatorModel: String
    private var attempts = 0
    private var parser: OpenAISSEParser
    private var transfer: UpstreamTransfer?
    /// The place in the rate limiter's queue while waiting there.
    private var rateTicket: NIMProvider.Limiter.Ticket?
    /// The rate limit of the provider of the model being tried.
    private var lane: RateLane {
        provider.lane(for: provider.target(for: machine.model).provider)
    }
    /// The lane `rateTicket` waits in.
    private var ticketLane: RateLane?
    /// The provider whose concurrency cap this stream's place counts against: the first model's,
    /// kept across a fallback to another provider (the lifecycle holds one place from the first
    /// attempt to the end).
    private var concurrencyProvider: Provider?
    /// The upstream body as built for `bodyModel`; kept while another attempt may need it.
    private var bodyBytes: [UInt8]?
    private var bodyModel = ""
    /// The provider whose dialect `bodyBytes` is written in. The request is kept past the first
    /// body only when a fallback model is another provider's, to write that one's.
    private var bodyProvider = Provider.nvidiaNim
    private let crossesProviders: Bool
    /// The `max_tokens` the body carries, and the smaller one a completion-budget refusal asked
    /// to send next.
    private var sentMaxTokens: Int?
    private var nextMaxTokens: Int?
    /// `message_start`, held until the response starts.
    private var heldStart: [UInt8]
    /// Set while one upstream read is being translated; output collects in `pending`.
    private var batching = false
    private var pending: [UInt8] = []
    /// `stream: false`: the whole answer's events, assembled into one message at the end.
    private var collected: [UInt8] = []
    /// A refusal (a non-2xx head, or a 2xx that is not an event stream) and its body so far.
    private var refusal: (status: Int, contentType: String?, retryAfter: String?)?
    private var errorBody: [UInt8] = []
    /// The last 429's `Retry-After` in seconds, for the client's own header.
    private var lastRetryAfterSeconds: Double?
    private var pingTimer: Timer?
    private var wakeTimer: Timer?
    private var wakeAt: LoopInstant?
    private let started: LoopInstant
    /// When the current wait for a rate-limit slot began.
    private var rateWaitStarted: LoopInstant

    init(
        provider: NIMProvider, request: MessagesRequest, models: [String], inputTokens: Int,
        responder: HTTPResponder, requestID: UInt64
    ) {
        self.provider = provider
        self.request = request
        self.responder = responder
        self.requestID = requestID
        self.inputTokens = inputTokens
        started = provider.loop.now
        rateWaitStarted = started
        messageID = MessageID.make()
        var configuration = Lifecycle.Configuration(models: models)
        configuration.delivery = request.stream == false ? .collect : .stream
        configuration.capsConcurrency = provider.settings.upstream.maxConcurrency > 0
        configuration.earlyStartAfter = provider.settings.upstream.streamEarlyStart
        machine = Lifecycle(configuration, now: started)
        parser = OpenAISSEParser(maxLineBytes: provider.settings.upstream.maxLineBytes, readsTextDeltas: true)
        translator = Self.translator(model: models[0], inputTokens: inputTokens, messageID: messageID, provider: provider)
        translatorModel = models[0]
        heldStart = translator.start()
        let first = provider.target(for: models[0]).provider
        crossesProviders = models.dropFirst().contains { provider.target(for: $0).provider != first }
    }

    private static func translator(model: String, inputTokens: Int, messageID: String, provider: NIMProvider) -> StreamTranslator {
        let count = provider.countTokens
        return StreamTranslator(model: model, inputTokens: inputTokens, messageID: messageID, countTokens: { count($0) })
    }

    func begin() {
        responder.onClientGone = { [unowned self] in self.run(self.machine.clientGone()) }
        responder.onWritable = { [unowned self] in self.run(self.machine.clientWritable()) }
        run(machine.begin(now: provider.now))
    }

    /// Shutdown: the client hears that the server is stopping.
    func abort() {
        run(machine.shutdown())
    }

    func concurrencySlotGranted() {
        run(machine.concurrencySlotGranted(now: provider.now))
    }

    func rateSlotGranted() {
        guard rateTicket != nil else { return }
        rateTicket = nil
        ticketLane = nil
        provider.observe(.rateLimitWait(rateWaitStarted.duration(to: provider.now)))
        run(machine.rateSlotGranted(now: provider.now))
    }

    // MARK: running the lifecycle's actions

    private func run(_ actions: [Lifecycle.Action]) {
        for action in actions { perform(action) }
        if !machine.isEnded { syncWakeTimer() }
    }

    private func perform(_ action: Lifecycle.Action) {
        switch action {
        case .requestConcurrencySlot:
            let owner = provider.target(for: machine.model).provider
            concurrencyProvider = owner
            if provider.requestConcurrencySlot(for: self, provider: owner) { run(machine.concurrencySlotGranted(now: provider.now)) }
        case .leaveConcurrencyQueue:
            if let owner = concurrencyProvider { provider.leaveConcurrencyQueue(self, provider: owner) }
        case .releaseConcurrencySlot:
            if let owner = concurrencyProvider { provider.releaseConcurrencySlot(provider: owner) }
        case .requestRateSlot:
            let lane = self.lane
            if let ticket = lane.requestSlot(for: self) {
                rateTicket = ticket
                ticketLane = lane
                rateWaitStarted = provider.now
            } else {
                provider.observe(.rateLimitWait(.zero))
                run(machine.rateSlotGranted(now: provider.now))
            }
        case .leaveRateQueue:
            if let rateTicket { ticketLane?.cancelSlot(rateTicket) }
            rateTicket = nil
            ticketLane = nil
        case .send(let model, let fresh):
            send(model: model, freshConnection: fresh)
        case .startEarly:
            responder.startStream(status: 200, headers: Self.streamHeaders, firstBytes: heldStart)
            heldStart = []
        case .startPings:
            startPings()
        case .stopPings:
            pingTimer?.close()
            pingTimer = nil
        case .startResponse:
            // Content has reached the client: nothing will be resent.
            bodyBytes = nil
            var first = heldStart
            heldStart = []
            first += takePending()
            responder.startStream(status: 200, headers: Self.streamHeaders, firstBytes: first)
        case .firstContent:
            provider.observe(.firstContent(after: started.duration(to: provider.now)))
        case .pauseTransfer:
            if let transfer, !transfer.isPaused {
                transfer.pause()
                provider.upstreamPauses += 1
            }
        case .resumeTransfer:
            transfer?.resume()
        case .cancelTransfer:
            transfer?.cancel()
            transfer = nil
        case .detachTransfer:
            // Let the body end on its own so the connection is reused.
            transfer?.detach()
            transfer = nil
        case .logRetry(let reason):
            provider.observe(.retry(reason: reason))
            provider.log.warning("upstream retry", [
                ("request_id", .int(Int(requestID))), ("reason", .string(reason)), ("model", .string(machine.model)),
                ("retries", .int(machine.retries)),
            ])
        case .logFallback(let from, let to):
            provider.observe(.fallback(from: from, to: to))
            provider.log.warning("upstream fallback", [
                ("request_id", .int(Int(requestID))), ("from", .string(from)), ("to", .string(to)),
            ])
        case .respondError(let error):
            applyRateLimitBlock(error)
            var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
            if let retryAfter = clientRetryAfter(error) { headers.append(("retry-after", retryAfter)) }
            responder.respond(status: error.status, headers: headers, body: error.anthropicBody.compactBytes())
        case .writeErrorEvent(let error):
            applyRateLimitBlock(error)
            // Anthropic's mid-stream error: the event, then the body ends, without message_stop.
            var last = takePending()
            last += AnthropicSSE.error(type: error.type.rawValue, message: error.message)
            responder.finish(lastBytes: last)
        case .finishStream(let startingResponse):
            var last = takePending()
            last += translator.finish()
            if startingResponse {
                last = heldStart + last
                heldStart = []
                responder.streamWhole(status: 200, headers: Self.streamHeaders, body: last)
            } else {
                responder.finish(lastBytes: last)
            }
        case .respondMessage:
            var events = heldStart
            events += collected
            events += takePending()
            events += translator.finish()
            collected = []
            switch provider.assembleMessage(events) {
            case .success(let message):
                responder.respond(status: 200, headers: [("Content-Type", "application/json")], body: message.compactBytes())
            case .failure(let error):
                responder.respond(status: error.status, headers: [("Content-Type", "application/json")],
                                  body: error.anthropicBody.compactBytes())
            }
        case .teardown(let outcome):
            teardown(outcome)
        }
    }

    /// The reference blocks every request for a while when a 429 reaches its error mapper, that
    /// is, the client; a 429 that a fallback model answers instead blocks nothing more.
    private func applyRateLimitBlock(_ error: UpstreamError) {
        if let block = error.rateLimitBlock { lane.limiter.blocked(for: block, now: provider.now) }
    }

    static let streamHeaders: [(name: String, value: String)] = [
        ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
    ]

    /// The one way out: timers closed, the responder's callbacks dropped, the log line, and the
    /// provider forgets the stream. Queues, transfer and slot were left by the actions before.
    private func teardown(_ outcome: Lifecycle.Outcome) {
        pingTimer?.close()
        pingTimer = nil
        wakeTimer?.close()
        wakeTimer = nil
        wakeAt = nil
        responder.onClientGone = nil
        responder.onWritable = nil
        bodyBytes = nil
        // The line's fields are built only when the line is written (not above `info`).
        if provider.log.isEnabled(.info) { logFinished(outcome) }
        provider.observe(.finished(outcome, model: machine.model))
        provider.finished(self)
    }

    private func logFinished(_ outcome: Lifecycle.Outcome) {
        var fields: [(String, JSONValue)] = [("request_id", .int(Int(requestID)))]
        switch outcome {
        case .served(let model):
            fields += [("outcome", "served"), ("model", .string(model))]
        case .failed(let error):
            fields += [("outcome", "error"), ("error_type", .string(error.type.rawValue)), ("status", .int(error.status))]
        case .clientGone:
            fields.append(("outcome", "client_gone"))
        }
        fields += [
            ("models_tried", .array(machine.modelsTried.map { .string($0) })),
            ("ms", .int(started.duration(to: provider.loop.now).wholeMilliseconds)), ("retries", .int(machine.retries)),
        ]
        provider.log.info("upstream stream finished", fields)
    }

    private func startPings() {
        guard pingTimer == nil, let t = try? Timer(loop: provider.loop) else { return }
        pingTimer = t
        let interval = provider.pingInterval
        try? t.start(after: interval, repeating: interval) { [unowned self] in
            _ = responder.write(AnthropicSSE.ping())
        }
    }

    /// Keeps the one timer at the lifecycle's next wake-up (a backoff's end, the early start).
    private func syncWakeTimer() {
        let want = machine.nextWakeup
        guard want != wakeAt else { return }
        wakeAt = want
        guard let want else {
            wakeTimer?.stop()
            return
        }
        if wakeTimer == nil { wakeTimer = try? Timer(loop: provider.loop) }
        let delay = max(.zero, provider.now.duration(to: want))
        try? wakeTimer?.start(after: delay + .milliseconds(1)) { [unowned self] in
            wakeAt = nil
            run(machine.timerFired(now: provider.now))
        }
    }

    // MARK: attempts

    private func send(model: String, freshConnection: Bool) {
        let target = provider.target(for: model)
        if let request, bodyBytes == nil || bodyProvider != target.provider {
            buildBody(from: request, for: model, target: target)
        }
        if target.model != bodyModel, let body = bodyBytes {
            bodyBytes = Self.replacingModel(in: body, from: bodyModel, to: target.model)
            bodyModel = target.model
        }
        sendBuiltBody(model: model, target: target, freshConnection: freshConnection)
    }

    private func buildBody(from original: MessagesRequest, for model: String, target: UpstreamTarget) {
        let settings = provider.settings
        var request = original
        request.model = target.model
        // Where the model's window is known, ask only for what fits beside the prompt rather
        // than be refused for it.
        let nim = settings.upstream.nim
        let asked = request.extraBody?["max_tokens"]?.intValue.map { nim.maxTokens > 0 ? min($0, nim.maxTokens) : $0 }
            ?? RequestBuilder.maxTokens(request, nim: nim)
        let fits = provider.windows.maxTokens(for: model, inputTokens: inputTokens, requested: asked)
        if fits < asked {
            request.maxTokens = fits
            if request.extraBody?["max_tokens"] != nil { request.extraBody?["max_tokens"] = .int(fits) }
        }
        sentMaxTokens = min(asked, fits)
        bodyBytes = RequestBuilder.upstreamBodyBytes(request, nim: nim, provider: target.provider)
        bodyModel = target.model
        bodyProvider = target.provider
        provider.log.info("upstream request", [
            ("request_id", .int(Int(requestID))), ("model", .string(request.model)),
            ("messages", .int(request.messages.count)), ("tools", .int(request.tools?.count ?? 0)),
            ("body_bytes", .int(bodyBytes?.count ?? 0)),
        ])
        if !crossesProviders { self.request = nil }
    }

    private func sendBuiltBody(model: String, target: UpstreamTarget, freshConnection: Bool) {
        let settings = provider.settings
        if let smaller = nextMaxTokens, let body = bodyBytes {
            nextMaxTokens = nil
            bodyBytes = Self.replacingMaxTokens(in: body, with: smaller)
            sentMaxTokens = smaller
        }
        // Each attempt starts clean: a broken attempt may have left half a line or a usage count.
        // The first attempt, to the model the stream was made for, has them fresh from `init`.
        if attempts > 0 || model != translatorModel {
            parser = OpenAISSEParser(maxLineBytes: settings.upstream.maxLineBytes, readsTextDeltas: true)
            translator = Self.translator(model: model, inputTokens: inputTokens, messageID: messageID, provider: provider)
            translatorModel = model
            let start = translator.start()
            if !machine.responseStarted { heldStart = start }
        }
        attempts += 1
        pending = []
        collected = []
        refusal = nil
        errorBody = []
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"), ("Accept", "text/event-stream"),
        ]
        if !target.apiKey.isEmpty {
            headers.append(("Authorization", "Bearer \(target.apiKey)"))
        }
        var upstream = UpstreamRequest(
            url: target.endpoint, method: "POST", headers: headers, body: bodyBytes ?? [],
            connectTimeout: settings.upstream.connectTimeout,
            totalTimeout: settings.upstream.totalTimeout ?? .zero,
            stallTimeout: settings.upstream.stallTimeout,
            httpVersion: UpstreamHTTPVersion(settings.upstream.httpVersion),
            caFile: settings.upstream.caFile)
        upstream.freshConnection = freshConnection
        upstream.sendTimeout = settings.upstream.sendTimeout
        do {
            let curl = try provider.curl(for: target.provider)
            transfer = curl.start(upstream, delegate: self)
            curl.runDueWork()
        } catch {
            fail(.refused(UpstreamError(type: .api, status: 500, message: "The upstream client could not start: \(error)")))
        }
    }

    /// The body for another model: the builder writes `model` first, so only the head changes.
    /// On a 50 KB Claude Code body this costs about 4 µs against about 670 µs to rebuild it from
    /// the request (debug build), and the request need not be kept for the stream's life.
    static func replacingModel(in body: [UInt8], from old: String, to new: String) -> [UInt8] {
        let oldHead = Array(#"{"model":"#.utf8) + JSONValue.string(old).compactBytes()
        guard body.starts(with: oldHead) else {
            // Not the builder's layout: go through JSON.
            guard case .object(var object)? = try? JSONValue.parse(body) else { return body }
            object["model"] = .string(new)
            return JSONValue.object(object).compactBytes()
        }
        return Array(#"{"model":"#.utf8) + JSONValue.string(new).compactBytes() + body[oldHead.count...]
    }

    /// The body with another `max_tokens`; rare (a completion-budget retry), so through JSON.
    static func replacingMaxTokens(in body: [UInt8], with maxTokens: Int) -> [UInt8] {
        guard case .object(var object)? = try? JSONValue.parse(body) else { return body }
        object["max_tokens"] = .int(maxTokens)
        return JSONValue.object(object).compactBytes(reservingCapacity: body.count + 16)
    }

    // MARK: UpstreamTransferDelegate

    func transferDidReceiveHead(_ transfer: UpstreamTransfer, status: Int, headers: [(name: String, value: String)]) {
        let contentType = headers.first { $0.name == "content-type" }?.value
        // A server that names no type is taken at its word that it streams; one that names
        // another (an HTML error page, a JSON body) is not streaming, whatever its status.
        let eventStream = contentType.map { $0.lowercased().hasPrefix("text/event-stream") } ?? true
        if !((200..<300).contains(status) && eventStream) {
            refusal = (status, contentType, headers.first { $0.name == "retry-after" }?.value)
        }
        run(machine.headReceived(status: status, eventStream: eventStream))
    }

    func transferDidReceiveBody(_ transfer: UpstreamTransfer, _ bytes: UnsafeRawBufferPointer) {
        if machine.translating {
            // One upstream read often holds many SSE events, and curl hands a chunked body
            // over one chunk per call: collect the output until `transferDidEndDelivery`, so a
            // fast upstream costs one client write per read rather than per event.
            batching = true
            for event in parser.feed(bytes) {
                switch handle(event) {
                case .more: continue
                case .answered: return
                case .failed(let failure):
                    failFromCallback(failure)
                    return
                }
            }
        } else if refusal != nil {
            // Error bodies are small; keep enough to show the upstream's message, and stop
            // reading there: an endless error body would otherwise hold the client forever.
            errorBody += bytes.prefix(Self.maxErrorBodyBytes - errorBody.count)
            if errorBody.count >= Self.maxErrorBodyBytes {
                failFromCallback(refusalFailure())
            }
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
        batching = false
        if machine.translating {
            if let failure {
                // What was read before the break is content like any other.
                flushPending()
                fail(transportFailure(failure, answered: true))
                return
            }
            for event in parser.finish() {
                switch handle(event) {
                case .more: continue
                case .answered: return
                case .failed(let failure):
                    flushPending()
                    fail(failure)
                    return
                }
            }
            // The upstream closed without `[DONE]`: the reference's loop simply ends.
            run(machine.upstreamFinished(transferOpen: false))
        } else if refusal != nil {
            if failure == nil || !errorBody.isEmpty {
                fail(refusalFailure())
            } else {
                fail(.connection(Self.mapped(.connectionFailed)))
            }
        } else if let failure {
            fail(transportFailure(failure, answered: false))
        }
    }

    /// What one event leaves to do: read on, stop (the answer is complete), or report a failure
    /// where the caller may (inside or outside curl's callbacks) and read nothing more.
    private enum AfterEvent {
        case more, answered
        case failed(AttemptFailure)
    }

    private static func consume(_ chunk: JSONValue, _ translator: inout StreamTranslator) -> ([UInt8], Bool) {
        let out = translator.consume(chunk: chunk)
        return (out, translator.isFinished)
    }

    /// Translates one event.
    private func handle(_ event: OpenAIStreamEvent) -> AfterEvent {
        switch event {
        case .chunk(let chunk):
            // One access to the translator for both (each access to a stored property here is a
            // runtime exclusivity check, on the per-chunk path).
            let (out, finished) = Self.consume(chunk, &translator)
            if finished {
                // Only a chunk carrying an `error` ends the translator here; its text-block
                // rendering of the error is dropped for a real error.
                return .failed(.refused(UpstreamError.inStream(chunk: chunk)
                    ?? UpstreamError(type: .api, status: 500, message: "An error occurred during streaming")))
            }
            if !out.isEmpty {
                pending += out
                // curl may read several times before the delivery ends: write on the way once
                // there is enough, so a slow client's queue is checked (and the upstream paused)
                // every 64 KB rather than once per burst.
                if pending.count >= 64 * 1024 { flushPending() }
            }
            return .more
        case .textDelta(let delta):
            translator.consume(delta, appendingTo: &pending)
            if pending.count >= 64 * 1024 { flushPending() }
            return .more
        case .done:
            // What is pending leaves with the last events, in one write.
            run(machine.upstreamFinished(transferOpen: true))
            return .answered
        case .malformed(_, let reason):
            return .failed(.refused(Self.mapped(.malformedStream(reason: reason))))
        case .tooLong(let limit):
            return .failed(.refused(Self.mapped(.lineTooLong(limit: limit))))
        }
    }

    // MARK: reading failures

    /// A failure found inside a curl callback: the transfer is cancelled now (curl may not be
    /// re-entered from there), and the lifecycle hears of it on the next turn, where a retry or a
    /// fallback may start a new transfer.
    private func failFromCallback(_ failure: AttemptFailure) {
        flushPending()
        transfer?.cancel()
        transfer = nil
        refusal = nil
        batching = false
        provider.loop.onNextTurn { [self] in fail(failure) }
    }

    private func fail(_ failure: AttemptFailure) {
        // A failure read in a callback arrives a turn later, when the client may have left.
        guard !machine.isEnded else { return }
        provider.observe(.attemptFailed(model: machine.model, failure.error))
        if let error = failure.error {
            provider.log.warning("upstream attempt failed", [
                ("request_id", .int(Int(requestID))), ("model", .string(machine.model)),
                ("error_type", .string(error.type.rawValue)), ("status", .int(error.status)),
                ("message", .string(String(error.message.unicodeScalars.prefix(500)))),
            ])
        }
        run(machine.attemptFailed(failure, now: provider.now))
    }

    /// Every failure below HTTP becomes the client's error here, and every refusal in
    /// `refusalFailure`: the two places the error mapping is called.
    static func mapped(_ transport: TransportFailure) -> UpstreamError {
        mapUpstreamError(status: nil, body: nil, transport: transport)
    }

    /// The refusal whose body has arrived (or was cut at its limit). A 429 goes to the rate
    /// limiter first, which may retry it (the reference's `execute_with_retry`).
    private func refusalFailure() -> AttemptFailure {
        guard let refusal else { return .connection(Self.mapped(.connectionFailed)) }
        let body = String(decoding: errorBody, as: UTF8.self)
        if (200..<300).contains(refusal.status) {
            // A 2xx that is not an event stream (a captive portal's page, a JSON body): an error,
            // never an empty answer.
            return .refused(mapUpstreamError(status: refusal.status, body: body, transport: nil, contentType: refusal.contentType))
        }
        if refusal.status == 429 {
            let seconds = refusal.retryAfter.flatMap { parseRetryAfter($0, now: time(nil)) }
            lastRetryAfterSeconds = seconds
            let lane = self.lane
            let decision = lane.limiter.on429(
                attempt: machine.rateLimitRetries, retryAfter: seconds.flatMap(RetryPolicy.retryAfter(seconds:)),
                random: provider.random(), now: provider.now)
            switch decision {
            case .retry(let after):
                return .rateLimited(retryAfter: after)
            case .retryAfterTooLong(let asked):
                // The limiter is already blocked for as long as the server allows.
                return .refused(UpstreamError.retryAfterTooLong(
                    body: body, retryAfter: asked, headerValue: refusal.retryAfter ?? "",
                    limit: lane.limiter.retry.maxRetryAfter))
            case .giveUp:
                break
            }
        }
        let model = machine.model
        let tokens = RequestTokens(
            inputTokens: inputTokens, maxTokens: sentMaxTokens, contextWindow: provider.windows.window(for: model))
        let error = mapUpstreamError(
            status: refusal.status, body: body, transport: nil, contentType: refusal.contentType, request: tokens)
        if let window = error.statedContextWindow { provider.windows.learn(model: model, window: window) }
        // Refused only for the answer's budget: ask again for what fits.
        if let budget = error.completionBudget, let sent = sentMaxTokens {
            let fits = budget.retryMaxTokens(requested: sent)
            if fits < sent {
                nextMaxTokens = fits
                return .completionBudget(error)
            }
        }
        return .refused(error)
    }

    /// A transfer that ended without a whole answer. `answered`: a 2xx event stream had begun.
    private func transportFailure(_ failure: UpstreamFailure, answered: Bool) -> AttemptFailure {
        switch failure {
        case .connect, .transport:
            let kind: TransportFailure = answered ? .streamInterrupted(detail: nil) : .connectionFailed
            return .connection(Self.mapped(kind))
        case .timeout, .stalled:
            return .refused(Self.mapped(answered ? .streamTimedOut : .timedOut))
        }
    }

    /// The client's `retry-after` for a rate-limit error, in whole seconds: the upstream's long
    /// one, or what it last said, or the limiter's block.
    private func clientRetryAfter(_ error: UpstreamError) -> String? {
        guard error.type == .rateLimit else { return nil }
        if let asked = error.retryAfter { return String(max(1, asked.roundedUpSeconds)) }
        if let said = lastRetryAfterSeconds.flatMap(RetryPolicy.retryAfter(seconds:)) {
            return String(max(1, said.roundedUpSeconds))
        }
        let block = lane.limiter.blockRemaining(now: provider.now)
        return block > .zero ? String(max(1, block.roundedUpSeconds)) : nil
    }

    // MARK: output

    private func takePending() -> [UInt8] {
        // Handing the buffer over (not `removeAll(keepingCapacity:)`, which copies a shared
        // buffer anyway) leaves nothing allocated between reads.
        let bytes = pending
        pending = []
        return bytes
    }

    private func flushPending() {
        guard !pending.isEmpty else { return }
        if machine.contentFlows {
            write(takePending())
            return
        }
        switch machine.configuration.delivery {
        case .collect:
            if collected.isEmpty { collected = takePending() } else { collected += takePending() }
        case .stream:
            run(machine.contentReady())
        }
    }

    private func write(_ bytes: [UInt8]) {
        let writable = responder.write(bytes)
        provider.noteClientQueue(responder.queuedBytes)
        if !writable { run(machine.clientBackedUp()) }
    }
}

@available(*, unavailable)
extension UpstreamStream: Sendable {}
