import JSON
import StreamTranslation

/// Turns the Anthropic SSE bytes of one whole answer (as `StreamTranslator` wrote them) into the
/// non-streaming Message a `stream: false` request gets, or the error to answer with instead.
/// `NIMProvider.assembleMessage` holds the one in use.
public typealias MessageAssembly = ([UInt8]) -> Result<JSONValue, UpstreamError>

/// A small assembler for the translator's own output: `message_start` gives the id, model and
/// input tokens; each block's deltas are joined (a tool's `partial_json` parsed at its end);
/// `message_delta` gives the stop reason and output tokens. Failures never reach it (the stream's
/// lifecycle answers them), so it always succeeds; an answer without `message_start` is an error.
public func assembleCollectedMessage(_ events: [UInt8]) -> Result<JSONValue, UpstreamError> {
    var message = JSONObject()
    var blocks: [(index: Int, block: JSONObject, json: String)] = []
    var stopReason: JSONValue = .null
    var inputTokens = 0
    var outputTokens = 0
    let text = String(decoding: events, as: UTF8.self)
    for frame in text.split(separator: "\n\n") {
        guard let dataLine = frame.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }),
            let data = try? JSONValue.parse(String(dataLine.dropFirst(6)))
        else { continue }
        switch data["type"]?.stringValue {
        case "message_start":
            message["id"] = data["message"]?["id"] ?? .null
            message["model"] = data["message"]?["model"] ?? .null
            inputTokens = data["message"]?["usage"]?["input_tokens"]?.intValue ?? 0
        case "content_block_start":
            guard let index = data["index"]?.intValue, case .object(let block)? = data["content_block"] else { continue }
            blocks.append((index, block, ""))
        case "content_block_delta":
            guard let index = data["index"]?.intValue, let i = blocks.lastIndex(where: { $0.index == index }),
                let delta = data["delta"]
            else { continue }
            switch delta["type"]?.stringValue {
            case "text_delta":
                blocks[i].block["text"] = .string((blocks[i].block["text"]?.stringValue ?? "") + (delta["text"]?.stringValue ?? ""))
            case "thinking_delta":
                blocks[i].block["thinking"] = .string(
                    (blocks[i].block["thinking"]?.stringValue ?? "") + (delta["thinking"]?.stringValue ?? ""))
            case "input_json_delta":
                blocks[i].json += delta["partial_json"]?.stringValue ?? ""
            default:
                break
            }
        case "message_delta":
            stopReason = data["delta"]?["stop_reason"] ?? .null
            outputTokens = data["usage"]?["output_tokens"]?.intValue ?? 0
        default:
            break
        }
    }
    guard message["id"] != nil else {
        return .failure(UpstreamError(type: .api, status: 500, message: "The upstream's answer could not be assembled."))
    }
    var content: [JSONValue] = []
    for entry in blocks {
        var block = entry.block
        if block["type"]?.stringValue == "tool_use" {
            let json = entry.json.isEmpty ? "{}" : entry.json
            block["input"] = (try? JSONValue.parse(json)) ?? .object(JSONObject())
        }
        if block["type"]?.stringValue == "thinking" { block["signature"] = "" }
        content.append(.object(block))
    }
    return .success(.object(JSONObject([
        ("id", message["id"] ?? .null), ("type", "message"), ("role", "assistant"), ("model", message["model"] ?? .null),
        ("content", .array(content)), ("stop_reason", stopReason), ("stop_sequence", .null),
        ("usage", .object(JSONObject([("input_tokens", .int(inputTokens)), ("output_tokens", .int(outputTokens))]))),
    ])))
}
