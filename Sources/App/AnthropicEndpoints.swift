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
    /// Answered locally: the response and which kind of local answer it was, for the log.
    case answeredLocally(JSONValue, LocalAnswerKind)
}

/// Counts input tokens the reference's way for a request's messages, system and tools.
public typealias InputTokenCounter = @Sendable (_ messages: [Message], _ system: SystemPrompt?, _ tools: [Tool]?) -> Int

/// The Anthropic-facing endpoints, socket-free: `/`, `/health`, `/v1/messages`, `/v1/messages/count_tokens`.
public struct AnthropicEndpoints: Sendable {
    public var routing: ModelRouting
    public var switches: LocalAnswerSwitches
    public var defaultModel: String
    public var countTokens: InputTokenCounter
    public var makeMessageID: @Sendable () -> String

    public init(
        routing: ModelRouting, switches: LocalAnswerSwitches, countTokens: @escaping InputTokenCounter,
        makeMessageID: @escaping @Sendable () -> String
    ) {
        self.routing = routing
        self.switches = switches
        self.defaultModel = routing.default
        self.countTokens = countTokens
        self.makeMessageID = makeMessageID
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
        let request: MessagesRequest
        do {
            request = try MessagesRequest.decode(try parse(body), routing: routing)
        } catch {
            return errorOutcome(error)
        }
        // Anthropic's API refuses an empty conversation, and so would any model behind the
        // upstream, after a rate-limit slot was spent on it. (`count_tokens` keeps counting it,
        // as the reference does.)
        if request.messages.isEmpty {
            return errorOutcome(RequestValidationError(location: "messages", reason: "at least one message is required"))
        }
        if let local = answerLocally(request, switches: switches, makeID: makeMessageID) {
            return .answeredLocally(local.response.json, local.kind)
        }
        let tokens = countTokens(request.messages, request.system, request.tools)
        return .stream(request, inputTokens: tokens)
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
