import AnthropicAPI
import JSON
import ProxyConfig
import TestSupport
import Testing

@testable import NIMRequest

@Suite struct RequestBuilderTests {
    /// The reference test's MockRequest: model test-model, one user message, max_tokens 100,
    /// temperature 0.5, top_p 0.9, a system prompt, a stop sequence, no tools.
    let referenceRequest = #"""
        {"model":"test-model","messages":[{"role":"user","content":"Hello"}],"max_tokens":100,
         "temperature":0.5,"top_p":0.9,"system":"System prompt","stop_sequences":["STOP"],"tools":[],"extra_body":{}}
        """#

    @Test func referenceBodyMatchesTheReferenceTest() throws {
        let body = RequestBuilder.referenceBody(try request(referenceRequest), nim: NimSettings())
        #expect(body["model"] == "test-model")
        #expect(body["temperature"] == 0.5)
        #expect(body["messages"]?.arrayValue?.count == 2)
        #expect(body["messages"]?.arrayValue?[0] == (try obj(#"{"role":"system","content":"System prompt"}"#)))
        #expect(body["extra_body"]?["thinking"]?["type"] == "enabled")
    }

    /// Every key of the reference's body for default settings, computed by hand from
    /// `build_request_body`: the `_set_extra` defaults that are always present included.
    @Test func wholeBodyWithDefaultSettings() throws {
        let body = RequestBuilder.referenceBody(try request(referenceRequest), nim: NimSettings())
        let expected = try obj(#"""
            {"model":"test-model","messages":[{"role":"system","content":"System prompt"},{"role":"user","content":"Hello"}],
             "max_tokens":100,"temperature":0.5,"top_p":0.9,"stop":["STOP"],"parallel_tool_calls":true,
             "extra_body":{"thinking":{"type":"enabled"},"reasoning_split":true,
               "chat_template_kwargs":{"thinking":true,"reasoning_split":true,"clear_thinking":false},
               "return_tokens_as_token_ids":false,"include_stop_str_in_output":false,"ignore_eos":false,
               "reasoning_effort":"high","include_reasoning":true}}
            """#)
        #expect(JSONValue.object(body) == expected)
    }

    @Test func upstreamBodyMergesExtraBodyAndStreams() throws {
        let body = RequestBuilder.upstreamBody(try request(referenceRequest), nim: NimSettings())
        #expect(body["extra_body"] == nil)
        #expect(body["stream"] == true)
        #expect(body["reasoning_effort"] == "high")
        #expect(body["chat_template_kwargs"]?["clear_thinking"] == false)
        #expect(body["model"] == "test-model")
    }

    @Test func maxTokensDefaultsToAndIsCappedBySettings() throws {
        var nim = NimSettings()
        nim.maxTokens = 1000
        let none = RequestBuilder.referenceBody(try request(#"{"model":"m","messages":[]}"#), nim: nim)
        #expect(none["max_tokens"] == 1000)
        let big = RequestBuilder.referenceBody(try request(#"{"model":"m","messages":[],"max_tokens":128000}"#), nim: nim)
        #expect(big["max_tokens"] == 1000)
        let small = RequestBuilder.referenceBody(try request(#"{"model":"m","messages":[],"max_tokens":10}"#), nim: nim)
        #expect(small["max_tokens"] == 10)
    }

    @Test func samplingFallsBackToSettings() throws {
        var nim = NimSettings()
        nim.temperature = 0.3
        nim.topP = 0.7
        nim.stop = "END"
        nim.presencePenalty = 0.5
        nim.frequencyPenalty = -0.5
        nim.seed = 42
        nim.topK = 20
        nim.minP = 0.1
        nim.repetitionPenalty = 1.2
        nim.minTokens = 5
        nim.chatTemplate = "tmpl"
        nim.requestId = "rid"
        let body = RequestBuilder.referenceBody(try request(#"{"model":"m","messages":[]}"#), nim: nim)
        #expect(body["temperature"] == 0.3)
        #expect(body["top_p"] == 0.7)
        #expect(body["stop"] == "END")
        #expect(body["presence_penalty"] == 0.5)
        #expect(body["frequency_penalty"] == -0.5)
        #expect(body["seed"] == 42)
        let extra = body["extra_body"]
        #expect(extra?["top_k"] == 20)
        #expect(extra?["min_p"] == 0.1)
        #expect(extra?["repetition_penalty"] == 1.2)
        #expect(extra?["min_tokens"] == 5)
        #expect(extra?["chat_template"] == "tmpl")
        #expect(extra?["request_id"] == "rid")
    }

    @Test func neutralSettingsAreLeftOut() throws {
        let body = RequestBuilder.referenceBody(try request(#"{"model":"m","messages":[]}"#), nim: NimSettings())
        for key in ["presence_penalty", "frequency_penalty", "seed", "stop", "tools", "tool_choice"] {
            #expect(body[key] == nil, "\(key)")
        }
        for key in ["top_k", "min_p", "repetition_penalty", "min_tokens", "chat_template", "request_id"] {
            #expect(body["extra_body"]?[key] == nil, "\(key)")
        }
    }

    @Test func requestTopKOverridesSettings() throws {
        let body = RequestBuilder.referenceBody(try request(#"{"model":"m","messages":[],"top_k":5}"#), nim: NimSettings())
        #expect(body["extra_body"]?["top_k"] == 5)
    }

    @Test func emptySystemStringAddsNoSystemMessage() throws {
        let body = RequestBuilder.referenceBody(try request(#"{"model":"m","messages":[{"role":"user","content":"x"}],"system":""}"#), nim: NimSettings())
        #expect(body["messages"]?.arrayValue?.count == 1)
    }

    @Test func clientExtraBodyKeepsItsValues() throws {
        let body = RequestBuilder.referenceBody(try request(#"{"model":"m","messages":[],"extra_body":{"thinking":{"type":"x"},"top_k":3,"custom":1}}"#), nim: NimSettings())
        #expect(body["extra_body"]?["thinking"] == (try obj(#"{"type":"x"}"#)))
        #expect(body["extra_body"]?["top_k"] == 3)
        #expect(body["extra_body"]?["custom"] == 1)
    }

    /// The reference let `extra_body` (merged into the top level by the OpenAI client)
    /// replace the mapped model and lift the `max_tokens` cap.
    @Test func clientExtraBodyCannotBypassModelMappingOrCap() throws {
        var nim = NimSettings()
        nim.maxTokens = 500
        let body = RequestBuilder.upstreamBody(try request(#"{"model":"claude-3-opus","messages":[],"extra_body":{"model":"other","max_tokens":99999,"stream":false,"messages":[]}}"#), nim: nim)
        #expect(body["model"] == "test-model")
        #expect(body["max_tokens"] == 500)
        #expect(body["stream"] == true)
        #expect(body["messages"] == .array([]))
    }

    @Test func thinkingDisabledIsHonoured() throws {
        let body = RequestBuilder.upstreamBody(try request(#"{"model":"m","messages":[],"thinking":{"type":"disabled"}}"#), nim: NimSettings())
        #expect(body["thinking"] == (try obj(#"{"type":"disabled"}"#)))
        #expect(body["chat_template_kwargs"]?["thinking"] == false)
        #expect(body["reasoning_effort"] == nil)
        #expect(body["include_reasoning"] == false)
    }

    @Test func toolsAndToolChoiceAreTranslated() throws {
        let body = RequestBuilder.referenceBody(try request(#"""
            {"model":"m","messages":[],"tools":[{"name":"Bash","input_schema":{"type":"object"}}],
             "tool_choice":{"type":"tool","name":"Bash","disable_parallel_tool_use":true}}
            """#), nim: NimSettings())
        #expect(body["tools"]?.arrayValue?.first?["function"]?["name"] == "Bash")
        #expect(body["tool_choice"] == (try obj(#"{"type":"function","function":{"name":"Bash"}}"#)))
        #expect(body["parallel_tool_calls"] == false)
    }

    /// Every captured Claude Code request builds, keeps its system prompt first and its tools.
    @Test(arguments: fixtureNames)
    func fixturesBuild(name: String) throws {
        let r = try fixtureRequest(name)
        let body = RequestBuilder.upstreamBody(r, nim: NimSettings())
        #expect(body["messages"]?.arrayValue?.first?["role"] == "system")
        #expect(body["tools"]?.arrayValue?.count == r.tools?.count)
        #expect(body["max_tokens"] == 81920)
        #expect(body["stream"] == true)
    }
}

let fixtureNames = [
    "reasoning-1-system-role-message", "reasoning-2-after-422", "text-1-system-role-message",
    "text-2-after-422", "tool-1-system-role-message", "tool-2-after-422", "tool-3-tool-result",
]

func fixtureRequest(_ name: String) throws -> MessagesRequest {
    let doc = try JSONValue.parse(Fixture.bytes("claude-cli-2.1.332/\(name).json", in: .shared))
    return try MessagesRequest.decode(doc["body"]!, routing: ModelRouting(default: "test-model"))
}

/// The extras each provider gets: NIM the reference's, OpenRouter its reasoning switch, the local
/// servers standard fields only; the client's `extra_body` and the standard fields for all.
@Suite struct ProviderDialectTests {
    static let json = #"{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"Hi"}],"extra_body":{"custom":1}}"#

    @Test func eachProviderGetsItsOwnExtras() throws {
        let r = try request(Self.json)
        let nim = RequestBuilder.upstreamBody(r, nim: NimSettings(), provider: .nvidiaNim)
        #expect(nim == RequestBuilder.upstreamBody(r, nim: NimSettings()), "NIM's body is the reference's, as before")
        #expect(nim["chat_template_kwargs"] != nil && nim["include_reasoning"] != nil && nim["reasoning"] == nil)
        let router = RequestBuilder.upstreamBody(r, nim: NimSettings(), provider: .openRouter)
        #expect(router["reasoning"] == ["enabled": true])
        for local in [Provider.lmStudio, .llamaCpp, .ollama] {
            let body = RequestBuilder.upstreamBody(r, nim: NimSettings(), provider: local)
            #expect(body["reasoning"] == nil)
        }
        for body in [router, RequestBuilder.upstreamBody(r, nim: NimSettings(), provider: .ollama)] {
            for key in ["chat_template_kwargs", "include_reasoning", "thinking", "ignore_eos", "return_tokens_as_token_ids"] {
                #expect(body[key] == nil, "\(key)")
            }
            #expect(body["custom"] == 1 && body["max_tokens"] == 100 && body["stream"] == true && body["messages"] != nil)
        }
    }

    @Test func thinkingOffTurnsOpenRoutersReasoningOff() throws {
        let r = try request(#"{"model":"m","max_tokens":100,"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"Hi"}]}"#)
        #expect(RequestBuilder.upstreamBody(r, nim: NimSettings(), provider: .openRouter)["reasoning"] == ["enabled": false])
    }
}
