import AnthropicAPI
import EventLoop
import JSON
import ProxyConfig
import App
import TestSupport
import Testing

/// Runs the app on 127.0.0.1:0, performs `requests` one after another over fresh
/// connections, shuts down, and checks that the loop closed with no handle left.
func withApp(
    settings: Settings = Settings(), middleware: [Middleware] = [], configure: (ProxyApp) -> Void = { _ in },
    sourceLocation: SourceLocation = #_sourceLocation,
    _ requests: [(method: String, path: String, body: String)],
    check: @escaping ([TestResponse?]) -> Void
) throws {
    var settings = settings
    settings.http.host = "127.0.0.1"
    settings.http.port = 0
    var results: [TestResponse?] = []
    var keepAlive: ProxyApp?
    let run = try runLoop { loop in
        let app = ProxyApp(loop: loop, settings: settings, log: .silent, middleware: middleware)
        keepAlive = app
        configure(app)
        let port = try app.start()
        func next(_ i: Int) {
            guard i < requests.count else {
                app.shutdown(timeout: .seconds(1)) {}
                return
            }
            let r = requests[i]
            LoopHTTPClient.fetch(
                loop, port: port, method: r.method, path: r.path,
                headers: [("Content-Type", "application/json")], body: Array(r.body.utf8)
            ) { response in
                results.append(response)
                next(i + 1)
            }
        }
        next(0)
    }
    withExtendedLifetime(keepAlive) {}
    run.expectClean(sourceLocation: sourceLocation)
    #expect(results.count == requests.count, sourceLocation: sourceLocation)
    check(results)
}

func errorType(_ r: TestResponse?) -> String? { r?.json?["error"]?["type"]?.stringValue }
func firstText(_ r: TestResponse?) -> String? { r?.json?["content"]?.arrayValue?.first?["text"]?.stringValue }

@Suite(.serialized) struct RouteTests {
    @Test func rootAndHealth() throws {
        try withApp([("GET", "/", ""), ("GET", "/health", "")]) { r in
            #expect(r[0]?.status == 200)
            #expect(r[0]?.json == (try? JSONValue.parse(#"{"status":"ok","provider":"nvidia_nim","model":"moonshotai/kimi-k2-thinking"}"#)))
            #expect(r[1]?.status == 200)
            #expect(r[1]?.json?["status"] == "healthy")
        }
    }

    @Test func quotaProbeIsAnsweredLocally() throws {
        let body = #"{"model":"claude-3-sonnet","max_tokens":1,"messages":[{"role":"user","content":"quota check"}]}"#
        try withApp([("POST", "/v1/messages", body)]) { r in
            let json = r[0]?.json
            #expect(r[0]?.status == 200)
            #expect(r[0]?.header("content-type") == "application/json")
            #expect(json?["content"] == (try? JSONValue.parse(#"[{"type":"text","text":"Quota check passed."}]"#)))
            #expect(json?["usage"] == (try? JSONValue.parse(#"{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}"#)))
            #expect(json?["model"] == "moonshotai/kimi-k2-thinking")
            #expect(json?["id"]?.stringValue?.hasPrefix("msg_") == true)
            #expect(json?["role"] == "assistant")
            #expect(json?["type"] == "message")
            #expect(json?["stop_reason"] == "end_turn")
            #expect(json?["stop_sequence"] == .null)
        }
    }

    @Test func prefixDetectionTitleSuggestionAndFilepaths() throws {
        let prefix = #"{"model":"claude-3-haiku","max_tokens":100,"messages":[{"role":"user","content":"<policy_spec>rules</policy_spec>\nCommand: git commit -m \"x\""}]}"#
        let title = #"{"model":"claude-3-haiku","max_tokens":100,"messages":[{"role":"user","content":"Please write a 5-10 word title for this"}]}"#
        let suggestion = #"{"model":"claude-3-haiku","max_tokens":100,"messages":[{"role":"user","content":"[SUGGESTION MODE: next]"}]}"#
        let filepaths = #"{"model":"claude-3-haiku","max_tokens":100,"messages":[{"role":"user","content":"Extract filepaths.\nCommand: cat a.txt b.txt\nOutput: hello"}]}"#
        try withApp([
            ("POST", "/v1/messages?beta=true", prefix), ("POST", "/v1/messages", title),
            ("POST", "/v1/messages", suggestion), ("POST", "/v1/messages", filepaths),
        ]) { r in
            #expect(firstText(r[0]) == "git commit")
            #expect(r[0]?.json?["usage"]?["input_tokens"] == 100)
            #expect(firstText(r[1]) == "Conversation")
            #expect(firstText(r[2]) == "")
            #expect(r[2]?.json?["usage"]?["output_tokens"] == 1)
            #expect(firstText(r[3]) == "<filepaths>\na.txt\nb.txt\n</filepaths>")
            #expect(r[3]?.json?["usage"]?["output_tokens"] == 10)
        }
    }

    @Test func switchedOffFastPathGoesUpstream() throws {
        var settings = Settings()
        settings.localAnswers.networkProbeMock = false
        let body = #"{"model":"claude-3-sonnet","max_tokens":1,"messages":[{"role":"user","content":"quota"}]}"#
        try withApp(settings: settings, [("POST", "/v1/messages", body)]) { r in
            // No streamer configured in this test: the request reached the streaming path.
            #expect(r[0]?.status == 501)
            #expect(errorType(r[0]) == "api_error")
        }
    }

    @Test func countTokens() throws {
        try withApp([
            ("POST", "/v1/messages/count_tokens", #"{"model":"claude-3-sonnet","messages":[{"role":"user","content":"hello"}]}"#),
            ("POST", "/v1/messages/count_tokens?beta=true", #"{"model":"x","messages":[],"system":"You are helpful.","tools":[{"name":"t","input_schema":{"type":"object"}}]}"#),
        ]) { r in
            #expect(r[0]?.json == (try? JSONValue.parse(#"{"input_tokens":5}"#)))
            // tiktoken: "You are helpful." = 4 tokens, + 4 for the system block;
            // "t{\"type\": \"object\"}" = 7 tokens, + 5 per tool.
            #expect(r[1]?.json?["input_tokens"] == 20)
        }
    }

    /// The seven recorded Claude Code requests: accepted by both endpoints, counted as the
    /// reference counts them (numbers from running the reference's own function).
    @Test func claudeCodeFixturesAreAcceptedAndCounted() throws {
        let expected = [
            "reasoning-1-system-role-message": 11309, "reasoning-2-after-422": 11375,
            "text-1-system-role-message": 11307, "text-2-after-422": 11373,
            "tool-1-system-role-message": 11308, "tool-2-after-422": 11374, "tool-3-tool-result": 11493,
        ]
        var requests: [(method: String, path: String, body: String)] = []
        let names = expected.keys.sorted()
        for name in names {
            let file = try Fixture.bytes("claude-cli-2.1.332/\(name).json", in: .shared)
            let body = try #require(try JSONValue.parse(file)["body"]).compactString()
            requests.append(("POST", "/v1/messages/count_tokens", body))
            requests.append(("POST", "/v1/messages?beta=true", body))
        }
        try withApp(requests) { r in
            for (i, name) in names.enumerated() {
                #expect(r[2 * i]?.json?["input_tokens"]?.intValue == expected[name], "\(name)")
                // Accepted: it reached the streaming path (501 without an upstream in this test).
                #expect(r[2 * i + 1]?.status == 501, "\(name)")
            }
        }
    }

    @Test func invalidRequestsGetAnthropicErrors() throws {
        try withApp([
            ("POST", "/v1/messages", "{bad json"),
            ("POST", "/v1/messages", #"{"messages":[]}"#),
            ("POST", "/v1/messages", #"{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result"}]}]}"#),
            ("POST", "/v1/messages/count_tokens", #"[1,2]"#),
            ("POST", "/v1/messages", #"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#),
        ]) { r in
            for response in r {
                #expect(response?.status == 400)
                #expect(errorType(response) == "invalid_request_error")
                #expect(response?.json?["type"] == "error")
            }
            #expect(r[0]?.json?["error"]?["message"]?.stringValue?.contains("byte 1") == true)
            #expect(r[1]?.json?["error"]?["message"]?.stringValue?.contains("model") == true)
            #expect(r[2]?.json?["error"]?["message"]?.stringValue?.contains("messages.0.content.0.tool_use_id") == true)
        }
    }

    /// An empty conversation is refused before any upstream call (no streamer here would answer
    /// 501); `count_tokens` still counts it, as the reference does.
    @Test func emptyMessagesAreRefusedButCounted() throws {
        try withApp([
            ("POST", "/v1/messages", #"{"model":"claude-3-sonnet","max_tokens":10,"messages":[]}"#),
            ("POST", "/v1/messages?beta=true", #"{"model":"claude-3-sonnet","max_tokens":1,"stream":true,"messages":[],"system":"quota"}"#),
            ("POST", "/v1/messages/count_tokens", #"{"model":"claude-3-sonnet","messages":[]}"#),
        ]) { r in
            for response in r.prefix(2) {
                #expect(response?.status == 400)
                #expect(errorType(response) == "invalid_request_error")
                #expect(response?.json?["error"]?["message"] == "messages: at least one message is required")
            }
            #expect(r[2]?.status == 200)
            #expect(r[2]?.json?["input_tokens"]?.intValue == 1)
        }
    }

    @Test func unknownPathAndWrongMethod() throws {
        try withApp([("GET", "/nope", ""), ("GET", "/v1/messages", ""), ("DELETE", "/health", "")]) { r in
            #expect(r[0]?.status == 404)
            #expect(errorType(r[0]) == "not_found_error")
            #expect(r[1]?.status == 405)
            #expect(r[1]?.header("allow") == "POST")
            #expect(errorType(r[1]) == "invalid_request_error")
            #expect(r[2]?.status == 405)
            #expect(r[2]?.header("allow") == "GET")
        }
    }

    /// The steps run in their order for every request, known path or not; the first refusal answers
    /// and nothing after it (no later step, no route) runs.
    @Test func middlewareRunsInOrderAndARefusalEndsTheRequest() throws {
        var seen: [String] = []
        let record = Middleware("record") { request in
            seen.append("record " + request.path)
            return .pass
        }
        let teapot = Middleware("refuse /health") { request in
            seen.append("refuse? " + request.path)
            return request.path == "/health" ? .refuse(APIError(status: 418, type: "invalid_request_error", message: "no")) : .pass
        }
        let after = Middleware("after") { request in
            seen.append("after " + request.path)
            return .pass
        }
        var routed: [String] = []
        try withApp(middleware: [record, teapot, after], configure: { app in
            app.register("GET", "/x/{name}") { request, parameters, responder in
                routed.append(parameters["name"])
                responder.respondJSON(status: 200, body: .string(parameters["name"]))
            }
        }, [("GET", "/health", ""), ("GET", "/x/abc", ""), ("GET", "/nope", "")]) { r in
            #expect(r.map { $0?.status } == [418, 200, 404])
            #expect(r[0]?.json?["error"]?["message"] == "no")
            #expect(r[1]?.json == "abc")
        }
        #expect(seen == [
            "record /health", "refuse? /health",
            "record /x/abc", "refuse? /x/abc", "after /x/abc",
            "record /nope", "refuse? /nope", "after /nope",
        ])
        #expect(routed == ["abc"])
    }

    @Test func stopWithoutCLIManagerAnswers503LikeTheReference() throws {
        try withApp([("POST", "/stop", "")]) { r in
            #expect(r[0]?.status == 503)
            #expect(r[0]?.json == (try? JSONValue.parse(#"{"detail":"Messaging system not initialized"}"#)))
        }
    }

    @Test func oversizedBodyGets413InAnthropicShape() throws {
        var settings = Settings()
        settings.http.maxRequestBodyBytes = 1000
        let big = #"{"model":"m","messages":[{"role":"user","content":""# + String(repeating: "a", count: 2000) + #""}]}"#
        try withApp(settings: settings, [("POST", "/v1/messages", big)]) { r in
            #expect(r[0]?.status == 413)
            #expect(errorType(r[0]) == "request_too_large")
        }
    }

    /// Large bodies are decoded and counted on a worker thread; the answer is the same.
    @Test func largeBodyIsCountedOffTheLoop() throws {
        let text = String(repeating: "hello world ", count: 40_000)
        let body = #"{"model":"m","messages":[{"role":"user","content":""# + text + #""}]}"#
        var onLoop: Int?
        try withApp([("POST", "/v1/messages/count_tokens", body)]) { r in
            onLoop = r[0]?.json?["input_tokens"]?.intValue
        }
        var offLoop: Int?
        try withApp(configure: { $0.offLoopBodyBytes = 1024 }, [("POST", "/v1/messages/count_tokens", body)]) { r in
            offLoop = r[0]?.json?["input_tokens"]?.intValue
        }
        // tiktoken counts "hello world " x 40000 as 80001 tokens; + 4 for the message.
        #expect(onLoop == 80_005)
        #expect(offLoop == onLoop)
    }
}
