import JSON

/// Anthropic error types the proxy reports.
public enum AnthropicErrorType: String, Sendable, Equatable {
    case authentication = "authentication_error"
    case invalidRequest = "invalid_request_error"
    case rateLimit = "rate_limit_error"
    case overloaded = "overloaded_error"
    case api = "api_error"
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

/// An upstream failure mapped to what the client sees: the Anthropic error type,
/// the HTTP status a non-streaming answer would carry, and the message (which is
/// also the text of the error block in a stream).
public struct UpstreamError: Error, Sendable, Equatable {
    public var type: AnthropicErrorType
    public var status: Int
    public var message: String
    /// How long the global rate limiter must block every request: the reference
    /// blocks for 60 s whenever an upstream 429 reaches the error mapper.
    public var rateLimitBlock: Duration?
    /// The upstream's `Retry-After` when it was too long to wait for, to pass on to the client.
    public var retryAfter: Duration?

    public init(
        type: AnthropicErrorType, status: Int, message: String, rateLimitBlock: Duration? = nil,
        retryAfter: Duration? = nil
    ) {
        self.type = type
        self.status = status
        self.message = message
        self.rateLimitBlock = rateLimitBlock
        self.retryAfter = retryAfter
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
    /// and the reference maps it to a generic API error.
    public static func inStream(chunk: JSONValue) -> UpstreamError? {
        guard case .object(let object) = chunk, let error = object["error"], error.isPythonTruthy else { return nil }
        var message = "An error occurred during streaming"
        if let m = error["message"]?.stringValue, !m.isEmpty { message = m }
        return UpstreamError(type: .api, status: 500, message: message)
    }
}

/// Maps an upstream failure the way the reference's `map_error` maps the OpenAI
/// client's exceptions: pass the HTTP status and body of a non-2xx answer, or a
/// transport failure (which wins when both are given).
///
/// The message is the OpenAI client's: `Error code: <status> - <body>` with the
/// body as Python prints the parsed JSON (`{'error': {'message': ...}}`), the
/// raw body when it is not JSON, or `Error code: <status>` when it is empty.
public func mapUpstreamError(status: Int?, body: String?, transport: TransportFailure?) -> UpstreamError {
    if let transport {
        switch transport {
        case .timedOut, .streamTimedOut:
            return UpstreamError(type: .api, status: 500, message: "Request timed out.")
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
    let code = status ?? 500
    let message = openAIStatusMessage(status: code, body: body)
    switch code {
    case 401: return UpstreamError(type: .authentication, status: 401, message: message)
    case 429: return UpstreamError(type: .rateLimit, status: 429, message: message, rateLimitBlock: .seconds(60))
    case 400: return UpstreamError(type: .invalidRequest, status: 400, message: message)
    case 500...:
        let lower = message.lowercased()
        if lower.contains("overloaded") || lower.contains("capacity") {
            return UpstreamError(type: .overloaded, status: 529, message: message)
        }
        // Every 5xx is reported as 500, as the reference does.
        return UpstreamError(type: .api, status: 500, message: message)
    default:
        return UpstreamError(type: .api, status: code, message: message)
    }
}

/// The OpenAI client's text for a failed status: JSON bodies are shown as Python
/// shows the decoded value (`f"{body}"`), other bodies as their stripped text.
func openAIStatusMessage(status: Int, body: String?) -> String {
    let text = Array((body ?? "").unicodeScalars).strippingWhitespace().string
    if !text.isEmpty, let parsed = try? JSONValue.parse(text) {
        return "Error code: \(status) - \(parsed.pythonStr)"
    }
    return text.isEmpty ? "Error code: \(status)" : text
}
