import JSON
import Testing
@testable import StreamTranslation

// tests/test_error_mapping.py, with the statuses and types of issue 11's table: the
// reference's mapping (every 5xx a 500 `api_error`, other 4xx keeping their code, the OpenAI
// client's `Error code: ... - {...}` text) gave way to Anthropic's.

@Suite struct ErrorMappingTests {
    let body = "{\"error\": {\"message\": \"test error\"}}"

    @Test func authentication() {
        let e = mapUpstreamError(status: 401, body: body, transport: nil)
        #expect(e == UpstreamError(type: .authentication, status: 401, message: "Upstream error 401: test error"))
        #expect(!e.fallbackMayHelp)
    }

    @Test func rateLimitBlocksSixtySeconds() {
        let e = mapUpstreamError(status: 429, body: body, transport: nil)
        #expect(e.type == .rateLimit && e.status == 429 && e.rateLimitBlock == .seconds(60))
        #expect(e.fallbackMayHelp)
    }

    @Test func badRequest() {
        let e = mapUpstreamError(status: 400, body: body, transport: nil)
        #expect(e.type == .invalidRequest && e.status == 400)
        #expect(e.rateLimitBlock == nil && !e.fallbackMayHelp && e.completionBudget == nil)
    }

    @Test(arguments: ["Server overloaded", "No capacity available"])
    func serverErrorOverloaded(message: String) {
        for status in [500, 502] {
            let e = mapUpstreamError(status: status, body: "{\"error\": {\"message\": \"\(message)\"}}", transport: nil)
            #expect(e.type == .overloaded && e.status == 529 && e.fallbackMayHelp)
        }
    }

    @Test func serverErrorGeneric() {
        let e = mapUpstreamError(status: 500, body: "{\"error\": {\"message\": \"Unknown error\"}}", transport: nil)
        #expect(e == UpstreamError(type: .api, status: 500, message: "Upstream error 500: Unknown error"))
        #expect(e.fallbackMayHelp)
    }

    /// The table of issue 11: upstream status to the type and status the client gets.
    @Test(arguments: [
        (400, AnthropicErrorType.invalidRequest, 400), (401, .authentication, 401), (402, .invalidRequest, 400),
        (403, .permission, 403), (404, .notFound, 404), (405, .invalidRequest, 400), (408, .timeout, 504),
        (409, .invalidRequest, 400), (413, .requestTooLarge, 413), (418, .invalidRequest, 400),
        (422, .invalidRequest, 400), (429, .rateLimit, 429), (500, .api, 500), (501, .api, 500), (502, .api, 500),
        (503, .overloaded, 529), (504, .timeout, 504), (520, .api, 500), (522, .timeout, 504), (524, .timeout, 504),
        (529, .overloaded, 529), (302, .api, 500),
    ])
    func theStatusTable(upstream: Int, type: AnthropicErrorType, status: Int) {
        let e = mapUpstreamError(status: upstream, body: "", transport: nil)
        #expect(e.type == type && e.status == status)
        #expect(e.status == type.status)
        #expect(e.message == "Upstream error \(upstream) with an empty body")
    }

    @Test func whichFailuresTryAFallback() {
        let tries = [429, 500, 502, 503, 504, 529, 408].filter { mapUpstreamError(status: $0, body: nil, transport: nil).fallbackMayHelp }
        #expect(tries == [429, 500, 502, 503, 504, 529, 408])
        let refused = [400, 401, 403, 404, 413, 422].filter { mapUpstreamError(status: $0, body: nil, transport: nil).fallbackMayHelp }
        #expect(refused == [])
        let tooLong = mapUpstreamError(
            status: 400, body: #"{"error": {"message": "prompt is too long: 5 tokens > 4 maximum"}}"#, transport: nil)
        #expect(!tooLong.fallbackMayHelp)
        #expect(mapUpstreamError(status: nil, body: nil, transport: .connectionFailed).fallbackMayHelp)
        #expect(mapUpstreamError(status: nil, body: nil, transport: .timedOut).fallbackMayHelp)
        #expect(mapUpstreamError(status: 200, body: "<html>", transport: nil, contentType: "text/html").fallbackMayHelp)
    }

    @Test func nonJSONBodyIsShownStrippedAndOnOneLine() {
        #expect(mapUpstreamError(status: 502, body: "  Bad gateway\n", transport: nil).message == "Upstream error 502: Bad gateway")
        #expect(mapUpstreamError(status: 500, body: "Traceback:\n  File x\n\tValueError", transport: nil).message
            == "Upstream error 500: Traceback: File x ValueError")
        #expect(mapUpstreamError(status: 502, body: nil, transport: nil).message == "Upstream error 502 with an empty body")
    }

    /// Where OpenAI-compatible servers put their message.
    @Test(arguments: [
        (#"{"error": {"message": "m1", "type": "invalid_request_error"}}"#, "m1"),
        (#"{"error": "m2"}"#, "m2"),
        (#"{"detail": "m3"}"#, "m3"),
        (#"{"detail": [{"loc": ["body"], "msg": "m4"}, {"msg": "m5"}]}"#, "m4; m5"),
        (#"{"object": "error", "message": "m6", "type": "BadRequestError", "code": 400}"#, "m6"),
        (#"{"type": "about:blank", "status": 404, "title": "Not Found", "detail": "Function 'x': Not found"}"#,
         "Function 'x': Not found"),
        (#"{"status": 404, "title": "Not Found"}"#, "Not Found"),
        (#"{"error": {"message": "Provider returned error", "code": 429, "metadata": {"raw": "busy"}}}"#,
         "Provider returned error: busy"),
        (#"[{"error": {"message": "m7"}}]"#, "m7"),
        (#"{"unexpected": [1, 2]}"#, #"{"unexpected":[1,2]}"#),
        (#""plain""#, #""plain""#),
    ])
    func theUpstreamsOwnMessage(body: String, message: String) {
        #expect(mapUpstreamError(status: 400, body: body, transport: nil).message == "Upstream error 400: \(message)")
    }

    @Test func aLongBodyIsCut() {
        let e = mapUpstreamError(status: 500, body: String(repeating: "x", count: 70_000), transport: nil)
        #expect(e.message == "Upstream error 500: " + String(repeating: "x", count: 500) + "...")
    }

    @Test func htmlPagesGiveTheirTitle() {
        let page = """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>
              502 Bad Gateway &amp; friends</title><style>body { color: red }</style></head>
            <body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>
            """
        let e = mapUpstreamError(status: 502, body: page, transport: nil, contentType: "text/html; charset=utf-8")
        #expect(e == UpstreamError(type: .api, status: 500, message: "Upstream error 502: 502 Bad Gateway & friends"))
    }

    @Test func htmlPagesWithoutATitleGiveTheirFirstText() {
        let page = """
            <html><head><script>var x = "<b>not this</b>";</script></head><!-- nor <this> -->
            <body><center><h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>
            """
        let e = mapUpstreamError(status: 503, body: page, transport: nil)
        #expect(e.message == "Upstream error 503: 503 Service Temporarily Unavailable nginx")
        #expect(e.type == .overloaded && e.status == 529)
        let long = "<p>" + String(repeating: "word ", count: 100) + "</p>"
        #expect(mapUpstreamError(status: 500, body: long, transport: nil, contentType: "text/html").message
            == "Upstream error 500: " + String(repeating: "word ", count: 40).dropLast() + "...")
    }

    @Test func entitiesInPages() {
        #expect(HTMLSummary.decodingEntities("a &lt;b&gt; &#39;c&#x27; &unknown; & d") == "a <b> 'c' &unknown; & d")
    }

    @Test func aSuccessThatIsNotAnEventStream() {
        let portal = "<html><head><title>Hotel WiFi login</title></head><body>Sign in</body></html>"
        let e = mapUpstreamError(status: 200, body: portal, transport: nil, contentType: "text/html")
        #expect(e == UpstreamError(
            type: .api, status: 500,
            message: "The upstream answered 200 with Content-Type text/html instead of an event stream: Hotel WiFi login"))
        let json = mapUpstreamError(
            status: 200, body: #"{"id": "x", "choices": []}"#, transport: nil, contentType: "application/json")
        #expect(json.type == .api && json.status == 500)
        #expect(json.message == #"The upstream answered 200 with Content-Type application/json instead of an event stream: {"id":"x","choices":[]}"#)
    }

    @Test(arguments: [
        ("text/event-stream", true), ("text/event-stream; charset=utf-8", true), (" Text/Event-Stream ;x", true),
        (nil, true), ("", true), ("text/html", false), ("application/json", false), ("text/event-streams", false),
    ] as [(String?, Bool)])
    func eventStreamContentTypes(contentType: String?, isSSE: Bool) {
        #expect(isEventStream(contentType: contentType) == isSSE)
    }

    @Test func transportFailures() {
        #expect(mapUpstreamError(status: nil, body: nil, transport: .timedOut)
            == UpstreamError(type: .timeout, status: 504, message: "Request timed out."))
        #expect(mapUpstreamError(status: nil, body: nil, transport: .streamTimedOut).type == .timeout)
        #expect(mapUpstreamError(status: nil, body: nil, transport: .connectionFailed)
            == UpstreamError(type: .api, status: 500, message: "Connection error."))
        #expect(mapUpstreamError(status: 200, body: nil, transport: .streamInterrupted(detail: nil)).message
            == "peer closed connection without sending complete message body (incomplete chunked read)")
        #expect(mapUpstreamError(status: nil, body: nil, transport: .streamInterrupted(detail: "reset")).message == "reset")
    }

    @Test func errorsInsideTheStream() {
        #expect(UpstreamError.inStream(chunk: ["error": ["message": "boom"]])
            == UpstreamError(type: .api, status: 500, message: "boom"))
        #expect(UpstreamError.inStream(chunk: ["error": ["code": 503, "message": "Model is overloaded"]])
            == UpstreamError(type: .overloaded, status: 529, message: "Upstream error 503: Model is overloaded"))
        let tooLong = UpstreamError.inStream(chunk: ["error": [
            "code": 400, "message": "This model's maximum context length is 8192 tokens. However, your request has 9000 input tokens.",
        ]])
        #expect(tooLong?.message == "prompt is too long: 9000 tokens > 8192 maximum")
        #expect(UpstreamError.inStream(chunk: ["error": ["code": "server_error", "message": "m"]])?.type == .api)
        #expect(UpstreamError.inStream(chunk: ["error": nil, "choices": []]) == nil)
    }

    @Test func anthropicBody() {
        let e = UpstreamError(type: .rateLimit, status: 429, message: "slow down")
        #expect(e.anthropicBody.pythonDumps() == "{\"type\": \"error\", \"error\": {\"type\": \"rate_limit_error\", \"message\": \"slow down\"}}")
    }

    @Test func everyTypeHasAnthropicsStatus() {
        #expect(AnthropicErrorType.allCases.map(\.status) == [400, 401, 403, 404, 413, 429, 500, 504, 529])
        #expect(AnthropicErrorType.allCases.map(\.rawValue) == [
            "invalid_request_error", "authentication_error", "permission_error", "not_found_error", "request_too_large",
            "rate_limit_error", "api_error", "timeout_error", "overloaded_error",
        ])
    }
}
