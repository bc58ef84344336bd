#if canImport(Glibc)
import Glibc
#endif
import AnthropicAPI
import EventLoop
import HTTPServer
import JSON
import Logging
import NIMRequest
import ProxyConfig
import App
import RateLimit
import StreamTranslation
import Tokenizer
import UpstreamClient

/// The upstream side of `/v1/messages`: waits for a rate-limit slot, posts the converted
/// request to the OpenAI-compatible endpoint with libcurl on the same loop, and translates
/// the answer into Anthropic SSE for the client.
///
/// Loop-confined: one instance per loop, shared by every stream.
public final class NIMProvider: MessageStreamer {
    let loop: EventLoop
    let settings: Settings
    let log: Logger
    /// Made on the first upstream request: initialising libcurl pulls in its TLS libraries,
    /// several megabytes of memory an idle proxy (or one serving only fast paths) never needs.
    /// One per provider, each its own connection pool (connections and HTTP/2 sessions are never
    /// shared between providers).
    private var curlMultis: [Provider: CurlMulti] = [:]
    /// Each provider's rate limit on this loop, made when its first request comes (NIM's at start).
    private var lanes: [Provider: RateLane] = [:]
    /// Each provider's window, block and concurrency cap, shared with every other loop of the process.
    public let admissions: ProviderAdmissions
    /// NIM's window and block (tests and `/health` read it).
    var limiter: ProviderAdmission { admissions[.nvidiaNim] }
    /// Sees each rate-limit grant as it is made. Tests check the window against the grants
    /// themselves: arrival times at an upstream are blurred by connection set-up.
    var grantObserver: ((LoopInstant) -> Void)? {
        didSet { for lane in lanes.values { lane.grantObserver = grantObserver } }
    }
    /// This loop's side of each provider's PROVIDER_MAX_CONCURRENCY: its streams holding a place, and
    /// those waiting in the process-wide line (by ticket, in order).
    private var concurrencyLines: [Provider: ConcurrencyLine] = [:]

    private struct ConcurrencyLine {
        var open = 0
        var queue: [(ticket: ProviderAdmission.PlaceTicket, stream: UpstreamStream)] = []
    }
    /// Registered with the admissions when a stream first waits for a place: a place given back on
    /// any loop wakes this one through it.
    private var placeWaiter: (wakeup: AsyncWakeup, waiter: [Provider: ProviderAdmission.Waiter])?
    /// This loop's streams holding a place under PROVIDER_MAX_CONCURRENCY (until their teardown).
    public var concurrentStreams: Int { concurrencyLines.values.reduce(0) { $0 + $1.open } }
    /// The most streams one provider had open at once in the whole process (every loop sharing the
    /// admissions): with a cap, never above it.
    public var maxConcurrentStreamsSeen: Int { Provider.allCases.map { admissions[$0].mostPlacesTaken }.max() ?? 0 }
    /// Every stream from start to end, so shutdown can end them.
    private var active: [ObjectIdentifier: UpstreamStream] = [:]
    private var closed = false

    let endpoint: String
    private var targets: [String: UpstreamTarget] = [:]
    /// Pass-through exchanges in progress, by request, so shutdown can end them.
    private var passthroughs: [UInt64: AnthropicPassthrough] = [:]
    let countTokens: @Sendable (String) -> Int
    let random: () -> Double
    /// Interval of `ping` events while a client waits for a slot or a retry.
    public var pingInterval: Duration = .seconds(10)

    /// Times an upstream transfer was paused because its client's write queue was full.
    public internal(set) var upstreamPauses = 0
    /// The largest client write queue seen after a write: with pausing, it stays near the
    /// HTTP server's high-water mark however slow the client.
    public private(set) var maxClientQueueBytes = 0

    func noteClientQueue(_ bytes: Int) {
        if bytes > maxClientQueueBytes { maxClientQueueBytes = bytes }
    }

    /// Streams waiting for a slot or for a retry, and streams receiving.
    public var openStreams: Int { active.count }
    public var waitingForSlot: Int { lanes.values.reduce(0) { $0 + $1.waiting.count } }
    public var waitingForConcurrency: Int { concurrencyLines.values.reduce(0) { $0 + $1.queue.count } }

    /// Hears what the streams do, for counters and histograms (`UpstreamObservation`); nil: nobody.
    public var observer: ((UpstreamObservation) -> Void)?

    func observe(_ observation: @autoclosure () -> UpstreamObservation) {
        observer?(observation())
    }

    /// Turns the Anthropic SSE bytes of a whole answer into the non-streaming Message a
    /// `stream: false` request gets, or the error to answer with.
    public var assembleMessage: MessageAssembly = assembleMessage(from:)
    /// Context windows learned from the upstream's refusals, else `MODEL_CONTEXT_TOKENS`.
    var windows: ContextWindows

    /// A setting this libcurl cannot serve, said at startup rather than as failed requests:
    /// libcurl before 8.0 cannot reuse an HTTP/2 connection it opened without TLS (prior
    /// knowledge), so every request after the first on one would fail.
    public static func startupProblem(_ settings: Settings) -> String? {
        if let path = settings.upstream.caFile, access(path, R_OK) != 0 {
            return "UPSTREAM_CA_FILE=\(path) cannot be read: \(String(cString: strerror(errno)))"
        }
        let curl = libcurlVersion
        guard settings.upstream.httpVersion == .http2, settings.upstream.baseURL.lowercased().hasPrefix("http://"),
            curl.major < 8
        else { return nil }
        return "UPSTREAM_HTTP_VERSION=2 with an http:// NVIDIA_NIM_BASE_URL needs libcurl 8.0 or later; this one is "
            + "\(curl.major).\(curl.minor).\(curl.patch), which cannot reuse an HTTP/2 connection made without TLS. "
            + "Use UPSTREAM_HTTP_VERSION=auto (HTTP/2 where TLS negotiates it) or 1.1."
    }

    /// `admissions`: the limits shared with the process's other loops (`ProviderAdmissions.makeAll`,
    /// made once); nil makes this loop its own from `settings` and `retry`.
    public init(
        loop: EventLoop, settings: Settings, log: Logger,
        countTokens: @escaping @Sendable (String) -> Int = { CL100KTokenizer.shared.count($0) },
        random: @escaping () -> Double = { Double.random(in: 0...1) },
        retry: RetryPolicy = RetryPolicy(),
        admissions: ProviderAdmissions? = nil
    ) throws {
        self.loop = loop
        self.settings = settings
        self.log = log
        self.countTokens = countTokens
        self.random = random
        var base = settings.upstream.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = base + "/chat/completions"
        let admissions = try admissions ?? ProviderAdmissions.makeAll(settings: settings, retry: retry)
        self.admissions = admissions
        lanes[.nvidiaNim] = try RateLane(provider: .nvidiaNim, loop: loop, admission: admissions[.nvidiaNim])
        windows = ContextWindows(configured: settings.upstream.modelContextTokens)
        routing = ModelRouting(settings.upstream)
    }

    /// The request's model and its fallbacks come from here.
    let routing: ModelRouting

    typealias Limiter = RateLimiter<LoopInstant>

    /// The loop's clock, the one the limiter's timer fires on.
    var now: LoopInstant { loop.now }

    public var healthFields: [(String, JSONValue)] {
        // The shared windows count on the clock itself, not on this loop's cached reading of it.
        let t = LoopInstant.monotonicNow
        return [
            ("provider", .object(JSONObject([
                ("rate_limit", .int(limiter.limit)),
                ("rate_window_seconds", .double(limiter.window.inSeconds)),
                ("window_used", .int(limiter.usedSlots(now: t))),
                ("waiting_for_slot", .int(lanes[.nvidiaNim]!.waiting.count)),
                ("max_concurrency", .int(settings.upstream.maxConcurrency)),
                ("concurrent_streams", .int(concurrentStreams)),
                ("waiting_for_concurrency", .int(waitingForConcurrency)),
                ("blocked_seconds_remaining", .double((limiter.blockRemaining(now: t).inSeconds * 10).rounded() / 10)),
                ("open_streams", .int(active.count)),
                ("upstream_transfers", .int(curlMultis.values.reduce(0) { $0 + $1.activeTransferCount })),
                ("upstream_pauses", .int(upstreamPauses)),
                ("max_client_write_queue_bytes", .int(maxClientQueueBytes)),
            ]))),
            // Each provider's own state, once it has had a request (NIM's from the start): its rate
            // limit, its concurrency line and its connection pool.
            ("providers", .object(JSONObject(Provider.allCases.compactMap { p in
                lanes[p].map { lane in
                    (p.rawValue, JSONValue.object(JSONObject([
                        ("rate_limit", .int(lane.limiter.limit)),
                        ("rate_window_seconds", .double(lane.limiter.window.inSeconds)),
                        ("window_used", .int(lane.limiter.usedSlots(now: t))),
                        ("waiting_for_slot", .int(lane.waiting.count)),
                        ("blocked_seconds_remaining", .double((lane.limiter.blockRemaining(now: t).inSeconds * 10).rounded() / 10)),
                        ("concurrent_streams", .int(concurrencyLines[p]?.open ?? 0)),
                        ("waiting_for_concurrency", .int(concurrencyLines[p]?.queue.count ?? 0)),
                        ("upstream_transfers", .int(curlMultis[p]?.activeTransferCount ?? 0)),
                    ])))
                }
            }))),
        ]
    }

    public func stream(_ request: MessagesRequest, inputTokens: Int, to responder: HTTPResponder, requestID: UInt64) {
        if closed {
            responder.respond(status: 503, headers: [("Content-Type", "application/json")],
                              body: APIError(status: 503, type: "api_error", message: "The server is shutting down.").body.compactBytes())
            return
        }
        // NVIDIA's endpoint needs a key; without one every request would come back 401
        // after using a rate-limit slot, so say so at once.
        if settings.upstream.apiKey.isEmpty && settings.upstream.baseURL == Settings.defaultNvidiaNimBaseURL,
            target(for: request.model).provider == .nvidiaNim
        {
            responder.respond(status: 401, headers: [("Content-Type", "application/json")],
                              body: APIError.authentication("NVIDIA_NIM_API_KEY is not set: the proxy cannot call NVIDIA NIM without it. Set it in the environment or in .env.").body.compactBytes())
            return
        }
        let first = target(for: request.model)
        if first.provider == .lmStudio || first.provider == .llamaCpp {
            passThrough(request, to: first, responder: responder, requestID: requestID)
            return
        }
        let s = UpstreamStream(
            provider: self, request: request,
            models: routing.hasFallbacks ? routing.modelsToTry(request.originalModel) : [request.model], inputTokens: inputTokens,
            responder: responder, requestID: requestID)
        active[ObjectIdentifier(s)] = s
        s.begin()
    }

    /// LM Studio and llama.cpp serve Anthropic's `/v1/messages` themselves: the client's request goes
    /// there with only the model replaced, and the answer's bytes come back untranslated. (No rate
    /// limit, retry or fallback on this path: the server is the user's own.)
    private func passThrough(_ request: MessagesRequest, to target: UpstreamTarget, responder: HTTPResponder, requestID: UInt64) {
        let limits = settings.provider(target.provider)
        var upstream = NativeUpstream(
            baseURL: limits.baseURL, apiKey: limits.apiKey.isEmpty ? nil : limits.apiKey,
            connectTimeout: settings.upstream.connectTimeout, totalTimeout: settings.upstream.totalTimeout ?? .zero,
            stallTimeout: settings.upstream.stallTimeout, httpVersion: UpstreamHTTPVersion(settings.upstream.httpVersion),
            caFile: settings.upstream.caFile)
        upstream.sendTimeout = settings.upstream.sendTimeout
        let started = now
        let model = request.model
        do {
            let body = JSONValue.object(request.raw).compactBytes(reservingCapacity: request.sourceByteCount + 256)
            guard let pass = AnthropicPassthrough(
                loop: loop, curl: try curl(for: target.provider), upstream: upstream, body: body, model: target.model, responder: responder,
                onFinish: { [weak self] outcome in
                    guard let self else { return }
                    self.passthroughs[requestID] = nil
                    let fields: [(String, JSONValue)]
                    switch outcome {
                    case .relayed(let status): fields = [("outcome", "relayed"), ("status", .int(status))]
                    case .failed(let error): fields = [("outcome", "error"), ("error_type", .string(error.type.rawValue))]
                    case .clientGone: fields = [("outcome", "client_gone")]
                    }
                    self.log.info("pass-through finished", [("request_id", .int(Int(requestID))), ("model", .string(model))]
                        + fields + [("ms", .int(started.duration(to: self.now).wholeMilliseconds))])
                })
            else {
                responder.respondError(.invalidRequest("The request body is not a JSON object."))
                return
            }
            passthroughs[requestID] = pass
            pass.start()
        } catch {
            responder.respondError(.api("The upstream client could not start: \(error)", status: 500))
        }
    }

    /// Ends every stream (their clients hear the server is stopping) and releases libcurl.
    /// Run the loop afterwards so handles finish closing.
    public func close() {
        guard !closed else { return }
        closed = true
        for s in Array(active.values) { s.abort() }
        for p in Array(passthroughs.values) { p.abort() }
        passthroughs.removeAll()
        active.removeAll()
        leaveConcurrencyLines()
        for lane in lanes.values { lane.close() }
        for multi in curlMultis.values { multi.close() }
        curlMultis.removeAll()
    }

    /// `provider`'s libcurl multi handle, created on first use.
    func curl(for provider: Provider = .nvidiaNim) throws -> CurlMulti {
        if let made = curlMultis[provider] { return made }
        let made = try CurlMulti(loop: loop)
        curlMultis[provider] = made
        return made
    }

    // MARK: slots

    /// The rate limit of `provider`: NIM's from its settings (`NVIDIA_NIM_RATE_*` winning), the
    /// others' from `PROVIDER_RATE_LIMIT` and `PROVIDER_RATE_WINDOW`.
    func lane(for provider: Provider) -> RateLane {
        if let lane = lanes[provider] { return lane }
        // Only a timer that cannot be made fails here; NIM's lane then serves.
        guard let made = try? RateLane(provider: provider, loop: loop, admission: admissions[provider])
        else { return lanes[.nvidiaNim]! }
        made.grantObserver = grantObserver
        lanes[provider] = made
        return made
    }

    /// Where a model name (as configured or sent: `open_router/x`, or a plain NIM name) is sent:
    /// its provider's chat-completions endpoint and key, and the name that provider knows it by.
    /// Keys never leave their provider. Made once per name.
    func target(for model: String) -> UpstreamTarget {
        if let known = targets[model] { return known }
        let parsed = ProviderModel(parsing: model)
        let provider = settings.provider(parsed.provider)
        var base = provider.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        let made = UpstreamTarget(
            provider: parsed.provider, endpoint: base + "/chat/completions", apiKey: provider.apiKey, model: parsed.model)
        if targets.count < 1024 { targets[model] = made }
        return made
    }

    func finished(_ s: UpstreamStream) {
        active[ObjectIdentifier(s)] = nil
    }

    // MARK: concurrency cap

    /// True when `s` may open a stream to `provider` now; otherwise it waits in that provider's
    /// process-wide line. Each provider has its own cap of `PROVIDER_MAX_CONCURRENCY`.
    func requestConcurrencySlot(for s: UpstreamStream, provider: Provider) -> Bool {
        guard let waiter = placeWaiter(for: provider) else {
            // No way to be woken: never refuse a stream for that.
            concurrencyLines[provider, default: ConcurrencyLine()].open += 1
            return true
        }
        switch admissions[provider].takePlace(for: waiter) {
        case .taken:
            concurrencyLines[provider, default: ConcurrencyLine()].open += 1
            return true
        case .queued(let ticket):
            concurrencyLines[provider, default: ConcurrencyLine()].queue.append((ticket, s))
            return false
        }
    }

    func leaveConcurrencyQueue(_ s: UpstreamStream, provider: Provider) {
        guard let i = concurrencyLines[provider]?.queue.firstIndex(where: { $0.stream === s }),
            let waiter = placeWaiter?.waiter[provider]
        else { return }
        let ticket = concurrencyLines[provider]!.queue.remove(at: i).ticket
        admissions[provider].leaveLine(ticket, waiter: waiter)
    }

    /// A stream ended. The place goes to the head of the process-wide line; if that is one of this
    /// loop's streams it starts on a later loop turn (the wakeup's callback), never from inside the
    /// ending stream's callbacks (which may be curl's, where no new transfer may start).
    func releaseConcurrencySlot(provider: Provider) {
        guard let open = concurrencyLines[provider]?.open, open > 0 else { return }
        concurrencyLines[provider]!.open -= 1
        admissions[provider].givePlaceBack()
    }

    /// This loop's waiter with `provider`'s admission, registered on first use, with the wakeup that
    /// other loops' given-back places arrive through. Nil only if libuv cannot make the wakeup.
    private func placeWaiter(for provider: Provider) -> ProviderAdmission.Waiter? {
        if let known = placeWaiter?.waiter[provider] { return known }
        if placeWaiter == nil {
            guard let wakeup = try? AsyncWakeup(loop: loop, { [weak self] in self?.claimPlaces() }) else { return nil }
            // Streams waiting keep the loop alive by their connections; the wakeup alone must not.
            wakeup.unref()
            placeWaiter = (wakeup, [:])
        }
        let sender = placeWaiter!.wakeup.sender
        let waiter = admissions[provider].register(wake: { sender.send() })
        placeWaiter!.waiter[provider] = waiter
        return waiter
    }

    /// Places handed to this loop's tickets: their streams start, in line order. A ticket whose
    /// stream has gone gives its place back.
    private func claimPlaces() {
        guard !closed, let registered = placeWaiter?.waiter else { return }
        for (provider, waiter) in registered {
            let admission = admissions[provider]
            var granted: [UpstreamStream] = []
            for ticket in admission.claimPlaces(for: waiter) {
                guard let i = concurrencyLines[provider]?.queue.firstIndex(where: { $0.ticket == ticket }) else {
                    admission.givePlaceBack()
                    continue
                }
                granted.append(concurrencyLines[provider]!.queue.remove(at: i).stream)
                concurrencyLines[provider]!.open += 1
            }
            for s in granted { s.concurrencySlotGranted() }
        }
    }

    /// Shutdown: this loop's tickets leave the lines and places handed to them go on; places its
    /// streams held were given back as they ended.
    private func leaveConcurrencyLines() {
        if let (wakeup, registered) = placeWaiter {
            for (provider, waiter) in registered { admissions[provider].unregister(waiter) }
            wakeup.close()
        }
        placeWaiter = nil
        concurrencyLines.removeAll()
    }
}

@available(*, unavailable)
extension NIMProvider: Sendable {}

extension ModelRouting {
    /// The routing the settings describe, fallback lists included.
    public init(_ upstream: Settings.Upstream) {
        self.init(
            default: upstream.model, opus: upstream.modelOpus, sonnet: upstream.modelSonnet, haiku: upstream.modelHaiku,
            fallbacks: upstream.modelFallbacks, opusFallbacks: upstream.modelOpusFallbacks,
            sonnetFallbacks: upstream.modelSonnetFallbacks, haikuFallbacks: upstream.modelHaikuFallbacks)
    }
}

/// Something one upstream stream did, as `NIMProvider.observer` hears it (a metrics registry's feed).
public enum UpstreamObservation: Sendable, Equatable {
    /// A rate-limit slot was granted after this wait (zero when granted at once).
    case rateLimitWait(Duration)
    /// An attempt at `model` failed; nil error: a 429 the limiter retries.
    case attemptFailed(model: String, UpstreamError?)
    /// Another attempt at the same model (`rate_limited`, `connection`).
    case retry(reason: String)
    case fallback(from: String, to: String)
    /// The first content reached the client this long after the request arrived.
    case firstContent(after: Duration)
    /// The stream ended: served by a model, failed with an error, or its client left; `model`
    /// is the last one tried.
    case finished(StreamOutcome, model: String)
}

/// One model's upstream: which provider, where its OpenAI-compatible endpoint is, its key, and the
/// model's name there (without the provider prefix).
struct UpstreamTarget: Equatable {
    var provider: Provider
    var endpoint: String
    var apiKey: String
    var model: String
}
