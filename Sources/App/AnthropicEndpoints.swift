import AnthropicAPI
import JSON
import LocalAnswers

/// What the HTTP layer must do with one request. Deciding it touches no socket, so
/// every route's answer is testable with plain values.
public enum RouteOutcome: Sendable {
    /// A complete JSON answer.
    case json(status: Int, body: JSONValue)
    /// A `/v1/messages` request no fast path answered: stream it from upstream.
    case stream(MessagesRequest, inputTokens: Int)
    /// Answered locally: the response, which kind of local answer it was (for the log), and
    /// whether the client asked for a stream (then it gets the answer as Anthropic SSE events).
    case answeredLocally(MessagesResponse, LocalAnswerKind, stream: Bool)
}

/// Counts input tokens the reference's way for a request's messages, system and tools.
public typealias InputTokenCounter = @Sendable (_ messages: [Message], _ system: SystemPrompt?, _ tools: [Tool]?) -> Int

/// Counts the tokens of an answer's text.
public typealias TextTokenCounter = @Sendable (_ text: String) -> Int

/// The Anthropic-facing endpoints, socket-free: `/`, `/health`, `/v1/messages`, `/v1/messages/count_tokens`.
public struct AnthropicEndpoints: Sendable {
    public var routing: ModelRouting {
        didSet { configuredModels = routing.configuredModels }
    }
    /// `routing.configuredModels`, made once: every request that may be a probe looks a model up in it.
    private var configuredModels: Set<String>
    public var switches: LocalAnswerSwitches
    public var defaultModel: String
    public var countTokens: InputTokenCounter
    public var countTextTokens: TextTokenCounter
    public var makeMessageID: @Sendable () -> String
    /// When the models list was made, as its `created_at` (RFC 3339).
    public var modelsCreatedAt: String

    public init(
        routing: ModelRouting, switches: LocalAnswerSwitches, countTokens: @escaping InputTokenCounter,
        countTextTokens: @escaping TextTokenCounter = { text in text.utf8.count / 4 + 1 },
        makeMessageID: @escaping @Sendable () -> String, modelsCreatedAt: String = "1970-01-01T00:00:00Z"
    ) {
        self.routing = routing
        self.configuredModels = routing.configuredModels
        self.switches = switches
        self.defaultModel = routing.default
        self.countTokens = countTokens
        self.countTextTokens = countTextTokens
        self.makeMessageID = makeMessageID
        self.modelsCreatedAt = modelsCreatedAt
    }

    public func root() -> RouteOutcome {
        .json(status: 200, body: .object(JSONObject([
            ("status", "ok"), ("provider", "nvidia_nim"), ("model", .string(defaultModel)),
        ])))
    }

    public func health(extra: JSONObject = JSONObject()) -> RouteOutcome {
        var body = JSONObject([("status", "healthy")])
        for e in extra { body[e.key] = e.value }
        return .json(status: 200, body: .object(body))
    }

    /// `POST /v1/messages`: the fast paths first, otherwise a stream.
    public func messages(body: [UInt8]) -> RouteOutcome {
        var request: MessagesRequest
        do {
            request = try MessagesRequest.decode(try parse(body), routing: routing)
        } catch {
            return errorOutcome(error)
        }
        request.sourceByteCount = body.count
        // Anthropic's API refuses an empty conversation, and so would any model behind the
        // upstream, after a rate-limit slot was spent on it. (`count_tokens` keeps counting it,
        // as the reference does.)
        if request.messages.isEmpty {
            return errorOutcome(RequestValidationError(location: "messages", reason: "at least one message is required"))
        }
        let local = answerLocally(
            request, switches: switches, knownModels: configuredModels,
            measure: { request, text in
                (countTokens(request.messages, request.system, request.tools), countTextTokens(text))
            },
            makeID: makeMessageID)
        if let local {
            return .answeredLocally(local.response, local.kind, stream: request.stream == true)
        }
        let tokens = countTokens(request.messages, request.system, request.tools)
        return .stream(request, inputTokens: tokens)
    }

    /// `HEAD` and `GET /api/hello`: Claude Code's connectivity probe, answered at once.
    public func hello() -> RouteOutcome {
        .json(status: 200, body: .object(JSONObject([("message", "hello")])))
    }

    /// The models a client may ask for: the Claude tiers (each served by its configured model) and
    /// the configured models, fallbacks included, under their own names, which route to themselves.
    public var modelEntries: [(id: String, displayName: String)] {
        var entries: [(id: String, displayName: String)] = []
        for (tier, upstream) in [("opus", routing.opus), ("sonnet", routing.sonnet), ("haiku", routing.haiku)] {
            let served = upstream ?? routing.default
            entries.append(("claude-\(tier)", "Claude \(tier.prefix(1).uppercased() + tier.dropFirst()) (\(served))"))
        }
        for model in routing.listedModels where !entries.contains(where: { $0.id == model }) {
            entries.append((model, model))
        }
        return entries
    }

    private func modelJSON(_ entry: (id: String, displayName: String)) -> JSONValue {
        .object(JSONObject([
            ("type", "model"), ("id", .string(entry.id)), ("display_name", .string(entry.displayName)),
            ("created_at", .string(modelsCreatedAt)),
        ]))
    }

    /// `GET /v1/models`, in Anthropic's list shape, with its `limit`, `after_id` and `before_id`.
    public func models(query: String?) -> RouteOutcome {
        let params = queryParameters(query)
        var limit = 20
        if let text = params["limit"] {
            guard let n = Int(text), (1...1000).contains(n) else {
                return errorOutcome(APIError.invalidRequest("limit: must be an integer between 1 and 1000"))
            }
            limit = n
        }
        let all = modelEntries
        var window = all[...]
        if let after = params["after_id"] {
            guard let i = all.firstIndex(where: { $0.id == after }) else { return modelNotFound(after) }
            window = all[(i + 1)...]
        }
        if let before = params["before_id"] {
            guard let i = all.firstIndex(where: { $0.id == before }) else { return modelNotFound(before) }
            window = window.prefix { e in all.firstIndex(where: { $0.id == e.id })! < i }
            window = window.suffix(limit)
        }
        let page = Array(window.prefix(limit))
        return .json(status: 200, body: .object(JSONObject([
            ("data", .array(page.map(modelJSON))),
            ("has_more", .bool(window.count > page.count)),
            ("first_id", page.first.map { .string($0.id) } ?? .null),
            ("last_id", page.last.map { .string($0.id) } ?? .null),
        ])))
    }

    /// `GET /v1/models/{id}`; an upstream name holding `/` may come as two segments or as `%2F`.
    public func model(id rawID: String) -> RouteOutcome {
        let id = percentDecoded(rawID)
        guard let entry = modelEntries.first(where: { $0.id == id }) else { return modelNotFound(id) }
        return .json(status: 200, body: modelJSON(entry))
    }

    private func modelNotFound(_ id: String) -> RouteOutcome {
        let error = APIError(status: 404, type: "not_found_error", message: "model: \(id) is not served by this proxy")
        return .json(status: 404, body: error.body)
    }

    /// `POST /v1/messages/count_tokens`.
    public func countTokens(body: [UInt8]) -> RouteOutcome {
        do {
            let request = try TokenCountRequest.decode(try parse(body), routing: routing)
            let n = countTokens(request.messages, request.system, request.tools)
            return .json(status: 200, body: TokenCountResponse(inputTokens: n).json)
        } catch {
            return errorOutcome(error)
        }
    }

    private func parse(_ body: [UInt8]) throws(APIError) -> JSONValue {
        do {
            return try JSONValue.parse(body)
        } catch {
            throw APIError.invalidRequest("Request body is not valid JSON: \(error)")
        }
    }

    private func errorOutcome(_ error: any Error) -> RouteOutcome {
        let apiError: APIError
        switch error {
        case let e as APIError: apiError = e
        case let e as RequestValidationError: apiError = APIError(e)
        default: apiError = .unexpected
        }
        return .json(status: apiError.status, body: apiError.body)
    }
}

/// `a=1&b=2` as a dictionary, values percent-decoded (`+` is a space); the last of a repeated name wins.
func queryParameters(_ query: String?) -> [String: String] {
    guard let query else { return [:] }
    var out: [String: String] = [:]
    for pair in query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let name = percentDecoded(String(parts[0]).replacingPlus())
        out[name] = parts.count > 1 ? percentDecoded(String(parts[1]).replacingPlus()) : ""
    }
    return out
}

/// `%XX` sequences decoded as UTF-8; a malformed one is kept as written.
func percentDecoded(_ s: String) -> String {
    let bytes = Array(s.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
            let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2])
        {
            out.append(h << 4 | l)
            i += 3
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

extension String {
    fileprivate func replacingPlus() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "+" ? " " : $0 }))
    }
}
