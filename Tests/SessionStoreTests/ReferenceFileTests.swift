import JSON
import TestSupport
import Testing
@testable import SessionStore
import Text

/// `Fixtures/reference_sessions.json` was written by the reference's SessionStore
/// (legacy sessions loaded, trees saved and replaced, nodes registered, message
/// ids recorded with and without a cap, then `flush_pending_save`), and
/// `Fixtures/reference_expectations.json` holds what its getters returned after
/// reloading that file, plus its `cleanup_old_trees` results at a fixed time
/// and `datetime.fromisoformat` / `isoformat` results.
@Suite struct ReferenceFile {
    let fileBytes: [UInt8]
    let expected: JSONValue

    init() throws {
        fileBytes = try Fixture.bytes("reference_sessions.json")
        expected = try JSONValue.parse(Fixture.bytes("reference_expectations.json"))
    }

    func sessionsJSON(_ state: SessionStoreState) -> JSONValue {
        var object = JSONObject()
        for (key, r) in state.sessions.entries {
            object.appendUnchecked(key: key, value: [
                "session_id": .string(r.sessionID), "chat_id": .string(r.chatID),
                "initial_msg_id": .string(r.initialMessageID), "last_msg_id": .string(r.lastMessageID),
                "platform": .string(r.platform), "created_at": .string(r.createdAt), "updated_at": .string(r.updatedAt),
            ])
        }
        return .object(object)
    }

    @Test func gettersReturnWhatTheReferenceReturned() throws {
        let state = try SessionStoreState(loading: fileBytes)
        #expect(sessionsJSON(state) == expected["sessions"])
        #expect(.object(state.messageToSession.jsonObject) == expected["msg_to_session"])
        #expect(.object(state.allTrees()) == expected["all_trees"])
        #expect(.object(state.nodeMapping()) == expected["node_mapping"])

        let getTree = try #require(expected["get_tree"]?.objectValue)
        #expect(getTree.count == 4)
        for entry in getTree {
            #expect(state.tree(rootID: entry.key).map(JSONValue.object) ?? .null == entry.value, "get_tree(\(entry.key))")
        }
        let roots = try #require(expected["tree_root_for_node"]?.objectValue)
        #expect(roots.count > 8)
        for entry in roots {
            #expect(state.treeRoot(forNode: entry.key).map(JSONValue.string) ?? .null == entry.value,
                    "get_tree_root_for_node(\(entry.key))")
        }
        let ids = try #require(expected["message_ids"]?.objectValue)
        for entry in ids {
            let colon = entry.key.firstIndex(of: ":")!
            let platform = String(entry.key[..<colon]), chat = String(entry.key[entry.key.index(after: colon)...])
            #expect(.array(state.messageIDs(platform: platform, chatID: chat).map(JSONValue.string)) == entry.value,
                    "get_message_ids_for_chat(\(entry.key))")
        }
    }

    @Test func serializingGivesBackTheSameBytes() throws {
        let state = try SessionStoreState(loading: fileBytes)
        #expect(state.serialize() == fileBytes)
        #expect(try JSONValue.parse(state.serialize()) == JSONValue.parse(fileBytes))
        // And a second round trip is stable.
        #expect(try SessionStoreState(loading: state.serialize()).serialize() == fileBytes)
    }

    @Test func legacyInputLoadsLikeTheReference() throws {
        let legacy = try #require(expected["legacy_input"])
        let state = try SessionStoreState(loading: legacy.compactBytes())
        let loaded = try #require(expected["legacy_loaded"])
        #expect(sessionsJSON(state) == loaded["sessions"])
        #expect(.object(state.messageToSession.jsonObject) == loaded["msg_to_session"])
        var log = JSONObject()
        for (key, entries) in state.messageLog.entries {
            log.appendUnchecked(key: key, value: .array(entries.map {
                ["message_id": .string($0.messageID), "ts": .string($0.ts), "direction": .string($0.direction),
                 "kind": .string($0.kind)]
            }))
        }
        #expect(.object(log) == loaded["message_log"])
    }

    @Test func cleanupMatchesTheReference() throws {
        let cases = try #require(expected["cleanup"]?.arrayValue)
        #expect(cases.count == 5)
        for c in cases {
            var state = try SessionStoreState(loading: fileBytes)
            guard case .aware(let now) = ISOTimestamp.parse(try #require(c["now"]?.stringValue)) else {
                Issue.record("bad now")
                continue
            }
            let age = try #require(c["max_age_days"]?.intValue)
            #expect(.int(state.cleanupOldTrees(maxAgeDays: age, now: now)) == c["removed"], "max_age_days=\(age)")
            #expect(.array(state.allTrees().keys.map(JSONValue.string)) == c["trees"], "max_age_days=\(age)")
            #expect(.object(state.nodeMapping()) == c["node_mapping"], "max_age_days=\(age)")
        }
    }

    @Test func fromisoformatMatchesTheReference() throws {
        let cases = try #require(expected["fromisoformat"]?.arrayValue)
        #expect(cases.count > 30)
        for c in cases {
            let text = try #require(c["text"]?.stringValue)
            let want: ISOTimestamp
            switch c["result"] {
            case .string("invalid")?: want = .invalid
            case .string("naive")?: want = .naive
            case .int(let micros)?: want = .aware(UTCTime(microsecondsSinceEpoch: Int64(micros)))
            default: Issue.record("bad case \(c)"); continue
            }
            #expect(ISOTimestamp.parse(text) == want, "fromisoformat(\(text))")
        }
    }

    @Test func isoformatMatchesTheReference() throws {
        let cases = try #require(expected["isoformat"]?.arrayValue)
        for c in cases {
            let time = UTCTime(microsecondsSinceEpoch: Int64(try #require(c["micros"]?.intValue)))
            #expect(.string(time.isoformat) == c["text"])
        }
    }

    /// The reference stamped entries with its (patched) clock; recording the same
    /// ids at the same instants reproduces its message log exactly.
    @Test func recordingReproducesTheReferenceLog() throws {
        let reference = try SessionStoreState(loading: fileBytes)
        var state = SessionStoreState()
        var tick = UTCTime.utc(2025, 3, 1, 12, 0, 0, 250_000)
        func next() -> UTCTime {
            tick = UTCTime(microsecondsSinceEpoch: tick.microsecondsSinceEpoch + 1_000_001)
            return tick
        }
        for (mid, direction, kind) in [("1", "in", "command"), ("2", "out", "status"), ("2", "out", "status"), ("3", "in", "text")] {
            // The reference reads its clock only after the duplicate check; here `now` is an argument.
            if state.messageIDs(platform: "telegram", chatID: "c1").contains(mid) { continue }
            state.recordMessageID(platform: "telegram", chatID: "c1", messageID: mid, direction: direction, kind: kind, now: next())
        }
        state.recordMessageID(platform: "telegram", chatID: "c2", messageID: "x9", direction: "out", kind: "reply", now: next())
        state.recordMessageID(platform: "discord", chatID: "c1", messageID: "1", direction: "in", kind: "text", now: next())
        state.messageLogCap = PythonText.messageLogCap(environmentValue: " 3 ")
        for mid in ["a", "b", "c", "d", "e"] {
            state.recordMessageID(platform: "telegram", chatID: "capped", messageID: mid, direction: "out", kind: "k", now: next())
        }
        for chat in ["telegram:c1", "telegram:c2", "discord:c1", "telegram:capped"] {
            #expect(state.messageLog[chat] == reference.messageLog[chat], "\(chat)")
        }
    }
}
