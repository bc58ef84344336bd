import AnthropicAPI
import JSON
import Testing

@testable import LocalAnswers

private func run(_ r: MessagesRequest, _ switches: LocalAnswerSwitches = LocalAnswerSwitches()) -> LocalAnswer? {
    answerLocally(r, switches: switches, makeID: { "msg_test" })
}

private func expected(_ text: String, input: Int, output: Int) -> JSONValue {
    [
        "id": "msg_test", "model": "target", "role": "assistant", "content": [["type": "text", "text": .string(text)]],
        "type": "message", "stop_reason": "end_turn", "stop_sequence": nil,
        "usage": ["input_tokens": .int(input), "output_tokens": .int(output), "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0],
    ]
}

@Suite struct AnswerLocallyTests {
    @Test func quotaMock() {
        let result = run(request([message(.user, "quota check")], maxTokens: 1))
        #expect(result?.kind == .quotaMock)
        #expect(result?.response.json == expected("Quota check passed.", input: 10, output: 5))
    }

    @Test func prefixDetection() {
        let result = run(request([message(.user, "<policy_spec>x</policy_spec>\nCommand: git commit -m 'x'")]))
        #expect(result?.kind == .prefixDetection)
        #expect(result?.response.json == expected("git commit", input: 100, output: 5))
    }

    @Test func titleSkip() {
        let result = run(request([message(.user, "Please write a 5-10 word title for this")]))
        #expect(result?.kind == .titleSkip)
        #expect(result?.response.json == expected("Conversation", input: 100, output: 5))
    }

    @Test func suggestionSkip() {
        let result = run(request([message(.user, "[SUGGESTION MODE: Suggest what the user might naturally type next]")]))
        #expect(result?.kind == .suggestionSkip)
        #expect(result?.response.json == expected("", input: 100, output: 1))
    }

    @Test func filepathMock() {
        let result = run(request([message(.user, "Command: head -n 5 a.txt\nOutput: x\n\nExtract <filepaths>")]))
        #expect(result?.kind == .filepathMock)
        #expect(result?.response.json == expected("<filepaths>\na.txt\n</filepaths>", input: 100, output: 10))
    }

    @Test func ordinaryRequestGoesUpstream() {
        #expect(run(request([message(.user, "Hi")], maxTokens: 100)) == nil)
    }

    @Test func eachSwitchTurnsItsPathOff() {
        #expect(run(request([message(.user, "quota")], maxTokens: 1), LocalAnswerSwitches(quotaMock: false)) == nil)
        #expect(run(request([message(.user, "<policy_spec>Command: ls")]), LocalAnswerSwitches(prefixDetection: false)) == nil)
        #expect(run(request([message(.user, "write a 5-10 word title")]), LocalAnswerSwitches(titleSkip: false)) == nil)
        #expect(run(request([message(.user, "[SUGGESTION MODE: x]")]), LocalAnswerSwitches(suggestionSkip: false)) == nil)
        #expect(run(request([message(.user, "Command: cat a\nOutput: b filepaths")]), LocalAnswerSwitches(filepathMock: false)) == nil)
        #expect(run(request([message(.user, "quota")], maxTokens: 1), .allOff) == nil)
    }

    /// When several match, the reference's order decides: quota, prefix, title, suggestion, filepath.
    @Test func orderOfPaths() {
        let all = "quota <policy_spec> Command: ls\nOutput: x filepaths write a 5-10 word title [SUGGESTION MODE:"
        #expect(run(request([message(.user, all)], maxTokens: 1))?.kind == .quotaMock)
        #expect(run(request([message(.user, all)], maxTokens: 2))?.kind == .prefixDetection)
        let noPrefix = "Command: ls\nOutput: x filepaths write a 5-10 word title [SUGGESTION MODE:"
        #expect(run(request([message(.user, noPrefix)]))?.kind == .titleSkip)
        #expect(run(request([message(.user, noPrefix)]), LocalAnswerSwitches(titleSkip: false))?.kind == .suggestionSkip)
        #expect(
            run(request([message(.user, noPrefix)]), LocalAnswerSwitches(titleSkip: false, suggestionSkip: false))?.kind
                == .filepathMock)
    }

    @Test func defaultIDIsMsgUUID() {
        let id = answerLocally(request([message(.user, "quota")], maxTokens: 1), switches: LocalAnswerSwitches())?.response.id
        #expect(id?.hasPrefix("msg_") == true)
        #expect(id?.count == 40)
        #expect(id == id?.lowercased())
    }
}
