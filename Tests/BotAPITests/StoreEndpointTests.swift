import BotAPI
import EventLoop
import JSON
import TestSupport
import Testing

@Suite(.serialized) struct StoreEndpointTests {
    @Test func messageLogRoundTripWithPythonStringification() throws {
        let dir = makeTempDirectory()
        var responses: [TestResponse?] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            h.sequence([
                ("POST", "/store/record_message_id", #"{"platform":"telegram","chat_id":123,"message_id":7,"direction":"in","kind":"command"}"#),
                ("POST", "/store/record_message_id", #"{"platform":"telegram","chat_id":"123","message_id":"8","direction":"out","kind":"status"}"#),
                // Already recorded: ignored.
                ("POST", "/store/record_message_id", #"{"platform":"telegram","chat_id":"123","message_id":"7","direction":"out","kind":"x"}"#),
                // A null message id is ignored, as in the reference.
                ("POST", "/store/record_message_id", #"{"platform":"telegram","chat_id":"123","message_id":null,"direction":"out","kind":"x"}"#),
                ("POST", "/store/get_message_ids_for_chat", #"{"platform":"telegram","chat_id":123}"#),
                ("POST", "/store/get_message_ids_for_chat", #"{"platform":"telegram","chat_id":"999"}"#),
                ("POST", "/store/record_message_id", #"{"platform":"telegram","chat_id":"1"}"#),
                ("POST", "/store/get_message_ids_for_chat", #"[1]"#),
                ("GET", "/store/get_all_trees", ""),
                ("POST", "/store/no_such_method", "{}"),
            ]) { r in
                responses = r
                h.finish()
            }
        }
        #expect(responses.count == 10)
        #expect(responses[0]?.status == 200)
        #expect(responses[0]?.json == json(#"{"result":null}"#))
        #expect(result(responses[4]) == json(#"["7","8"]"#))
        #expect(result(responses[5]) == json("[]"))
        #expect(responses[6]?.status == 400)
        #expect(errorType(responses[6]) == "invalid_request_error")
        #expect(responses[6]?.json?["error"]?["message"]?.stringValue?.contains("'message_id'") == true)
        #expect(responses[7]?.status == 400)
        #expect(responses[8]?.status == 405)
        #expect(responses[9]?.status == 404)
        // Shutdown flushed the log to disk in the reference's file format.
        let file = try #require(readText(dir + "/sessions.json"))
        let saved = try JSONValue.parse(file)
        #expect(saved["message_log"]?["telegram:123"]?.arrayValue?.map { $0["message_id"] } == ["7", "8"])
        #expect(saved["message_log"]?["telegram:123"]?.arrayValue?.first?["direction"] == "in")
    }

    @Test func treesRoundTrip() throws {
        let dir = makeTempDirectory()
        var r: [TestResponse?] = []
        let tree = #"{"root_id":"r1","nodes":{"r1":{"created_at":"2024-01-01T00:00:00+00:00"},"n2":{}}}"#
        let fresh = #"{"nodes":{"r2":{"created_at":"2999-01-01T00:00:00+00:00"}}}"#
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            h.sequence([
                ("POST", "/store/save_tree", #"{"root_id":"r1","tree_data":\#(tree)}"#),
                ("POST", "/store/get_tree", #"{"root_id":"r1"}"#),
                ("POST", "/store/get_tree_root_for_node", #"{"node_id":"n2"}"#),
                ("POST", "/store/register_node", #"{"node_id":"n3","root_id":"r1"}"#),
                ("POST", "/store/get_node_mapping", ""),
                ("POST", "/store/get_tree", #"{"root_id":"missing"}"#),
                ("POST", "/store/get_tree_root_for_node", #"{"node_id":"missing"}"#),
                ("POST", "/store/save_tree", #"{"root_id":"r2","tree_data":\#(fresh)}"#),
                ("POST", "/store/get_all_trees", "{}"),
                ("POST", "/store/cleanup_old_trees", #"{"max_age_days":30}"#),
                ("POST", "/store/get_node_mapping", ""),
                ("POST", "/store/save_tree", #"{"root_id":"bad","tree_data":{"nodes":[1]}}"#),
                ("POST", "/store/sync_from_tree_data", #"{"trees":{"t":{"nodes":{}}},"node_to_tree":{"a":"t"}}"#),
                ("POST", "/store/get_all_trees", ""),
                ("POST", "/store/get_node_mapping", ""),
                ("POST", "/store/sync_from_tree_data", #"{"trees":{},"node_to_tree":{"a":1}}"#),
                ("POST", "/store/cleanup_old_trees", "{}"),
            ]) { out in
                r = out
                h.finish()
            }
        }
        #expect(r.count == 17)
        #expect(result(r[1]) == json(tree))
        #expect(result(r[2]) == "r1")
        #expect(result(r[4]) == json(#"{"r1":"r1","n2":"r1","n3":"r1"}"#))
        #expect(result(r[5]) == .null)
        #expect(result(r[6]) == .null)
        #expect(result(r[8]) == json(#"{"r1":\#(tree),"r2":\#(fresh)}"#))
        #expect(result(r[9]) == 1)
        // The expired tree's nodes are unmapped; a mapping registered by hand (n3) stays.
        #expect(result(r[10]) == json(#"{"n3":"r1","r2":"r2"}"#))
        #expect(r[11]?.status == 400)
        #expect(result(r[13]) == json(#"{"t":{"nodes":{}}}"#))
        #expect(result(r[14]) == json(#"{"a":"t"}"#))
        #expect(r[15]?.status == 400)
        #expect(result(r[16]) == 0)
    }

    @Test func clearAllAndFlushWriteBeforeAnswering() throws {
        let dir = makeTempDirectory()
        var afterFlush: String?
        var afterClear: String?
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            h.sequence([
                ("POST", "/store/register_node", #"{"node_id":"n","root_id":"r"}"#),
                ("POST", "/store/flush_pending_save", ""),
            ]) { _ in
                afterFlush = readText(dir + "/sessions.json")
                h.call("POST", "/store/clear_all") { _ in
                    afterClear = readText(dir + "/sessions.json")
                    h.finish()
                }
            }
        }
        #expect(try JSONValue.parse(#require(afterFlush))["node_to_tree"] == json(#"{"n":"r"}"#))
        #expect(try JSONValue.parse(#require(afterClear)) == json(#"{"sessions":{},"trees":{},"node_to_tree":{},"message_log":{}}"#))
    }

    @Test func debouncedSaveLandsWithoutFlush() throws {
        let dir = makeTempDirectory()
        var written: String?
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            h.call("POST", "/store/register_node", #"{"node_id":"n","root_id":"r"}"#) { _ in
                #expect(readText(dir + "/sessions.json") == nil)
                // The harness's debounce is 50 ms.
                h.after(ms: 400) {
                    written = readText(dir + "/sessions.json")
                    h.finish()
                }
            }
        }
        #expect(try JSONValue.parse(#require(written))["node_to_tree"] == json(#"{"n":"r"}"#))
    }

    @Test func storeSurvivesRestartAndCorruptFileIsQuarantined() throws {
        let dir = makeTempDirectory()
        var got: [TestResponse?] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            h.sequence([
                ("POST", "/store/save_tree", #"{"root_id":"r","tree_data":{"nodes":{"r":{},"c":{}}}}"#),
                ("POST", "/store/record_message_id", #"{"platform":"p","chat_id":"c","message_id":"m","direction":"in","kind":"k"}"#),
            ]) { _ in h.finish() }
        }
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            h.sequence([
                ("POST", "/store/get_tree", #"{"root_id":"r"}"#),
                ("POST", "/store/get_tree_root_for_node", #"{"node_id":"c"}"#),
                ("POST", "/store/get_message_ids_for_chat", #"{"platform":"p","chat_id":"c"}"#),
            ]) { r in
                got = r
                h.finish()
            }
        }
        #expect(result(got[0]) == json(#"{"nodes":{"r":{},"c":{}}}"#))
        #expect(result(got[1]) == "r")
        #expect(result(got[2]) == json(#"["m"]"#))

        writeText(dir + "/sessions.json", "{not json")
        var trees: TestResponse?
        var quarantined: String?
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir)
            quarantined = h.api.store?.quarantine?.quarantinePath
            h.call("POST", "/store/get_all_trees") { r in
                trees = r
                h.finish()
            }
        }
        #expect(result(trees) == json("{}"))
        let moved = try #require(quarantined)
        #expect(readText(moved) == "{not json")
    }
}
