import JSON
import Text

/// Which kind of tool call needs a fresh id.
public enum ToolIDKind: Sendable, Equatable {
    /// A native `tool_calls` entry that arrived without an id (`tool_<uuid4>`).
    case native
    /// A call parsed out of text (`toolu_heuristic_<8 hex>`).
    case heuristic
}

/// Turns one OpenAI chat-completions stream into one Anthropic Messages stream.
///
/// Drive it from the upstream callbacks: `start()` once, `consume(chunk:)` per
/// parsed chunk, then exactly one of `finish()` (upstream ended or sent `[DONE]`)
/// or `fail(error:)` (upstream failed). Each call returns the bytes to write to
/// the client. Calls after the stream has ended return nothing.
///
/// The event sequence is the reference's, with its defects fixed (see the
/// differences log): at most one content block is open at a time; a tool block
/// is named only once its name is complete (it starts when its arguments begin
/// or its call ends); a finish reason in a chunk without a delta still counts;
/// text-form tool calls end the turn with `tool_use`.
///
/// Not thread-safe: owned by the request that streams it.
public struct StreamTranslator {
    private enum Phase { case created, streaming, finished }
    private enum OpenBlock: Equatable {
        case none
        case thinking(Int)
        case text(Int)
        case tool(Int)  // key into `tools`
    }

    private struct NativeTool {
        var name = ""
        var id: String?
        var blockIndex: Int?
        var closed = false
        var contents = ""
        /// Task arguments held back until they parse (nil: nothing buffered).
        var taskBuffer: String?
        var taskArgsEmitted = false
    }

    public let model: String
    public let inputTokens: Int
    public let messageID: String
    private let countTokens: (String) -> Int
    private let makeToolID: (ToolIDKind) -> String

    private var phase = Phase.created
    private var nextBlockIndex = 0
    private var open = OpenBlock.none
    /// A tool call seen but not yet given a block (its name may still be growing).
    private var pendingTool: Int?
    private var tools: [Int: NativeTool] = [:]
    private var startedToolOrder: [Int] = []
    private var textBlockStarted = false
    private var heuristicToolCount = 0
    private var errorOccurred = false
    private var finishReason: String?
    private var completionTokens: Int?
    private var thinkParser = ThinkTagParser()
    private var toolParser = HeuristicToolParser()
    /// The answer's text and reasoning, kept for the output-token estimate when the upstream
    /// sends no usage; only their first `keptForEstimateBytes` are kept (an upstream streaming
    /// forever must not grow the server), and the estimate scales up by the bytes seen.
    private(set) var accumulatedText = ""
    private(set) var accumulatedReasoning = ""
    private var textBytesSeen = 0
    private var reasoningBytesSeen = 0
    static let keptForEstimateBytes = 1 << 20
    private var out: [UInt8] = []

    /// - Parameters:
    ///   - model: the model name the client asked for, echoed in `message_start`.
    ///   - inputTokens: the proxy's own count of the request.
    ///   - countTokens: cl100k token count, used for the output estimate when the
    ///     upstream reports no `usage.completion_tokens`.
    ///   - makeToolID: id source for tool calls that come without one.
    public init(model: String, inputTokens: Int, messageID: String,
                countTokens: @escaping (String) -> Int,
                makeToolID: @escaping (ToolIDKind) -> String = StreamTranslator.randomToolID) {
        self.model = model
        self.inputTokens = inputTokens
        self.messageID = messageID
        self.countTokens = countTokens
        self.makeToolID = makeToolID
    }

    // MARK: Driving

    /// `message_start`. Also sent by the first other call if not called first.
    public mutating func start() -> [UInt8] {
        guard phase == .created else { return [] }
        phase = .streaming
        return AnthropicSSE.messageStart(id: messageID, model: model, inputTokens: inputTokens)
    }

    /// One upstream `chat.completion.chunk`. A chunk carrying an `error` member
    /// ends the stream with that error, as the OpenAI client raises on it.
    public mutating func consume(chunk: JSONValue) -> [UInt8] {
        let head = start()
        guard phase == .streaming else { return [] }
        if let error = UpstreamError.inStream(chunk: chunk) { return head + fail(error: error) }
        out = head
        process(chunk)
        return takeOutput()
    }

    /// One chunk of the common shape (`TextDelta.read`): the same events as its `.chunk`.
    public mutating func consume(_ delta: TextDelta) -> [UInt8] {
        var bytes: [UInt8] = []
        consume(delta, appendingTo: &bytes)
        return bytes
    }

    /// `consume(_:)`'s events appended to `buffer`: the relay's pending bytes take them directly.
    public mutating func consume(_ delta: TextDelta, appendingTo buffer: inout [UInt8]) {
        swap(&out, &buffer)
        defer { swap(&out, &buffer) }
        out += start()
        guard phase == .streaming else { return }
        if let reason = delta.finishReason, !reason.isEmpty { finishReason = reason }
        if let reasoning = delta.reasoning, !reasoning.isEmpty { emitThinking(reasoning) }
        if let content = delta.content, !content.isEmpty { emitContent(content) }
    }

    /// The upstream ended normally: flush held-back text, close the open block,
    /// then `message_delta`, `message_stop` and the `[DONE]` line.
    public mutating func finish() -> [UInt8] {
        out = start()
        guard phase == .streaming else { return out }
        finishMessage()
        return takeOutput()
    }

    /// The upstream failed mid-stream (or before it started): close the open
    /// block, show the error as a text block, then finish the message.
    public mutating func fail(error: UpstreamError) -> [UInt8] {
        out = start()
        guard phase == .streaming else { return out }
        closeOpenBlock()
        let index = allocateIndex()
        out += AnthropicSSE.blockStart(index: index, kind: .text)
        out += AnthropicSSE.blockDelta(index: index, kind: .text, error.message)
        out += AnthropicSSE.blockStop(index: index)
        errorOccurred = true
        finishMessage()
        return takeOutput()
    }

    public var isFinished: Bool { phase == .finished }

    // MARK: Chunk processing

    private mutating func process(_ chunk: JSONValue) {
        // Any usage object replaces the previous one, as in the reference. A negative count
        // is no count: the estimate stands in, as it does when the count is missing.
        if case .object(let usage) = chunk["usage"] ?? .null {
            completionTokens = usage["completion_tokens"]?.intValue.flatMap { $0 >= 0 ? $0 : nil }
        }
        guard let choice = chunk["choices"]?.arrayValue?.first, case .object = choice else { return }
        if let reason = choice["finish_reason"]?.stringValue, !reason.isEmpty { finishReason = reason }
        guard let delta = choice["delta"], case .object = delta else { return }

        if let reasoning = Self.reasoningText(delta), !reasoning.isEmpty {
            emitThinking(reasoning)
        }
        if let content = delta["content"]?.stringValue, !content.isEmpty { emitContent(content) }
        if let calls = delta["tool_calls"]?.arrayValue, !calls.isEmpty {
            // Thinking and text end where tool calls begin.
            switch open {
            case .thinking, .text: closeOpenBlock()
            case .none, .tool: break
            }
            for call in calls { processToolCall(call) }
        }
    }

    /// A delta's reasoning: vLLM's and NIM's `reasoning_content`; else `reasoning`, as OpenRouter
    /// (and newer vLLM) stream it; else the texts of OpenRouter's `reasoning_details`.
    static func reasoningText(_ delta: JSONValue) -> String? {
        if let text = delta["reasoning_content"]?.stringValue, !text.isEmpty { return text }
        if let text = delta["reasoning"]?.stringValue, !text.isEmpty { return text }
        guard let details = delta["reasoning_details"]?.arrayValue, !details.isEmpty else { return nil }
        var text = ""
        for detail in details {
            if let part = detail["text"]?.stringValue ?? detail["summary"]?.stringValue { text += part }
        }
        return text
    }

    /// Content text: `<think>` tags split off reasoning, text-form tool calls are parsed out.
    private mutating func emitContent(_ content: String) {
        for segment in thinkParser.feed(content) {
            switch segment.kind {
            case .thinking: emitThinking(segment.content)
            case .text: emitParsedText(toolParser.feed(segment.content))
            }
        }
    }

    private mutating func emitThinking(_ text: String) {
        let index = ensureBlock(.thinking)
        Self.keep(text, in: &accumulatedReasoning, seen: &reasoningBytesSeen)
        AnthropicSSE.appendBlockDelta(index: index, kind: .thinking, text, to: &out)
    }

    private mutating func emitText(_ text: String) {
        let index = ensureBlock(.text)
        Self.keep(text, in: &accumulatedText, seen: &textBytesSeen)
        AnthropicSSE.appendBlockDelta(index: index, kind: .text, text, to: &out)
    }

    private mutating func emitParsedText(_ parsed: (text: String, calls: [HeuristicToolCall])) {
        if !parsed.text.isEmpty { emitText(parsed.text) }
        for call in parsed.calls { emitHeuristicCall(call) }
    }

    /// A text-form call is complete when detected: start, whole input, stop.
    private mutating func emitHeuristicCall(_ call: HeuristicToolCall) {
        closeOpenBlock()
        var input = call.input
        if call.name == "Task" { input["run_in_background"] = false }
        let index = allocateIndex()
        out += AnthropicSSE.blockStart(index: index, kind: .toolUse, toolID: makeToolID(.heuristic), toolName: call.name)
        out += AnthropicSSE.blockDelta(index: index, kind: .toolUse, JSONValue.object(input).pythonDumps())
        out += AnthropicSSE.blockStop(index: index)
        heuristicToolCount += 1
    }

    private mutating func processToolCall(_ call: JSONValue) {
        guard case .object = call else { return }
        var key = call["index"]?.intValue ?? 0
        if key < 0 { key = startedToolOrder.count }
        let function = call["function"]
        let incomingName = function?["name"]?.stringValue
        let incomingID = call["id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        let arguments = function?["arguments"]?.stringValue ?? ""

        if let tool = tools[key] {
            // A block already closed cannot take more input; the reference would
            // have written into it after other blocks had started.
            if tool.closed { return }
            if pendingTool != key, open != .tool(key) {
                closeOpenBlock()
                pendingTool = key
            }
        } else {
            // A new call: the previous one is complete.
            closeOpenBlock()
            tools[key] = NativeTool()
            pendingTool = key
        }

        if let incomingName { tools[key]!.name = Self.mergeToolName(tools[key]!.name, incomingName) }
        if let incomingID, tools[key]!.blockIndex == nil, tools[key]!.id == nil { tools[key]!.id = incomingID }
        guard !arguments.isEmpty else { return }

        if tools[key]!.blockIndex == nil {
            pendingTool = nil
            startToolBlock(key, fallbackName: "tool_call")
        }
        if tools[key]!.name == "Task" {
            // Task arguments are held until they form a JSON object, then sent once
            // with run_in_background forced off: a background subagent would outlive
            // the request that started it.
            guard !tools[key]!.taskArgsEmitted else { return }
            let buffered = (tools[key]!.taskBuffer ?? "") + arguments
            tools[key]!.taskBuffer = buffered
            if case .object(let object)? = try? JSONValue.parse(buffered) {
                emitTaskArguments(key, Self.forcingForeground(object))
            }
            return
        }
        emitToolDelta(key, arguments)
    }

    /// Some providers stream a tool name in fragments, others resend it whole.
    static func mergeToolName(_ previous: String, _ incoming: String) -> String {
        if previous.isEmpty || incoming.hasPrefix(previous) { return incoming }
        if previous.hasPrefix(incoming) { return previous }
        return previous + incoming
    }

    private static func forcingForeground(_ object: JSONObject) -> JSONObject {
        var object = object
        if object["run_in_background"] != .bool(false) { object["run_in_background"] = false }
        return object
    }

    private mutating func emitTaskArguments(_ key: Int, _ object: JSONObject) {
        tools[key]!.taskArgsEmitted = true
        tools[key]!.taskBuffer = nil
        emitToolDelta(key, JSONValue.object(object).pythonDumps())
    }

    private mutating func emitToolDelta(_ key: Int, _ json: String) {
        tools[key]!.contents += json
        out += AnthropicSSE.blockDelta(index: tools[key]!.blockIndex!, kind: .toolUse, json)
    }

    // MARK: Blocks

    /// Opens a thinking or text block unless one of that kind is already open.
    private mutating func ensureBlock(_ kind: AnthropicSSE.BlockKind) -> Int {
        switch (open, kind) {
        case (.thinking(let i), .thinking), (.text(let i), .text): return i
        default: break
        }
        closeOpenBlock()
        let index = allocateIndex()
        open = kind == .thinking ? .thinking(index) : .text(index)
        if kind == .text { textBlockStarted = true }
        out += AnthropicSSE.blockStart(index: index, kind: kind)
        return index
    }

    private mutating func startToolBlock(_ key: Int, fallbackName: String) {
        let index = allocateIndex()
        let id = tools[key]!.id ?? makeToolID(.native)
        tools[key]!.id = id
        tools[key]!.blockIndex = index
        startedToolOrder.append(key)
        open = .tool(key)
        let name = tools[key]!.name.isEmpty ? fallbackName : tools[key]!.name
        out += AnthropicSSE.blockStart(index: index, kind: .toolUse, toolID: id, toolName: name)
    }

    /// A pending call's name is as complete as it will get: give it its block.
    /// The reference starts a block for a call with a name or an id, never for
    /// one with neither.
    private mutating func settlePendingTool() {
        guard let key = pendingTool else { return }
        pendingTool = nil
        if !tools[key]!.name.isEmpty || tools[key]!.id != nil {
            startToolBlock(key, fallbackName: "")
        }
    }

    private mutating func closeOpenBlock() {
        settlePendingTool()
        switch open {
        case .none: return
        case .thinking(let i), .text(let i): out += AnthropicSSE.blockStop(index: i)
        case .tool(let key):
            flushTaskArguments(key)
            tools[key]!.closed = true
            out += AnthropicSSE.blockStop(index: tools[key]!.blockIndex!)
        }
        open = .none
    }

    /// Task arguments that never parsed as an object are sent as `{}` so the block
    /// still carries valid JSON.
    private mutating func flushTaskArguments(_ key: Int) {
        guard let buffered = tools[key]!.taskBuffer, !tools[key]!.taskArgsEmitted else { return }
        if case .object(let object)? = try? JSONValue.parse(buffered) {
            emitTaskArguments(key, Self.forcingForeground(object))
        } else {
            emitTaskArguments(key, JSONObject())
        }
    }

    private mutating func allocateIndex() -> Int {
        defer { nextBlockIndex += 1 }
        return nextBlockIndex
    }

    // MARK: End of message

    private mutating func finishMessage() {
        settlePendingTool()
        if let rest = thinkParser.flush() {
            switch rest.kind {
            case .thinking: emitThinking(rest.content)
            case .text: emitParsedText(toolParser.feed(rest.content))
            }
        }
        emitParsedText(toolParser.flush())
        // An answer with nothing in it still gets a text block, as Claude Code
        // expects one; a tool-only answer needs none.
        if !errorOccurred, !textBlockStarted, startedToolOrder.isEmpty, heuristicToolCount == 0 {
            emitText(" ")
        }
        closeOpenBlock()
        var stopReason = mapStopReason(finishReason)
        if heuristicToolCount > 0, stopReason == "end_turn" { stopReason = "tool_use" }
        out += AnthropicSSE.messageDelta(stopReason: stopReason, outputTokens: completionTokens ?? estimatedOutputTokens())
        out += AnthropicSSE.messageStop()
        out += AnthropicSSE.done
        phase = .finished
    }

    /// The reference's estimate: tokens of the text and the reasoning, of each
    /// native tool's name and argument text plus 15, and 4 per block.
    func estimatedOutputTokens() -> Int {
        var total = scaledCount(accumulatedText, seen: textBytesSeen) + scaledCount(accumulatedReasoning, seen: reasoningBytesSeen)
        for key in startedToolOrder {
            total += countTokens(tools[key]!.name) + countTokens(tools[key]!.contents) + 15
        }
        let blocks = (accumulatedReasoning.isEmpty ? 0 : 1) + (accumulatedText.isEmpty ? 0 : 1) + startedToolOrder.count
        return total + blocks * 4
    }

    private static func keep(_ text: String, in kept: inout String, seen: inout Int) {
        seen += text.utf8.count
        if kept.utf8.count < keptForEstimateBytes { kept += text }
    }

    /// Tokens of `kept`, scaled to the `seen` bytes it is the start of (exact while all was kept).
    private func scaledCount(_ kept: String, seen: Int) -> Int {
        let tokens = countTokens(kept)
        let keptBytes = kept.utf8.count
        guard seen > keptBytes, keptBytes > 0 else { return tokens }
        return Int((Double(tokens) * Double(seen) / Double(keptBytes)).rounded())
    }

    private mutating func takeOutput() -> [UInt8] {
        defer { out = [] }
        return out
    }

    // MARK: Ids

    /// Random ids in the reference's formats.
    public static func randomToolID(_ kind: ToolIDKind) -> String {
        var generator = SystemRandomNumberGenerator()
        switch kind {
        case .heuristic:
            return "toolu_heuristic_" + zeroPaddedHex(generator.next() as UInt32, width: 8)
        case .native:
            // A version 4 UUID, as `uuid.uuid4()` prints it.
            let hi = (generator.next() as UInt64) & 0xFFFF_FFFF_FFFF_0FFF | 0x4000
            let lo = (generator.next() as UInt64) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000
            let h = zeroPaddedHex(hi, width: 16), l = zeroPaddedHex(lo, width: 16)
            return "tool_\(h.prefix(8))-\(h.dropFirst(8).prefix(4))-\(h.suffix(4))-\(l.prefix(4))-\(l.suffix(12))"
        }
    }
}
