import App
import BotAPI
import EventLoop
import HTTPServer
import JSON
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct AccessTests {
    func message(_ r: TestResponse?) -> String? { r?.json?["error"]?["message"]?.stringValue }

    @Test func loopbackDetectionAndStartup() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "LOCALHOST"] {
            #expect(ListeningAddress.isLoopback(host: host), "\(host)")
        }
        for host in ["0.0.0.0", "::", "192.168.1.2", "127.0.0", "127.0.0.256", "example.com", ""] {
            #expect(!ListeningAddress.isLoopback(host: host), "\(host)")
        }
        #expect(AccessControl.startupProblem(host: "127.0.0.1", token: nil) == nil)
        #expect(AccessControl.startupProblem(host: "0.0.0.0", token: "t") == nil)
        for token in [nil, ""] as [String?] {
            let problem = AccessControl.startupProblem(host: "0.0.0.0", token: token)
            #expect(problem?.contains("PROXY_AUTH_TOKEN") == true)
            #expect(problem?.contains("0.0.0.0") == true)
        }
        #expect(AccessControl.startupWarning(host: "127.0.0.1", token: "t") == nil)
        #expect(AccessControl.startupWarning(host: "0.0.0.0", token: "t")?.contains("TLS") == true)
    }

    @Test func theServersOwnURLForItsCLIs() {
        #expect(ListeningAddress(host: "127.0.0.1", port: 8082).localURL == "http://127.0.0.1:8082")
        #expect(ListeningAddress(host: "0.0.0.0", port: 1).localURL == "http://127.0.0.1:1")
        #expect(ListeningAddress(host: "localhost", port: 1).localURL == "http://127.0.0.1:1")
        #expect(ListeningAddress(host: "::", port: 1).localURL == "http://[::1]:1")
        #expect(ListeningAddress(host: "::1", port: 1).localURL == "http://[::1]:1")
        #expect(ListeningAddress(host: "[::1]", port: 1).localURL == "http://[::1]:1")
        #expect(ListeningAddress(host: "10.0.0.5", port: 9).localURL == "http://10.0.0.5:9")
    }

    @Test func constantTimeComparison() {
        #expect(Credentials.constantTimeEquals("secret", "secret"))
        #expect(!Credentials.constantTimeEquals("secret", "secreT"))
        #expect(!Credentials.constantTimeEquals("secret", "secret2"))
        #expect(!Credentials.constantTimeEquals("", "x"))
        #expect(Credentials.constantTimeEquals("", ""))
    }

    @Test func cliTokensAreFreshAndLong() throws {
        let a = try #require(Credentials.makeCLIToken())
        let b = try #require(Credentials.makeCLIToken())
        #expect(a != b)
        #expect(a.hasPrefix("nimproxy-cli-") && a.utf8.count == 13 + 64)
    }

    /// Who may call what, as a table: the operator's token opens everything, the CLI token the
    /// Anthropic endpoints only, and without PROXY_AUTH_TOKEN the bot API is closed.
    @Test func refusalTable() {
        func outcome(_ path: String, _ presented: PresentedCredential, _ operatorTokenSet: Bool) -> String {
            guard let error = AccessControl.refusal(path: path, presented: presented, operatorTokenSet: operatorTokenSet) else {
                return "pass"
            }
            return "\(error.status)"
        }
        let anthropic = ["/", "/health", "/v1/messages", "/v1/messages/count_tokens", "/nope", "/stopped", "/cli2"]
        let bot = ["/stop", "/cli", "/cli/managers", "/cli/sessions/x/stop", "/store/get_all_trees", "/store/", "/store/nope"]
        for path in anthropic {
            #expect(outcome(path, .none, false) == "pass", "\(path)")
            #expect(outcome(path, .cliToken, false) == "pass", "\(path)")
            #expect(outcome(path, .none, true) == "401", "\(path)")
            #expect(outcome(path, .cliToken, true) == "pass", "\(path)")
            #expect(outcome(path, .operatorToken, true) == "pass", "\(path)")
        }
        for path in bot {
            #expect(outcome(path, .none, false) == "403", "\(path)")
            #expect(outcome(path, .cliToken, false) == "403", "\(path)")
            #expect(outcome(path, .none, true) == "401", "\(path)")
            #expect(outcome(path, .cliToken, true) == "403", "\(path)")
            #expect(outcome(path, .operatorToken, true) == "pass", "\(path)")
        }
        // Metrics: open like the Anthropic endpoints without a token; with one, the operator's only.
        #expect(outcome("/metrics", .none, false) == "pass")
        #expect(outcome("/metrics", .none, true) == "401")
        #expect(outcome("/metrics", .cliToken, true) == "403")
        #expect(outcome("/metrics", .operatorToken, true) == "pass")
    }

    @Test func credentialsFromEitherHeader() {
        let credentials = Credentials(operatorToken: "op", cliToken: "cli")
        func presented(_ headers: [(name: String, value: String)]) -> PresentedCredential {
            credentials.presented(by: HTTPRequest(method: "POST", target: "/", headers: headers))
        }
        #expect(presented([]) == .none)
        #expect(presented([("x-api-key", "op")]) == .operatorToken)
        #expect(presented([("Authorization", "Bearer cli")]) == .cliToken)
        #expect(presented([("x-api-key", "cli"), ("authorization", "bearer op")]) == .operatorToken)
        #expect(presented([("x-api-key", "opx")]) == .none)
        #expect(presented([("Authorization", "Basic op")]) == .none)
        #expect(presented([("Authorization", "  BEARER   op")]) == .operatorToken)
        #expect(presented([("Authorization", "Bearer ")]) == .none)
        #expect(presented([("Authorization", "Bearer\u{0}op")]) == .none)
        #expect(presented([("Authorization", "Bearerop")]) == .none)
        // Only the first field of each name is read.
        #expect(presented([("x-api-key", "nope"), ("X-Api-Key", "op")]) == .none)
        #expect(presented([("Authorization", "Basic x"), ("Authorization", "Bearer op")]) == .none)
        #expect(Credentials.presentedTokens(HTTPRequest(
            method: "GET", target: "/", headers: [("authorization", "bearer  é"), ("x-api-key", "k")])) == ["k", "é"])
        #expect(Credentials.constantTimeEquals("é", "é"))
        #expect(!Credentials.constantTimeEquals("", "a"))
        // An empty PROXY_AUTH_TOKEN is no token: an empty key does not match it.
        let noOperator = Credentials(operatorToken: "", cliToken: "cli")
        #expect(noOperator.operatorToken == nil)
        #expect(noOperator.presented(by: HTTPRequest(method: "GET", target: "/", headers: [("x-api-key", "")])) == .none)
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

    @Test func withoutATokenTheBotAPIIsClosed() throws {
        let r = try Harness.responses(workspace: makeTempDirectory(), configure: { $0.http.authToken = nil }, [
            ("GET", "/health", ""),
            ("POST", "/store/get_all_trees", ""),
            ("POST", "/cli/managers", #"{"workspace_path":"."}"#),
            ("POST", "/stop", ""),
            ("POST", "/store/no_such_method", ""),
            ("POST", "/v1/messages/count_tokens", #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#),
        ])
        #expect(r.map { $0?.status } == [200, 403, 403, 403, 403, 200])
        #expect(errorType(r[1]) == "permission_error")
        #expect(message(r[1]) == AccessControl.botAPIClosed.message)
        #expect(message(r[1])?.contains("Set PROXY_AUTH_TOKEN") == true)
    }

    @Test func theCLITokenOpensTheAnthropicEndpointsOnly() throws {
        let dir = makeTempDirectory()
        var r: [TestResponse?] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            let asCLI: [(String, String)] = [("Content-Type", "application/json"), ("x-api-key", testCLIToken)]
            let bearer: [(String, String)] = [("Content-Type", "application/json"), ("Authorization", "Bearer " + testCLIToken)]
            let calls: [(String, String, String, [(String, String)])] = [
                ("GET", "/health", "", asCLI),
                ("POST", "/v1/messages/count_tokens", #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, bearer),
                ("POST", "/store/get_all_trees", "", asCLI),
                ("POST", "/cli/managers", managerBody(dir), bearer),
                ("POST", "/stop", "", asCLI),
                ("POST", "/store/get_all_trees", "", h.authHeaders),
            ]
            func next(_ i: Int) {
                guard i < calls.count else { return h.finish() }
                h.call(calls[i].0, calls[i].1, calls[i].2, headers: calls[i].3) { resp in
                    r.append(resp)
                    next(i + 1)
                }
            }
            next(0)
        }
        #expect(r.map { $0?.status } == [200, 200, 403, 403, 403, 200])
        #expect(message(r[2]) == AccessControl.cliTokenRefused.message)
        #expect(errorType(r[3]) == "permission_error")
    }

    @Test func theCLIGetsItsOwnTokenAndThisServersAddress() throws {
        let dir = makeTempDirectory()
        var stream: TestResponse?
        var port = 0
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir) { $0.http.authToken = "tok-9" }
            port = h.port
            // The client names another server; it is ignored.
            let body = #"{"workspace_path":\#(quoted(dir)),"api_url":"http://evil.example:1/v1","allowed_dirs":[]}"#
            openManager(h, body) { m in
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
        #expect(lines.contains("env:ANTHROPIC_API_KEY=\(testCLIToken)"))
        #expect(lines.contains("env:ANTHROPIC_AUTH_TOKEN=\(testCLIToken)"))
        #expect(lines.contains("env:ANTHROPIC_BASE_URL=http://127.0.0.1:\(port)"))
        #expect(lines.contains("env:ANTHROPIC_API_URL=http://127.0.0.1:\(port)/v1"))
        #expect(!lines.contains { $0.contains("tok-9") })
    }

    @Test func workspacesAndAllowedDirsStayInsideAllowedDir() throws {
        let top = makeTempDirectory()
        let root = top + "/root"
        #expect(mkdir(root, 0o755) == 0 && mkdir(root + "/project", 0o755) == 0 && mkdir(top + "/outside", 0o755) == 0)
        #expect(symlink(top + "/outside", root + "/escape") == 0)
        func body(_ workspace: String, _ dirs: [String] = []) -> String {
            let list = dirs.map(quoted).joined(separator: ",")
            return #"{"workspace_path":\#(quoted(workspace)),"api_url":"u","allowed_dirs":[\#(list)]}"#
        }
        let r = try Harness.responses(workspace: top + "/data", configure: { $0.cli.allowedDir = root }, [
            ("POST", "/cli/managers", body(root + "/project", [root, root + "/project/new"])),
            ("POST", "/cli/managers", body(top + "/outside")),
            ("POST", "/cli/managers", body(root + "/../outside")),
            ("POST", "/cli/managers", body(root + "/escape")),
            ("POST", "/cli/managers", body(root, [root + "/escape/sub"])),
            ("POST", "/cli/managers", body(root, ["/etc"])),
            // CLAUDE_WORKSPACE is not ALLOWED_DIR.
            ("POST", "/cli/managers", body(top + "/data")),
        ])
        #expect(r.map { $0?.status } == [200, 403, 403, 403, 403, 403, 403])
        #expect(errorType(r[1]) == "permission_error")
        #expect(message(r[3])?.contains("workspace_path \(root)/escape resolves to \(top)/outside, outside \(root)") == true)
        #expect(message(r[4])?.contains("allowed_dirs") == true)
    }

    @Test func anAllowedDirThatCannotBeMadeRefusesEveryManager() throws {
        let top = makeTempDirectory()
        writeText(top + "/file", "not a directory")
        let r = try Harness.responses(workspace: top + "/data", configure: { $0.cli.allowedDir = top + "/file/sub" }, [
            ("POST", "/cli/managers", #"{"workspace_path":\#(quoted(top + "/file/sub")),"api_url":"u"}"#),
            ("POST", "/store/get_all_trees", ""),
        ])
        #expect(r.map { $0?.status } == [503, 200])
        #expect(message(r[0])?.hasPrefix("CLI sessions are unavailable: ALLOWED_DIR \(top)/file/sub") == true)
    }

    @Test func optionLikeAndControlCharacterIDsAreRefused() throws {
        let dir = makeTempDirectory()
        var r: [TestResponse?] = []
        var handle = "?"
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            openManager(h) { m in
                h.call("POST", m + "/get_or_create_session") { c in
                    handle = c?.json?["result"]?["session_handle"]?.stringValue ?? "?"
                    h.sequence([
                        ("POST", m + "/get_or_create_session", #"{"session_id":"--mcp-config={}"}"#),
                        ("POST", m + "/get_or_create_session", #"{"session_id":"a\nb"}"#),
                        ("POST", m + "/register_real_session_id", #"{"temp_id":"t","real_session_id":"-x"}"#),
                        ("POST", "/cli/sessions/\(handle)/start_task", #"{"prompt":"echo hi","session_id":"-r"}"#),
                        ("POST", "/cli/sessions/\(handle)/start_task", #"{"prompt":"echo \u0000 hi"}"#),
                        ("POST", m + "/get_or_create_session", #"{"session_id":"fine-id_1"}"#),
                    ]) { out in
                        r = out
                        h.finish()
                    }
                }
            }
        }
        #expect(r.map { $0?.status } == [400, 400, 400, 400, 400, 200])
        #expect(message(r[0]) == "get_or_create_session(): argument 'session_id' must not begin with '-'")
        #expect(message(r[1])?.contains("control characters") == true)
        #expect(message(r[4])?.contains("NUL") == true)
    }

    @Test func maxCLISessionsCapsEveryManagerTogether() throws {
        let dir = makeTempDirectory()
        #expect(mkdir(dir + "/b", 0o755) == 0)
        var r: [TestResponse?] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir) { $0.cli.maxSessions = 2 }
            let a = #"{"workspace_path":\#(quoted(dir)),"api_url":"u","max_sessions":10}"#
            let b = #"{"workspace_path":\#(quoted(dir + "/b")),"api_url":"u","max_sessions":10}"#
            openManager(h, a) { ma in
                openManager(h, b) { mb in
                    h.sequence([
                        ("POST", ma + "/get_stats", ""),
                        ("POST", ma + "/get_or_create_session", #"{"session_id":"one"}"#),
                        ("POST", mb + "/get_or_create_session", #"{"session_id":"two"}"#),
                        ("POST", mb + "/get_or_create_session", #"{"session_id":"three"}"#),
                        ("POST", ma + "/get_or_create_session", "{}"),
                        ("POST", ma + "/remove_session", #"{"session_id":"one"}"#),
                        ("POST", mb + "/get_or_create_session", #"{"session_id":"three"}"#),
                    ]) { out in
                        r = out
                        h.finish()
                    }
                }
            }
        }
        #expect(result(r[0])?["max_sessions"] == 2)
        #expect(r.map { $0?.status } == [200, 200, 200, 429, 429, 200, 200])
        #expect(message(r[3]) == "Maximum concurrent sessions (2) reached.")
        #expect(errorType(r[3]) == "rate_limit_error")
        #expect(result(r[6])?["is_new"] == true)
    }
}
