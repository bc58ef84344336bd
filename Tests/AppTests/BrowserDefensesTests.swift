import AnthropicAPI
import App
import HTTPServer
import Testing

/// The Host, Origin and Content-Type decisions, from request values alone.
@Suite struct BrowserDefensesTests {
    @Test func loopbackHostNames() {
        for host in ["localhost", "LocalHost", "127.0.0.1", "[::1]", "localhost:8082", "127.0.0.1:1", "[::1]:65535",
                     "localhost:", "LOCALHOST:1", "[::1]:"] {
            #expect(BrowserDefenses.isLoopbackHostHeader(host), "\(host)")
        }
        for host in ["evil.example", "evil.example:8082", "127.0.0.2", "127.0.0.1.", "localhost.", "[::1", "[::2]:1",
                     "::1", "127.0.0.1:80x", "127.0.0.1:8082:1", "localhost.evil.example", "", "0.0.0.0:8082",
                     "127.0.0.1@evil.example", "[::1]x", "[::1]:1:2", "lo\u{63}alhost\u{301}", "localhosT\u{0}"] {
            #expect(!BrowserDefenses.isLoopbackHostHeader(host), "\(host)")
        }
    }

    @Test func ownOriginsOnly() {
        for origin in ["http://localhost:8082", "http://127.0.0.1:8082", "http://[::1]:8082"] {
            #expect(BrowserDefenses.isOwnOrigin(origin, port: 8082), "\(origin)")
        }
        for origin in ["null", "", "http://localhost:8083", "https://localhost:8082", "http://evil.example",
                       "http://localhost", "http://127.0.0.1:8082/", "HTTP://localhost:8082", "http://localhost:08082"] {
            #expect(!BrowserDefenses.isOwnOrigin(origin, port: 8082), "\(origin)")
        }
        // Browsers leave the scheme's default port out of an origin.
        #expect(BrowserDefenses.isOwnOrigin("http://localhost", port: 80))
    }

    func refusal(_ headers: [(name: String, value: String)], token: Bool = false) -> Int? {
        let request = HTTPRequest(method: "POST", target: "/v1/messages", headers: headers)
        return BrowserDefenses.loopbackRefusal(request, port: 8082, carriesToken: token)?.status
    }

    @Test func hostThenOrigin() {
        #expect(refusal([]) == nil)
        #expect(refusal([("Host", "127.0.0.1:8082")]) == nil)
        #expect(refusal([("Host", "evil.example:8082")]) == 403)
        // A token does not make a foreign Host acceptable: the request still came through a rebinding.
        #expect(refusal([("Host", "evil.example:8082")], token: true) == 403)
        // Every Host line counts, not only the first.
        #expect(refusal([("Host", "localhost"), ("host", "evil.example")]) == 403)
        #expect(refusal([("Host", "localhost"), ("Origin", "http://localhost:8082")]) == nil)
        #expect(refusal([("Host", "localhost"), ("Origin", "https://evil.example")]) == 403)
        #expect(refusal([("Host", "localhost"), ("Origin", "null")]) == 403)
        #expect(refusal([("Host", "localhost"), ("origin", "http://localhost:9999")]) == 403)
        #expect(refusal([("Host", "localhost"), ("Origin", "https://evil.example")], token: true) == nil)
        let request = HTTPRequest(method: "POST", target: "/", headers: [("Origin", "null")])
        let error = BrowserDefenses.loopbackRefusal(request, port: 8082, carriesToken: false)
        #expect(error?.type == "permission_error")
        #expect(error?.message.contains("Origin 'null'") == true)
    }

    @Test func theStepAppliesOnLoopbackOnlyAndReadsThePortWhenAsked() {
        let credentials = Credentials(operatorToken: "op", cliToken: "cli")
        let foreign = HTTPRequest(method: "GET", target: "/health", headers: [("Host", "evil.example")])
        func decide(_ listening: ListeningAddress, _ request: HTTPRequest) -> Int? {
            if case .refuse(let error) = BrowserDefenses.hostAndOrigin(listening: listening, credentials: credentials)
                .inspect(request) {
                return error.status
            }
            return nil
        }
        #expect(decide(ListeningAddress(host: "127.0.0.1"), foreign) == 403)
        #expect(decide(ListeningAddress(host: "0.0.0.0"), foreign) == nil)
        let listening = ListeningAddress(host: "127.0.0.1")
        let page = HTTPRequest(method: "GET", target: "/health", headers: [("Origin", "http://127.0.0.1:4321")])
        #expect(decide(listening, page) == 403)
        listening.port = 4321
        #expect(decide(listening, page) == nil)
        let withCLIToken = HTTPRequest(method: "GET", target: "/health",
                                       headers: [("Origin", "https://evil.example"), ("x-api-key", "cli")])
        #expect(decide(listening, withCLIToken) == nil)
    }

    @Test func jsonContentTypes() {
        for value in ["application/json", "Application/JSON", "application/json; charset=utf-8", " application/json ",
                      "application/vnd.api+json", "APPLICATION/VND.API+JSON", "\tapplication/json\t;x", "application/+json"] {
            #expect(BrowserDefenses.isJSONContentType(value), "\(value)")
        }
        for value in ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
                      "multipart/form-data; boundary=x", "", "application/jsonx", "text/json+plain", "json",
                      "application/", "application/json+", "application/xjson", "applicatio/json", "application/abcd", "application/jso", "application/js\u{f3}n"] {
            #expect(!BrowserDefenses.isJSONContentType(value), "\(value)")
        }
    }

    @Test func declaredNonJSONBodiesGet415() {
        func status(_ method: String, _ headers: [(name: String, value: String)]) -> Int? {
            BrowserDefenses.contentTypeRefusal(HTTPRequest(method: method, target: "/v1/messages", headers: headers))?.status
        }
        #expect(status("POST", []) == nil)
        #expect(status("POST", [("Content-Type", "application/json")]) == nil)
        #expect(status("POST", [("Content-Type", "text/plain")]) == 415)
        #expect(status("POST", [("content-type", "application/x-www-form-urlencoded")]) == 415)
        #expect(status("GET", [("Content-Type", "text/plain")]) == nil)
        let error = BrowserDefenses.contentTypeRefusal(
            HTTPRequest(method: "POST", target: "/", headers: [("Content-Type", "text/plain")]))
        #expect(error?.type == "invalid_request_error")
        #expect(error?.message.contains("Content-Type: application/json") == true)
    }
}
