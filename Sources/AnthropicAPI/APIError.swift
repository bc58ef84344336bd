import JSON

/// An error answered in Anthropic's shape: `{"type":"error","error":{"type":...,"message":...}}`.
public struct APIError: Error, Sendable, Equatable {
    public var status: Int
    public var type: String
    public var message: String

    public init(status: Int, type: String, message: String) {
        self.status = status
        self.type = type
        self.message = message
    }

    /// The error type Anthropic uses for an HTTP status; anything unlisted is `api_error`.
    public static func type(forStatus status: Int) -> String {
        switch status {
        case 400: return "invalid_request_error"
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 529: return "overloaded_error"
        default: return "api_error"
        }
    }

    /// An error of the type Anthropic pairs with `status`.
    public init(status: Int, message: String) {
        self.init(status: status, type: APIError.type(forStatus: status), message: message)
    }

    public static func invalidRequest(_ message: String) -> APIError { APIError(status: 400, message: message) }
    public static func authentication(_ message: String) -> APIError { APIError(status: 401, message: message) }
    public static func permission(_ message: String) -> APIError { APIError(status: 403, message: message) }
    public static func notFound(_ message: String) -> APIError { APIError(status: 404, message: message) }
    public static func requestTooLarge(_ message: String) -> APIError { APIError(status: 413, message: message) }
    public static func rateLimit(_ message: String) -> APIError { APIError(status: 429, message: message) }
    public static func overloaded(_ message: String) -> APIError { APIError(status: 529, message: message) }
    /// `api_error` keeps the given status, as the reference's `APIError(status_code=...)` does.
    public static func api(_ message: String, status: Int = 500) -> APIError {
        APIError(status: status, type: "api_error", message: message)
    }

    /// The reference's catch-all answer for an unexpected exception.
    public static let unexpected = APIError(status: 500, type: "api_error", message: "An unexpected error occurred.")

    /// A rejected request body, answered as `invalid_request_error`.
    public init(_ validation: RequestValidationError) {
        self.init(status: 400, type: "invalid_request_error", message: validation.message)
    }

    public var body: JSONValue {
        .object(
            JSONObject([
                ("type", "error"),
                ("error", .object(JSONObject([("type", .string(type)), ("message", .string(message))]))),
            ]))
    }
}
