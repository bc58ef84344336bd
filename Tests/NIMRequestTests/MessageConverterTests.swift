import AnthropicAPI
import JSON
import Testing

@testable import NIMRequest

/// Decodes a `/v1/messages` body written as JSON text, the way requests arrive.
func request(_ json: String) throws -> MessagesRequest {
    try MessagesRequest.decode(JSONValue.parse(json), routing: ModelRouting(default: "test-model"))
}

func messages(_ json: String) throws -> [JSONValue] {
    MessageConverter.convertMessages(try request(#"{"model":"m","messages":"# + json + "}").messages)
}

func obj(_ json: String) throws -> JSONValue { try JSONValue.parse(json) }

@Suite struct SystemPromptConversion {
    @Test func stringBecomesSystemMessage() throws {
        #expect(MessageConverter.convertSystem(.text("You are a helpful assistant."))
            == (try obj(#"{"role":"system","content":"You are a helpful assistant."}"#)))
    }

    @Test func textBlocksJoinWithBlankLine() throws {
        let r = try request(#"{"model":"m","messages":[],"system":[{"type":"text","text":"Part 1"},{"type":"text","text":"Part 2"}]}"#)
        #expect(MessageConverter.convertSystem(r.system) == (try obj(#"{"role":"system","content":"Part 1\n\nPart 2"}"#)))
    }

    @Test func noneAndEmptyList() throws {
        #expect(MessageConverter.convertSystem(nil) == nil)
        #expect(MessageConverter.convertSystem(.blocks([])) == nil)
    }

    @Test func emptyStringStaysASystemMessage() throws {
        #expect(MessageConverter.convertSystem(.text("")) == (try obj(#"{"role":"system","content":""}"#)))
    }

    @Test func joinedBlocksAreStripped() throws {
        let r = try request(#"{"model":"m","messages":[],"system":[{"type":"text","text":"  A"},{"type":"text","text":"B \n"}]}"#)
        #expect(MessageConverter.convertSystem(r.system) == (try obj(#"{"role":"system","content":"A\n\nB"}"#)))
    }
}

@Suite struct ToolConversion {
    @Test func toolsBecomeFunctions() throws {
        let r = try request(#"""
            {"model":"m","messages":[],"tools":[
              {"name":"get_weather","description":"Get weather","input_schema":{"type":"object","properties":{"loc":{"type":"string"}}}},
              {"name":"calculator","input_schema":{"type":"object"}}]}
            """#)
        let tools = MessageConverter.convertTools(r.tools ?? [])
        #expect(tools.count == 2)
        #expect(tools[0] == (try obj(#"{"type":"function","function":{"name":"get_weather","description":"Get weather","parameters":{"type":"object","properties":{"loc":{"type":"string"}}}}}"#)))
        #expect(tools[1]["function"]?["description"] == "")
        #expect(tools[1]["function"]?["name"] == "calculator")
    }

    @Test(arguments: [
        (#"{"type":"auto"}"#, #""auto""#, false),
        (#"{"type":"any"}"#, #""required""#, false),
        (#"{"type":"none"}"#, #""none""#, false),
        (#"{"type":"tool","name":"Bash"}"#, #"{"type":"function","function":{"name":"Bash"}}"#, false),
        (#"{"type":"auto","disable_parallel_tool_use":true}"#, #""auto""#, true),
    ])
    func toolChoiceTranslatesToOpenAI(input: String, expected: String, disableParallel: Bool) throws {
        let converted = MessageConverter.convertToolChoice(try obj(input).objectValue!)
        #expect(converted.choice == (try obj(expected)))
        #expect(converted.disableParallel == disableParallel)
    }

    @Test func unknownToolChoiceIsOmitted() throws {
        #expect(MessageConverter.convertToolChoice(try obj(#"{"type":"weird"}"#).objectValue!).choice == nil)
        #expect(MessageConverter.convertToolChoice(try obj(#"{"type":"tool"}"#).objectValue!).choice == nil)
    }
}

@Suite struct UserMessageConversion {
    @Test func plainString() throws {
        #expect(try messages(#"[{"role":"user","content":"Hello world"}]"#) == [try obj(#"{"role":"user","content":"Hello world"}"#)])
    }

    @Test(arguments: [
        (#""Hello world""#, "Hello world"),
        (#""""#, ""),
        (#"[{"type":"text","text":"A"},{"type":"text","text":"B"}]"#, "A\nB"),
        (#"[{"type":"text","text":""}]"#, ""),
    ])
    func textContent(content: String, expected: String) throws {
        let out = try messages(#"[{"role":"user","content":"# + content + "}]")
        #expect(out.first?["content"] == .string(expected))
    }

    @Test func toolResultString() throws {
        let out = try messages(#"[{"role":"user","content":[{"type":"tool_result","tool_use_id":"tool_123","content":"Result data"}]}]"#)
        #expect(out == [try obj(#"{"role":"tool","tool_call_id":"tool_123","content":"Result data"}"#)])
    }

    @Test func toolResultListJoinsTexts() throws {
        let out = try messages(#"[{"role":"user","content":[{"type":"tool_result","tool_use_id":"tool_456","content":[{"type":"text","text":"Line 1"},{"type":"text","text":"Line 2"}]}]}]"#)
        #expect(out == [try obj(#"{"role":"tool","tool_call_id":"tool_456","content":"Line 1\nLine 2"}"#)])
    }

    @Test func toolResultItemsWithoutTextUsePythonStr() throws {
        let out = try messages(#"[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","n":1.5,"ok":true,"x":null},"plain",3]}]}]"#)
        #expect(out[0]["content"] == "{'type': 'image', 'n': 1.5, 'ok': True, 'x': None}\nplain\n3")
    }

    @Test func toolResultFalsyAndMissingContentIsEmpty() throws {
        let out = try messages(#"[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a"},{"type":"tool_result","tool_use_id":"b","content":0},{"type":"tool_result","tool_use_id":"c","content":{"k":"it's"}}]}]"#)
        #expect(out.map { $0["content"] } == [.string(""), .string(""), .string("{'k': \"it's\"}")])
    }

    @Test func multipleToolResultsKeepOrder() throws {
        let out = try messages(#"[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"Result 1"},{"type":"tool_result","tool_use_id":"t2","content":"Result 2"}]}]"#)
        #expect(out.map { $0["tool_call_id"] } == [.string("t1"), .string("t2")])
    }

    /// The reference emits the text first (its tests assert that order), which puts a
    /// user message between the assistant's tool calls and their results: OpenAI-compatible
    /// servers reject that. Tool results come first.
    @Test func toolResultsPrecedeTextOfTheSameMessage() throws {
        let out = try messages(#"""
            [{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
             {"role":"user","content":[{"type":"text","text":"Please use this result:"},{"type":"tool_result","tool_use_id":"t1","content":"42"}]}]
            """#)
        #expect(out.count == 3)
        #expect(out[1] == (try obj(#"{"role":"tool","tool_call_id":"t1","content":"42"}"#)))
        #expect(out[2] == (try obj(#"{"role":"user","content":"Please use this result:"}"#)))
    }

    @Test func imagesBecomeImageURLParts() throws {
        let out = try messages(#"""
            [{"role":"user","content":[{"type":"text","text":"What is this?"},
              {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"AAAA"}},
              {"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}]
            """#)
        #expect(out == [try obj(#"""
            {"role":"user","content":[{"type":"text","text":"What is this?"},
              {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,AAAA"}},
              {"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}
            """#)])
    }

    @Test func unusableImageSourceIsDropped() throws {
        let out = try messages(#"[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{"type":"base64","data":12}}]}]"#)
        #expect(out == [try obj(#"{"role":"user","content":"hi"}"#)])
    }

    @Test func unconvertedBlocksAreIgnored() throws {
        let out = try messages(#"[{"role":"user","content":[{"type":"document","source":{}},{"type":"text","text":"x"}]}]"#)
        #expect(out == [try obj(#"{"role":"user","content":"x"}"#)])
    }
}

@Suite struct AssistantMessageConversion {
    @Test func plainString() throws {
        #expect(try messages(#"[{"role":"assistant","content":"I am ready."}]"#) == [try obj(#"{"role":"assistant","content":"I am ready."}"#)])
    }

    @Test func textBlock() throws {
        #expect(try messages(#"[{"role":"assistant","content":[{"type":"text","text":"Part A"}]}]"#) == [try obj(#"{"role":"assistant","content":"Part A"}"#)])
    }

    @Test func thinkingBecomesThinkTags() throws {
        let out = try messages(#"[{"role":"assistant","content":[{"type":"thinking","thinking":"I need to calculate this."},{"type":"text","text":"The answer is 4."}]}]"#)
        #expect(out[0]["content"] == "<think>\nI need to calculate this.\n</think>\n\nThe answer is 4.")
    }

    @Test func toolUseBecomesToolCall() throws {
        let out = try messages(#"[{"role":"assistant","content":[{"type":"text","text":"I will call the tool."},{"type":"tool_use","id":"call_1","name":"search","input":{"query":"python"}}]}]"#)
        #expect(out == [try obj(#"""
            {"role":"assistant","content":"I will call the tool.","tool_calls":[
              {"id":"call_1","type":"function","function":{"name":"search","arguments":"{\"query\": \"python\"}"}}]}
            """#)])
    }

    @Test func emptyContentBecomesOneSpace() throws {
        #expect(try messages(#"[{"role":"assistant","content":[]}]"#)[0]["content"] == " ")
    }

    @Test func toolUseWithoutTextKeepsEmptyContent() throws {
        let out = try messages(#"[{"role":"assistant","content":[{"type":"tool_use","id":"call_2","name":"test","input":{}}]}]"#)
        #expect(out[0]["content"] == "")
        #expect(out[0]["tool_calls"]?.arrayValue?.count == 1)
        #expect(out[0]["tool_calls"]?.arrayValue?.first?["function"]?["arguments"] == "{}")
    }

    @Test func interleavedOrderPreserved() throws {
        let out = try messages(#"""
            [{"role":"assistant","content":[{"type":"thinking","thinking":"First thought."},{"type":"text","text":"Here is the answer."},
              {"type":"thinking","thinking":"Second thought."},{"type":"tool_use","id":"call_1","name":"search","input":{"q":"x"}}]}]
            """#)
        #expect(out[0]["content"] == "<think>\nFirst thought.\n</think>\n\nHere is the answer.\n\n<think>\nSecond thought.\n</think>")
        #expect(out[0]["tool_calls"]?.arrayValue?.count == 1)
    }

    @Test func unknownBlocksSkipped() throws {
        let out = try messages(#"[{"role":"assistant","content":[{"type":"unknown_type","data":"something"},{"type":"redacted_thinking","data":"x"},{"type":"text","text":"visible"}]}]"#)
        #expect(out == [try obj(#"{"role":"assistant","content":"visible"}"#)])
    }

    @Test func mixedRolesFlow() throws {
        let out = try messages(#"""
            [{"role":"user","content":"Start"},
             {"role":"assistant","content":[{"type":"thinking","thinking":"Thinking..."},{"type":"text","text":"Here is a tool."}]},
             {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]}]
            """#)
        #expect(out.count == 3)
        #expect(out[0]["role"] == "user")
        #expect(out[1]["content"]?.stringValue?.contains("<think>") == true)
        #expect(out[2]["tool_calls"]?.arrayValue?.first?["id"] == "t1")
    }

    @Test func toolArgumentsUsePythonJSONSpacingAndEscapes() throws {
        let out = try messages(#"[{"role":"assistant","content":[{"type":"tool_use","id":"c","name":"Bash","input":{"command":"echo é","n":[1,2.5]}}]}]"#)
        #expect(out[0]["tool_calls"]?.arrayValue?.first?["function"]?["arguments"] == #"{"command": "echo \u00e9", "n": [1, 2.5]}"#)
    }
}

@Suite struct SystemRoleMessages {
    @Test func systemMessagesStayInPlace() throws {
        let out = try messages(#"""
            [{"role":"user","content":"a"},{"role":"system","content":[{"type":"text","text":"Note 1"},{"type":"text","text":"Note 2"}]},
             {"role":"system","content":"plain"},{"role":"user","content":"b"}]
            """#)
        #expect(out == [
            try obj(#"{"role":"user","content":"a"}"#),
            try obj(#"{"role":"system","content":"Note 1\n\nNote 2"}"#),
            try obj(#"{"role":"system","content":"plain"}"#),
            try obj(#"{"role":"user","content":"b"}"#),
        ])
    }
}
