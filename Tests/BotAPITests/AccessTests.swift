import BotAPI
import EventLoop
import JSON
import TestSupport
import Testing

@Suite(.serialized) struct AccessTests {
    @Test func loopbackDetection() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "LOCALHOST"] {
            #expect(AccessControl.isLoopback(host: host), "\(host)")
        }
        for host in ["0.0.0.0", "::", "192.168.1.2", "127.0.0", "127.0.0.256", "example.com", ""] {
            #expect(!AccessControl.isLoopback(host: host), "\(host)")
        }
        #expect(AccessControl.botEndpointsAllowed(host: "0.0.0.0", token: "t"))
        #expect(!AccessControl.botEndpointsAllowed(host: "0.0.0.0", token: ""))
        #expect(!AccessControl.botEndpointsAllowed(host: "0.0.0.0", token: nil))
        #expect(AccessControl.startupWarning(host: "127.0.0.1", token: nil) == nil)
        #expect(AccessControl.startupWarning(host: "0.0.0.0", token: nil)?.contains("PROXY_AUTH_TOKEN") == true)
        #expect(AccessControl.startupWarning(host: "0.0.0.0", token: "t") != nil)
    }

    @Test func constantTimeComparison() {
        #expect(AccessControl.constantTimeEquals("secret", "secret"))
        #expect(!AccessControl.constantTimeEquals("secret", "secreT"))
        #expect(!AccessControl.constantTimeEquals("secret", "secret2"))
        #expect(!AccessControl.constantTimeEquals("", "x"))
        #expect(AccessControl.constantTimeEquals("", ""))
    }

    @Test func tokenGuardsEveryEndpoint() throws {
        let dir = makeTempDirectory()
        var r: [TestResponse?] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir) { $0.http.authToken = "tok-123" }
            let calls: [(String, String, [(String, String)])] = [
                ("GET", "/health", []),
                ("POST", "/v1/messages/count_tokens", [("x-api-key", "wrong")]),
                ("POST", "/store/get_all_trees", [("Authorization", "Bearer tok-12")]),
                ("GET", "/health", [("x-api-key", "tok-123")]),
                ("POST", "/store/get_all_trees", [("Authorization", "Bearer tok-123")]),
                ("POST", "/store/get_all_trees", [("authorization", "bearer tok-123")]),
                ("POST", "/stop", []),
            ]
            func next(_ i: Int) {
                guard i < calls.count else { return h.finish() }
                h.call(calls[i].0, calls[i].1, "", headers: calls[i].2) { resp in
                    r.append(resp)
                    next(i + 1)
                }
            }
            next(0)
        }
        #expect(r.map { $0?.status } == [401, 401, 401, 200, 200, 200, 401])
        #expect(errorType(r[0]) == "authentication_error")
        #expect(r[0]?.json?["type"] == "error")
    }

    @Test func nonLoopbackWithoutTokenRefusesBotEndpoints() throws {
        let dir = makeTempDirectory()
        var r: [TestResponse?] = []
        try withLoop { loop in
            // Binds every interface; the test still connects over loopback.
            let h = try Harness(loop: loop, workspace: dir) { $0.http.host = "0.0.0.0" }
            #expect(h.api.startupWarning != nil)
            h.sequence([
                ("GET", "/health", ""),
                ("POST", "/store/get_all_trees", ""),
                ("POST", "/cli/managers", managerBody(dir)),
                ("POST", "/stop", ""),
            ]) { out in
                r = out
                h.finish()
            }
        }
        #expect(r.map { $0?.status } == [200, 403, 403, 403])
        #expect(errorType(r[1]) == "permission_error")
        #expect(r[1]?.json?["error"]?["message"]?.stringValue?.contains("PROXY_AUTH_TOKEN") == true)
    }

    @Test func cliInheritsTokenSoItCanCallBack() throws {
        let dir = makeTempDirectory()
        var stream: TestResponse?
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir) { $0.http.authToken = "tok-9" }
            openManager(h) { m in
                h.call("POST", m + "/get_or_create_session") { r in
                    let handle = r?.json?["result"]?["session_handle"]?.stringValue ?? "?"
                    h.call("POST", "/cli/sessions/\(handle)/start_task", #"{"prompt":"print_env"}"#) { s in
                        stream = s
                        h.finish()
                    }
                }
            }
        }
        let lines = ndjsonEvents(stream).compactMap { $0["content"]?.stringValue }
        #expect(lines.contains("env:ANTHROPIC_API_KEY=tok-9"))
        #expect(lines.contains("env:ANTHROPIC_BASE_URL=http://127.0.0.1:8082"))
    }
}
