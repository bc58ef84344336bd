import JSON
import Testing
@testable import SessionStore
@testable import SessionStoreFile

/// Cases from the reference's tests/test_session_store_edge_cases.py,
/// tests/test_messaging.py (TestSessionStore), tests/test_tree_queue.py
/// (TestSessionStoreTrees) and tests/test_restart_reply_restore.py (the store part).
@Suite struct LoadEdgeCases {
    @Test("corrupted, truncated and empty files are rejected, and load empty through the quarantine",
          arguments: ["{invalid json", #"{"sessions": {"s1": {"session_id": "s1""#, ""])
    func corruptFiles(text: String) throws {
        #expect(throws: SessionFileError.self) { try SessionStoreState(loading: Array(text.utf8)) }

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("sessions.json")
        writeFile(path, text)
        let result = try SessionFilePersistence.loadOrQuarantine(path: path, now: .utc(2025, 1, 2, 3, 4, 5))
        #expect(result.state.sessions.isEmpty)
        #expect(result.state.allTrees().isEmpty)
        let quarantine = try #require(result.quarantine)
        #expect(quarantine.quarantinePath == path + ".corrupt-20250102T030405Z")
        #expect(!fileExists(path))
        #expect(readFileBytes(quarantine.quarantinePath) == Array(text.utf8))
    }

    @Test func nonexistentFileStartsEmpty() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try SessionFilePersistence.loadOrQuarantine(path: dir.file("nonexistent.json"), now: .utc(2025, 1, 1))
        #expect(result.quarantine == nil)
        #expect(result.state.sessions.isEmpty)
        #expect(dir.entries().isEmpty)
    }

    @Test func legacyIntegerFields() throws {
        let text = """
            {"sessions": {"s1": {"session_id": "s1", "chat_id": 12345, "initial_msg_id": 100, "last_msg_id": 200,
             "platform": "telegram", "created_at": "2025-01-01T00:00:00+00:00",
             "updated_at": "2025-01-01T00:00:00+00:00"}}, "trees": {}, "node_to_tree": {}}
            """
        let state = try SessionStoreState(loading: Array(text.utf8))
        let record = try #require(state.sessions["s1"])
        #expect(record.chatID == "12345")
        #expect(record.initialMessageID == "100")
        #expect(record.lastMessageID == "200")
        #expect(state.sessionID(platform: "telegram", chatID: "12345", messageID: "100") == "s1")
        #expect(state.sessionID(platform: "telegram", chatID: "12345", messageID: "200") == "s1")
        #expect(state.sessionID(platform: "telegram", chatID: "12345", messageID: "300") == nil)
    }

    @Test func legacyMissingPlatformDefaultsToTelegram() throws {
        let text = """
            {"sessions": {"s1": {"session_id": "s1", "chat_id": 123, "initial_msg_id": 100, "last_msg_id": 101,
             "created_at": "2024-01-01", "updated_at": "2024-01-01"}}}
            """
        let state = try SessionStoreState(loading: Array(text.utf8))
        let record = try #require(state.sessions["s1"])
        #expect(record.chatID == "123")
        #expect(record.platform == "telegram")
        #expect(state.allTrees().isEmpty)
        #expect(state.nodeMapping().isEmpty)
    }

    @Test func sessionInitStartsEmpty() {
        let state = SessionStoreState()
        #expect(state.sessions.isEmpty)
        #expect(state.pendingSave == .none)
    }
}

@Suite struct SaveEdgeCases {
    /// The reference swallows write errors (`test_save_io_error_handled`,
    /// `test_save_error_handling`): the tree stays in memory. Here the write
    /// reports the error, the state keeps the tree, and the old file is intact.
    @Test func failedWriteKeepsStateAndFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var state = SessionStoreState()
        try state.saveTree(rootID: "r1", treeData: obj(["root_id": "r1", "nodes": ["r1": [:]]]))
        let path = dir.file("missing-dir/sessions.json")
        #expect(throws: SessionFileIOError.self) {
            try SessionFilePersistence.writeAtomically(path: path, bytes: state.serialize())
        }
        try state.saveTree(rootID: "r2", treeData: obj(["root_id": "r2", "nodes": ["r2": [:]]]))
        #expect(state.tree(rootID: "r2") != nil)
        #expect(state.tree(rootID: "r1") != nil)
    }
}

@Suite struct ClearAll {
    @Test func clearAllWipesStateAndPersists() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("sessions.json")
        var state = SessionStoreState()
        let node: JSONValue = [
            "node_id": "root1",
            "incoming": [
                "text": "hello", "chat_id": "c1", "user_id": "u1", "message_id": "m1", "platform": "telegram",
                "reply_to_message_id": nil, "username": nil,
            ],
            "status_message_id": "status1", "state": "pending", "parent_id": nil, "session_id": nil,
            "children_ids": [], "created_at": "2025-01-01T00:00:00+00:00", "completed_at": nil, "error_message": nil,
        ]
        try state.saveTree(rootID: "root1", treeData: obj(["root_id": "root1", "nodes": ["root1": node]]))
        #expect(state.takePendingSave() == .debounced)

        state.clearAll()
        #expect(state.takePendingSave() == .immediate)
        #expect(state.allTrees().isEmpty)
        #expect(state.nodeMapping().isEmpty)

        try SessionFilePersistence.writeAtomically(path: path, bytes: state.serialize())
        let data = try JSONValue.parse(try #require(readFileBytes(path)))
        #expect(data["sessions"] == .object(JSONObject()))
        #expect(data["trees"] == .object(JSONObject()))
        #expect(data["node_to_tree"] == .object(JSONObject()))
        #expect(data["message_log"] == .object(JSONObject()))
        #expect(readFileBytes(path) == Array(#"{\#n  "sessions": {},\#n  "trees": {},\#n  "node_to_tree": {},\#n  "message_log": {}\#n}"#.utf8))

        let reloaded = try SessionFilePersistence.loadOrQuarantine(path: path, now: .utc(2025, 1, 1))
        #expect(reloaded.quarantine == nil)
        #expect(reloaded.state.sessions.isEmpty)
        #expect(reloaded.state.allTrees().isEmpty)
    }

    @Test func clearAllDropsSessionsAndMessageLog() throws {
        let text = #"{"sessions": {"s": {"session_id": "s", "chat_id": 1, "initial_msg_id": 2, "last_msg_id": 3, "created_at": "", "updated_at": ""}}, "message_log": {"telegram:c": [{"message_id": "1"}]}}"#
        var state = try SessionStoreState(loading: Array(text.utf8))
        #expect(state.messageIDs(platform: "telegram", chatID: "c") == ["1"])
        state.clearAll()
        #expect(state.sessions.isEmpty)
        #expect(state.sessionID(platform: "telegram", chatID: "1", messageID: "2") == nil)
        #expect(state.messageIDs(platform: "telegram", chatID: "c") == [])
        // Ids recorded before the clear can be recorded again.
        state.recordMessageID(platform: "telegram", chatID: "c", messageID: "1", direction: "in", kind: "k",
                              now: .utc(2025, 1, 1))
        #expect(state.messageIDs(platform: "telegram", chatID: "c") == ["1"])
    }

    @Test func messageLogPersistsAndDedups() throws {
        var state = SessionStoreState()
        let now = UTCTime.utc(2025, 1, 1)
        state.recordMessageID(platform: "telegram", chatID: "c1", messageID: "1", direction: "in", kind: "command", now: now)
        #expect(state.takePendingSave() == .debounced)
        state.recordMessageID(platform: "telegram", chatID: "c1", messageID: "2", direction: "out", kind: "command", now: now)
        #expect(state.takePendingSave() == .debounced)
        state.recordMessageID(platform: "telegram", chatID: "c1", messageID: "2", direction: "out", kind: "command", now: now)
        #expect(state.takePendingSave() == .none)
        #expect(state.messageIDs(platform: "telegram", chatID: "c1") == ["1", "2"])

        state.flushPendingSave()
        #expect(state.takePendingSave() == .immediate)
        let reloaded = try SessionStoreState(loading: state.serialize())
        #expect(reloaded.messageIDs(platform: "telegram", chatID: "c1") == ["1", "2"])
    }
}

@Suite struct CleanupEdgeCases {
    @Test func malformedTimestampIsSkipped() throws {
        var state = SessionStoreState()
        try state.saveTree(rootID: "root1", treeData: obj(["nodes": ["root1": ["created_at": "bad-date"]]]))
        #expect(state.cleanupOldTrees(maxAgeDays: 0, now: .utc(2030, 1, 1)) == 0)
    }

    @Test func missingCreatedAtIsSkipped() throws {
        var state = SessionStoreState()
        try state.saveTree(rootID: "root1", treeData: obj(["nodes": ["root1": [:]]]))
        _ = state.takePendingSave()
        #expect(state.cleanupOldTrees(maxAgeDays: 0, now: .utc(2030, 1, 1)) == 0)
        #expect(state.takePendingSave() == .none)
    }

    @Test func removesOldTreesAndTheirNodeMappings() throws {
        let now = UTCTime.utc(2025, 6, 1, 12)
        var state = SessionStoreState()
        let old = now.adding(days: -40).isoformat
        try state.saveTree(rootID: "old_root", treeData: obj(["nodes": ["old_root": ["created_at": .string(old)], "child": [:]]]))
        try state.saveTree(rootID: "new_root", treeData: obj(["nodes": ["new_root": ["created_at": .string(now.isoformat)]]]))
        _ = state.takePendingSave()

        #expect(state.cleanupOldTrees(maxAgeDays: 30, now: now) == 1)
        #expect(state.takePendingSave() == .debounced)
        #expect(state.tree(rootID: "old_root") == nil)
        #expect(state.treeRoot(forNode: "child") == nil)
        #expect(state.treeRoot(forNode: "old_root") == nil)
        #expect(state.tree(rootID: "new_root") != nil)
        #expect(state.treeRoot(forNode: "new_root") == "new_root")
    }

    @Test func ageIsWholeDaysStrictlyOverTheLimit() throws {
        let now = UTCTime.utc(2025, 6, 1, 12)
        var state = SessionStoreState()
        let justUnder = UTCTime(microsecondsSinceEpoch: now.adding(days: -31).microsecondsSinceEpoch + 1)
        try state.saveTree(rootID: "a", treeData: obj(["nodes": ["a": ["created_at": .string(now.adding(days: -30).isoformat)]]]))
        try state.saveTree(rootID: "b", treeData: obj(["nodes": ["b": ["created_at": .string(justUnder.isoformat)]]]))
        try state.saveTree(rootID: "c", treeData: obj(["nodes": ["c": ["created_at": .string(now.adding(days: -31).isoformat)]]]))
        // Naive timestamps make the reference's subtraction raise: kept.
        try state.saveTree(rootID: "d", treeData: obj(["nodes": ["d": ["created_at": "2000-01-01T00:00:00"]]]))
        // Truthy non-strings make fromisoformat raise: kept.
        try state.saveTree(rootID: "e", treeData: obj(["nodes": ["e": ["created_at": 5]]]))
        // Root node missing from nodes, or not an object: kept.
        try state.saveTree(rootID: "f", treeData: obj(["nodes": ["x": ["created_at": "2000-01-01T00:00:00+00:00"]]]))
        try state.saveTree(rootID: "g", treeData: obj(["nodes": ["g": "2000-01-01T00:00:00+00:00"]]))
        // A future timestamp has a negative age.
        try state.saveTree(rootID: "h", treeData: obj(["nodes": ["h": ["created_at": .string(now.adding(days: 400).isoformat)]]]))
        #expect(state.cleanupOldTrees(maxAgeDays: 30, now: now) == 1)
        #expect(state.allTrees().keys == ["a", "b", "d", "e", "f", "g", "h"])
        #expect(state.cleanupOldTrees(now: now) == 0)
        #expect(state.cleanupOldTrees(maxAgeDays: -2, now: now) == 2)
        #expect(state.allTrees().keys == ["d", "e", "f", "g", "h"])
    }
}

@Suite struct TreeMethods {
    @Test func saveAndGetTree() throws {
        var state = SessionStoreState()
        let tree = obj(["root": "r1", "nodes": ["r1": ["content": "root"], "n1": ["content": "child"]]])
        try state.saveTree(rootID: "r1", treeData: tree)
        #expect(state.tree(rootID: "r1") == tree)
        #expect(state.treeRoot(forNode: "r1") == "r1")
        #expect(state.treeRoot(forNode: "n1") == "r1")
    }

    @Test func saveAndGetTreeWithRootID() throws {
        var state = SessionStoreState()
        try state.saveTree(rootID: "root_1", treeData: obj([
            "root_id": "root_1",
            "nodes": ["root_1": ["node_id": "root_1", "state": "completed", "session_id": "sess_abc"]],
        ]))
        let retrieved = try #require(state.tree(rootID: "root_1"))
        #expect(retrieved["root_id"] == "root_1")
    }

    @Test func getTreeByRootIDAndNodeMapping() throws {
        var state = SessionStoreState()
        try state.saveTree(rootID: "root", treeData: obj([
            "root_id": "root", "nodes": ["root": ["node_id": "root"], "child": ["node_id": "child"]],
        ]))
        #expect(state.tree(rootID: "root")?["root_id"] == "root")
        #expect(state.treeRoot(forNode: "child") == "root")
    }

    @Test func registerNode() {
        var state = SessionStoreState()
        state.registerNode("n_manual", rootID: "r_manual")
        #expect(state.treeRoot(forNode: "n_manual") == "r_manual")
        #expect(state.takePendingSave() == .debounced)
        state.registerNode("new_node", rootID: "root_tree")
        #expect(state.treeRoot(forNode: "new_node") == "root_tree")
        #expect(state.tree(rootID: "root_tree") == nil)
    }

    @Test func replacingATreeKeepsItsPositionAndOldNodeMappings() throws {
        var state = SessionStoreState()
        try state.saveTree(rootID: "a", treeData: obj(["nodes": ["a": [:], "x": [:]]]))
        try state.saveTree(rootID: "b", treeData: obj(["nodes": ["b": [:]]]))
        try state.saveTree(rootID: "a", treeData: obj(["nodes": ["a": [:], "y": [:]]]))
        #expect(state.allTrees().keys == ["a", "b"])
        #expect(state.nodeMapping() == obj(["a": "a", "x": "a", "b": "b", "y": "a"]))
        // A tree without nodes maps nothing.
        try state.saveTree(rootID: "c", treeData: obj(["root_id": "c"]))
        #expect(state.treeRoot(forNode: "c") == nil)
    }

    @Test func nodesThatAreNotAnObjectAreRefusedWithoutChange() {
        var state = SessionStoreState()
        #expect(throws: SessionStoreError.nodesNotAnObject(rootID: "r")) {
            try state.saveTree(rootID: "r", treeData: obj(["nodes": ["a", "b"]]))
        }
        #expect(throws: SessionStoreError.nodesNotAnObject(rootID: "r")) {
            try state.saveTree(rootID: "r", treeData: obj(["nodes": nil]))
        }
        #expect(state.allTrees().isEmpty)
        #expect(state.pendingSave == .none)
    }

    @Test func syncFromTreeDataReplacesBoth() throws {
        var state = SessionStoreState()
        try state.saveTree(rootID: "old", treeData: obj(["nodes": ["old": [:]]]))
        try state.syncFromTreeData(trees: obj(["t": ["root_id": "t", "nodes": ["t": [:], "u": [:]]]]),
                                   nodeToTree: obj(["n": "t"]))
        #expect(state.allTrees() == obj(["t": ["root_id": "t", "nodes": ["t": [:], "u": [:]]]]))
        // Taken as given: "t" and "u" are not derived from the tree.
        #expect(state.nodeMapping() == obj(["n": "t"]))
        #expect(state.treeRoot(forNode: "old") == nil)
        #expect(state.takePendingSave() == .debounced)
    }

    @Test func syncFromTreeDataRefusesMalformedInput() {
        var state = SessionStoreState()
        state.registerNode("keep", rootID: "r")
        #expect(throws: SessionStoreError.self) {
            try state.syncFromTreeData(trees: obj(["t": [1]]), nodeToTree: JSONObject())
        }
        #expect(throws: SessionStoreError.self) {
            try state.syncFromTreeData(trees: JSONObject(), nodeToTree: obj(["n": 5]))
        }
        #expect(state.nodeMapping() == obj(["keep": "r"]))
    }

    /// test_restart_reply_restore: a status message registered before a restart
    /// still maps to its tree after reloading, and an unregistered one does not.
    @Test func nodeMappingSurvivesRestart() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("sessions.json")
        var state = SessionStoreState()
        let tree = obj(["root_id": "A", "nodes": ["A": ["node_id": "A", "status_message_id": "status_A"]]])
        state.registerNode("status_A", rootID: "A")
        try state.saveTree(rootID: "A", treeData: tree)
        state.flushPendingSave()
        try SessionFilePersistence.writeAtomically(path: path, bytes: state.serialize())

        let restored = try SessionFilePersistence.loadOrQuarantine(path: path, now: .utc(2025, 1, 1)).state
        #expect(restored.allTrees() == obj(["A": .object(tree)]))
        #expect(restored.nodeMapping() == obj(["status_A": "A", "A": "A"]))
        #expect(restored.treeRoot(forNode: "status_A") == "A")
        #expect(restored.treeRoot(forNode: "status_B") == nil)
    }
}
