import App
import Testing

/// The router alone: handlers are names, so every decision is a plain value.
@Suite struct RouterTests {
    enum Decision: Equatable {
        case matched(String, [String: String])
        case methodNotAllowed([String], refusal: String?)
        case notFound
    }

    func decide(_ router: Router<String>, _ method: String, _ path: String, parameters: [String] = []) -> Decision {
        switch router.resolve(method: method, path: path) {
        case .matched(let name, let captured):
            var values: [String: String] = [:]
            for p in parameters { values[p] = captured[p] }
            return .matched(name, values)
        case .methodNotAllowed(let allowed, let refusal, _):
            return .methodNotAllowed(allowed, refusal: refusal)
        case .notFound:
            return .notFound
        }
    }

    var appRoutes: Router<String> {
        var r = Router<String>()
        r.add("GET", "/", "root")
        r.add("GET", "/health", "health")
        r.add("POST", "/v1/messages", "messages")
        r.add("POST", "/v1/messages/count_tokens", "count")
        return r
    }

    @Test func literalPathsMatchExactly() {
        let r = appRoutes
        #expect(decide(r, "GET", "/") == .matched("root", [:]))
        #expect(decide(r, "GET", "/health") == .matched("health", [:]))
        #expect(decide(r, "POST", "/v1/messages/count_tokens") == .matched("count", [:]))
        for path in ["/health/", "//", "/v1", "/v1/messages/", "/HEALTH", "", "*", "health"] {
            #expect(decide(r, "GET", path) == .notFound, "\(path)")
        }
    }

    @Test func wrongMethodListsTheAllowedOnes() {
        var r = appRoutes
        #expect(decide(r, "GET", "/v1/messages") == .methodNotAllowed(["POST"], refusal: nil))
        #expect(decide(r, "DELETE", "/health") == .methodNotAllowed(["GET"], refusal: nil))
        r.add("DELETE", "/health", "delete")
        r.add("PUT", "/health", "put")
        // Sorted, whatever the order they were added in.
        #expect(decide(r, "POST", "/health") == .methodNotAllowed(["DELETE", "GET", "PUT"], refusal: nil))
    }

    @Test func headIsServedByGet() {
        let r = appRoutes
        #expect(decide(r, "HEAD", "/health") == .matched("health", [:]))
        #expect(decide(r, "HEAD", "/v1/messages") == .methodNotAllowed(["POST"], refusal: nil))
    }

    @Test func parametersCaptureWholeSegments() {
        var r = Router<String>()
        r.add("POST", "/cli/managers/{manager}/get_stats", "stats")
        r.add("GET", "/cli/sessions/{handle}", "describe")
        r.add("POST", "/cli/sessions/{handle}/{method}", "call")
        #expect(decide(r, "POST", "/cli/managers/mgr_1/get_stats", parameters: ["manager"])
            == .matched("stats", ["manager": "mgr_1"]))
        // An empty segment is a value too: the handler, not the router, says it names nothing.
        #expect(decide(r, "POST", "/cli/managers//get_stats", parameters: ["manager"])
            == .matched("stats", ["manager": ""]))
        #expect(decide(r, "GET", "/cli/sessions/cs_a_1", parameters: ["handle"])
            == .matched("describe", ["handle": "cs_a_1"]))
        #expect(decide(r, "POST", "/cli/sessions/cs_a_1/stop", parameters: ["handle", "method"])
            == .matched("call", ["handle": "cs_a_1", "method": "stop"]))
        // A parameter never spans a "/".
        #expect(decide(r, "POST", "/cli/managers/a/b/get_stats") == .notFound)
        #expect(decide(r, "POST", "/cli/sessions/h/stop/") == .notFound)
        #expect(decide(r, "POST", "/cli/managers/m/get_stats2") == .notFound)
        #expect(decide(r, "POST", "/cli/sessions") == .notFound)
    }

    @Test func literalSegmentsWinOverParameters() {
        // Added in both orders: the result must not depend on it.
        for literalFirst in [true, false] {
            var r = Router<String>()
            if literalFirst { r.add("POST", "/cli/sessions/{handle}/stop", "stop") }
            r.add("POST", "/cli/sessions/{handle}/{method}", "any")
            r.add("POST", "/cli/{kind}/all/{method}", "kind")
            if !literalFirst { r.add("POST", "/cli/sessions/{handle}/stop", "stop") }
            #expect(decide(r, "POST", "/cli/sessions/h/stop") == .matched("stop", [:]))
            #expect(decide(r, "POST", "/cli/sessions/h/start_task") == .matched("any", [:]))
            // The leftmost difference decides: "sessions" is literal in the first two patterns.
            #expect(decide(r, "POST", "/cli/sessions/all/x") == .matched("any", [:]))
            #expect(decide(r, "POST", "/cli/managers/all/x") == .matched("kind", [:]))
        }
        var r = Router<String>()
        r.add("GET", "/a/{x}", "param")
        r.add("GET", "/a/b", "literal")
        #expect(decide(r, "GET", "/a/b") == .matched("literal", [:]))
        #expect(decide(r, "GET", "/a/c") == .matched("param", [:]))
        // The more specific path decides even when only the other serves the method.
        #expect(decide(r, "POST", "/a/b") == .methodNotAllowed(["GET"], refusal: nil))
    }

    @Test func addingAgainReplacesTheHandler() {
        var r = appRoutes
        r.add("POST", "/stop", "unavailable")
        r.add("POST", "/stop", "stop all")
        #expect(decide(r, "POST", "/stop") == .matched("stop all", [:]))
        #expect(decide(r, "GET", "/stop") == .methodNotAllowed(["POST"], refusal: nil))
        r.add("GET", "/x/{a}", "first")
        r.add("GET", "/x/{a}", "second")
        #expect(decide(r, "GET", "/x/1") == .matched("second", [:]))
        #expect(r.table.filter { $0.pattern == "/stop" }.map(\.methods) == [["POST"]])
    }

    @Test func aRouteMayAnswerOtherMethodsItself() {
        var r = Router<String>()
        r.add("POST", "/store/get_tree", "get_tree")
        r.refuseOtherMethods("/store/get_tree", with: "use POST")
        r.add("GET", "/cli/sessions/{handle}", "describe")
        r.refuseOtherMethods("/cli/sessions/{handle}", with: "use GET")
        #expect(decide(r, "GET", "/store/get_tree") == .methodNotAllowed(["POST"], refusal: "use POST"))
        #expect(decide(r, "HEAD", "/store/get_tree") == .methodNotAllowed(["POST"], refusal: "use POST"))
        #expect(decide(r, "POST", "/cli/sessions/h") == .methodNotAllowed(["GET"], refusal: "use GET"))
        guard case .methodNotAllowed(_, "use GET"?, let parameters) = r.resolve(method: "DELETE", path: "/cli/sessions/cs_9") else {
            Issue.record("expected the route's refusal")
            return
        }
        #expect(parameters["handle"] == "cs_9")
        // Paths the route does not match are still 404.
        #expect(decide(r, "GET", "/store/no_such_method") == .notFound)
    }

    /// Metrics label a request with the pattern it matched, never the path a client sent.
    @Test func theMatchedPatternIsReported() {
        var r = appRoutes
        r.add("GET", "/v1/models/{id}", "model")
        func pattern(_ method: String, _ path: String) -> String? {
            switch r.resolve(method: method, path: path) {
            case .matched(_, let parameters), .methodNotAllowed(_, _, let parameters): parameters.pattern
            case .notFound: nil
            }
        }
        #expect(pattern("GET", "/v1/models/claude-opus") == "/v1/models/{id}")
        #expect(pattern("GET", "/health") == "/health")
        #expect(pattern("GET", "/v1/messages") == "/v1/messages")
        #expect(pattern("DELETE", "/v1/models/x") == "/v1/models/{id}")
        #expect(pattern("GET", "/v1/nothing") == nil)
    }

    @Test func tableListsRoutesInOrder() {
        var r = appRoutes
        r.add("GET", "/v1/messages", "get")
        #expect(r.table.map(\.pattern) == ["/", "/health", "/v1/messages", "/v1/messages/count_tokens"])
        #expect(r.table.map(\.methods) == [["GET"], ["GET"], ["POST", "GET"], ["POST"]])
    }
}
