import JSON
import Testing
@testable import StreamTranslation

@Suite struct OpenAISSEParserTests {
    static let body = Array(("data: {\"choices\":[{\"delta\":{\"content\":\"h\u{e9}\u{1F914}\"}}]}\r\n\r\n"
        + ": keep-alive\n\n"
        + "event: chunk\nid: 7\nretry: 10\ndata: {\"a\":\ndata: 1}\r\r"
        + "data:[DONE]\n\n").utf8)
    static let expected: [OpenAIStreamEvent] = [
        .chunk(["choices": [["delta": ["content": "h\u{e9}\u{1F914}"]]]]),
        .chunk(["a": 1]),
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
}
