import JSON

/// Builds Anthropic's non-streaming Message from the Anthropic SSE events a
/// `StreamTranslator` writes, so a `"stream": false` request is served from the same upstream
/// stream as a streaming one. Feed it the bytes in any pieces, then ask for `outcome`.
///
/// The message is the `message_start` message with its `content` built from the blocks, its
/// `stop_reason` and `stop_sequence` from `message_delta`, and its `usage` updated by
/// `message_delta`'s. Each block starts as its `content_block_start` block; text, thinking and
/// signature deltas are appended to its `text`, `thinking` and `signature`; a tool block's
/// `input` is its `input_json_delta` partials parsed as one JSON object. Tool input that does
/// not parse as an object (cut off by `max_tokens`, or broken upstream) becomes `{}`, the
/// shape Anthropic gives a tool called without input, and is counted in
/// `unparsableToolInputs` for the log. An SSE `error` event makes the outcome that error, even
/// after content: a client that asked for one JSON answer gets the error's status instead.
///
/// Not thread-safe: owned by the request it answers.
public struct MessageAssembler {
    public enum Outcome: Sendable, Equatable {
        /// The whole message (`message_stop` arrived).
        case message(JSONValue)
        /// The stream reported an error.
        case failed(UpstreamError)
        /// The stream has not ended (yet).
        case incomplete
    }

    private struct Block {
        var start: JSONObject
        /// Text appended to the start block's string fields, by field name.
        var appended: [String: String] = [:]
        var partialJSON = ""
        var isTool: Bool
    }

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var message: JSONObject?
    private var blocks: [Int: Block] = [:]
    private var blockOrder: [Int] = []
    private var delta = JSONObject()
    private var usageUpdate = JSONObject()
    private var stopped = false
    private var error: UpstreamError?
    /// Tool blocks whose input did not parse as a JSON object.
    public private(set) var unparsableToolInputs = 0

    public init() {}

    /// More of the stream; events complete at their blank line.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            if byte == 0x0A {
                endLine()
            } else {
                line.append(byte)
            }
        }
    }

    public var outcome: Outcome {
        if let error { return .failed(error) }
        guard stopped, let message else { return .incomplete }
        return .message(assembled(message))
    }

    // MARK: SSE

    private mutating func endLine() {
        if line.last == 0x0D { line.removeLast() }
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            if hasData { dispatch() }
            data.removeAll(keepingCapacity: true)
            hasData = false
            return
        }
        // Only `data` matters: every payload names its own type. Other fields, comments and
        // the translator's closing `[DONE]` line are skipped.
        let prefix = Array("data:".utf8)
        guard line.starts(with: prefix) else { return }
        var value = line[prefix.count...]
        if value.first == 0x20 { value = value.dropFirst() }
        if hasData { data.append(0x0A) }
        data += value
        hasData = true
    }

    private mutating func dispatch() {
        guard case .object(let event)? = try? JSONValue.parse(data), let type = event["type"]?.stringValue else { return }
        switch type {
        case "message_start":
            if case .object(let started)? = event["message"] { message = started }
        case "content_block_start":
            guard let index = event["index"]?.intValue, case .object(let block)? = event["content_block"],
                blocks[index] == nil
            else { return }
            let kind = block["type"]?.stringValue ?? ""
            blocks[index] = Block(start: block, isTool: kind == "tool_use" || kind == "server_tool_use")
            blockOrder.append(index)
        case "content_block_delta":
            guard let index = event["index"]?.intValue, blocks[index] != nil, let change = event["delta"] else { return }
            apply(change, to: index)
        case "content_block_stop":
            if let index = event["index"]?.intValue, blocks[index]?.isTool == true { finishToolInput(index) }
        case "message_delta":
            if case .object(let fields)? = event["delta"] { for entry in fields { delta[entry.key] = entry.value } }
            if case .object(let usage)? = event["usage"] { for entry in usage { usageUpdate[entry.key] = entry.value } }
        case "message_stop":
            stopped = true
        case "error":
            guard error == nil else { return }
            let kind = event["error"]?["type"]?.stringValue.flatMap(AnthropicErrorType.init(rawValue:)) ?? .api
            let text = event["error"]?["message"]?.stringValue ?? "The upstream stream failed."
            error = UpstreamError(type: kind, status: kind.status, message: text)
        default:
            break  // ping
        }
    }

    private mutating func apply(_ change: JSONValue, to index: Int) {
        switch change["type"]?.stringValue {
        case "text_delta": append(change["text"], to: "text", of: index)
        case "thinking_delta": append(change["thinking"], to: "thinking", of: index)
        case "signature_delta": append(change["signature"], to: "signature", of: index)
        case "input_json_delta": blocks[index]!.partialJSON += change["partial_json"]?.stringValue ?? ""
        default: break
        }
    }

    private mutating func append(_ value: JSONValue?, to field: String, of index: Int) {
        guard let text = value?.stringValue else { return }
        blocks[index]!.appended[field, default: ""] += text
    }

    // MARK: The message

    private func assembled(_ started: JSONObject) -> JSONValue {
        var result = started
        result["content"] = .array(blockOrder.sorted().map { .object(finished(blocks[$0]!)) })
        for key in ["stop_reason", "stop_sequence"] {
            if let value = delta[key] { result[key] = value }
        }
        if !usageUpdate.isEmpty {
            var usage = result["usage"]?.objectValue ?? JSONObject()
            for entry in usageUpdate { usage[entry.key] = entry.value }
            result["usage"] = .object(usage)
        }
        return .object(result)
    }

    private func finished(_ block: Block) -> JSONObject {
        var object = block.start
        for (field, text) in block.appended.sorted(by: { $0.key < $1.key }) {
            object[field] = .string((object[field]?.stringValue ?? "") + text)
        }
        // A tool block the stream never stopped (it cannot happen with the translator) is
        // completed the same way, uncounted.
        if block.isTool, !block.partialJSON.isEmpty {
            object["input"] = .object(Self.toolInput(block.partialJSON) ?? JSONObject())
        }
        return object
    }

    /// The tool's input once its partials are complete: the start block's own `{}` when none
    /// came.
    private mutating func finishToolInput(_ index: Int) {
        let partial = blocks[index]!.partialJSON
        guard !partial.isEmpty else { return }
        blocks[index]!.partialJSON = ""
        if let input = Self.toolInput(partial) {
            blocks[index]!.start["input"] = .object(input)
        } else {
            unparsableToolInputs += 1
            blocks[index]!.start["input"] = .object(JSONObject())
        }
    }

    private static func toolInput(_ json: String) -> JSONObject? {
        guard case .object(let input)? = try? JSONValue.parse(json) else { return nil }
        return input
    }
}
