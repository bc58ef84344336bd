import AnthropicAPI
import JSON
import ProxyConfig
import Testing

@testable import NIMRequest

/// Claude Code's WebSearch sends Anthropic server tools (a `type`, no `input_schema`): accepted,
/// and kept out of the upstream request.
@Suite struct ServerToolTests {
    let routing = ModelRouting(default: "target")

    func decode(_ text: String) throws -> MessagesRequest {
        try MessagesRequest.decode(try JSONValue.parse(Array(text.utf8)), routing: routing)
    }

    @Test(arguments: [
        #"{"type":"web_search_20250305","name":"web_search","max_uses":8}"#,
        #"{"type":"web_fetch_20250910","name":"web_fetch"}"#,
        #"{"type":"code_execution_20250825","name":"code_execution"}"#,
        #"{"type":"some_future_tool_20990101","name":"future"}"#,
    ])
    func serverToolAcceptedAndNotSentUpstream(tool: String) throws {
        let request = try decode(#"""
            {"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"Search for swift 6.3"}],
             "tools":[\#(tool),{"name":"Bash","input_schema":{"type":"object"}}],
             "tool_choice":{"type":"tool","name":"\#(try JSONValue.parse(Array(tool.utf8))["name"]!.stringValue!)"}}
            """#)
        #expect(request.serverTools.count == 1)
        #expect(request.tools?.map(\.name) == ["Bash"])
        // A choice naming the server tool cannot be honoured upstream.
        #expect(request.toolChoice == nil)
        let body = RequestBuilder.upstreamBody(request, nim: NimSettings())
        let names = body["tools"]?.arrayValue?.compactMap { $0["function"]?["name"]?.stringValue }
        #expect(names == ["Bash"])
        #expect(body["tool_choice"] == nil)
    }

    @Test func onlyServerToolsMeansNoToolsUpstream() throws {
        let request = try decode(#"""
            {"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"Search"}],
             "tools":[{"type":"web_search_20250305","name":"web_search","max_uses":8}],"tool_choice":{"type":"any"}}
            """#)
        let body = RequestBuilder.upstreamBody(request, nim: NimSettings())
        #expect(body["tools"] == nil)
        #expect(body["tool_choice"] == nil)
    }

    @Test func anOrdinaryToolStillNeedsItsSchema() throws {
        #expect(throws: RequestValidationError(location: "tools.0.input_schema", reason: "Field required")) {
            try decode(#"{"model":"m","max_tokens":1,"messages":[],"tools":[{"name":"Bash"}]}"#)
        }
        #expect(throws: RequestValidationError(location: "tools.0.input_schema", reason: "Field required")) {
            try decode(#"{"model":"m","max_tokens":1,"messages":[],"tools":[{"type":"custom","name":"Bash"}]}"#)
        }
    }
}
