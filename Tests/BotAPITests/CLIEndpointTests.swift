import BotAPI
import EventLoop
import JSON
import TestSupport
import Testing

/// Arguments of the reference's `CLISessionManager(...)`, the CLI running in `workspace`.
func managerBody(_ workspace: String) -> String {
    #"{"workspace_path":\#(quoted(workspace)),"api_url":"http://127.0.0.1:8082/v1","allowed_dirs":[],"max_sessions":2}"#
}

/// Opens the manager and hands its base path (`/cli/managers/<id>`) to `then`.
func openManager(_ h: Harness, _ body: String? = nil, _ then: @escaping (String) -> Void) {
    h.call("POST", "/cli/managers", body ?? managerBody(h.app.settings.cli.workspace)) { r in
        let id = r?.json?["result"]?["manager_id"]?.stringValue ?? "missing"
        then("/cli/managers/" + id)
    }
}

@Suite(.serialized) struct CLIEndpointTests {
    @Test func sessionLifecycleStreamsEventsAndRegistersRealID() throws {
        let dir = makeTempDirectory()
        var created: TestResponse?
        var stream: TestResponse?
        var later: [TestResponse?] = []
        var resumed: TestResponse?
        let prompt = printLines([#"{"type":"system","subtype":"init","session_id":"real-1"}"#, #"{"type":"result","result":"hi"}"#])
            + "; echo oops >&2"
        let resumePrompt = "\(printLines([#"{"type":"resumed"}"#])); print_args \"$@\""
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            openManager(h) { m in
                h.call("POST", m + "/get_or_create_session", "{}") { r in
                    created = r
                    let handle = r?.json?["result"]?["session_handle"]?.stringValue ?? "?"
                    let temp = r?.json?["result"]?["session_id"]?.stringValue ?? "?"
                    h.call("POST", "/cli/sessions/\(handle)/start_task", #"{"prompt":\#(quoted(prompt))}"#) { s in
                        stream = s
                        h.sequence([
                            ("POST", m + "/register_real_session_id", #"{"temp_id":"\#(temp)","real_session_id":"real-1"}"#),
                            ("POST", m + "/get_or_create_session", #"{"session_id":"\#(temp)"}"#),
                            ("POST", m + "/get_real_session_id", #"{"temp_id":"\#(temp)"}"#),
                            ("POST", m + "/get_stats", ""),
                            ("GET", "/cli/sessions/\(handle)", ""),
                            ("POST", m + "/register_real_session_id", #"{"temp_id":"\#(temp)","real_session_id":"x"}"#),
                            ("POST", m + "/get_real_session_id", #"{"temp_id":"nope"}"#),
                        ]) { r in
                            later = r
                            h.call("POST", "/cli/sessions/\(handle)/start_task",
                                   #"{"prompt":\#(quoted(resumePrompt)),"session_id":"real-1","fork_session":true}"#) { s in
                                resumed = s
                                h.sequence([
                                    ("POST", m + "/remove_session", #"{"session_id":"real-1"}"#),
                                    ("POST", m + "/remove_session", #"{"session_id":"real-1"}"#),
                                    ("GET", "/cli/sessions/\(handle)", ""),
                                ]) { r in
                                    later += r
                                    h.finish()
                                }
                            }
                        }
                    }
                }
            }
        }
        let c = try #require(created?.json?["result"])
        #expect(c["is_new"] == true)
        #expect(c["session_id"]?.stringValue?.hasPrefix("pending_") == true)
        #expect(stream?.status == 200)
        #expect(stream?.header("content-type") == "application/x-ndjson")
        let events = ndjsonEvents(stream)
        #expect(events == [
            json(#"{"type":"session_info","session_id":"real-1"}"#),
            json(#"{"type":"system","subtype":"init","session_id":"real-1"}"#),
            json(#"{"type":"result","result":"hi"}"#),
            json(#"{"type":"error","error":{"message":"oops"}}"#),
            json(#"{"type":"exit","code":0,"stderr":"oops"}"#),
        ])
        #expect(result(later[0]) == true)
        #expect(later[1]?.json?["result"]?["session_id"] == "real-1")
        #expect(later[1]?.json?["result"]?["is_new"] == false)
        #expect(later[1]?.json?["result"]?["session_handle"] == c["session_handle"])
        #expect(result(later[2]) == "real-1")
        #expect(result(later[3]) == json(#"{"active_sessions":1,"pending_sessions":0,"max_sessions":2,"busy_count":0}"#))
        #expect(later[4]?.json?["result"]?["is_busy"] == false)
        #expect(later[4]?.json?["result"]?["current_session_id"] == "real-1")
        #expect(result(later[5]) == false)
        #expect(result(later[6]) == .null)
        let args = ndjsonEvents(resumed).compactMap { $0["content"]?.stringValue }
        #expect(args.starts(with: ["arg:--resume=real-1", "arg:--fork-session", "arg:-p"]))
        #expect(args.suffix(2) == ["arg:--", "arg:" + resumePrompt])
        #expect(ndjsonEvents(resumed).first == json(#"{"type":"resumed"}"#))
        #expect(result(later[7]) == true)
        #expect(result(later[8]) == false)
        // Removed and idle: the handle is gone.
        #expect(later[9]?.status == 404)
    }

    @Test func sameArgumentsShareAManagerAndLimitIsEnforced() throws {
        let dir = makeTempDirectory()
        var ids: [String?] = []
        var r: [TestResponse?] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            h.sequence([
                ("POST", "/cli/managers", managerBody(dir)),
                ("POST", "/cli/managers", managerBody(dir)),
                ("POST", "/cli/managers", #"{"workspace_path":\#(quoted(dir)),"api_url":"http://x/v1","max_sessions":1}"#),
                ("POST", "/cli/managers", #"{"api_url":"http://x/v1"}"#),
                ("POST", "/cli/managers/mgr_0000000000000000/get_stats", ""),
            ]) { out in
                ids = out.prefix(3).map { $0?.json?["result"]?["manager_id"]?.stringValue }
                r += out.suffix(2)
                let m = "/cli/managers/" + (ids[2] ?? "?")
                h.sequence([
                    ("POST", m + "/get_or_create_session", #"{"session_id":null}"#),
                    ("POST", m + "/get_or_create_session", "{}"),
                    ("POST", m + "/get_stats", ""),
                    ("POST", m + "/stop_all", ""),
                    ("POST", m + "/get_stats", ""),
                ]) { out in
                    r += out
                    h.finish()
                }
            }
        }
        #expect(ids[0] != nil && ids[0] == ids[1])
        #expect(ids[2] != nil && ids[2] != ids[0])
        #expect(r[0]?.status == 400)
        #expect(r[1]?.status == 404)
        #expect(r[2]?.status == 200)
        #expect(r[3]?.status == 429)
        #expect(r[3]?.json?["error"]?["message"] == "Maximum concurrent sessions (1) reached.")
        #expect(result(r[4]) == json(#"{"active_sessions":0,"pending_sessions":1,"max_sessions":1,"busy_count":0}"#))
        #expect(result(r[5]) == .null)
        #expect(result(r[6]) == json(#"{"active_sessions":0,"pending_sessions":0,"max_sessions":1,"busy_count":0}"#))
    }

    @Test func serverSentEventsFormat() throws {
        let dir = makeTempDirectory()
        var stream: TestResponse?
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            openManager(h) { m in
                h.call("POST", m + "/get_or_create_session") { r in
                    let handle = r?.json?["result"]?["session_handle"]?.stringValue ?? "?"
                    h.call("POST", "/cli/sessions/\(handle)/start_task?format=sse", #"{"prompt":"echo plain"}"#) { s in
                        stream = s
                        h.finish()
                    }
                }
            }
        }
        #expect(stream?.header("content-type") == "text/event-stream")
        #expect(stream?.text == "data: {\"type\":\"raw\",\"content\":\"plain\"}\n\ndata: {\"type\":\"exit\",\"code\":0,\"stderr\":null}\n\n")
    }

    /// Streams a long task on its own connection; once its first event arrived, runs `interrupt`.
    func streamLongTask(_ h: Harness, handle: String, interrupt: @escaping (LoopHTTPClient) -> Void,
                        done: @escaping (LoopHTTPClient) -> Void) {
        LoopHTTPClient.connect(h.loop, port: h.port) { result in
            guard case .success(let client) = result else { return }
            var interrupted = false
            client.onUpdate = { c in
                if !interrupted, c.received.count > 0, String(decoding: c.received, as: UTF8.self).contains("started") {
                    interrupted = true
                    interrupt(c)
                }
                if c.ended || !c.responses.isEmpty {
                    c.onUpdate = nil
                    if !c.ended { c.close() }
                    done(c)
                }
            }
            let body = #"{"prompt":\#(quoted(printLines([#"{"type":"started"}"#]) + "; sleep 30"))}"#
            client.send(LoopHTTPClient.requestBytes(method: "POST", path: "/cli/sessions/\(handle)/start_task",
                                                    headers: h.authHeaders, body: Array(body.utf8)))
        }
    }

    @Test func stopEndpointEndsRunningTask() throws {
        let dir = makeTempDirectory()
        var stopAnswer: TestResponse?
        var streamed: TestResponse?
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            openManager(h) { m in
                h.call("POST", m + "/get_or_create_session") { r in
                    let handle = r?.json?["result"]?["session_handle"]?.stringValue ?? "?"
                    streamLongTask(h, handle: handle, interrupt: { _ in
                        h.call("POST", "/stop") { stopAnswer = $0 }
                    }, done: { c in
                        streamed = c.responses.first
                        h.finish()
                    })
                }
            }
        }
        #expect(stopAnswer?.status == 200)
        #expect(stopAnswer?.json == json(#"{"status":"stopped","source":"cli_manager"}"#))
        let events = ndjsonEvents(streamed)
        #expect(events.first == json(#"{"type":"started"}"#))
        #expect(events.last?["type"] == "exit")
        #expect(events.last?["code"] == -15)
    }

    @Test func clientDisconnectStopsTheTask() throws {
        let dir = makeTempDirectory()
        var busyAfter: JSONValue?
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            openManager(h) { m in
                h.call("POST", m + "/get_or_create_session") { r in
                    let handle = r?.json?["result"]?["session_handle"]?.stringValue ?? "?"
                    func poll(_ attempts: Int) {
                        h.call("GET", "/cli/sessions/\(handle)") { r in
                            busyAfter = r?.json?["result"]?["is_busy"]
                            if busyAfter == true && attempts > 0 {
                                h.after(ms: 50) { poll(attempts - 1) }
                            } else {
                                h.finish()
                            }
                        }
                    }
                    streamLongTask(h, handle: handle, interrupt: { c in
                        c.onUpdate = nil
                        c.close()
                        poll(200)
                    }, done: { _ in })
                }
            }
        }
        #expect(busyAfter == false)
    }

    @Test func badStartTaskArgumentsAndUnknownHandle() throws {
        let dir = makeTempDirectory()
        var r: [TestResponse?] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            openManager(h) { m in
                h.call("POST", m + "/get_or_create_session") { c in
                    let handle = c?.json?["result"]?["session_handle"]?.stringValue ?? "?"
                    h.sequence([
                        ("POST", "/cli/sessions/\(handle)/start_task", #"{"session_id":"x"}"#),
                        ("POST", "/cli/sessions/\(handle)/start_task", #"{"prompt":5}"#),
                        ("POST", "/cli/sessions/cs_nope_1/start_task", #"{"prompt":"echo"}"#),
                        ("POST", "/cli/sessions/\(handle)/stop", ""),
                        ("GET", "/cli/sessions/\(handle)/start_task", ""),
                        ("GET", "/cli/unknown", ""),
                    ]) { out in
                        r = out
                        h.finish()
                    }
                }
            }
        }
        #expect(r[0]?.status == 400)
        #expect(r[1]?.status == 400)
        #expect(r[2]?.status == 404)
        #expect(result(r[3]) == false)
        #expect(r[4]?.status == 405)
        #expect(r[5]?.status == 404)
    }
}
