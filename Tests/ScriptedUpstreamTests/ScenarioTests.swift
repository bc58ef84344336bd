// The scenarios as plain values: chunk shapes, compiled writes, expected answers.

import JSON
import Testing
@testable import ScriptedUpstream

@Suite struct ScenarioTests {
    static let streamedNames = ["text", "reasoning", "think_tags", "tool", "two_tools", "task", "task_invalid",
                                "heuristic_tool", "control_tokens", "empty", "length", "unicode", "synthetic", "stall"]

    @Test func everyCatalogNameResolvesToItsOwnName() throws {
        for name in Scenario.catalogNames {
            let scenario = try #require(Scenario.named(name), "\(name)")
            #expect(scenario.name == name)
        }
        #expect(Scenario.named("nope") == nil)
    }

    @Test(arguments: streamedNames)
    func streamedScenarioFramesAreDataLinesEndingInDone(name: String) throws {
        let plan = try #require(Scenario.named(name)?.streamPlan)
        let text = String(decoding: plan.body, as: UTF8.self)
        #expect(text.hasSuffix("data: [DONE]\n\n"))
        let frames = text.split(separator: "\n\n").map(String.init)
        #expect(frames.count == plan.chunks.count + 1)
        for (frame, chunk) in zip(frames, plan.chunks) {
            #expect(frame.hasPrefix("data: "))
            #expect(try JSONValue.parse(String(frame.dropFirst(6))) == chunk)
            #expect(chunk["object"] == "chat.completion.chunk")
        }
    }

    /// The expected text is what the content deltas spell when nothing needs filtering.
    @Test(arguments: ["text", "length", "unicode", "synthetic"])
    func plainContentSpellsTheExpectedText(name: String) throws {
        let scenario = try #require(Scenario.named(name))
        let content = scenario.chunks.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }
        #expect(content.joined() == scenario.expected?.text)
    }

    @Test func finishReasonsAndUsage() throws {
        let expectations: [(String, String?, String)] = [
            ("text", "stop", "end_turn"), ("tool", "tool_calls", "tool_use"), ("length", "length", "max_tokens"),
            ("empty", "stop", "end_turn"), ("two_tools", "tool_calls", "tool_use"),
        ]
        for (name, finish, stop) in expectations {
            let scenario = try #require(Scenario.named(name))
            let reasons = scenario.chunks.compactMap { $0["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue }
            #expect(reasons == [finish].compactMap { $0 }, "\(name)")
            #expect(scenario.expected?.stopReason == stop)
            let usage = try #require(scenario.chunks.last?["usage"])
            #expect(scenario.chunks.last?["choices"] == [])
            #expect(usage["prompt_tokens"] == .int(Scenario.promptTokens))
            #expect(usage["completion_tokens"]?.intValue == scenario.expected?.outputTokens)
        }
    }

    @Test func textScenarioCarriesANullDelta() throws {
        let chunks = try #require(Scenario.named("text")).chunks
        #expect(chunks.contains { $0["choices"]?.arrayValue?.first?["delta"] == .null })
    }

    @Test func reasoningComesBeforeContent() throws {
        let chunks = Scenario.reasoning().chunks
        let deltas = chunks.compactMap { $0["choices"]?.arrayValue?.first?["delta"] }
        let reasoning = deltas.compactMap { $0["reasoning_content"]?.stringValue }
        #expect(reasoning.joined() == Scenario.reasoning().expected?.thinking)
        let firstContent = try #require(deltas.firstIndex { ($0["content"]?.stringValue ?? "").isEmpty == false })
        let lastReasoning = try #require(deltas.lastIndex { $0["reasoning_content"] != nil })
        #expect(lastReasoning < firstContent)
    }

    @Test func nativeToolFragments() throws {
        let calls = Scenario.tool().chunks.compactMap {
            $0["choices"]?.arrayValue?.first?["delta"]?["tool_calls"]?.arrayValue?.first
        }
        #expect(calls.count == 4)
        #expect(calls[0]["id"] == "call_bash_1")
        #expect(calls[0]["type"] == "function")
        #expect(calls.dropFirst().allSatisfy { $0["id"] == nil && $0["index"] == 0 })
        let name = calls.compactMap { $0["function"]?["name"]?.stringValue }.joined()
        #expect(name == "Bash")
        let arguments = calls.compactMap { $0["function"]?["arguments"]?.stringValue }.joined()
        #expect(try JSONValue.parse(arguments) == Scenario.tool().expected?.tools.first?.input)
    }

    @Test func twoToolsUseIndicesZeroAndOne() throws {
        let calls = Scenario.twoTools().chunks.compactMap {
            $0["choices"]?.arrayValue?.first?["delta"]?["tool_calls"]?.arrayValue?.first
        }
        var arguments: [Int: String] = [:]
        for call in calls { arguments[call["index"]!.intValue!, default: ""] += call["function"]?["arguments"]?.stringValue ?? "" }
        #expect(arguments.keys.sorted() == [0, 1])
        let expected = try #require(Scenario.twoTools().expected).tools
        #expect(try JSONValue.parse(arguments[0]!) == expected[0].input)
        #expect(try JSONValue.parse(arguments[1]!) == expected[1].input)
    }

    @Test func taskArgumentsParseOnlyWhenValid() throws {
        func arguments(_ scenario: Scenario) -> String {
            scenario.chunks.compactMap {
                $0["choices"]?.arrayValue?.first?["delta"]?["tool_calls"]?.arrayValue?.first?["function"]?["arguments"]?.stringValue
            }.joined()
        }
        let valid = try JSONValue.parse(arguments(.task()))
        #expect(valid["run_in_background"] == true)
        #expect(Scenario.task().expected?.tools.first?.input["run_in_background"] == false)
        #expect((try? JSONValue.parse(arguments(.taskInvalid()))) == nil)
        #expect(Scenario.taskInvalid().expected?.tools.first?.input == [:])
    }

    @Test func heuristicAndControlTokenTextIsSplitAcrossChunks() throws {
        let heuristic = Scenario.heuristicTool().chunks.compactMap {
            $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue
        }.joined()
        #expect(heuristic == "Let me list the files.\n● <function=Bash><parameter=command>ls -la</parameter>")
        let tokens = Scenario.controlTokens().chunks.compactMap {
            $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue
        }
        #expect(tokens.contains { $0.hasSuffix("<|tool_call_") })
        #expect(tokens.joined() == "Hello <|tool_calls_section_begin|>there friend <|tool_call_end|>, bye")
    }

    // MARK: Compiling

    @Test func delaysGoBetweenFramesOnly() {
        let plan = StreamPlan(chunks: [Chunk.content("a"), Chunk.content("b")], delayMs: 7)
        #expect(plan.writes.count == 3)
        #expect(plan.totalPauseMs == 14)
        guard case .write = plan.steps.first else {
            Issue.record("the first frame must go out at once")
            return
        }
    }

    @Test func pausesLandBeforeTheirChunk() {
        let plan = StreamPlan(chunks: [Chunk.content("a"), Chunk.content("b"), Chunk.content("c")], pauses: [2: 500])
        let kinds = plan.steps.map { step -> String in
            switch step {
            case .write: "w"
            case .pause(let ms): "p\(ms)"
            }
        }
        #expect(kinds == ["w", "w", "p500", "w", "w"])
    }

    @Test func everyBytesSplitsEachFrame() {
        let chunk = Chunk.content("hello")
        let plan = StreamPlan(chunks: [chunk], chunkSplit: .everyBytes(10))
        let frame = StreamPlan.frame(chunk)
        #expect(plan.writes.count == (frame.count + 9) / 10 + 2)
        #expect(plan.writes.dropLast().allSatisfy { $0.count <= 10 })
        #expect(plan.body == frame + StreamPlan.doneFrame)
    }

    @Test func insideMultibyteCutsAfterEachLeadByte() {
        let plan = StreamPlan(chunks: [Chunk.content("a€b😀")], chunkSplit: .insideMultibyte(gapMs: 0))
        let writes = plan.writes
        // Two multi-byte characters: three pieces, then [DONE].
        #expect(writes.count == 4)
        #expect(writes[0].last == 0xE2)
        #expect(writes[1].last == 0xF0)
        #expect(String(validating: writes[0], as: UTF8.self) == nil)
        #expect(String(decoding: writes.flatMap { $0 }, as: UTF8.self).contains("a€b😀"))
    }

    @Test func coalescedMergesUntilAPause() {
        let chunks = [Chunk.content("a"), Chunk.content("b"), Chunk.content("c")]
        let plan = StreamPlan(chunks: chunks, chunkSplit: .coalesced, pauses: [2: 5])
        #expect(plan.writes.count == 2)
        #expect(plan.writes[0] == StreamPlan.frame(chunks[0]) + StreamPlan.frame(chunks[1]))
        #expect(plan.body == chunks.flatMap { StreamPlan.frame($0) } + StreamPlan.doneFrame)
    }

    @Test func cutAndHangSendNoDone() {
        for plan in [Scenario.cut().streamPlan, Scenario.stall(pauseMs: nil).streamPlan] {
            #expect(plan.map { !String(decoding: $0.body, as: UTF8.self).contains("[DONE]") } == true)
        }
        #expect(Scenario.cut().streamPlan?.ending == .cut)
        #expect(Scenario.stall(pauseMs: nil).streamPlan?.ending == .hang)
        #expect(Scenario.stall(pauseMs: 250).streamPlan?.totalPauseMs == 250)
    }

    @Test func syntheticTextHasTheAskedSize() throws {
        let scenario = Scenario.synthetic(chunkCount: 5, chunkBytes: 70, delayMs: 3)
        let plan = try #require(scenario.streamPlan)
        let contents = plan.chunks.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }
            .filter { !$0.isEmpty }
        #expect(contents.count == 5)
        #expect(contents.allSatisfy { $0.utf8.count == 70 })
        #expect(scenario.expected?.text.utf8.count == 350)
        #expect(scenario.expected?.outputTokens == 5)
        // role, 5 deltas, finish, usage, [DONE]: 8 gaps of 3 ms.
        #expect(plan.totalPauseMs == 24)
        #expect(Scenario.synthetic(chunkCount: 1, chunkBytes: 0).expected?.text == " ")
    }

    @Test func errorBodiesAreOpenAIShaped() throws {
        let cases: [(Scenario, Int, String, Bool)] = [
            (.badRequest(), 400, "invalid_request_error", false),
            (.unauthorized(), 401, "authentication_error", false),
            (.rateLimited(), 429, "rate_limit_error", false),
            (.rateLimited(retryAfter: "2"), 429, "rate_limit_error", true),
            (.internalError(), 500, "server_error", false),
            (.overloaded(), 503, "server_error", false),
        ]
        for (scenario, status, type, hasRetryAfter) in cases {
            guard case .httpError(let reply) = scenario.behaviour else {
                Issue.record("\(scenario.name) is not an error")
                continue
            }
            #expect(reply.status == status)
            let body = try JSONValue.parse(reply.body)
            #expect(body["error"]?["type"] == .string(type))
            #expect(body["error"]?["message"]?.stringValue?.isEmpty == false)
            #expect(body["error"]?.objectValue?.keys == ["message", "type", "code"])
            #expect(reply.headers.contains { $0.name == "Retry-After" } == hasRetryAfter)
        }
        guard case .httpError(let overloaded) = Scenario.overloaded().behaviour else { return }
        #expect(String(decoding: overloaded.body, as: UTF8.self).lowercased().contains("overloaded"))
    }
}
