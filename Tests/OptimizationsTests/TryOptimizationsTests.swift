import AnthropicAPI
import JSON
import Testing

@testable import Optimizations

private func run(_ r: MessagesRequest, _ switches: OptimizationSwitches = OptimizationSwitches()) -> OptimizedResponse? {
    tryOptimizations(r, switches: switches, makeID: { "msg_test" })
}

private func expected(_ text: String, input: Int, output: Int) -> JSONValue {
    [
        "id": "msg_test", "model": "target", "role": "assistant", "content": [["type": "text", "text": .string(text)]],
        "type": "message", "stop_reason": "end_turn", "stop_sequence": nil,
        "usage": ["input_tokens": .int(input), "output_tokens": .int(output), "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0],
    ]
}

@Suite struct TryOptimizationsTests {
    @Test func quotaMock() {
        let result = run(request([message(.user, "quota check")], maxTokens: 1))
        #expect(result?.optimization == .quotaMock)
        #expect(result?.response.json == expected("Quota check passed.", input: 10, output: 5))
    }

    @Test func prefixDetection() {
        let result = run(request([message(.user, "<policy_spec>x</policy_spec>\nCommand: git commit -m 'x'")]))
        #expect(result?.optimization == .prefixDetection)
        #expect(result?.response.json == expected("git commit", input: 100, output: 5))
    }

    @Test func titleSkip() {
        let result = run(request([message(.user, "Please write a 5-10 word title for this")]))
        #expect(result?.optimization == .titleSkip)
        #expect(result?.response.json == expected("Conversation", input: 100, output: 5))
    }

    @Test func suggestionSkip() {
        let result = run(request([message(.user, "[SUGGESTION MODE: Suggest what the user might naturally type next]")]))
        #expect(result?.optimization == .suggestionSkip)
        #expect(result?.response.json == expected("", input: 100, output: 1))
    }

    @Test func filepathMock() {
        let result = run(request([message(.user, "Command: head -n 5 a.txt\nOutput: x\n\nExtract <filepaths>")]))
        #expect(result?.optimization == .filepathMock)
        #expect(result?.response.json == expected("<filepaths>\na.txt\n</filepaths>", input: 100, output: 10))
    }

    @Test func ordinaryRequestGoesUpstream() {
        #expect(run(request([message(.user, "Hi")], maxTokens: 100)) == nil)
    }

    @Test func eachSwitchTurnsItsPathOff() {
        #expect(run(request([message(.user, "quota")], maxTokens: 1), OptimizationSwitches(quotaMock: false)) == nil)
        #expect(run(request([message(.user, "<policy_spec>Command: ls")]), OptimizationSwitches(prefixDetection: false)) == nil)
        #expect(run(request([message(.user, "write a 5-10 word title")]), OptimizationSwitches(titleSkip: false)) == nil)
        #expect(run(request([message(.user, "[SUGGESTION MODE: x]")]), OptimizationSwitches(suggestionSkip: false)) == nil)
        #expect(run(request([message(.user, "Command: cat a\nOutput: b filepaths")]), OptimizationSwitches(filepathMock: false)) == nil)
        #expect(run(request([message(.user, "quota")], maxTokens: 1), .allOff) == nil)
    }

    /// When several match, the reference's order decides: quota, prefix, title, suggestion, filepath.
    @Test func orderOfPaths() {
        let all = "quota <policy_spec> Command: ls\nOutput: x filepaths write a 5-10 word title [SUGGESTION MODE:"
        #expect(run(request([message(.user, all)], maxTokens: 1))?.optimization == .quotaMock)
        #expect(run(request([message(.user, all)], maxTokens: 2))?.optimization == .prefixDetection)
        let noPrefix = "Command: ls\nOutput: x filepaths write a 5-10 word title [SUGGESTION MODE:"
        #expect(run(request([message(.user, noPrefix)]))?.optimization == .titleSkip)
        #expect(run(request([message(.user, noPrefix)]), OptimizationSwitches(titleSkip: false))?.optimization == .suggestionSkip)
        #expect(
            run(request([message(.user, noPrefix)]), OptimizationSwitches(titleSkip: false, suggestionSkip: false))?.optimization
                == .filepathMock)
    }

    @Test func defaultIDIsMsgUUID() {
        let id = tryOptimizations(request([message(.user, "quota")], maxTokens: 1), switches: OptimizationSwitches())?.response.id
        #expect(id?.hasPrefix("msg_") == true)
        #expect(id?.count == 40)
        #expect(id == id?.lowercased())
    }
}
