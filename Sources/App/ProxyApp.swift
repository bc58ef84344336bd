import AnthropicAPI
import EventLoop
import HTTPServer
import JSON
import Logging
import LocalAnswers
import Metrics
import ProxyConfig
import StreamTranslation
import TokenCounting
import Tokenizer

/// Streams one `/v1/messages` request that no fast path answered.
public protocol MessageStreamer: AnyObject {
    func stream(_ request: MessagesRequest, inputTokens: Int, to responder: HTTPResponder, requestID: UInt64)
    /// Extra fields for `GET /health` (upstream state).
    var healthFields: [(String, JSONValue)] { get }
    /// Upstream streams open now, for `nim_proxy_open_streams`.
    var openStreams: Int { get }
}

/// The proxy's HTTP application: the middleware steps, then one router for the Anthropic-facing
/// routes and those other modules add.
///
/// All methods are called from within the EventLoop.
public final class ProxyApp {
    public let loop: EventLoop
    public let settings: Settings
    public let log: Logger
    let endpoints: AnthropicEndpoints
    public let server: HTTPServer
    private let pipeline: RequestPipeline
    /// What `GET /metrics` shows; the upstream side records its attempts here too.
    public let metrics: ProxyMetrics
    /// Where the Prometheus metrics are served (the token check treats it as an operator's endpoint).
    public static let metricsPath = "/metrics"
    /// Set before `start()` to stream requests upstream; without one, they answer 501.
    public var streamer: MessageStreamer?

    /// Extra `GET /health` fields from modules that add routes (the CLI session counts).
    public var healthContributors: [() -> [(String, JSONValue)]] = []

    /// Bodies at least this large are decoded and counted on a worker thread so a huge
    /// request cannot stall every other connection on the loop.
    public var offLoopBodyBytes = 256 * 1024

    /// False when a test injects its own tokenizer (then nothing waits on the shared one).
    private let countsTokensWithSharedTokenizer: Bool

    /// On a worker loop: the requests sent to the main loop instead of this app's pipeline.
    private let forwarding = Forwarding()
    /// On the main loop of several: the other loops whose figures `/health` and `/metrics` add.
    private var figureSources: [ProxyAppAddress] = []
    private var figureHome: MailboxAddress?
    /// Answers requests other loops forward here (made by `answerForwardedRequests`).
    private var answerer: ForwardedRequestAnswerer?

    private final class Forwarding {
        var matches: ((String) -> Bool)?
        var forwarder: RequestForwarder?
    }

    /// `middleware` runs, in order, before the router sees a request.
    public init(loop: EventLoop, settings: Settings, log: Logger, middleware: [Middleware] = [],
                tokenizer: (@Sendable () -> CL100KTokenizer)? = nil) {
        countsTokensWithSharedTokenizer = tokenizer == nil
        let tokenizer = tokenizer ?? { CL100KTokenizer.shared }
        self.loop = loop
        self.settings = settings
        self.log = log
        let upstream = settings.upstream
        // Fallbacks included, so `/v1/models` lists them.
        let routing = ModelRouting(
            default: upstream.model, opus: upstream.modelOpus, sonnet: upstream.modelSonnet, haiku: upstream.modelHaiku,
            fallbacks: upstream.modelFallbacks, opusFallbacks: upstream.modelOpusFallbacks,
            sonnetFallbacks: upstream.modelSonnetFallbacks, haikuFallbacks: upstream.modelHaikuFallbacks)
        let local = settings.localAnswers
        let switches = LocalAnswerSwitches(
            quotaMock: local.networkProbeMock, prefixDetection: local.fastPrefixDetection,
            titleSkip: local.titleGenerationSkip, suggestionSkip: local.suggestionModeSkip,
            filepathMock: local.filepathExtractionMock)
        endpoints = AnthropicEndpoints(
            routing: routing, switches: switches,
            countTokens: { messages, system, tools in
                tokenCount(messages: messages, system: system, tools: tools, tokenizer: tokenizer())
            },
            countTextTokens: { text in tokenizer().count(text) },
            makeMessageID: { MessageID.make() })
        var config = HTTPServerConfig()
        config.host = settings.http.host
        config.port = settings.http.port
        config.maxBodyBytes = settings.http.maxRequestBodyBytes
        config.maxHeaderBytes = settings.http.maxHeaderBytes
        config.maxQueuedResponseBytes = settings.http.maxQueuedResponseBytes
        config.maxConnections = settings.http.maxConnections
        config.headerTimeout = settings.http.headerTimeout
        config.bodyTimeout = settings.http.bodyTimeout
        config.idleTimeout = settings.http.idleTimeout
        let metrics = ProxyMetrics()
        self.metrics = metrics
        config.errorBody = { status, message in
            // The server calls this once for each protocol error it answers itself (malformed
            // requests, 408, 413, 431, a connection over the limit), before any route is known.
            metrics.request(route: nil, status: status)
            let type: String
            switch status {
            case 413: type = "request_too_large"
            case 400, 408, 414, 431, 501, 505: type = "invalid_request_error"
            case 503: type = "overloaded_error"
            default: type = APIError.type(forStatus: status)
            }
            return ("application/json", APIError(status: status, type: type, message: message).body.compactBytes())
        }
        // The server holds the pipeline, not the app, so it can exist before the app is complete.
        let pipeline = RequestPipeline(middleware: middleware, metrics: metrics)
        self.pipeline = pipeline
        let forwarding = self.forwarding
        server = HTTPServer(loop: loop, config: config) { request, responder in
            if let matches = forwarding.matches, let forwarder = forwarding.forwarder, matches(request.path) {
                forwarder.forward(request, responder)
                return
            }
            pipeline.handle(request, responder)
        }
        registerAnthropicRoutes()
        metrics.readOpenStreams { [weak self] in self?.streamer?.openStreams ?? 0 }
    }

    /// Binds and listens; returns the bound port.
    @discardableResult
    public func start() throws(UVError) -> Int {
        try server.start()
    }

    /// Stops accepting and lets responses in progress finish, up to `timeout`.
    public func shutdown(timeout: Duration, completion: @escaping () -> Void) {
        server.beginShutdown(timeout: timeout, completion: completion)
    }

    // MARK: several loops

    /// Sends the requests whose path `matches` to another loop's app through `forwarder`, before
    /// any middleware step here (the other app runs its own).
    public func forward(where matches: @escaping (String) -> Bool, through forwarder: RequestForwarder) {
        forwarding.matches = matches
        forwarding.forwarder = forwarder
    }

    /// Lets other loops forward requests to this app's pipeline (middleware, then the router);
    /// `mailbox` is this loop's. The returned target is what their `RequestForwarder` needs.
    public func answerForwardedRequests(mailbox: MailboxAddress) -> ForwardingTarget {
        let pipeline = self.pipeline
        let answerer = self.answerer ?? ForwardedRequestAnswerer(mailbox: mailbox) { request, responder in
            pipeline.handle(request, responder)
        }
        self.answerer = answerer
        return answerer.target
    }

    /// Makes `/health` and `/metrics` answer for these other loops too; `home` is this loop's
    /// mailbox, where their figures arrive.
    public func gatherFigures(from loop: ProxyAppAddress, home: MailboxAddress) {
        figureSources.append(loop)
        figureHome = home
    }

    /// Loops whose figures this app's `/health` and `/metrics` show, its own included.
    public var loopsShown: Int { figureSources.count + 1 }

    /// Asks every loop in `figureSources` for `read` of its app and calls `completion` on this
    /// loop with the answers, this app's first; a loop that no longer takes jobs is left out.
    private func gather<T: Sendable>(_ read: @escaping @Sendable (ProxyApp) -> T, completion: @escaping ([T]) -> Void) {
        let own = read(self)
        guard let home = figureHome, !figureSources.isEmpty else {
            completion([own])
            return
        }
        let collector = FigureCollector(own, expected: figureSources.count, completion: completion)
        let bound = LoopBound(collector)
        for (index, source) in figureSources.enumerated() {
            let app = source.object
            let posted = source.mailbox.post {
                let value = read(app.value)
                home.post { bound.value.arrived(index, value) }
            }
            if !posted { collector.arrived(index, nil) }
        }
    }

    /// This loop's own `/health` fields.
    public func ownHealthFields() -> [(String, JSONValue)] { healthFields() }

    // MARK: routing

    /// Serves `method` on `pattern` (literal segments and `{name}` parameters, see `PathPattern`).
    /// A later registration of the same pattern and method replaces the earlier one; `/stop` is
    /// taken over this way.
    public func register(_ method: String, _ pattern: String, _ handler: @escaping RouteHandler) {
        pipeline.router.add(method, pattern, handler)
    }

    /// Answers requests to `pattern` whose method it does not serve with `handler` instead of the
    /// standard 405 with `Allow`.
    public func refuseOtherMethods(_ pattern: String, with handler: @escaping RouteHandler) {
        pipeline.router.refuseOtherMethods(pattern, with: handler)
    }

    /// The paths and methods served, in the order they were added.
    public var routeTable: [(pattern: String, methods: [String])] { pipeline.router.table }

    private func registerAnthropicRoutes() {
        register("GET", "/") { [unowned self] request, _, responder in
            send(endpoints.root(), request.requestID, responder)
        }
        register("GET", "/health") { [unowned self] request, _, responder in
            let loops = loopsShown
            gather({ $0.healthFields() }) { [unowned self] fields in
                var merged = ProcessFigures.mergeHealth(fields)
                merged.append(("workers", .int(loops)))
                send(endpoints.health(extra: JSONObject(merged)), request.requestID, responder)
            }
        }
        register("POST", "/v1/messages") { [unowned self] request, _, responder in
            decodeThenSend(request, responder) { endpoints, body in endpoints.messages(body: body) }
        }
        register("POST", "/v1/messages/count_tokens") { [unowned self] request, _, responder in
            decodeThenSend(request, responder) { endpoints, body in endpoints.countTokens(body: body) }
        }
        register("GET", "/api/hello") { [unowned self] request, _, responder in
            send(endpoints.hello(), request.requestID, responder)
        }
        register("GET", "/v1/models") { [unowned self] request, _, responder in
            send(endpoints.models(query: request.query), request.requestID, responder)
        }
        register("GET", "/v1/models/{id}") { [unowned self] request, parameters, responder in
            send(endpoints.model(id: parameters["id"]), request.requestID, responder)
        }
        // Upstream model names hold one `/` (`moonshotai/kimi-k2-thinking`).
        register("GET", "/v1/models/{owner}/{name}") { [unowned self] request, parameters, responder in
            send(endpoints.model(id: parameters["owner"] + "/" + parameters["name"]), request.requestID, responder)
        }
        register("GET", Self.metricsPath) { [unowned self] _, _, responder in
            gather({ $0.metrics.render() }) { scrapes in
                responder.respond(status: 200, headers: [("Content-Type", Exposition.contentType)],
                                  body: Array(Exposition.merge(scrapes).utf8))
            }
        }
        register("POST", "/stop") { _, _, responder in
            // The reference answers this when no CLI manager runs.
            responder.respondJSON(status: 503, body: ["detail": "Messaging system not initialized"])
        }
    }

    private func healthFields() -> [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [
            ("http", .object(JSONObject([
                ("open_connections", .int(server.openConnections)),
                ("in_flight_requests", .int(server.inFlightRequests)),
            ]))),
        ]
        if let streamer { fields.append(contentsOf: streamer.healthFields) }
        for contribute in healthContributors { fields.append(contentsOf: contribute()) }
        return fields
    }

    private func decodeThenSend(
        _ request: HTTPRequest, _ responder: HTTPResponder,
        _ work: @escaping @Sendable (AnthropicEndpoints, [UInt8]) -> RouteOutcome
    ) {
        let endpoints = self.endpoints
        let requestID = request.requestID
        // Until the tokenizer's tables exist (built on first use), counting would make the loop
        // wait for them: count on a worker thread instead, which builds them there.
        if request.body.count < offLoopBodyBytes && (CL100KTokenizer.isLoaded || !countsTokensWithSharedTokenizer) {
            send(work(endpoints, request.body), requestID, responder)
            return
        }
        // The raw body is let go as soon as it is decoded: nothing else holds it once this
        // handler returns, so a large request is not held twice while its upstream body is built.
        let handOff = BodyHandOff(request.body)
        do {
            let loadTokenizer = countsTokensWithSharedTokenizer
            try loop.runOnWorker({
                let outcome = work(endpoints, handOff.take())
                // Requests answered without counting (a quota probe) would otherwise come here
                // every time, waiting for tables nothing built: build them now, off the loop.
                if loadTokenizer { _ = CL100KTokenizer.shared }
                return outcome
            }) { [weak self] outcome in
                guard let self, !responder.isClosed else { return }
                self.send(outcome, requestID, responder)
            }
        } catch {
            send(work(endpoints, handOff.take()), requestID, responder)
        }
    }

    private func send(_ outcome: RouteOutcome, _ requestID: UInt64, _ responder: HTTPResponder) {
        switch outcome {
        case .json(let status, let body):
            responder.respondJSON(status: status, body: body)
        case .answeredLocally(let response, let kind, let stream):
            log.debug("answered locally", [("kind", .string(kind.rawValue)), ("request_id", .int(Int(requestID)))])
            if stream {
                responder.respond(
                    status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
                    body: localAnswerEvents(response))
            } else {
                responder.respond(status: 200, headers: [("Content-Type", "application/json")], body: response.compactBytes)
            }
        case .stream(let messagesRequest, let inputTokens):
            guard let streamer else {
                responder.respondError(.api("Streaming from the upstream is not available in this build.", status: 501))
                return
            }
            streamer.stream(messagesRequest, inputTokens: inputTokens, to: responder, requestID: requestID)
        }
    }
}

@available(*, unavailable)
extension ProxyApp: Sendable {}

/// Another loop's app, as the loop gathering figures reaches it.
public typealias ProxyAppAddress = LoopObjectAddress<ProxyApp>

/// The answers of one gathering, in loop order. Loop-confined to the gathering loop.
private final class FigureCollector<T> {
    private var answers: [T?]
    private var waiting: Int
    private var completion: (([T]) -> Void)?

    init(_ own: T, expected: Int, completion: @escaping ([T]) -> Void) {
        answers = [own] + Array(repeating: nil, count: expected)
        waiting = expected
        self.completion = completion
    }

    func arrived(_ index: Int, _ answer: T?) {
        answers[index + 1] = answer
        waiting -= 1
        guard waiting == 0, let completion else { return }
        self.completion = nil
        completion(answers.compactMap { $0 })
    }
}

/// A request body handed to the worker that decodes it, which takes it out so that the bytes are
/// freed when decoding ends rather than when the job object goes.
private final class BodyHandOff: @unchecked Sendable {
    // Written on the loop before the job is queued, then only by that one job.
    private var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func take() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }
}

/// A local answer as the Anthropic SSE stream a client that asked for `stream: true` expects:
/// message_start, one block per content block (its whole text in one delta), message_delta with
/// the stop reason and usage, message_stop.
public func localAnswerEvents(_ response: MessagesResponse) -> [UInt8] {
    var out = AnthropicSSE.messageStart(id: response.id, model: response.model, inputTokens: response.usage.inputTokens)
    for (index, block) in response.content.enumerated() {
        switch block {
        case .text(let text):
            out += AnthropicSSE.blockStart(index: index, kind: .text)
            if !text.isEmpty { out += AnthropicSSE.blockDelta(index: index, kind: .text, text) }
        case .thinking(let text):
            out += AnthropicSSE.blockStart(index: index, kind: .thinking)
            out += AnthropicSSE.blockDelta(index: index, kind: .thinking, text)
        case .toolUse(let id, let name, let input):
            out += AnthropicSSE.blockStart(index: index, kind: .toolUse, toolID: id, toolName: name)
            out += AnthropicSSE.blockDelta(index: index, kind: .toolUse, JSONValue.object(input).compactString())
        case .object(let object):
            out += AnthropicSSE.event(
                "content_block_start",
                .object(JSONObject([("type", "content_block_start"), ("index", .int(index)), ("content_block", .object(object))])))
        }
        out += AnthropicSSE.blockStop(index: index)
    }
    out += AnthropicSSE.messageDelta(
        stopReason: response.stopReason?.rawValue ?? "end_turn", outputTokens: response.usage.outputTokens)
    out += AnthropicSSE.messageStop()
    return out
}
