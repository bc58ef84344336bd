import JSON
import Testing
@testable import StreamTranslation

/// Counts scalars: a stand-in tokenizer whose results are easy to compute by hand.
private func scalarCount(_ s: String) -> Int { s.unicodeScalars.count }

@Suite struct StreamingPorts {
    // tests/test_streaming_errors.py and tests/test_nvidia_nim.py, at the translator's level.

    @Test func errorBeforeAnyChunk() {
        let e = events(translate([], error: "API failed"))
        #expect(e.first?.type == "message_start")
        #expect(blocks(e) == [start(0, "text"), delta(0, "text", "API failed"), stop(0)])
        #expect(e.last?.type == "message_stop")
    }

    @Test func errorAfterPartialContentClosesTheTextFirst() {
        let e = events(translate([chunk(["content": "Hello "])], error: "Connection lost"))
        #expect(blocks(e) == [start(0, "text"), delta(0, "text", "Hello "), stop(0),
                              start(1, "text"), delta(1, "text", "Connection lost"), stop(1)])
    }

    @Test func endsWithDoneLine() {
        let bytes = translate([chunk(["content": "x"], finish: "stop")])
        #expect(String(decoding: bytes, as: UTF8.self).hasSuffix("event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n[DONE]\n\n"))
    }

    @Test func toolCallWithID() {
        let e = events(translate([toolDelta(0, id: "call_123", name: "search", args: "{\"q\": \"test\"}")]))
        #expect(blocks(e) == [start(0, "tool_use", id: "call_123", name: "search"), delta(0, "tool", "{\"q\": \"test\"}"), stop(0)])
    }

    @Test func toolCallWithoutIDGetsGeneratedID() {
        var t = StreamTranslator(model: "m", inputTokens: 0, messageID: "msg", countTokens: scalarCount)
        var out = t.consume(chunk: toolDelta(0, name: "test", args: "{}"))
        out += t.finish()
        let id = blocks(events(out)).first?.data["content_block"]?["id"]?.stringValue ?? ""
        #expect(id.hasPrefix("tool_") && id.count == 41)
    }

    @Test func negativeIndexUsesNextSlot() {
        let e = events(translate([toolDelta(-1, id: "call_neg", name: "test", args: "{}")]))
        #expect(blocks(e) == [start(0, "tool_use", id: "call_neg", name: "test"), delta(0, "tool", "{}"), stop(0)])
    }

    @Test func taskToolForcedToForeground() {
        let args = "{\"run_in_background\": true, \"prompt\": \"test\"}"
        let e = events(translate([toolDelta(0, id: "call_task", name: "Task", args: args)]))
        #expect(blocks(e)[1] == delta(0, "tool", "{\"run_in_background\": false, \"prompt\": \"test\"}"))
    }

    @Test func taskWithoutTheFlagGetsItAppended() {
        // tests/test_subagent_interception.py shape, plus the missing-key case.
        let e = events(translate([toolDelta(0, id: "tool_123", name: "Task",
                                            args: "{\"description\": \"test task\", \"prompt\": \"do something\"}")]))
        #expect(blocks(e)[1] == delta(0, "tool", "{\"description\": \"test task\", \"prompt\": \"do something\", \"run_in_background\": false}"))
    }

    @Test func chunkedTaskArgumentsAreHeldUntilTheyParse() {
        var t = makeTranslator(countTokens: scalarCount)
        _ = t.start()
        let first = events(t.consume(chunk: toolDelta(0, id: "c", name: "Task", args: "{\"run_in_background\": true,")))
        #expect(first == [start(0, "tool_use", id: "c", name: "Task")])
        let second = events(t.consume(chunk: toolDelta(0, args: " \"prompt\": \"test\"}")))
        #expect(second == [delta(0, "tool", "{\"run_in_background\": false, \"prompt\": \"test\"}")])
        // Anything after the arguments completed is dropped, as in the reference.
        #expect(t.consume(chunk: toolDelta(0, args: "junk")).isEmpty)
    }

    @Test func taskArgumentsThatNeverParseBecomeEmptyObject() {
        let e = events(translate([toolDelta(0, id: "c", name: "Task", args: "not json")]))
        #expect(blocks(e) == [start(0, "tool_use", id: "c", name: "Task"), delta(0, "tool", "{}"), stop(0)])
    }

    @Test func taskArgumentsThatParseToANonObjectBecomeEmptyObject() {
        // The reference calls .get on the parsed value and fails the whole stream.
        let e = events(translate([toolDelta(0, id: "c", name: "Task", args: "[1, 2]")]))
        #expect(blocks(e) == [start(0, "tool_use", id: "c", name: "Task"), delta(0, "tool", "{}"), stop(0)])
    }

    @Test func fullNameResentIsNotDoubled() {
        let e = events(translate([toolDelta(0, id: "c", name: "Task"), toolDelta(0, name: "Task", args: "{}")]))
        #expect(blocks(e).first == start(0, "tool_use", id: "c", name: "Task"))
    }

    @Test func emptyChoicesAndNullDeltaAreSkipped() {
        let e = events(translate([["choices": []], ["choices": [["delta": nil, "finish_reason": nil]]], chunk([:], finish: "stop")]))
        #expect(blocks(e) == [start(0, "text"), delta(0, "text", " "), stop(0)])
    }

    @Test func upstreamCompletionTokensWin() {
        let e = events(translate([chunk(["content": "Hello"]),
                                  ["choices": [], "usage": ["prompt_tokens": 1, "completion_tokens": 10]]]))
        #expect(e.first { $0.type == "message_delta" }?.data["usage"]?["output_tokens"] == 10)
    }

    @Test func estimateFollowsTheReferenceFormula() {
        // text 5 + reasoning 3 + tool (name 4 + args 2 + 15) + 3 blocks * 4
        let e = events(translate([chunk(["reasoning_content": "abc"]), chunk(["content": "hello"]),
                                  toolDelta(0, id: "i", name: "Read", args: "{}")], countTokens: scalarCount))
        #expect(e.first { $0.type == "message_delta" }?.data["usage"]?["output_tokens"] == .int(5 + 3 + 4 + 2 + 15 + 12))
        #expect(events(translate([], countTokens: scalarCount)).first { $0.type == "message_delta" }?
            .data["usage"]?["output_tokens"] == .int(1 + 4))
    }

    @Test func errorMemberInAChunkFailsTheStream() {
        var t = makeTranslator(countTokens: scalarCount)
        var out = t.start()
        out += t.consume(chunk: ["error": ["message": "model crashed", "code": 500]])
        #expect(t.isFinished)
        #expect(t.consume(chunk: chunk(["content": "late"])).isEmpty)
        #expect(t.finish().isEmpty)
        #expect(blocks(events(out)) == [start(0, "text"), delta(0, "text", "Upstream error 500: model crashed"), stop(0)])
        var u = makeTranslator(countTokens: scalarCount)
        let e = events(u.consume(chunk: ["error": "x"]))
        #expect(e.first?.type == "message_start")
        #expect(blocks(e)[1] == delta(0, "text", "An error occurred during streaming"))
    }

    @Test(arguments: [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
                      ("content_filter", "end_turn"), ("unknown_value", "end_turn"), ("", "end_turn")])
    func stopReasonMap(finish: String, expected: String) {
        #expect(mapStopReason(finish) == expected)
        #expect(stopReason(events(translate([chunk(["content": "x"], finish: finish)]))) == expected)
    }

    @Test func stopReasonWithoutFinish() { #expect(mapStopReason(nil) == "end_turn") }
}

@Suite struct FixedReferenceDefects {
    @Test func finishReasonInAChunkWithNullDeltaCounts() {
        let e = events(translate([chunk(["content": "cut"]), ["choices": [["delta": nil, "finish_reason": "length"]]]]))
        #expect(stopReason(e) == "max_tokens")
    }

    @Test func fragmentedToolNameNamesTheBlockOnceComplete() {
        // Reference: the block is named "Ta" from the first fragment.
        let e = events(translate([toolDelta(0, id: "c1", name: "Ta"), toolDelta(0, name: "sk"),
                                  toolDelta(0, args: "{\"prompt\": \"p\"}")]))
        #expect(blocks(e) == [start(0, "tool_use", id: "c1", name: "Task"),
                              delta(0, "tool", "{\"prompt\": \"p\", \"run_in_background\": false}"), stop(0)])
    }

    @Test func lateIDIsUsedAndNameOnlyCallStartsWhenItEnds() {
        let e = events(translate([toolDelta(0, name: "Gl"), toolDelta(0, id: "late", name: "ob"), toolDelta(1, id: "c2", name: "Read")]))
        #expect(blocks(e) == [start(0, "tool_use", id: "late", name: "Glob"), stop(0),
                              start(1, "tool_use", id: "c2", name: "Read"), stop(1)])
    }

    @Test func twoNativeToolsDoNotInterleave() {
        // Reference: start 0, start 1, deltas, then stop 0, stop 1 at the end.
        let e = events(translate([toolDelta(0, id: "a", name: "Read", args: "{\"f\":"), toolDelta(0, args: " 1}"),
                                  toolDelta(1, id: "b", name: "Glob", args: "{}"), chunk([:], finish: "tool_calls")]))
        #expect(blocks(e) == [start(0, "tool_use", id: "a", name: "Read"), delta(0, "tool", "{\"f\":"), delta(0, "tool", " 1}"), stop(0),
                              start(1, "tool_use", id: "b", name: "Glob"), delta(1, "tool", "{}"), stop(1)])
        #expect(stopReason(e) == "tool_use")
    }

    @Test func textAfterAToolClosesTheToolFirst() {
        let e = events(translate([toolDelta(0, id: "a", name: "Read", args: "{}"), chunk(["content": "done"])]))
        #expect(blocks(e) == [start(0, "tool_use", id: "a", name: "Read"), delta(0, "tool", "{}"), stop(0),
                              start(1, "text"), delta(1, "text", "done"), stop(1)])
    }

    @Test func errorWhileAToolIsOpenClosesItFirst() {
        let e = events(translate([toolDelta(0, id: "t", name: "Task", args: "{\"prompt\":")], error: "boom"))
        #expect(blocks(e) == [start(0, "tool_use", id: "t", name: "Task"), delta(0, "tool", "{}"), stop(0),
                              start(1, "text"), delta(1, "text", "boom"), stop(1)])
    }

    @Test func heuristicToolCallEndsWithToolUse() {
        let e = events(translate([chunk(["content": "Let me check. ● <function=Grep><parameter=pattern>x</parameter>"]),
                                  chunk(["content": "\nDone."], finish: "stop")]))
        #expect(blocks(e) == [start(0, "text"), delta(0, "text", "Let me check. "), delta(0, "text", "\nDone."), stop(0),
                              start(1, "tool_use", id: "toolu_heuristic_00000001", name: "Grep"),
                              delta(1, "tool", "{\"pattern\": \"x\"}"), stop(1)])
        #expect(stopReason(e) == "tool_use")
    }

    @Test func heuristicToolOnlyAnswerGetsNoSpaceBlock() {
        let e = events(translate([chunk(["content": "● <function=Task><parameter=prompt>go</parameter>"], finish: "stop")]))
        #expect(blocks(e) == [start(0, "tool_use", id: "toolu_heuristic_00000001", name: "Task"),
                              delta(0, "tool", "{\"prompt\": \"go\", \"run_in_background\": false}"), stop(0)])
    }

    @Test func consecutiveHeuristicCallsInConsecutiveChunks() {
        let e = events(translate([chunk(["content": "● <function=T1><parameter=x>1</parameter>"]),
                                  chunk(["content": "● <function=T2><parameter=y>2</parameter>"])]))
        #expect(blocks(e) == [start(0, "tool_use", id: "toolu_heuristic_00000001", name: "T1"), delta(0, "tool", "{\"x\": \"1\"}"), stop(0),
                              start(1, "tool_use", id: "toolu_heuristic_00000002", name: "T2"), delta(1, "tool", "{\"y\": \"2\"}"), stop(1)])
    }

    @Test func shortBulletListSurvives() {
        let e = events(translate([chunk(["content": "Plan:\n● read\n"]), chunk(["content": "● write"])]))
        let text = blocks(e).compactMap { $0.data["delta"]?["text"]?.stringValue }.joined()
        #expect(text == "Plan:\n● read\n● write")
    }

    @Test func textAfterUnterminatedControlTokenSurvives() {
        let e = events(translate([chunk(["content": "a <| b"]), chunk(["content": " c"])]))
        let text = blocks(e).compactMap { $0.data["delta"]?["text"]?.stringValue }.joined()
        #expect(text == "a <| b c")
    }
}
