import AnthropicAPI
import JSON
import ProxyConfig
import TestSupport
import Testing

@testable import NIMRequest

/// `upstreamBodyBytes` writes the body straight from the request; `upstreamBody` builds the tree the
/// rest of the tests read. The two must be the same document, byte for byte (the upstream sees the
/// bytes; the tree is what is specified).
@Suite struct UpstreamBodyBytesTests {
    /// Requests that reach every branch of the conversion and of the parameters.
    static let cases: [String] = [
        #"{"model":"m","messages":[]}"#,
        #"{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":100}"#,
        #"{"model":"m","system":"Be brief.","messages":[{"role":"user","content":"Tell me \"something\"\n\t\u0001 ünïcødé 😀"}]}"#,
        #"{"model":"m","system":"","messages":[{"role":"user","content":""}]}"#,
        #"{"model":"m","system":[{"type":"text","text":"  Part 1 "},{"type":"text","text":"Part 2\n\n"}],"messages":[]}"#,
        #"{"model":"m","system":[],"messages":[{"role":"assistant","content":"plain"}]}"#,
        // Assistant blocks: text, thinking, tool calls, an empty text alone, nothing at all.
        #"""
        {"model":"m","messages":[
          {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"A"},
            {"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls -l","n":[1,2.5,null,true]}},
            {"type":"text","text":"B"},{"type":"tool_use","id":"t2","name":"Read","input":{}}]},
          {"role":"assistant","content":[{"type":"text","text":""}]},
          {"role":"assistant","content":[]},
          {"role":"assistant","content":[{"type":"text","text":""},{"type":"text","text":""}]},
          {"role":"assistant","content":[{"type":"text","text":""},{"type":"tool_use","id":"t3","name":"X","input":{"a":"é"}}]},
          {"role":"assistant","content":[{"type":"redacted_thinking","data":"xyz"}]}
        ]}
        """#,
        // User blocks: tool results before text, images (base64, URL, unusable), nothing usable.
        #"""
        {"model":"m","messages":[
          {"role":"user","content":[{"type":"text","text":"one"},
            {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"out"},{"type":"text","text":"more"}]},
            {"type":"text","text":"two"},{"type":"tool_result","tool_use_id":"t2","content":"plain","is_error":true},
            {"type":"tool_result","tool_use_id":"t3"}]},
          {"role":"user","content":[{"type":"text","text":"look"},
            {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"AAAA"}},
            {"type":"image","source":{"type":"url","url":"https://x/y.png"}},
            {"type":"image","source":{"type":"base64","data":""}}]},
          {"role":"user","content":[{"type":"image","source":{"type":"base64","data":""}}]},
          {"role":"user","content":[{"type":"image","source":{"type":"base64","data":"QQ=="}}]},
          {"role":"user","content":[]}
        ]}
        """#,
        #"{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"S1"},{"type":"text","text":"S2"}]},{"role":"system","content":"S"}]}"#,
        // Parameters: everything the client may set, tools and tool choice, thinking off.
        #"""
        {"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":200000,"temperature":0.25,"top_p":0.5,
         "top_k":7,"stop_sequences":["END","\n\n"],"thinking":{"type":"disabled"},
         "tools":[{"name":"Bash","description":"Run","input_schema":{"type":"object","properties":{"c":{"type":"string"}}}},
                  {"name":"NoDescription","input_schema":{}}],
         "tool_choice":{"type":"tool","name":"Bash","disable_parallel_tool_use":true}}
        """#,
        #"{"model":"m","messages":[],"tool_choice":{"type":"any"},"tools":[]}"#,
        // extra_body: protected keys dropped, a standard key replaced in place, new keys appended,
        // a default the client already set kept, a capped max_tokens, a nested extra_body.
        #"""
        {"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":10,
         "extra_body":{"model":"other","messages":[],"stream":false,"stream_options":{},"temperature":0.9,"custom":{"a":[1]},
                       "stop":"X","top_k":3,"thinking":{"type":"enabled"},"max_tokens":999999,"extra_body":{"deep":1}}}
        """#,
    ]

    static let settings: [NimSettings] = {
        var changed = NimSettings()
        changed.stop = "STOP"
        changed.seed = 42
        changed.presencePenalty = 0.5
        changed.frequencyPenalty = -0.25
        changed.minP = 0.1
        changed.repetitionPenalty = 1.2
        changed.minTokens = 3
        changed.chatTemplate = "t"
        changed.requestId = "r"
        changed.parallelToolCalls = false
        changed.maxTokens = 0
        changed.topK = 40
        changed.includeReasoning = false
        return [NimSettings(), changed]
    }()

    static let fixtures = fixtureNames.map { "claude-cli-2.1.332/\($0).json" } + [
        "claude-cli-2.1.332-interactive/main-loop-first-turn.json", "claude-cli-2.1.332-interactive/session-title.json",
        "claude-cli-2.1.337-interactive/main-loop-first-turn.json", "claude-cli-2.1.337-interactive/session-title.json",
    ]

    func expectSameBody(_ r: MessagesRequest, sourceLocation: SourceLocation = #_sourceLocation) {
        for nim in Self.settings {
            for provider in Provider.allCases {
                let direct = RequestBuilder.upstreamBodyBytes(r, nim: nim, provider: provider)
                let tree = RequestBuilder.upstreamBody(r, nim: nim, provider: provider)
                let treeBytes = JSONValue.object(tree).compactBytes()
                #expect(direct == treeBytes, "\(provider)", sourceLocation: sourceLocation)
                #expect((try? JSONValue.parse(direct)) == .object(tree), "\(provider)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test(arguments: cases)
    func directBytesAreTheTreesBytes(json: String) throws {
        expectSameBody(try request(json))
    }

    @Test(arguments: fixtures)
    func capturedRequestsWriteTheSameBody(path: String) throws {
        let doc = try JSONValue.parse(Fixture.bytes(path, in: .shared))
        let r = try MessagesRequest.decode(doc["body"]!, routing: ModelRouting(default: "test-model"))
        #expect(!r.messages.isEmpty)
        expectSameBody(r)
    }

    /// The reference test's request, with the reference's expected body (RequestBuilderTests).
    @Test func referenceRequestWritesTheSameBody() throws {
        expectSameBody(try request(RequestBuilderTests().referenceRequest))
    }
}
