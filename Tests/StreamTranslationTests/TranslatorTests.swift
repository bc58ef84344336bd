import Foundation
import JSON
import TestSupport
import Testing
import Tokenizer
@testable import StreamTranslation

/// Parsed Anthropic SSE output: (event type, data payload).
struct Event: Equatable, CustomStringConvertible {
    var type: String
    var data: JSONValue
    var description: String { "\(type) \(data.compactString())" }
}

func events(_ bytes: [UInt8]) -> [Event] {
    String(decoding: bytes, as: UTF8.self).components(separatedBy: "\n\n").compactMap { frame in
        let lines = frame.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 2, lines[0].hasPrefix("event: "), lines[1].hasPrefix("data: ") else { return nil }
        return Event(type: String(lines[0].dropFirst(7)), data: try! JSONValue.parse(String(lines[1].dropFirst(6))))
    }
}

/// Ids in the order the reference's patched `uuid4` hands them out (0 is the message id).
func sequentialIDs() -> (ToolIDKind) -> String {
    var n = 0
    return { kind in
        n += 1
        switch kind {
        case .native: return "tool_uuid\(n)"
        case .heuristic:
            let hex = String(n, radix: 16)
            return "toolu_heuristic_" + String(repeating: "0", count: 8 - hex.count) + hex
        }
    }
}

func makeTranslator(countTokens: @escaping (String) -> Int = { CL100KTokenizer.shared.count($0) }) -> StreamTranslator {
    StreamTranslator(model: "claude-test", inputTokens: 7, messageID: "msg_uuid0", countTokens: countTokens,
                     makeToolID: sequentialIDs())
}

func translate(_ chunks: [JSONValue], error: String? = nil, countTokens: @escaping (String) -> Int = { CL100KTokenizer.shared.count($0) }) -> [UInt8] {
    var t = makeTranslator(countTokens: countTokens)
    var out = t.start()
    for c in chunks { out += t.consume(chunk: c) }
    if let error {
        out += t.fail(error: UpstreamError(type: .api, status: 500, message: error))
    } else {
        out += t.finish()
    }
    return out
}

func chunk(_ delta: JSONValue, finish: String? = nil) -> JSONValue {
    ["choices": [["index": 0, "delta": delta, "finish_reason": finish.map(JSONValue.string) ?? .null]]]
}

func toolDelta(_ index: Int, id: String? = nil, name: String? = nil, args: String? = nil) -> JSONValue {
    var fn = JSONObject()
    if let name { fn["name"] = .string(name) }
    if let args { fn["arguments"] = .string(args) }
    var call: JSONObject = ["index": .int(index)]
    if let id { call["id"] = .string(id) }
    call["function"] = .object(fn)
    return chunk(["tool_calls": [.object(call)]])
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }
}

/// Shorthands for expected event lists.
func start(_ i: Int, _ kind: String, id: String = "", name: String = "") -> Event {
    let block: JSONValue = switch kind {
    case "thinking": ["type": "thinking", "thinking": ""]
    case "text": ["type": "text", "text": ""]
    default: ["type": "tool_use", "id": .string(id), "name": .string(name), "input": [:]]
    }
    return Event(type: "content_block_start", data: ["type": "content_block_start", "index": .int(i), "content_block": block])
}

func delta(_ i: Int, _ kind: String, _ s: String) -> Event {
    let d: JSONValue = switch kind {
    case "thinking": ["type": "thinking_delta", "thinking": .string(s)]
    case "text": ["type": "text_delta", "text": .string(s)]
    default: ["type": "input_json_delta", "partial_json": .string(s)]
    }
    return Event(type: "content_block_delta", data: ["type": "content_block_delta", "index": .int(i), "delta": d])
}

func stop(_ i: Int) -> Event {
    Event(type: "content_block_stop", data: ["type": "content_block_stop", "index": .int(i)])
}

/// Content events only: drops message_start / message_delta / message_stop.
func blocks(_ e: [Event]) -> [Event] { e.filter { $0.type.hasPrefix("content_block") } }

func stopReason(_ e: [Event]) -> String? {
    e.first { $0.type == "message_delta" }?.data["delta"]?["stop_reason"]?.stringValue
}

@Suite struct ReferenceStreams {
    static let scenarios: JSONObject = try! JSONValue.parse(Fixture.bytes("reference-streams/scenarios.json")).objectValue!

    /// Byte-for-byte against the reference's output for the same chunks (generated
    /// by running the reference with sequential uuids and the real cl100k counts).
    @Test(arguments: scenarios.keys)
    func sameBytesAsTheReference(name: String) throws {
        let scenario = try #require(Self.scenarios[name])
        let expected = try Fixture.text("reference-streams/\(name).sse")
        let out = translate(scenario["chunks"]!.arrayValue!, error: scenario["error"]?.stringValue)
        let actual = String(decoding: out, as: UTF8.self)
        #expect(actual == expected)
    }
}
