import BotAPI
import EventLoop
import JSON
import ProxyConfig
import TestSupport
import Testing

/// `MAX_MESSAGE_LOG_ENTRIES_PER_CHAT` reaches the store through `Settings`, so a `.env` value
/// counts (it used to be read from the process environment only).
@Suite(.serialized) struct MessageLogCapSettingTests {
    @Test func capFromDotEnvLimitsEachChatsLog() throws {
        let loaded = try Settings.load(environment: [:], dotEnv: "MAX_MESSAGE_LOG_ENTRIES_PER_CHAT=2")
        let dir = makeTempDirectory()
        var responses: [TestResponse?] = []
        try withLoop { loop in
            let h = try Harness(loop: loop, workspace: dir) { $0.cli.messageLogCap = loaded.cli.messageLogCap }
            let record = (1...3).map { id in
                ("POST", "/store/record_message_id",
                 #"{"platform":"telegram","chat_id":"5","message_id":"\#(id)","direction":"in","kind":"x"}"#)
            }
            h.sequence(record + [("POST", "/store/get_message_ids_for_chat", #"{"platform":"telegram","chat_id":"5"}"#)]) { r in
                responses = r
                h.finish()
            }
        }
        #expect(responses.count == 4)
        #expect(result(responses[3]) == json(#"["2","3"]"#))
    }
}
