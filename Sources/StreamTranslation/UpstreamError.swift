import JSON

/// Anthropic's error types, each with the HTTP status Anthropic answers it with
/// (https://docs.anthropic.com/en/api/errors). Claude Code retries 408, 409, 429 and 5xx
/// answers and compacts on a `prompt is too long` 400, so the type decides what it does next.
public enum AnthropicErrorType: String, Sendable, Equatable, CaseIterable {
    case invalidRequest = "invalid_request_error"
    case authentication = "authentication_error"
    case permission = "permission_error"
    case notFound = "not_found_error"
    case requestTooLarge = "request_too_large"
    case rateLimit = "rate_limit_error"
    case api = "api_error"
    case timeout = "timeout_error"
    case overloaded = "overloaded_error"

    /// The status Anthropic sends this type with.
    public var status: Int {
        switch self {
        case .invalidRequest: 400
        case .authentication: 401
        case .permission: 403
        case .notFound: 404
        case .requestTooLarge: 413
        case .rateLimit: 429
        case .api: 500
        case .timeout: 504
        case .overloaded: 529
        }
    }

    /// Whether another model may succeed where this one failed: a busy, slow or broken
    /// upstream model is worth replacing; a request the upstream refuses as such (malformed,
    /// unauthorised, naming no model, too large, too long for the context) fails on any model.
    public var fallbackMayHelp: Bool {
        switch self {
        case .rateLimit, .api, .timeout, .overloaded: true
        case .invalidRequest, .authentication, .permission, .notFound, .requestTooLarge: false
        }
    }
}

/// A failure talking to the upstream that happened below HTTP.
public enum TransportFailure: Sendable, Equatable {
    /// No response within the timeout.
    case timedOut
    /// Could not connect, or the connection broke before a response arrived.
    case connectionFailed
    /// The response had started streaming and then stalled past the read timeout.
    case streamTimedOut
    /// The response had started streaming and the connection broke; `detail`
    /// replaces the default description when the caller has a better one.
    case streamInterrupted(detail: String?)
    /// A `data:` payload was not JSON.
    case malformedStream(reason: String)
    /// An SSE line (or event) longer than `limit` bytes; the transfer was cancelled.
    case lineTooLong(limit: Int)
}

/// An upstream failure mapped to what the client sees: the Anthropic error type, the HTTP
/// status of the answer when nothing has been streamed yet, and the message (also the
/// message of the SSE `error` event once the stream has started).
public struct UpstreamError: Error, Sendable, Equatable {
    public var type: AnthropicErrorType
    public var status: Int
    public var message: String
    /// How long the global rate limiter must block every request: the reference
    /// blocks for 60 s whenever an upstream 429 reaches the error mapper.
    public var rateLimitBlock: Duration?
    /// The upstream's `Retry-After` when it was too long to wait for, to pass on to the client.
    public var retryAfter: Duration?
    /// Whether a fallback model should be tried for this failure (when nothing has reached
    /// the client yet); the type's `fallbackMayHelp` unless the mapper knows better.
    public var fallbackMayHelp: Bool
    /// Set when the upstream refused only because the prompt plus `max_tokens` exceeds the
    /// context window while the prompt alone fits: the request is worth sending again at once
    /// with a smaller `max_tokens` (see `completionBudget(window:inputTokens:requested:margin:)`).
    public var completionBudget: CompletionBudgetRefusal?
    /// The context window the upstream stated in a context-length refusal, worth remembering
    /// for the model (`ContextWindows.learn`); nil when the refusal named none.
    public var statedContextWindow: Int?

    public init(
        type: AnthropicErrorType, status: Int, message: String, rateLimitBlock: Duration? = nil,
        retryAfter: Duration? = nil, fallbackMayHelp: Bool? = nil
    ) {
        self.type = type
        self.status = status
        self.message = message
        self.rateLimitBlock = rateLimitBlock
        self.retryAfter = retryAfter
        self.fallbackMayHelp = fallbackMayHelp ?? type.fallbackMayHelp
        completionBudget = nil
        statedContextWindow = nil
    }

    /// A 429 whose `Retry-After` (`headerValue`, as sent) is longer than the server waits
    /// (`limit`): the upstream's error, not retried, saying why.
    public static func retryAfterTooLong(
        body: String?, retryAfter: Duration, headerValue: String, limit: Duration
    ) -> UpstreamError {
        var error = mapUpstreamError(status: 429, body: body, transport: nil)
        // A header can be kilobytes; the message needs only enough to recognise it.
        var shown = String(headerValue.unicodeScalars.prefix(64))
        if shown.unicodeScalars.count < headerValue.unicodeScalars.count { shown += "..." }
        error.message += " (Retry-After: \(shown) is longer than UPSTREAM_MAX_RETRY_AFTER, \(limit), "
            + "so the request was not retried; try again later)"
        error.retryAfter = retryAfter
        return error
    }

    /// `{"type": "error", "error": {"type": ..., "message": ...}}`.
    public var anthropicBody: JSONValue {
        ["type": "error", "error": ["type": .string(type.rawValue), "message": .string(message)]]
    }

    /// The error a chunk carries in an `error` member, if any. The OpenAI client
    /// raises on such a chunk (message from `error.message`, else a fixed text)
    /// and the reference maps it to a generic API error. An error with an HTTP status as its
    /// `code` (servers that fail after the 200, OpenRouter's mid-stream errors) is mapped as
    /// that status would be, so an overload or a context-length refusal reads as one.
    public static func inStream(chunk: JSONValue) -> UpstreamError? {
        guard case .object(let object) = chunk, let error = object["error"], error.isPythonTruthy else { return nil }
        if let code = error["code"]?.intValue, (400...599).contains(code) {
            let body: JSONValue = ["error": error]
            return mapUpstreamError(status: code, body: body.compactString(), transport: nil)
        }
        var message = "An error occurred during streaming"
        if let m = error["message"]?.stringValue, !m.isEmpty { message = m }
        return UpstreamError(type: .api, status: 500, message: message)
    }
}

/// What the caller knows of the request an upstream refused, to complete a context-length
/// refusal that leaves numbers out (Claude Code needs both numbers of `prompt is too long:
/// N tokens > M maximum`).
public struct RequestTokens: Sendable, Equatable {
    /// The proxy's own (cl100k) count of the prompt.
    public var inputTokens: Int
    /// The `max_tokens` sent upstream, if any.
    public var maxTokens: Int?
    /// The model's context size as far as the proxy knows it (learned from an earlier
    /// refusal, or `MODEL_CONTEXT_TOKENS`); nil: unknown.
    public var contextWindow: Int?

    public init(inputTokens: Int, maxTokens: Int? = nil, contextWindow: Int? = nil) {
        self.inputTokens = inputTokens
        self.maxTokens = maxTokens
        self.contextWindow = contextWindow
    }
}

/// Whether a response's `Content-Type` announces an event stream (`text/event-stream`, any
/// case, any parameters). A missing header is taken as one: nothing says otherwise, and the
/// SSE parser finds no events in anything else.
public func isEventStream(contentType: String?) -> Bool {
    guard let contentType else { return true }
    let mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }
    let trimmed = Array(mediaType).trimmingASCIIWhitespace()
    if trimmed.isEmpty { return true }
    return trimmed.asciiLowercased() == Array("text/event-stream".utf8)
}

/// Maps an upstream failure to the Anthropic error the client gets. Pass the HTTP status,
/// body and `Content-Type` of the answer, or a transport failure (which wins when both are
/// given). A 2xx status passed here is an answer that is not an event stream (see
/// `isEventStream(contentType:)`). `request` completes context-length refusals that leave
/// numbers out.
///
/// The table (status the client gets in brackets): 400 and other 4xx `invalid_request_error`
/// (400), 401 `authentication_error` (401), 403 `permission_error` (403), 404
/// `not_found_error` (404), 413 `request_too_large` (413), 429 `rate_limit_error` (429, with
/// the reference's 60 s block), 408, 504, 522, 524 and timeouts `timeout_error` (504), 503,
/// 529 and 5xx saying "overloaded" or "capacity" `overloaded_error` (529), other 5xx,
/// connection failures and broken streams `api_error` (500). A context-length refusal is a
/// 400 `invalid_request_error` reading as Anthropic's own (see `ContextLengthRefusal`).
///
/// The message keeps the upstream's own text (`{"error": {"message": ...}}`, `{"detail":
/// ...}`, `{"message": ...}`, an HTML page's title) after `Upstream error <status>: `.
public func mapUpstreamError(
    status: Int?, body: String?, transport: TransportFailure?, contentType: String? = nil,
    request: RequestTokens? = nil
) -> UpstreamError {
    if let transport { return mapTransportFailure(transport) }
    let code = status ?? 500
    let shown = UpstreamBody(body ?? "", contentType: contentType)
    if (200..<300).contains(code) {
        let what = contentType.map { "Content-Type \($0)" } ?? "no Content-Type"
        var message = "The upstream answered \(code) with \(what) instead of an event stream"
        if let text = shown.text { message += ": \(text)" }
        return UpstreamError(type: .api, status: 500, message: message)
    }
    let message = shown.text.map { "Upstream error \(code): \($0)" } ?? "Upstream error \(code) with an empty body"

    // Refusals of the prompt come with many statuses (vLLM 400, TGI 422, some servers 413 or
    // 500); never with these, whose meaning is fixed.
    if ![401, 403, 404, 408, 429].contains(code),
        let refusal = ContextLengthRefusal.parse(shown.text ?? "", code: shown.code)
    {
        if let error = refusal.upstreamError(request: request) { return error }
        var error = UpstreamError(type: .invalidRequest, status: 400, message: message)
        error.statedContextWindow = refusal.window
        return error
    }

    switch code {
    case 401: return UpstreamError(type: .authentication, status: 401, message: message)
    case 403: return UpstreamError(type: .permission, status: 403, message: message)
    case 404: return UpstreamError(type: .notFound, status: 404, message: message)
    case 413: return UpstreamError(type: .requestTooLarge, status: 413, message: message)
    case 429: return UpstreamError(type: .rateLimit, status: 429, message: message, rateLimitBlock: .seconds(60))
    case 408, 504, 522, 524: return UpstreamError(type: .timeout, status: 504, message: message)
    case 503, 529: return UpstreamError(type: .overloaded, status: 529, message: message)
    case 500...599:
        let lower = message.lowercased()
        if lower.contains("overloaded") || lower.contains("capacity") {
            return UpstreamError(type: .overloaded, status: 529, message: message)
        }
        return UpstreamError(type: .api, status: 500, message: message)
    case 400...499:
        return UpstreamError(type: .invalidRequest, status: 400, message: message)
    default:
        // 1xx and 3xx: libcurl follows no redirects, so this is a misconfigured upstream URL.
        return UpstreamError(type: .api, status: 500, message: message)
    }
}

private func mapTransportFailure(_ transport: TransportFailure) -> UpstreamError {
    switch transport {
    case .timedOut, .streamTimedOut:
        return UpstreamError(type: .timeout, status: 504, message: "Request timed out.")
    case .connectionFailed:
        return UpstreamError(type: .api, status: 500, message: "Connection error.")
    case .streamInterrupted(let detail):
        return UpstreamError(
            type: .api, status: 500,
            message: detail ?? "peer closed connection without sending complete message body (incomplete chunked read)")
    case .malformedStream(let reason):
        return UpstreamError(type: .api, status: 500, message: "Invalid JSON in upstream stream: \(reason)")
    case .lineTooLong(let limit):
        return UpstreamError(
            type: .api, status: 500,
            message: "The upstream sent an SSE line longer than UPSTREAM_MAX_LINE_BYTES (\(limit) bytes); "
                + "the stream was ended.")
    }
}
