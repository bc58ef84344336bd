// Router: which handler serves a request, decided from its method and path alone. It touches no
// socket, so matching, parameters, 404/405 and precedence are tested with plain values.

/// A path pattern such as `/cli/sessions/{handle}/stop`: literal segments, and `{name}` segments
/// that each match one whole segment and capture it. A parameter matches an empty segment too
/// (`/cli/managers//get_stats` names the manager ""), as the bot API always has.
public struct PathPattern: Sendable, Equatable, CustomStringConvertible {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    let segments: [Segment]
    public let description: String
    /// No parameters: the pattern matches exactly one path, itself.
    let isLiteral: Bool

    public init(_ text: String) {
        precondition(text.hasPrefix("/"), "a path pattern starts with '/': \(text)")
        description = text
        segments = (PathPattern.split(text) ?? []).map { part in
            if part.count > 2, part.hasPrefix("{"), part.hasSuffix("}") {
                return .parameter(String(part.dropFirst().dropLast()))
            }
            return .literal(String(part))
        }
        isLiteral = segments.allSatisfy { if case .literal = $0 { true } else { false } }
    }

    /// The segments after the leading "/" ("/" itself is one empty segment); nil for a path that
    /// does not start with "/" (such as `*`), which no pattern matches.
    static func split(_ path: String) -> [Substring]? {
        guard path.hasPrefix("/") else { return nil }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
    }

    /// Whether both patterns match exactly the same paths (parameter names aside).
    func hasSameShape(as other: PathPattern) -> Bool {
        guard segments.count == other.segments.count else { return false }
        for (a, b) in zip(segments, other.segments) {
            switch (a, b) {
            case (.literal(let x), .literal(let y)) where x == y: continue
            case (.parameter, .parameter): continue
            default: return false
            }
        }
        return true
    }

    func match(_ path: [Substring]) -> RouteParameters? {
        guard path.count == segments.count else { return nil }
        var captured: [(name: String, value: String)] = []
        for (segment, part) in zip(segments, path) {
            switch segment {
            case .literal(let text):
                guard part == text else { return nil }
            case .parameter(let name):
                captured.append((name, String(part)))
            }
        }
        return RouteParameters(pattern: description, captured)
    }

    /// For two patterns that both match a path: the one whose first differing segment is literal
    /// wins, so `/a/{x}/stop` beats `/a/{x}/{y}` whatever the order they were added in.
    func isMoreSpecific(than other: PathPattern) -> Bool {
        for (a, b) in zip(segments, other.segments) {
            switch (a, b) {
            case (.literal, .parameter): return true
            case (.parameter, .literal): return false
            default: continue
            }
        }
        return false
    }
}

/// The route a path matched: its pattern, and the values its `{name}` segments captured.
public struct RouteParameters: Sendable {
    /// The pattern as registered (`/v1/models/{id}`): a name for the route that does not grow
    /// with the paths clients send (metrics label requests with it).
    public let pattern: String
    private let values: [(name: String, value: String)]

    init(pattern: String, _ values: [(name: String, value: String)] = []) {
        self.pattern = pattern
        self.values = values
    }

    /// The segment `{name}` captured; asking for a name the pattern lacks is a programming error.
    public subscript(_ name: String) -> String {
        guard let found = values.first(where: { $0.name == name }) else {
            preconditionFailure("the route's pattern has no parameter {\(name)}")
        }
        return found.value
    }
}

/// Routes declared once, each with the methods it serves. `HEAD` is served by a route's `GET`
/// handler (the server sends no body for it). Generic over the handler so it needs no socket.
public struct Router<Handler> {
    struct Route {
        var pattern: PathPattern
        var handlers: [(method: String, handler: Handler)]
        /// The route's own answer to a method it does not serve, instead of the standard 405.
        var refusal: Handler?
    }

    public enum Resolution {
        case matched(Handler, RouteParameters)
        /// The path exists but not for this method. `allowed` is for the `Allow` header; `refusal`
        /// is the route's own answer when it declared one.
        case methodNotAllowed(allowed: [String], refusal: Handler?, RouteParameters)
        case notFound
    }

    private var routes: [Route] = []
    /// Routes without parameters by their exact path: most requests are answered by one lookup.
    private var literalRoutes: [String: Int] = [:]
    /// The others, tried one by one.
    private var patternRoutes: [Int] = []

    public init() {}

    /// Serves `method` on `pattern` with `handler`. Adding the same pattern and method again
    /// replaces the earlier handler (the bot API takes `/stop` over this way).
    public mutating func add(_ method: String, _ pattern: String, _ handler: Handler) {
        let index = routeIndex(PathPattern(pattern))
        if let existing = routes[index].handlers.firstIndex(where: { $0.method == method }) {
            routes[index].handlers[existing].handler = handler
        } else {
            routes[index].handlers.append((method, handler))
        }
    }

    /// Answers requests to `pattern` with a method it does not serve.
    public mutating func refuseOtherMethods(_ pattern: String, with handler: Handler) {
        routes[routeIndex(PathPattern(pattern))].refusal = handler
    }

    private mutating func routeIndex(_ pattern: PathPattern) -> Int {
        if let i = routes.firstIndex(where: { $0.pattern.hasSameShape(as: pattern) }) {
            precondition(routes[i].pattern == pattern, "\(pattern) repeats \(routes[i].pattern) with other names")
            return i
        }
        routes.append(Route(pattern: pattern, handlers: [], refusal: nil))
        let index = routes.count - 1
        if pattern.isLiteral {
            literalRoutes[pattern.description] = index
        } else {
            patternRoutes.append(index)
        }
        return index
    }

    /// The paths and methods served, in the order routes were added (for documentation and tests).
    public var table: [(pattern: String, methods: [String])] {
        routes.map { ($0.pattern.description, $0.handlers.map(\.method)) }
    }

    public func resolve(method: String, path: String) -> Resolution {
        guard let (route, parameters) = bestRoute(path) else { return .notFound }
        let served = method == "HEAD" ? "GET" : method
        if let found = route.handlers.first(where: { $0.method == served }) {
            return .matched(found.handler, parameters)
        }
        return .methodNotAllowed(allowed: route.handlers.map(\.method).sorted(), refusal: route.refusal, parameters)
    }

    private func bestRoute(_ path: String) -> (Route, RouteParameters)? {
        if let i = literalRoutes[path] { return (routes[i], RouteParameters(pattern: path)) }
        guard let parts = PathPattern.split(path) else { return nil }
        var best: (Route, RouteParameters)?
        for i in patternRoutes {
            let route = routes[i]
            guard let parameters = route.pattern.match(parts) else { continue }
            if let current = best, !route.pattern.isMoreSpecific(than: current.0.pattern) { continue }
            best = (route, parameters)
        }
        return best
    }
}
