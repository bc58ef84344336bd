import JSON

/// A tool call a model wrote as text instead of using the `tool_calls` API.
public struct HeuristicToolCall: Sendable, Equatable {
    public var name: String
    /// Parameter values are always strings: the text format carries no types.
    public var input: JSONObject
    public init(name: String, input: JSONObject) {
        self.name = name
        self.input = input
    }
}

/// Finds tool calls that some models emit as plain text,
/// `● <function=Name><parameter=key>value</parameter>...`, and removes the
/// `<|...|>` sentinel tokens that some backends leak into content.
///
/// Text passes through unchanged except for those two things. `feed` returns the
/// text to show and the calls completed by this chunk (the translator emits the
/// text first, as the reference does); `flush` returns what is left at the end of
/// the stream, including text the reference would have dropped.
public struct HeuristicToolParser: Sendable {
    private enum State: Sendable { case text, matchingFunction, parsingParameters }

    private static let bullet: Unicode.Scalar = "●"
    private static let functionOpen = Scalars("<function=")
    private static let functionClose = Scalars("</function>")
    private static let parameterOpen = Scalars("<parameter=")
    private static let parameterClose = Scalars("</parameter>")
    private static let tokenOpen = Scalars("<|")
    /// Longest body of a sentinel token (`<\|[^|>]{1,80}\|>` in the reference).
    private static let tokenMaxBody = 80
    /// How long a `●` may wait for its `<function=...>` before it is taken as text.
    private static let matchLimit = 100

    private var state = State.text
    private var buffer: Scalars = []
    private var currentName = ""
    private var currentInput = JSONObject()

    public init() {}

    public mutating func feed(_ text: String) -> (text: String, calls: [HeuristicToolCall]) {
        // Most chunks are plain text: nothing held back, no `<` (tags and sentinel tokens)
        // and no `●` (whose UTF-8 starts with 0xE2) means nothing to find.
        if state == .text, buffer.isEmpty, !utf8Contains(text, UInt8(ascii: "<")),
            !utf8Contains(text, 0xE2) || !text.unicodeScalars.contains(Self.bullet)
        {
            return (text, [])
        }
        buffer.append(contentsOf: text.unicodeScalars)
        buffer = Self.strippingControlTokens(buffer)
        var out: Scalars = []
        var calls: [HeuristicToolCall] = []
        scan: while true {
            switch state {
            case .text:
                if let b = buffer.firstIndex(of: Self.bullet) {
                    move(b, to: &out)
                    state = .matchingFunction
                } else {
                    move(buffer.count - heldTokenTailLength(), to: &out)
                    break scan
                }
            case .matchingFunction:
                switch matchFunctionStart() {
                case .matched: state = .parsingParameters
                case .needMore: break scan
                case .notACall:
                    move(1, to: &out)
                    state = .text
                }
            case .parsingParameters:
                if parseParameters(into: &out) {
                    calls.append(HeuristicToolCall(name: currentName, input: currentInput))
                    state = .text
                } else {
                    break scan
                }
            }
        }
        return (out.string, calls)
    }

    /// Ends the stream: a call still open is completed with whatever parameter is
    /// partly written (its value runs to the end), and any text still held back
    /// (a `●` that never became a call, an unterminated `<|`) is returned as text.
    public mutating func flush() -> (text: String, calls: [HeuristicToolCall]) {
        buffer = Self.strippingControlTokens(buffer)
        var out: Scalars = []
        var calls: [HeuristicToolCall] = []
        if state == .parsingParameters {
            if let p = buffer.firstIndex(of: Self.parameterOpen),
                let gt = buffer.firstIndex(of: [">"], from: p + Self.parameterOpen.count)
            {
                out = Array(buffer[..<p])
                let key = Array(buffer[(p + Self.parameterOpen.count)..<gt]).strippingWhitespace().string
                currentInput[key] = .string(Array(buffer[(gt + 1)...]).strippingWhitespace().string)
            } else if !Self.isSyntaxFragment(buffer) {
                out = buffer
            }
            calls.append(HeuristicToolCall(name: currentName, input: currentInput))
        } else {
            out = buffer
        }
        buffer.removeAll()
        state = .text
        return (out.string, calls)
    }

    // MARK: Steps

    private enum FunctionMatch { case matched, needMore, notACall }

    /// The buffer starts with `●`; is it `●` + whitespace + `<function=Name>`?
    private mutating func matchFunctionStart() -> FunctionMatch {
        let start = buffer.firstNonWhitespaceIndex(from: 1) ?? buffer.count
        let rest = buffer[start...]
        let waitOrGiveUp: FunctionMatch = buffer.count > Self.matchLimit ? .notACall : .needMore
        if rest.count < Self.functionOpen.count {
            return Self.functionOpen.starts(with: rest) ? waitOrGiveUp : .notACall
        }
        guard buffer.hasPrefix(Self.functionOpen, at: start) else { return .notACall }
        let nameStart = start + Self.functionOpen.count
        guard let gt = buffer.firstIndex(of: [">"], from: nameStart) else { return waitOrGiveUp }
        let name = Array(buffer[nameStart..<gt]).strippingWhitespace()
        if name.isEmpty { return .notACall }
        currentName = name.string
        currentInput = JSONObject()
        buffer.removeFirst(gt + 1)
        return .matched
    }

    /// Consumes complete parameters; true when the call has ended (text, a new `●`
    /// or `</function>` follows), false when more input is needed.
    private mutating func parseParameters(into out: inout Scalars) -> Bool {
        while true {
            let bullet = buffer.firstIndex(of: Self.bullet)
            let param = buffer.firstIndex(of: Self.parameterOpen)
            // A `●` ahead of any parameter starts the next call; one inside a
            // parameter value is part of the value.
            if let b = bullet, param == nil || b < param! {
                move(b, to: &out)
                return true
            }
            if let p = param {
                let keyStart = p + Self.parameterOpen.count
                guard let gt = buffer.firstIndex(of: [">"], from: keyStart),
                    let end = buffer.firstIndex(of: Self.parameterClose, from: gt + 1)
                else { return false }
                out.append(contentsOf: buffer[..<p])
                let key = Array(buffer[keyStart..<gt]).strippingWhitespace().string
                currentInput[key] = .string(Array(buffer[(gt + 1)..<end]).strippingWhitespace().string)
                buffer.removeFirst(end + Self.parameterClose.count)
                continue
            }
            guard let first = buffer.firstNonWhitespaceIndex() else {
                // Nothing, or only whitespace: the reference ends the call on
                // whitespace that follows it, and waits on an empty buffer.
                if buffer.isEmpty { return false }
                move(buffer.count, to: &out)
                return true
            }
            if buffer.hasPrefix(Self.functionClose, at: first) {
                out.append(contentsOf: buffer[..<first])
                buffer.removeFirst(first + Self.functionClose.count)
                return true
            }
            if buffer[first] == "<" { return false }
            move(buffer.count, to: &out)
            return true
        }
    }

    private mutating func move(_ n: Int, to out: inout Scalars) {
        guard n > 0 else { return }
        out.append(contentsOf: buffer[..<n])
        buffer.removeFirst(n)
    }

    /// Length of a trailing `<|...` that may still become a sentinel token. The
    /// reference holds back everything after any unterminated `<|`, which swallows
    /// the rest of the answer; only a tail that can still match is held here.
    private func heldTokenTailLength() -> Int {
        guard let start = buffer.lastIndex(of: Self.tokenOpen) else { return 0 }
        var body = buffer[(start + 2)...]
        if body.last == "|", body.count >= 2 { body = body.dropLast() }
        guard body.count <= Self.tokenMaxBody, !body.contains("|"), !body.contains(">") else { return 0 }
        return buffer.count - start
    }

    /// A leftover that is only the beginning of the call syntax, not text.
    private static func isSyntaxFragment(_ s: Scalars) -> Bool {
        let t = s.strippingWhitespace()
        if t.isEmpty { return true }
        return parameterOpen.starts(with: t) || functionClose.starts(with: t) || parameterClose.starts(with: t)
    }

    /// Removes complete `<|...|>` tokens (1 to 80 body characters, none of them
    /// `|` or `>`), scanning left to right without rescanning what remains, like
    /// `re.sub`.
    static func strippingControlTokens(_ s: Scalars) -> Scalars {
        guard s.firstIndex(of: tokenOpen) != nil else { return s }
        var out: Scalars = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if s[i] == "<", i + 1 < s.count, s[i + 1] == "|" {
                var j = i + 2
                while j < s.count, j - (i + 2) < tokenMaxBody, s[j] != "|", s[j] != ">" { j += 1 }
                if j > i + 2, j + 1 < s.count, s[j] == "|", s[j + 1] == ">" {
                    i = j + 2
                    continue
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }
}
