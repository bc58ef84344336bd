import JSON
import Testing
@testable import StreamTranslation

@Suite struct OpenAISSEParserTests {
    static let body = Array(("data: {\"choices\":[{\"delta\":{\"content\":\"h\u{e9}\u{1F914}\"}}]}\r\n\r\n"
        + ": keep-alive\n\n"
        + "event: chunk\nid: 7\nretry: 10\ndata: {\"a\":\ndata: 1, \"usage\": {\"a\": 2}}\r\r"
        + "data:[DONE]\n\n").utf8)
    static let expected: [OpenAIStreamEvent] = [
        .chunk(["choices": [["delta": ["content": "h\u{e9}\u{1F914}"]]]]),
        // Only the members translation reads are built ("a" is checked and left out).
        .chunk(["usage": ["a": 2]]),
        .done,
    ]

    @Test func wholeBody() {
        var p = OpenAISSEParser()
        #expect(p.feed(Self.body) == Self.expected)
    }

    @Test func everySplitPoint() {
        for i in 0...Self.body.count {
            var p = OpenAISSEParser()
            let out = p.feed(Self.body[..<i]) + p.feed(Self.body[i...])
            #expect(out == Self.expected, "split at \(i)")
        }
    }

    @Test func byteAtATime() {
        var p = OpenAISSEParser()
        var out: [OpenAIStreamEvent] = []
        for b in Self.body { out += p.feed([b]) }
        #expect(out == Self.expected)
    }

    @Test func crThenLFInNextChunkIsOneLineEnd() {
        var p = OpenAISSEParser()
        #expect(p.feed(Array("data: 1\r".utf8)) == [])
        // The LF completes the CRLF; the next CR is the blank line that dispatches.
        #expect(p.feed(Array("\n\r".utf8)) == [.chunk(1)])
        #expect(p.feed(Array("\n".utf8)) == [])
    }

    @Test func malformedJSONIsReported() {
        var p = OpenAISSEParser()
        let out = p.feed(Array("data: {oops\n\ndata: 2\n\n".utf8))
        #expect(out.count == 2)
        guard case .malformed(let payload, _) = out[0] else { Issue.record("expected malformed"); return }
        #expect(payload == "{oops")
        #expect(out[1] == .chunk(2))
    }

    @Test func eventsWithoutDataAreNotDispatched() {
        var p = OpenAISSEParser()
        #expect(p.feed(Array("event: ping\n\nid: 3\n\n:comment\n\n\n\n".utf8)) == [])
    }

    @Test func fieldWithoutColonAndNoSpaceValue() {
        var p = OpenAISSEParser()
        // A bare `data` line adds an empty line to the payload: "\n3" is JSON 3.
        #expect(p.feed(Array("data\ndata:3\n\n".utf8)) == [.chunk(3)])
    }

    @Test func unterminatedEventIsDiscardedAtEnd() {
        var p = OpenAISSEParser()
        #expect(p.feed(Array("data: 1\n".utf8)) == [])
        #expect(p.finish() == [])
    }

    @Test func byteOrderMarkAtStartIsSkipped() {
        var p = OpenAISSEParser()
        #expect(p.feed([0xEF, 0xBB, 0xBF] + Array("data: 5\n\n".utf8)) == [.chunk(5)])
    }

    /// Members that are left out are still checked: a chunk that is not JSON is malformed with
    /// the same reason whether the fault is in a kept member or not.
    @Test(arguments: [
        #"{"id": "x\u12", "choices": []}"#, #"{"model": tru, "choices": []}"#, #"{"created": 01}"#,
        "{\"id\": \"a\u{09}b\"}", #"{"object": [1,}"#, #"{"id": "open, "choices": []"#,
    ])
    func leftOutMembersAreStillChecked(payload: String) throws {
        var p = OpenAISSEParser()
        let events = p.feed(Array("data: \(payload)\n\n".utf8))
        let full = Result { () throws(JSONParseError) in try JSONValue.parse(Array(payload.utf8)) }
        guard case .failure(let error) = full else {
            Issue.record("\(payload) should not parse")
            return
        }
        #expect(events == [.malformed(payload: payload, reason: error.description)])
    }

    @Test func keptMembersParseAsInFull() throws {
        let payload = #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x","id":"k"},"finish_reason":null}],"usage":null,"error":{"id":1},"choices\u0041":2}"#
        var p = OpenAISSEParser()
        let full = try JSONValue.parse(Array(payload.utf8))
        guard case .object(var expected) = full else { throw JSONParseError(offset: 0, reason: "") }
        for key in ["id", "object", "created", "model"] { expected[key] = nil }
        #expect(p.feed(Array("data: \(payload)\n\n".utf8)) == [.chunk(.object(expected))])
    }
}
