/// What an upstream's context-length refusal says, as far as its wording tells: the model's
/// window, the prompt's size, the completion asked for, or only their total. Servers word it
/// differently, and each leaves out something:
///
/// - vLLM: `This model's maximum context length is W tokens. However, you requested R tokens
///   (I in the messages, C in the completion). ...`; newer: `... However, your request has I
///   input tokens. ...`, and for the completion alone `'max_tokens' or 'max_completion_tokens'
///   is too large: C. This model's maximum context length is W tokens and your request has I
///   input tokens (C > W - I).`; its V1 engine: `The decoder prompt (length I) is longer than
///   the maximum model length of W. ...`
/// - OpenAI: `This model's maximum context length is W tokens. However, your messages resulted
///   in I tokens. ...` with code `context_length_exceeded`; older: `..., however you requested
///   R tokens (I in your prompt; C for the completion).`
/// - OpenRouter: `This endpoint's maximum context length is W tokens. However, you requested
///   about R tokens (I1 of text input, I2 of tool input, C in the output). ...`
/// - TensorRT-LLM and NIM: `Prompt length (I) exceeds maximum input length (W)`, `Input length
///   I exceeds maximum allowed token size W`, `... must have less than W tokens`.
/// - SGLang, TGI, llama.cpp, Ollama, and Anthropic-compatible servers (`prompt is too long: I
///   tokens > W maximum`, `input length and \`max_tokens\` exceed context limit: I + C > W`).
public struct ContextLengthRefusal: Sendable, Equatable {
    public var window: Int?
    public var inputTokens: Int?
    public var completionTokens: Int?
    /// The prompt and the completion together, when the message gives only the total.
    public var requestedTokens: Int?

    public init(window: Int? = nil, inputTokens: Int? = nil, completionTokens: Int? = nil, requestedTokens: Int? = nil) {
        self.window = window
        self.inputTokens = inputTokens
        self.completionTokens = completionTokens
        self.requestedTokens = requestedTokens
    }

    /// The refusal in an upstream's error message (and its JSON `code`, if any); nil when the
    /// message is not about the context length.
    public static func parse(_ message: String, code: String? = nil) -> ContextLengthRefusal? {
        let text = normalized(message)
        var refusal = ContextLengthRefusal()
        var matchedWindowTemplate = false
        for template in templates {
            guard let values = template.match(text) else { continue }
            for (field, value) in values {
                switch field {
                case .window:
                    matchedWindowTemplate = true
                    if refusal.window == nil { refusal.window = value }
                case .input: if refusal.inputTokens == nil { refusal.inputTokens = value }
                case .completion: if refusal.completionTokens == nil { refusal.completionTokens = value }
                case .requested: if refusal.requestedTokens == nil { refusal.requestedTokens = value }
                }
            }
        }
        let isRefusal =
            code?.lowercased() == "context_length_exceeded" || matchedWindowTemplate
            || keywords.contains { text.containsBytes($0) }
        return isRefusal ? refusal : nil
    }

    /// What the refusal means for the request, completed with what the caller knows of it;
    /// nil when neither the upstream nor the caller gives a single number.
    ///
    /// It is a completion-budget refusal when the upstream counted the prompt (or gave the
    /// total and the caller knows the `max_tokens` sent) and the prompt is below the window:
    /// only the completion pushed it over. Otherwise the prompt is too long: N is the
    /// upstream's count, else the caller's; M the upstream's window, else the caller's. When
    /// one is missing it is taken as close to the other as the refusal allows (M = N - 1, or
    /// N = M + 1), and N is raised to M + 1 when it is not above M (a prompt of exactly the
    /// window, or a count by another tokenizer), so the sentence stays true.
    public func verdict(request: RequestTokens?) -> ContextLengthVerdict? {
        var input = inputTokens
        if input == nil, let requestedTokens, let completion = completionTokens ?? request?.maxTokens,
            requestedTokens > completion
        {
            input = requestedTokens - completion
        }
        let window = self.window ?? request?.contextWindow
        if let input, let window, input < window, let completion = completionTokens ?? requestedTokens.map({ $0 - input }) {
            // `I + C > W` must hold for the client to act on it.
            let over = max(completion, window - input + 1)
            return .completionBudget(CompletionBudgetRefusal(window: window, inputTokens: input, completionTokens: over))
        }
        switch (input ?? request?.inputTokens, window) {
        case (nil, nil):
            return nil
        case (nil, let maximum?):
            return .promptTooLong(tokens: maximum + 1, maximum: maximum)
        case (let tokens?, nil):
            let counted = max(tokens, 1)
            return .promptTooLong(tokens: counted, maximum: counted - 1)
        case (let tokens?, let maximum?):
            return .promptTooLong(tokens: max(tokens, maximum + 1), maximum: maximum)
        }
    }

    /// The error Claude Code acts on: `prompt is too long: N tokens > M maximum` (it compacts
    /// the conversation) or `input length and \`max_tokens\` exceed context limit: I + C > W,
    /// ...` (it retries with a smaller `max_tokens`), both 400 `invalid_request_error` as
    /// Anthropic sends them.
    func upstreamError(request: RequestTokens?) -> UpstreamError? {
        guard let verdict = verdict(request: request) else { return nil }
        var error: UpstreamError
        switch verdict {
        case .promptTooLong(let tokens, let maximum):
            error = UpstreamError(
                type: .invalidRequest, status: 400, message: "prompt is too long: \(tokens) tokens > \(maximum) maximum")
        case .completionBudget(let budget):
            error = UpstreamError(
                type: .invalidRequest, status: 400,
                message: "input length and `max_tokens` exceed context limit: \(budget.inputTokens) + "
                    + "\(budget.completionTokens) > \(budget.window), decrease input length or `max_tokens` and try again")
            error.completionBudget = budget
        }
        error.statedContextWindow = window
        return error
    }

    // MARK: Wording

    enum Field { case window, input, completion, requested }

    /// Phrases that name the refusal without numbers in a form the templates know.
    private static let keywords: [[UInt8]] = [
        "context length", "context_length", "maximum model length", "context limit", "context window",
        "context size", "exceed_context_size", "prompt is too long", "input is too long", "max_seq_len",
        "maximum input length", "maximum sequence length", "maximum allowed token size",
        "`max_new_tokens` must be", "should not exceed max_num_tokens",
    ].map { Array($0.utf8) }

    /// In order of preference where two give the same number. `{W}` the window, `{I}` the
    /// prompt, `{C}` the completion, `{R}` their total; a space stands for any whitespace.
    private static let templates: [Template] = [
        // vLLM, OpenAI, OpenRouter.
        "maximum context length is {W}",
        "your request has {I} input tokens", "your messages resulted in {I} tokens",
        "{I} in the messages", "{C} in the completion",
        "{I} in your prompt", "{C} for the completion",
        "{C} in the output",
        "you requested {R} tokens", "you requested about {R} tokens",
        "is too large: {C}",
        "decoder prompt (length {I})", "maximum model length of {W}",
        "max_model_len={W}",
        // SGLang.
        "the input ({I} tokens)", "model's context length ({W} tokens)",
        // TensorRT-LLM, Triton, NIM.
        "prompt length ({I})", "input length ({I})", "input length {I} exceeds",
        "exceeds maximum input length ({W})", "exceeds maximum sequence length ({W})",
        "exceeds max_seq_len/max input length ({W})", "exceeds max_seq_len ({W})",
        "exceeds maximum allowed token size {W}",
        // TensorRT-LLM's PyTorch back end writes the prompt length as a float.
        "prompt length ({I}.0)", "should not exceed max_num_tokens ({W})",
        // TGI and NIM.
        "must have less than {W} tokens", "given: {I}",
        "must be <= {W}. given: {I} `inputs` tokens and {C} `max_new_tokens`",
        // Ollama, llama.cpp and others.
        "context length of {W}", "context size ({W} tokens)", "context size ({W})", "context window of {W}",
        "prompt tokens ({I})",
        // Anthropic-compatible servers.
        "prompt is too long: {I} tokens > {W} maximum",
        "exceed context limit: {I} + {C} > {W}",
    ].map(Template.init)

    /// ASCII letters lowered and whitespace runs made one space, so templates match any layout.
    private static func normalized(_ message: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.utf8.count)
        var pendingSpace = false
        for byte in message.utf8 {
            if byte == 0x20 || (0x09...0x0D).contains(byte) {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.append(0x20) }
            pendingSpace = false
            out.append((UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte)
        }
        return out
    }
}

/// What a context-length refusal means for the request.
public enum ContextLengthVerdict: Sendable, Equatable {
    /// The prompt does not fit: the client must shorten it (Claude Code compacts).
    case promptTooLong(tokens: Int, maximum: Int)
    /// The prompt fits; the completion asked for does not.
    case completionBudget(CompletionBudgetRefusal)
}

/// A refusal of the completion budget: the prompt (`inputTokens`, as the upstream counted it)
/// fits in `window`, the `completionTokens` asked for on top of it do not.
public struct CompletionBudgetRefusal: Sendable, Equatable {
    public var window: Int
    public var inputTokens: Int
    public var completionTokens: Int

    public init(window: Int, inputTokens: Int, completionTokens: Int) {
        self.window = window
        self.inputTokens = inputTokens
        self.completionTokens = completionTokens
    }

    /// The `max_tokens` to send again: what fits beside the prompt as the upstream counted it,
    /// at most `requested`.
    public func retryMaxTokens(requested: Int) -> Int {
        completionBudget(
            window: window, inputTokens: inputTokens, requested: requested, margin: CompletionBudgetMargin.statedInput)
    }
}

/// One wording: literal text and numbers, matched against a normalized message.
private struct Template {
    enum Piece {
        case literal([UInt8])
        case number(ContextLengthRefusal.Field)
    }

    let pieces: [Piece]

    init(_ text: String) {
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.first {
            if byte == UInt8(ascii: "{"), bytes.count >= 3, bytes[bytes.startIndex + 2] == UInt8(ascii: "}") {
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = []
                let field: ContextLengthRefusal.Field =
                    switch bytes[bytes.startIndex + 1] {
                    case UInt8(ascii: "W"): .window
                    case UInt8(ascii: "I"): .input
                    case UInt8(ascii: "C"): .completion
                    default: .requested
                    }
                pieces.append(.number(field))
                bytes = bytes.dropFirst(3)
            } else {
                literal.append(byte)
                bytes = bytes.dropFirst()
            }
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    /// The numbers of the first place the whole template matches. A template may start with
    /// a number: it is read backwards from where the first literal is found.
    func match(_ text: [UInt8]) -> [(ContextLengthRefusal.Field, Int)]? {
        guard let anchorIndex = pieces.firstIndex(where: { if case .literal = $0 { true } else { false } }),
            case .literal(let anchor) = pieces[anchorIndex]
        else { return nil }
        var from = 0
        while let found = text[from...].firstOccurrence(of: anchor) {
            from = found.lowerBound + 1
            var values: [(ContextLengthRefusal.Field, Int)] = []
            if anchorIndex == 1 {
                guard case .number(let field) = pieces[0], let value = Self.number(endingAt: found.lowerBound, in: text)
                else { continue }
                values.append((field, value))
            }
            if let rest = matchForward(text, at: found.upperBound, pieces: pieces[(anchorIndex + 1)...]) {
                return values + rest
            }
        }
        return nil
    }

    private func matchForward(
        _ text: [UInt8], at start: Int, pieces: ArraySlice<Piece>
    ) -> [(ContextLengthRefusal.Field, Int)]? {
        var position = start
        var values: [(ContextLengthRefusal.Field, Int)] = []
        for piece in pieces {
            switch piece {
            case .literal(let literal):
                guard text[position...].starts(with: literal) else { return nil }
                position += literal.count
            case .number(let field):
                guard let (value, end) = Self.number(startingAt: position, in: text) else { return nil }
                values.append((field, value))
                position = end
            }
        }
        return values
    }

    /// Counts above this are not token counts (and would overflow sums).
    static let largestCount = 1_000_000_000_000

    /// Digits, with thousands separated by commas (`131,072`) or not.
    static func number(startingAt start: Int, in text: [UInt8]) -> (Int, Int)? {
        var i = start
        var value = 0
        var digits = 0
        while i < text.count {
            let byte = text[i]
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                if value > largestCount { return nil }
                i += 1
            } else if byte == UInt8(ascii: ","), digits > 0, isThousandsGroup(after: i, in: text) {
                i += 1
            } else {
                break
            }
        }
        return digits > 0 ? (value, i) : nil
    }

    /// Exactly three digits after the comma at `comma`: `131,072` is one number, `1,2` is two.
    private static func isThousandsGroup(after comma: Int, in text: [UInt8]) -> Bool {
        let isDigit: (UInt8) -> Bool = { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        let group = text[(comma + 1)...].prefix(4)
        return group.prefix(3).count == 3 && group.prefix(3).allSatisfy(isDigit) && (group.count == 3 || !isDigit(group.last!))
    }

    /// The number whose last digit is just before `end`.
    static func number(endingAt end: Int, in text: [UInt8]) -> Int? {
        var start = end
        let isNumberByte: (UInt8) -> Bool = { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: ",") }
        while start > 0, isNumberByte(text[start - 1]) { start -= 1 }
        while start < end, text[start] == UInt8(ascii: ",") { start += 1 }
        guard start < end, let (value, stop) = number(startingAt: start, in: text), stop == end else { return nil }
        return value
    }
}

extension Array where Element == UInt8 {
    fileprivate func containsBytes(_ needle: [UInt8]) -> Bool { self[...].firstOccurrence(of: needle) != nil }
}

/// The `max_tokens` to send so the prompt and the answer fit in `window`: `window -
/// inputTokens - margin`, never more than `requested` (the client's own limit) and never
/// below 1.
public func completionBudget(window: Int, inputTokens: Int, requested: Int, margin: Int) -> Int {
    let room = window - inputTokens - margin
    return max(1, min(requested, room))
}

/// Margins for `completionBudget`.
public enum CompletionBudgetMargin {
    /// When the upstream counted the prompt itself (its refusal said how many tokens): its
    /// count is exact, and a few hundred tokens cover what a server adds around the prompt
    /// (OpenRouter says "about").
    public static let statedInput = 256

    /// When the prompt's size is the proxy's cl100k count: the models behind NIM use other
    /// tokenizers, which count the same text up to roughly a tenth more, so an eighth of the
    /// count is kept free on top of `statedInput`. Too small a margin costs one refused
    /// request (retried at once with the upstream's own count), too large one a shorter
    /// answer than possible.
    public static func estimatedInput(inputTokens: Int) -> Int { statedInput + max(0, inputTokens) / 8 }
}

/// The context windows known per upstream model: learned from the upstream's refusals, else
/// the configured size (`MODEL_CONTEXT_TOKENS`) for every model. A value: the owner keeps
/// one and asks it before each request.
public struct ContextWindows: Sendable, Equatable {
    /// The configured size for every model; nil: unknown.
    public let configured: Int?
    private var learned: [String: Int] = [:]

    /// Model names come from the configuration (the models and their fallbacks), so the
    /// table stays small; the cap only guards against a caller that passes other names.
    public static let maxModels = 256

    /// - Parameter configured: the configured size, `0` for unknown.
    public init(configured: Int) {
        self.configured = configured > 0 ? configured : nil
    }

    /// The upstream stated `window` for `model`; it replaces what was known.
    public mutating func learn(model: String, window: Int) {
        guard window > 0, learned[model] != nil || learned.count < Self.maxModels else { return }
        learned[model] = window
    }

    public func window(for model: String) -> Int? { learned[model] ?? configured }

    /// The `max_tokens` to send `model` in the first place: `requested` while its window is
    /// unknown, else what fits beside a prompt of `inputTokens` by the proxy's count.
    public func maxTokens(for model: String, inputTokens: Int, requested: Int) -> Int {
        guard let window = window(for: model) else { return requested }
        return completionBudget(
            window: window, inputTokens: inputTokens, requested: requested,
            margin: CompletionBudgetMargin.estimatedInput(inputTokens: inputTokens))
    }
}
