import BotAPI
import AnthropicAPI
import HTTPServer
import JSON
import App
import TestSupport
import Testing

/// Which answer each kind of path gets, and in which order the checks apply (access control before
/// routing: 403 before 405 and 404 on the bot endpoints).
@Suite(.serialized) struct EndpointRoutingTests {
    func message(_ r: TestResponse?) -> String? { r?.json?["error"]?["message"]?.stringValue }

    func routeTable() throws -> [(pattern: String, methods: [String])] {
        let dir = makeTempDirectory()
        var table: [(pattern: String, methods: [String])] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            table = h.app.routeTable
            h.finish()
        }
        return table
    }

    @Test func everyRouteIsDeclaredOnceWithItsMethods() throws {
        let table = try routeTable()
        let store = [
            "record_message_id", "get_message_ids_for_chat", "clear_all", "save_tree", "get_tree",
            "get_tree_root_for_node", "register_node", "get_all_trees", "get_node_mapping",
            "sync_from_tree_data", "cleanup_old_trees", "flush_pending_save",
        ]
        let manager = [
            "get_or_create_session", "register_real_session_id", "get_real_session_id", "remove_session",
            "stop_all", "get_stats",
        ]
        var expected: [(String, [String])] = [
            ("/", ["GET"]), ("/health", ["GET"]), ("/v1/messages", ["POST"]), ("/v1/messages/count_tokens", ["POST"]),
            ("/api/hello", ["GET"]), ("/v1/models", ["GET"]), ("/v1/models/{id}", ["GET"]), ("/v1/models/{owner}/{name}", ["GET"]),
            ("/metrics", ["GET"]), ("/stop", ["POST"]),
        ]
        expected += store.map { ("/store/" + $0, ["POST"]) }
        expected.append(("/cli/managers", ["POST"]))
        expected += manager.map { ("/cli/managers/{manager}/" + $0, ["POST"]) }
        expected += [
            ("/cli/sessions/{handle}", ["GET"]), ("/cli/sessions/{handle}/start_task", ["POST"]),
            ("/cli/sessions/{handle}/stop", ["POST"]),
        ]
        #expect(table.map(\.pattern) == expected.map(\.0))
        #expect(table.map(\.methods) == expected.map(\.1))
    }

    @Test func botCallsNameTheMethodToUse() throws {
        let r = try Harness.responses(workspace: makeTempDirectory(), [
            ("GET", "/store/get_all_trees", ""),
            ("POST", "/cli/sessions/cs_x_1", ""),
            ("PUT", "/cli/managers", ""),
            ("GET", "/stop", ""),
            ("POST", "/store/no_such_method", "{}"),
            ("POST", "/store/get_all_trees/", ""),
            ("POST", "/cli/managers/", ""),
            ("POST", "/cli/managers/mgr_x/no_such_method", ""),
            ("POST", "/cli/managers//get_stats", ""),
            ("POST", "/cli/sessions/cs_x_1/", ""),
            ("GET", "/cli/sessions/cs_x_1", ""),
        ])
        #expect(r.map { $0?.status } == [405, 405, 405, 405, 404, 404, 404, 404, 404, 404, 404])
        // The bot endpoints' 405 says which method to use instead of an `Allow` header.
        #expect(message(r[0]) == "Method Not Allowed: GET /store/get_all_trees (use POST)")
        #expect(r[0]?.header("allow") == nil)
        #expect(errorType(r[0]) == "invalid_request_error")
        #expect(message(r[1]) == "Method Not Allowed: POST /cli/sessions/cs_x_1 (use GET)")
        #expect(message(r[2]) == "Method Not Allowed: PUT /cli/managers (use POST)")
        // `/stop` answers like the Anthropic routes.
        #expect(message(r[3]) == "Method Not Allowed: GET /stop")
        #expect(r[3]?.header("allow") == "POST")
        #expect(message(r[4]) == "Not Found: POST /store/no_such_method")
        #expect(errorType(r[4]) == "not_found_error")
        #expect(message(r[7]) == "Not Found: POST /cli/managers/mgr_x/no_such_method")
        #expect(message(r[8]) == "Unknown CLI session manager:  (open it with POST /cli/managers)")
        #expect(message(r[10])?.hasPrefix("Unknown CLI session handle: cs_x_1") == true)
    }

    @Test func aClosedBotAPIRefusesEveryPathUnderItBeforeTheMethodCheck() throws {
        let r = try Harness.responses(workspace: makeTempDirectory(), configure: { $0.http.authToken = nil }, [
            ("GET", "/store/get_all_trees", ""),
            ("GET", "/cli/sessions/cs_x_1", ""),
            ("POST", "/cli/sessions/cs_x_1", ""),
            ("POST", "/store/no_such_method", ""),
            ("POST", "/cli/managers/mgr_x/no_such_method", ""),
            ("GET", "/stop", ""),
            ("POST", "/v1/messages", "{}"),
        ])
        #expect(r.map { $0?.status } == [403, 403, 403, 403, 403, 403, 400])
        #expect(errorType(r[0]) == "permission_error")
    }

    /// Access control decides from the path before routing: every route the bot API adds must be
    /// under the paths it guards, or it would be open without a token.
    @Test func everyBotRouteIsUnderTheGuardedPaths() throws {
        let table = try routeTable()
        let anthropic: Set<String> = [
            "/", "/health", "/v1/messages", "/v1/messages/count_tokens", "/api/hello", "/v1/models",
            "/v1/models/{id}", "/v1/models/{owner}/{name}",
        ]
        for route in table where !anthropic.contains(route.pattern) && !AccessControl.operatorOnlyPaths.contains(route.pattern) {
            #expect(AccessControl.isBotPath(route.pattern), "\(route.pattern)")
        }
        #expect(AccessControl.operatorOnlyPaths.allSatisfy { path in table.contains { $0.pattern == path } && !AccessControl.isBotPath(path) })
        for pattern in anthropic {
            #expect(!AccessControl.isBotPath(pattern))
        }
    }

    @Test func withATokenEvenUnknownPathsNeedIt() throws {
        let dir = makeTempDirectory()
        var r: [TestResponse?] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir) { $0.http.authToken = "tok" }
            let noToken = [("Content-Type", "application/json")]
            h.call("GET", "/nope", headers: noToken) { a in
                h.call("GET", "/nope") { b in
                    r = [a, b]
                    h.finish()
                }
            }
        }
        #expect(r.map { $0?.status } == [401, 404])
        #expect(errorType(r[0]) == "authentication_error")
    }

    @Test func tokenCheckDecidesFromTheHeadersAlone() {
        func decision(_ token: String?, _ headers: [(name: String, value: String)], path: String = "/v1/messages") -> String {
            let request = HTTPRequest(method: "POST", target: path, headers: headers)
            let credentials = Credentials(operatorToken: token, cliToken: "cli-1")
            switch AccessControl.tokenCheck(credentials).inspect(request) {
            case .pass: return "pass"
            case .refuse(let error): return "\(error.status) \(error.type)"
            }
        }
        #expect(decision(nil, []) == "pass")
        #expect(decision("", []) == "pass")
        #expect(decision(nil, [], path: "/store/get_all_trees") == "403 permission_error")
        #expect(decision("t1", []) == "401 authentication_error")
        #expect(decision("t1", [("X-Api-Key", "t1")]) == "pass")
        #expect(decision("t1", [("x-api-key", "t2")]) == "401 authentication_error")
        #expect(decision("t1", [("Authorization", "Bearer t1")]) == "pass")
        #expect(decision("t1", [("Authorization", "Basic t1")]) == "401 authentication_error")
        // Either header may carry it.
        #expect(decision("t1", [("x-api-key", "wrong"), ("authorization", "bearer t1")]) == "pass")
        // The CLI token: the Anthropic endpoints, never the bot API.
        #expect(decision("t1", [("x-api-key", "cli-1")]) == "pass")
        #expect(decision("t1", [("x-api-key", "cli-1")], path: "/cli/managers") == "403 permission_error")
        #expect(decision("t1", [("x-api-key", "t1")], path: "/cli/managers") == "pass")
    }
}
