import JSON
import Testing
@testable import SessionStore

@Suite struct FileLoadingEdgeCases {
    func load(_ text: String) throws(SessionFileError) -> SessionStoreState {
        try SessionStoreState(loading: Array(text.utf8))
    }

    @Test("valid JSON of the wrong shape is refused rather than half-loaded", arguments: [
        "[]", "null", "5",
        #"{"sessions": null}"#, #"{"sessions": []}"#, #"{"trees": null}"#, #"{"trees": {"r": [1]}}"#,
        #"{"node_to_tree": {"n": 1}}"#, #"{"node_to_tree": []}"#,
        #"{"sessions": {"s": "x"}}"#,
        // Missing and unknown fields make the reference's SessionRecord(**data) raise.
        #"{"sessions": {"s": {"session_id": "s", "chat_id": 1, "initial_msg_id": 1, "last_msg_id": 1, "created_at": ""}}}"#,
        #"{"sessions": {"s": {"session_id": "s", "chat_id": 1, "initial_msg_id": 1, "last_msg_id": 1, "created_at": "", "updated_at": "", "extra": 1}}}"#,
        #"{"sessions": {"s": {"session_id": "s", "chat_id": null, "initial_msg_id": 1, "last_msg_id": 1, "created_at": "", "updated_at": ""}}}"#,
    ])
    func wrongShape(text: String) {
        #expect(throws: SessionFileError.self) { try load(text) }
        do {
            _ = try load(text)
        } catch {
            guard case .unexpectedStructure = error else {
                Issue.record("expected unexpectedStructure, got \(error)")
                return
            }
        }
    }

    @Test func missingSectionsAreEmpty() throws {
        let state = try load("{}")
        #expect(state.sessions.isEmpty && state.allTrees().isEmpty && state.nodeMapping().isEmpty)
        #expect(state.messageLog.isEmpty)
        #expect(state.serialize() == Array(#"{\#n  "sessions": {},\#n  "trees": {},\#n  "node_to_tree": {},\#n  "message_log": {}\#n}"#.utf8))
    }

    @Test("a message_log that is falsy or not an object is ignored",
          arguments: [#"null"#, #"[]"#, #"0"#, #""""#, #"[{"message_id": 1}]"#, #""x""#])
    func ignoredMessageLog(log: String) throws {
        let state = try load(#"{"message_log": \#(log)}"#)
        #expect(state.messageLog.isEmpty)
    }

    @Test func messageLogFieldsAreCleanedLikePythonStr() throws {
        let state = try load("""
            {"message_log": {"telegram:c": [
              {"message_id": 7, "ts": 0, "direction": true, "kind": 1.5},
              {"message_id": false, "ts": [], "direction": {}, "kind": [1, "a", null]},
              {"message_id": "7"}, {"message_id": null}, 3, [], null,
              {"message_id": {"k": "it's"}, "ts": "t", "direction": "", "kind": false}
            ], "telegram:skip": {"message_id": 1}, "telegram:empty": []}}
            """)
        let entries = try #require(state.messageLog["telegram:c"])
        #expect(entries == [
            MessageLogEntry(messageID: "7", ts: "", direction: "True", kind: "1.5"),
            MessageLogEntry(messageID: "False", ts: "", direction: "", kind: "[1, 'a', None]"),
            MessageLogEntry(messageID: #"{'k': "it's"}"#, ts: "t", direction: "", kind: ""),
        ])
        #expect(state.messageLog["telegram:skip"] == nil)
        #expect(state.messageLog["telegram:empty"] == [])
        #expect(state.messageLog.keys == ["telegram:c", "telegram:empty"])
        // The dedup set is rebuilt from the file: "7" is known, a new id is not.
        var s = state
        s.recordMessageID(platform: "telegram", chatID: "c", messageID: "7", direction: "in", kind: "k", now: .utc(2025, 1, 1))
        #expect(s.pendingSave == .none)
        s.recordMessageID(platform: "telegram", chatID: "c", messageID: "8", direction: "in", kind: "k", now: .utc(2025, 1, 1))
        #expect(s.messageIDs(platform: "telegram", chatID: "c") == ["7", "False", #"{'k': "it's"}"#, "8"])
    }

    @Test func sessionScalarsAreStringified() throws {
        let state = try load("""
            {"sessions": {"k": {"updated_at": "u", "created_at": "c", "platform": "discord", "last_msg_id": 12345678901234567890,
              "initial_msg_id": true, "chat_id": -5, "session_id": 9}}}
            """)
        #expect(state.sessions["k"] == SessionRecord(sessionID: "9", chatID: "-5", initialMessageID: "True",
                                                     lastMessageID: "12345678901234567890", platform: "discord",
                                                     createdAt: "c", updatedAt: "u"))
        // Written back in the dataclass's field order.
        let written = try JSONValue.parse(state.serialize())
        #expect(written["sessions"]?["k"]?.objectValue?.keys == ["session_id", "chat_id", "initial_msg_id", "last_msg_id",
                                                                  "platform", "created_at", "updated_at"])
        #expect(state.sessionID(platform: "discord", chatID: "-5", messageID: "True") == "k")
    }

    @Test func serializationEscapesLikePythonJSONDump() throws {
        var state = SessionStoreState()
        try state.saveTree(rootID: "é", treeData: obj(["nodes": ["é": ["t": "a\u{1F600}\"\\\n\u{7F}/", "f": 0.1, "e": 1e22, "l": [[], [1]]]]]))
        let text = String(decoding: state.serialize(), as: UTF8.self)
        #expect(text.contains(#""\u00e9": {"#))
        // ensure_ascii escapes everything outside space...tilde, DEL included.
        #expect(text.contains(#""t": "a\ud83d\ude00\"\\\n\u007f/""#))
        #expect(text.contains(#""f": 0.1,"#))
        #expect(text.contains(#""e": 1e+22,"#))
        #expect(text.contains("\"l\": [\n            [],\n            [\n              1\n            ]\n          ]"))
        #expect(text.utf8.allSatisfy { $0 < 0x7F })
        #expect(try SessionStoreState(loading: state.serialize()).allTrees() == state.allTrees())
    }
}

@Suite struct MessageLogCap {
    @Test func capDropsOldestAndForgetsThem() {
        var state = SessionStoreState(messageLogCap: 2)
        let now = UTCTime.utc(2025, 1, 1)
        for id in ["a", "b", "c"] {
            state.recordMessageID(platform: "p", chatID: "c", messageID: id, direction: "in", kind: "k", now: now)
        }
        #expect(state.messageIDs(platform: "p", chatID: "c") == ["b", "c"])
        // "a" was evicted, so it counts as new again and evicts "b".
        state.recordMessageID(platform: "p", chatID: "c", messageID: "a", direction: "in", kind: "k", now: now)
        #expect(state.messageIDs(platform: "p", chatID: "c") == ["c", "a"])
        _ = state.takePendingSave()
        state.recordMessageID(platform: "p", chatID: "c", messageID: "c", direction: "in", kind: "k", now: now)
        #expect(state.pendingSave == .none)
        // Other chats have their own cap.
        state.recordMessageID(platform: "p", chatID: "d", messageID: "a", direction: "in", kind: "k", now: now)
        #expect(state.messageIDs(platform: "p", chatID: "d") == ["a"])
    }

    @Test func nilMessageIDIsIgnored() {
        var state = SessionStoreState()
        state.recordMessageID(platform: "p", chatID: "c", messageID: nil, direction: "in", kind: "k", now: .utc(2025, 1, 1))
        #expect(state.messageLog.isEmpty)
        #expect(state.pendingSave == .none)
    }

    @Test func entriesCarryTimeAndFields() {
        var state = SessionStoreState()
        state.recordMessageID(platform: "telegram", chatID: "-100", messageID: "5", direction: "out", kind: "status",
                              now: .utc(2025, 3, 1, 12, 0, 1, 250_001))
        #expect(state.messageLog["telegram:-100"] == [
            MessageLogEntry(messageID: "5", ts: "2025-03-01T12:00:01.250001+00:00", direction: "out", kind: "status"),
        ])
        #expect(state.messageIDs(platform: "telegram", chatID: "-10") == [])
    }
}

@Suite struct SupportTypes {
    @Test func orderedMapKeepsPythonDictOrder() {
        var map = OrderedMap<Int>()
        for i in 0..<100 { map["k\(i)"] = i }
        for i in stride(from: 0, to: 100, by: 2) { map.removeValue(forKey: "k\(i)") }
        map["k1"] = -1
        map["k0"] = 0
        #expect(map.count == 51)
        #expect(map.keys.first == "k1")
        #expect(map.keys.last == "k0")
        #expect(map["k1"] == -1)
        #expect(map["k2"] == nil)
        #expect(map.keys == (stride(from: 1, to: 100, by: 2).map { "k\($0)" } + ["k0"]))
        map.withValue(forKey: "new", default: 10) { $0 += 1 }
        #expect(map["new"] == 11)
        #expect(map.keys.last == "new")
    }

    @Test func timestamps() {
        #expect(UTCTime.utc(2025, 1, 2, 3, 4, 5).isoformat == "2025-01-02T03:04:05+00:00")
        #expect(UTCTime.utc(2025, 1, 2, 3, 4, 5, 7).isoformat == "2025-01-02T03:04:05.000007+00:00")
        #expect(UTCTime(microsecondsSinceEpoch: -1).isoformat == "1969-12-31T23:59:59.999999+00:00")
        #expect(UTCTime(microsecondsSinceEpoch: 0).compactStamp == "19700101T000000Z")
        #expect(UTCTime(year: 2025, month: 2, day: 29) == nil)
        #expect(UTCTime(year: 2024, month: 2, day: 29) != nil)
        #expect(UTCTime.utc(2025, 1, 2).wholeDays(since: .utc(2025, 1, 1, 0, 0, 0, 1)) == 0)
        #expect(UTCTime.utc(2025, 1, 1).wholeDays(since: .utc(2025, 1, 1, 0, 0, 0, 1)) == -1)
        // isoformat output always parses back to the same instant.
        for micros: Int64 in [0, 1, -1, 1_740_830_400_000_001, -62_135_596_800_000_000, 253_402_300_799_999_999] {
            let t = UTCTime(microsecondsSinceEpoch: micros)
            #expect(ISOTimestamp.parse(t.isoformat) == .aware(t))
        }
    }

    @Test func weekDates() {
        #expect(ISOTimestamp.parse("2025-W01-1T00:00Z") == .aware(.utc(2024, 12, 30)))
        #expect(ISOTimestamp.parse("2026-W53-1T00:00Z") == .aware(.utc(2026, 12, 28)))
        #expect(ISOTimestamp.parse("2025-W53-1T00:00Z") == .invalid)
        #expect(ISOTimestamp.parse("2025W011") == .naive)
        #expect(ISOTimestamp.parse("2025-W01-8") == .invalid)
    }
}
