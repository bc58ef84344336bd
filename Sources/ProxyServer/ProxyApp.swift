import AnthropicAPI
import EventLoop
import HTTPServer
import JSON
import Logging
import Optimizations
import ProxyConfig
import TokenCounting
import Tokenizer

/// Streams one `/v1/messages` request that no fast path answered.
public protocol MessageStreamer: AnyObject {
    func stream(_ request: MessagesRequest, inputTokens: Int, to responder: HTTPResponder, requestID: UInt64)
    /// Extra fields for `GET /health` (upstream state).
    var healthFields: [(String, JSONValue)] { get }
}

/// The proxy's HTTP application: routes requests to the Anthropic-facing handlers.
/// Loop-confined.
public final class ProxyApp {
    public let loop: EventLoop
    public let settings: Settings
    public let log: Logger
    let routes: APIRoutes
    public private(set) var server: HTTPServer!
    /// Set before `start()` to stream requests upstream; without one, they answer 501.
    public var streamer: MessageStreamer?

    /// Routes added by other modules (the bot-facing API): exact path -> method -> handler.
    private var extraRoutes: [String: [String: (HTTPRequest, HTTPResponder) -> Void]] = [:]
    /// Routes added under a path prefix (e.g. `/cli/sessions/`), tried in registration order.
    private var prefixRoutes: [(prefix: String, handler: (HTTPRequest, HTTPResponder) -> Bool)] = []
    /// Runs before routing; returning false means it answered the request itself (e.g. 401).
    public var requestGate: ((HTTPRequest, HTTPResponder) -> Bool)?
    /// Extra `GET /health` fields from modules that add routes (the CLI session counts).
    public var healthContributors: [() -> [(String, JSONValue)]] = []

    /// Bodies at least this large are decoded and counted on a worker thread so a huge
    /// request cannot stall every other connection on the loop.
    public var offLoopBodyBytes = 256 * 1024

    /// False when a test injects its own tokenizer (then nothing waits on the shared one).
    private let countsTokensWithSharedTokenizer: Bool

    public init(loop: EventLoop, settings: Settings, log: Logger, tokenizer: (@Sendable () -> CL100KTokenizer)? = nil) {
        countsTokensWithSharedTokenizer = tokenizer == nil
        let tokenizer = tokenizer ?? { CL100KTokenizer.shared }
        self.loop = loop
        self.settings = settings
        self.log = log
        let routing = ModelRouting(
            default: settings.model, opus: settings.modelOpus, sonnet: settings.modelSonnet,
            haiku: settings.modelHaiku)
        let switches = OptimizationSwitches(
            quotaMock: settings.enableNetworkProbeMock, prefixDetection: settings.fastPrefixDetection,
            titleSkip: settings.enableTitleGenerationSkip, suggestionSkip: settings.enableSuggestionModeSkip,
            filepathMock: settings.enableFilepathExtractionMock)
        routes = APIRoutes(
            routing: routing, switches: switches,
            countTokens: { messages, system, tools in
                tokenCount(messages: messages, system: system, tools: tools, tokenizer: tokenizer())
            },
            makeMessageID: { MessageID.make() })
        var config = HTTPServerConfig()
        config.host = settings.host
        config.port = settings.port
        config.maxBodyBytes = settings.maxRequestBodyBytes
        config.headerTimeout = .milliseconds(UInt64(settings.headerTimeoutSeconds * 1000))
        config.idleTimeout = .milliseconds(UInt64(settings.idleTimeoutSeconds * 1000))
        config.errorBody = { status, message in
            let type: String
            switch status {
            case 413: type = "request_too_large"
            case 400, 408, 431: type = "invalid_request_error"
            default: type = APIError.type(forStatus: status)
            }
            return ("application/json", APIError(status: status, type: type, message: message).body.compactBytes())
        }
        server = HTTPServer(loop: loop, config: config) { [unowned self] request, responder in
            self.handle(request, responder)
        }
    }

    /// Binds and listens; returns the bound port.
    @discardableResult
    public func start() throws(UVError) -> Int {
        try server.start()
    }

    /// Stops accepting and lets responses in progress finish, up to `timeoutMs`.
    public func shutdown(timeoutMs: UInt64, completion: @escaping () -> Void) {
        server.beginShutdown(timeout: .milliseconds(timeoutMs), completion: completion)
    }

    // MARK: routing

    /// Adds a route for an exact path. A later registration for the same path and method
    /// replaces the earlier one; `/stop` may be taken over this way.
    public func register(method: String, path: String, _ handler: @escaping (HTTPRequest, HTTPResponder) -> Void) {
        extraRoutes[path, default: [:]][method] = handler
    }

    /// Adds a handler for every path under `prefix`; it returns false to decline a path
    /// (then the next prefix, and finally 404, apply).
    public func register(prefix: String, _ handler: @escaping (HTTPRequest, HTTPResponder) -> Bool) {
        prefixRoutes.append((prefix, handler))
    }

    /// Writes an Anthropic-shaped error (for modules that add routes).
    public func respondError(_ error: APIError, _ responder: HTTPResponder) {
        sendError(error, responder)
    }

    /// Writes a JSON body (for modules that add routes).
    public func respondJSON(status: Int, body: JSONValue, _ responder: HTTPResponder) {
        sendJSON(status: status, body: body, responder)
    }

    static let allowedMethods: [String: [String]] = {
        var m = APIRoutes.methodsByPath
        m["/stop"] = ["POST"]
        return m
    }()

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        if let gate = requestGate, !gate(request, responder) { return }
        let method = request.method == "HEAD" ? "GET" : request.method
        if let byMethod = extraRoutes[request.path] {
            if let handler = byMethod[method] {
                handler(request, responder)
                return
            }
            if ProxyApp.allowedMethods[request.path] == nil {
                sendError(
                    APIError(status: 405, type: "invalid_request_error", message: "Method Not Allowed: \(request.method) \(request.path)"),
                    responder, extraHeaders: [("Allow", byMethod.keys.sorted().joined(separator: ", "))])
                return
            }
        }
        for route in prefixRoutes where request.path.hasPrefix(route.prefix) {
            if route.handler(request, responder) { return }
        }
        guard let allowed = ProxyApp.allowedMethods[request.path] else {
            sendError(APIError(status: 404, type: "not_found_error", message: "Not Found: \(request.method) \(request.path)"), responder)
            return
        }
        guard allowed.contains(method) else {
            sendError(
                APIError(status: 405, type: "invalid_request_error", message: "Method Not Allowed: \(request.method) \(request.path)"),
                responder, extraHeaders: [("Allow", allowed.joined(separator: ", "))])
            return
        }
        switch request.path {
        case "/":
            send(routes.root(), request, responder)
        case "/health":
            send(routes.health(extra: JSONObject(healthFields())), request, responder)
        case "/v1/messages":
            decodeThenSend(request, responder) { routes, body in routes.messages(body: body) }
        case "/v1/messages/count_tokens":
            decodeThenSend(request, responder) { routes, body in routes.countTokens(body: body) }
        case "/stop":
            // The reference answers this when no CLI manager runs.
            sendJSON(status: 503, body: ["detail": "Messaging system not initialized"], responder)
        default:
            sendError(.notFound("Not Found"), responder)
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
        _ work: @escaping @Sendable (APIRoutes, [UInt8]) -> RouteOutcome
    ) {
        let routes = self.routes
        let body = request.body
        // Until the tokenizer's tables exist (built on first use), counting would make the loop
        // wait for them: count on a worker thread instead, which builds them there.
        if body.count < offLoopBodyBytes && (CL100KTokenizer.isLoaded || !countsTokensWithSharedTokenizer) {
            send(work(routes, body), request, responder)
            return
        }
        do {
            try loop.runOnWorker({ work(routes, body) }) { [weak self] outcome in
                guard let self, !responder.isClosed else { return }
                self.send(outcome, request, responder)
            }
        } catch {
            send(work(routes, body), request, responder)
        }
    }

    private func send(_ outcome: RouteOutcome, _ request: HTTPRequest, _ responder: HTTPResponder) {
        switch outcome {
        case .json(let status, let body):
            sendJSON(status: status, body: body, responder)
        case .optimized(let body, let optimization):
            log.debug("optimization", [("kind", .string(optimization.rawValue)), ("request_id", .int(Int(request.requestID)))])
            sendJSON(status: 200, body: body, responder)
        case .stream(let messagesRequest, let inputTokens):
            guard let streamer else {
                sendError(.api("Streaming from the upstream is not available in this build.", status: 501), responder)
                return
            }
            streamer.stream(messagesRequest, inputTokens: inputTokens, to: responder, requestID: request.requestID)
        }
    }

    private func sendJSON(status: Int, body: JSONValue, _ responder: HTTPResponder, extraHeaders: [(name: String, value: String)] = []) {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        headers.append(contentsOf: extraHeaders)
        responder.respond(status: status, headers: headers, body: body.compactBytes())
    }

    private func sendError(_ error: APIError, _ responder: HTTPResponder, extraHeaders: [(name: String, value: String)] = []) {
        sendJSON(status: error.status, body: error.body, responder, extraHeaders: extraHeaders)
    }
}

@available(*, unavailable)
extension ProxyApp: Sendable {}
