import JSON

/// The chunk nearly every streamed answer is made of: a piece of text or reasoning (and at the end
/// a finish reason) in the first choice's delta, and nothing else translation reads. Read straight
/// from the bytes: building the chunk's tree and freeing it cost more than translating its text.
public struct TextDelta: Sendable, Equatable {
    /// `delta.content`.
    public var content: String?
    /// The delta's reasoning as `StreamTranslator.reasoningText` picks it: `reasoning_content`
    /// when not empty, else `reasoning`.
    public var reasoning: String?
    /// `choices[0].finish_reason`.
    public var finishReason: String?

    public init(content: String? = nil, reasoning: String? = nil, finishReason: String? = nil) {
        self.content = content
        self.reasoning = reasoning
        self.finishReason = finishReason
    }

    /// The chunk in `buffer` when it has that shape; nil for anything else (tool calls, usage,
    /// an error, `reasoning_details`, an unexpected type, a repeated or escaped member name,
    /// malformed JSON), which then goes through the tree, so every answer is the tree's answer.
    public static func read(_ buffer: UnsafeRawBufferPointer) -> TextDelta? {
        try? JSONReader.read(buffer) { (r: inout JSONReader) throws(JSONParseError) -> TextDelta? in
            guard r.peek() == .object, try r.beginObject() else { return nil }
            var found: TextDelta?
            repeat {
                let key = try r.key()
                if r.keyHadEscapes { return nil }
                if key.equals("choices") {
                    guard found == nil, let delta = try readChoices(&r) else { return nil }
                    found = delta
                } else if key.equals("usage") {
                    guard r.peek() == .null else { return nil }
                    try r.skip()
                } else if key.equals("error") {
                    return nil
                } else {
                    try r.skip()
                }
            } while try r.nextMember()
            try r.finish()
            return found
        }.flatMap { $0 }
    }

    private static func readChoices(_ r: inout JSONReader) throws(JSONParseError) -> TextDelta? {
        guard r.peek() == .array, try r.beginArray(), r.peek() == .object, try r.beginObject() else { return nil }
        var result = TextDelta()
        var sawDelta = false, sawFinish = false
        repeat {
            let key = try r.key()
            if r.keyHadEscapes { return nil }
            if key.equals("delta") {
                guard !sawDelta, try readDelta(&r, into: &result) else { return nil }
                sawDelta = true
            } else if key.equals("finish_reason") {
                guard !sawFinish else { return nil }
                sawFinish = true
                switch r.peek() {
                case .null: try r.skip()
                case .string: result.finishReason = try r.string()
                default: return nil
                }
            } else {
                try r.skip()
            }
        } while try r.nextMember()
        // A choice without a delta object reads differently in the tree; not this shape.
        guard sawDelta else { return nil }
        // Later choices are checked, not read, as translation reads only the first.
        while try r.nextElement() { try r.skip() }
        return result
    }

    private static func readDelta(_ r: inout JSONReader, into result: inout TextDelta) throws(JSONParseError) -> Bool {
        guard r.peek() == .object else { return false }
        guard try r.beginObject() else { return true }
        var content: String?, reasoningContent: String?, reasoning: String?
        var seen: UInt8 = 0
        repeat {
            let key = try r.key()
            if r.keyHadEscapes { return false }
            let bit: UInt8
            if key.equals("content") {
                bit = 1
            } else if key.equals("reasoning_content") {
                bit = 2
            } else if key.equals("reasoning") {
                bit = 4
            } else if key.equals("tool_calls") {
                guard r.peek() == .null else { return false }
                bit = 8
            } else if key.equals("reasoning_details") {
                return false
            } else {
                try r.skip()
                continue
            }
            guard seen & bit == 0 else { return false }
            seen |= bit
            let text: String?
            switch r.peek() {
            case .null:
                try r.skip()
                text = nil
            case .string: text = try r.string()
            default: return false
            }
            switch bit {
            case 1: content = text
            case 2: reasoningContent = text
            case 4: reasoning = text
            default: break
            }
        } while try r.nextMember()
        result.content = content
        if let text = reasoningContent, !text.isEmpty {
            result.reasoning = text
        } else if let text = reasoning, !text.isEmpty {
            result.reasoning = text
        }
        return true
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Byte equality with a literal name: the generic `elementsEqual` over a `String.UTF8View`
    /// cost more than the rest of reading a chunk.
    @inline(__always)
    func equals(_ name: StaticString) -> Bool {
        let n = name.utf8CodeUnitCount
        guard count == n else { return false }
        guard let base = baseAddress else { return n == 0 }
        let literal = name.utf8Start
        for i in 0..<n where base[i] != literal[i] { return false }
        return true
    }
}
