// Middleware: the steps every request passes before the router, in the order `main` lists them.

import AnthropicAPI
import HTTPServer
import JSON
import Metrics

/// What one middleware step decided about a request.
public enum MiddlewareDecision {
    /// On to the next step, and finally the router.
    case pass
    /// Answered here with an Anthropic-shaped error; no later step runs.
    case refuse(APIError)
}

/// One step before routing: it sees the request and either answers it or passes it on. Deciding is
/// a plain function of the request, so a step is tested without a socket.
public struct Middleware {
    /// For logs and tests.
    public let name: String
    public let inspect: (HTTPRequest) -> MiddlewareDecision

    public init(_ name: String, inspect: @escaping (HTTPRequest) -> MiddlewareDecision) {
        self.name = name
        self.inspect = inspect
    }
}

/// A route's handler: the request, the values its pattern captured, and where to answer.
public typealias RouteHandler = (HTTPRequest, RouteParameters, HTTPResponder) -> Void

/// The middleware steps, then the router. The server calls `handle` for each request.
///
/// All methods are called from within the EventLoop.
final class RequestPipeline {
    let middleware: [Middleware]
    var router = Router<RouteHandler>()
    let metrics: ProxyMetrics

    init(middleware: [Middleware], metrics: ProxyMetrics) {
        self.middleware = middleware
        self.metrics = metrics
    }

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        // Resolved before the middleware runs so a refusal is counted under the route it was for.
        let resolution = router.resolve(method: request.method, path: request.path)
        let route: String?
        switch resolution {
        case .matched(_, let parameters), .methodNotAllowed(_, _, let parameters): route = parameters.pattern
        case .notFound: route = nil
        }
        let metrics = self.metrics
        responder.onOutcome = { status in metrics.request(route: route, status: status) }
        for step in middleware {
            if case .refuse(let error) = step.inspect(request) {
                responder.respondError(error)
                return
            }
        }
        switch resolution {
        case .matched(let handler, let parameters):
            handler(request, parameters, responder)
        case .methodNotAllowed(_, .some(let refusal), let parameters):
            refusal(request, parameters, responder)
        case .methodNotAllowed(let allowed, nil, _):
            responder.respondError(
                APIError(status: 405, type: "invalid_request_error", message: "Method Not Allowed: \(request.method) \(request.path)"),
                extraHeaders: [("Allow", allowed.joined(separator: ", "))])
        case .notFound:
            responder.respondError(APIError(status: 404, type: "not_found_error", message: "Not Found: \(request.method) \(request.path)"))
        }
    }
}

@available(*, unavailable)
extension RequestPipeline: Sendable {}

extension HTTPResponder {
    /// A complete `application/json` response.
    public func respondJSON(status: Int, body: JSONValue, extraHeaders: [(name: String, value: String)] = []) {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        headers.append(contentsOf: extraHeaders)
        respond(status: status, headers: headers, body: body.compactBytes())
    }

    /// An Anthropic-shaped error, `{"type":"error","error":{"type":...,"message":...}}`.
    public func respondError(_ error: APIError, extraHeaders: [(name: String, value: String)] = []) {
        respondJSON(status: error.status, body: error.body, extraHeaders: extraHeaders)
    }
}
