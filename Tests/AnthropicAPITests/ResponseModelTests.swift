import JSON
import Testing

@testable import AnthropicAPI

@Suite struct UsageTests {
    @Test func cacheFieldsDefaultToZero() {
        let usage = Usage(inputTokens: 1, outputTokens: 2)
        #expect(usage.cacheCreationInputTokens == 0)
        #expect(usage.cacheReadInputTokens == 0)
    }

    @Test func serializesAllFourCountsInOrder() {
        let expected: JSONValue = [
            "input_tokens": 10, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        ]
        #expect(Usage(inputTokens: 10, outputTokens: 20).json == expected)
        let set: JSONValue = [
            "input_tokens": 10, "output_tokens": 20, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 3,
        ]
        #expect(Usage(inputTokens: 10, outputTokens: 20, cacheCreationInputTokens: 5, cacheReadInputTokens: 3).json == set)
    }

    @Test func tokenCountResponse() {
        #expect(TokenCountResponse(inputTokens: 100).json == ["input_tokens": 100])
    }
}

@Suite struct MessagesResponseTests {
    @Test func minimumFieldsSerializeWithPydanticKeyOrderAndNulls() {
        let response = MessagesResponse(
            id: "msg_001", model: "test-model", content: [.text("Hello")], usage: Usage(inputTokens: 10, outputTokens: 5))
        let expected: JSONValue = [
            "id": "msg_001",
            "model": "test-model",
            "role": "assistant",
            "content": [["type": "text", "text": "Hello"]],
            "type": "message",
            "stop_reason": nil,
            "stop_sequence": nil,
            "usage": ["input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0],
        ]
        #expect(response.json == expected)
        #expect(response.json.objectValue?.keys == [
            "id", "model", "role", "content", "type", "stop_reason", "stop_sequence", "usage",
        ])
    }

    @Test func allContentTypes() {
        let response = MessagesResponse(
            id: "msg_005", model: "model",
            content: [
                .thinking("hmm"), .text("result"), .toolUse(id: "t1", name: "Bash", input: JSONObject([("command", "ls")])),
                .object(JSONObject([("type", "custom"), ("data", "value")])),
            ],
            stopReason: .toolUse, usage: Usage(inputTokens: 10, outputTokens: 20))
        let content: JSONValue = [
            ["type": "thinking", "thinking": "hmm"],
            ["type": "text", "text": "result"],
            ["type": "tool_use", "id": "t1", "name": "Bash", "input": ["command": "ls"]],
            ["type": "custom", "data": "value"],
        ]
        #expect(response.json["content"] == content)
        #expect(response.json["stop_reason"] == "tool_use")
    }

    @Test(arguments: [
        (StopReason.endTurn, "end_turn"), (.maxTokens, "max_tokens"), (.stopSequence, "stop_sequence"), (.toolUse, "tool_use"),
    ])
    func stopReasonValues(reason: StopReason, wire: String) {
        let response = MessagesResponse(
            id: "msg", model: "model", content: [.text("x")], stopReason: reason, stopSequence: reason == .stopSequence ? "END" : nil,
            usage: Usage(inputTokens: 1, outputTokens: 1))
        #expect(response.json["stop_reason"] == .string(wire))
        #expect(response.json["stop_sequence"] == (reason == .stopSequence ? "END" : .null))
    }

    @Test func emptyContentList() {
        let response = MessagesResponse(id: "msg_empty", model: "model", content: [], usage: Usage(inputTokens: 0, outputTokens: 0))
        #expect(response.json["content"] == [])
    }
}

@Suite struct APIErrorTests {
    @Test(arguments: [
        (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
        (404, "not_found_error"), (413, "request_too_large"), (429, "rate_limit_error"),
        (500, "api_error"), (502, "api_error"), (529, "overloaded_error"),
    ])
    func statusMapsToAnthropicType(status: Int, type: String) {
        #expect(APIError(status: status, message: "m").type == type)
    }

    @Test func constructors() {
        #expect(APIError.authentication("Invalid Key") == APIError(status: 401, type: "authentication_error", message: "Invalid Key"))
        #expect(APIError.rateLimit("Too Many Requests").status == 429)
        #expect(APIError.overloaded("Server Overloaded") == APIError(status: 529, type: "overloaded_error", message: "Server Overloaded"))
        #expect(APIError.invalidRequest("bad").status == 400)
        #expect(APIError.permission("no").status == 403)
        #expect(APIError.notFound("no").status == 404)
        #expect(APIError.requestTooLarge("big").type == "request_too_large")
        #expect(APIError.api("bad gateway", status: 502) == APIError(status: 502, type: "api_error", message: "bad gateway"))
        #expect(APIError.unexpected.message == "An unexpected error occurred.")
    }

    @Test func bodyHasAnthropicShape() {
        let expected: JSONValue = ["type": "error", "error": ["type": "rate_limit_error", "message": "Too Many Requests"]]
        #expect(APIError.rateLimit("Too Many Requests").body == expected)
    }

    @Test func validationErrorBecomesInvalidRequest() {
        let error = APIError(RequestValidationError(location: "messages", reason: "Field required"))
        #expect(error == APIError(status: 400, type: "invalid_request_error", message: "messages: Field required"))
    }
}

/// The directly written body is the tree's, byte for byte.
@Suite struct ResponseBytesTests {
    @Test(arguments: [
        MessagesResponse(id: "msg_1", model: "m", content: [.text("Quota check passed.")], stopReason: .endTurn,
                         usage: Usage(inputTokens: 10, outputTokens: 5)),
        MessagesResponse(id: "msg_\"2", model: "é/🎉", content: [], usage: Usage(inputTokens: 0, outputTokens: 0)),
        MessagesResponse(id: "x", model: "y", content: [.thinking("t\n"), .text("a\\b"), .toolUse(id: "toolu_1", name: "Read", input: JSONObject([("path", "/a")])),
                                                     .object(JSONObject([("type", "custom"), ("n", 1)]))],
                         stopReason: .toolUse, stopSequence: "STOP\u{1}", usage: Usage(inputTokens: 7, outputTokens: 3, cacheCreationInputTokens: 2, cacheReadInputTokens: 1)),
    ])
    func sameBytesAsTheTree(response: MessagesResponse) {
        #expect(response.compactBytes == response.json.compactBytes())
    }
}
