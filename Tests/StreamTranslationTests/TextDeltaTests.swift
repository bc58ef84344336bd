import JSON
import Testing
@testable import StreamTranslation

/// Chunks of the common shape read without a tree (`TextDelta.read`): what is read, what is left
/// to the tree, and that both ways translate to the same bytes.
@Suite struct TextDeltaTests {
    static func read(_ text: String) -> TextDelta? {
        Array(text.utf8).withUnsafeBytes { TextDelta.read($0) }
    }

    @Test(arguments: [
        (#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1733500000,"model":"moonshotai/kimi-k2","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"logprobs":null,"finish_reason":null}]}"#,
         TextDelta(content: "Hi")),
        (#"{"choices":[{"delta":{"content":"caf\u00e9 \"q\" \n 🎉"}}]}"#, TextDelta(content: "café \"q\" \n 🎉")),
        (#"{"choices":[{"delta":{"reasoning_content":"think","content":null}}]}"#, TextDelta(reasoning: "think")),
        (#"{"choices":[{"delta":{"reasoning":"r","reasoning_content":""}}]}"#, TextDelta(reasoning: "r")),
        (#"{"choices":[{"delta":{"reasoning_content":"a","reasoning":"b"}}]}"#, TextDelta(reasoning: "a")),
        (#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#, TextDelta(finishReason: "stop")),
        (#"{"choices":[{"delta":{"content":"x","tool_calls":null}},{"delta":{"content":"second choice"}}]}"#, TextDelta(content: "x")),
        ("\u{FEFF} \n{\"choices\" : [ { \"delta\" : { \"content\" : \"\" } } ] } \r\n", TextDelta(content: "")),
    ])
    func readsTheCommonShape(json: String, expected: TextDelta) {
        #expect(Self.read(json) == expected)
    }

    @Test(arguments: [
        // What translation reads beyond text: left to the tree.
        #"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"Read"}}]}}]}"#,
        #"{"choices":[{"delta":{"content":"x"}}],"usage":{"completion_tokens":3}}"#,
        #"{"error":{"message":"boom"},"choices":[{"delta":{"content":"x"}}]}"#,
        #"{"choices":[{"delta":{"reasoning_details":[{"text":"r"}]}}]}"#,
        // Readings that depend on the tree's rules for repeats, escapes and types.
        #"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
        #"{"choices":[{"delta":{"content":"a"}}],"choices":[{"delta":{"content":"b"}}]}"#,
        #"{"choices":[{"delta":{"con\u0074ent":"a"}}]}"#,
        #"{"choices":[{"delta":{"content":7}}]}"#,
        #"{"choices":[{"delta":"text"}]}"#,
        #"{"choices":[{"finish_reason":"stop"}]}"#,
        #"{"choices":[]}"#,
        #"{"choices":["x"]}"#,
        #"{"id":"no choices"}"#,
        "[1]",
        // Malformed: the tree reports it.
        #"{"choices":[{"delta":{"content":"a"}}]} x"#,
        #"{"choices":[{"delta":{"content":"a"}}]"#,
        #"{"choices":[{"delta":{"content":"a\u0001"}}], "x": 01}"#,
        "{\"choices\":[{\"delta\":{\"content\":\"\u{1}\"}}]}",
        #"{"choices":[{"delta":{"content":"a"}}],"x":NaN}"#,
        "",
    ])
    func leavesEverythingElseToTheTree(json: String) {
        #expect(Self.read(json) == nil)
    }

    @Test func nestingBeyondTheTreesLimitIsRefusedToo() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        let json = #"{"choices":[{"delta":{"content":"a"}}],"x":"# + deep + "}"
        #expect(Self.read(json) == nil)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(json.utf8)) }
    }

    /// Every reference stream, sent as SSE: the parser reading text deltas and the one building
    /// trees give the translator chunks that come out as the same bytes.
    @Test(arguments: ReferenceStreams.scenarios.keys)
    func bothWaysTranslateAlike(name: String) throws {
        let scenario = try #require(ReferenceStreams.scenarios[name])
        var body: [UInt8] = []
        for chunk in scenario["chunks"]!.arrayValue! { body += Array("data: ".utf8) + chunk.compactBytes() + [0x0A, 0x0A] }
        body += Array("data: [DONE]\n\n".utf8)
        func run(_ fast: Bool) -> ([UInt8], Int) {
            var parser = OpenAISSEParser(readsTextDeltas: fast)
            var translator = StreamTranslator(model: "m", inputTokens: 3, messageID: "msg_1", countTokens: { $0.utf8.count },
                                              makeToolID: { _ in "tool_1" })
            var out = translator.start()
            var deltas = 0
            for event in parser.feed(body) {
                switch event {
                case .chunk(let chunk): out += translator.consume(chunk: chunk)
                case .textDelta(let delta):
                    deltas += 1
                    out += translator.consume(delta)
                case .done: out += translator.finish()
                case .malformed, .tooLong: Issue.record("unexpected \(event)")
                }
            }
            return (out, deltas)
        }
        let (tree, treeDeltas) = run(false)
        let (fast, _) = run(true)
        #expect(treeDeltas == 0)
        #expect(fast == tree)
    }

    @Test func aTextStreamIsReadWithoutTrees() {
        let body = Array(("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
            + "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
            + "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n"
            + "data: {\"choices\":[],\"usage\":{\"completion_tokens\":2}}\n\n").utf8)
        var parser = OpenAISSEParser(readsTextDeltas: true)
        let events = parser.feed(body)
        #expect(events.prefix(3) == [.textDelta(TextDelta(content: "")), .textDelta(TextDelta(content: "Hel")),
                                     .textDelta(TextDelta(content: "lo", finishReason: "stop"))])
        #expect(events.last == .chunk(["choices": [], "usage": ["completion_tokens": 2]]))
    }
}

/// The word-at-a-time line-end search finds what a byte-at-a-time one finds, wherever the end is.
@Suite struct LineEndTests {
    @Test func findsTheFirstCROrLFAtEveryOffset() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<40 {
            for _ in 0..<50 {
                // Bytes near the searched ones (0x09...0x0E, 0x8A, 0x8D) try the bit tricks.
                let alphabet: [UInt8] = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x8A, 0x8D, 0x41, 0xFF, 0x00]
                let bytes = (0..<length).map { _ in
                    Int.random(in: 0..<4, using: &generator) == 0 ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0x20...0x7E, using: &generator)
                }
                bytes.withUnsafeBytes { buffer in
                    for start in 0...length {
                        let expected = bytes[start...].firstIndex { $0 == 0x0A || $0 == 0x0D } ?? length
                        #expect(OpenAISSEParser.lineEnd(buffer, from: start) == expected)
                    }
                }
            }
        }
    }
}
