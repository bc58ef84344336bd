import AnthropicAPI

/// Which fast paths are on; each mirrors one of the reference's settings
/// (`ENABLE_NETWORK_PROBE_MOCK`, `FAST_PREFIX_DETECTION`, `ENABLE_TITLE_GENERATION_SKIP`,
/// `ENABLE_SUGGESTION_MODE_SKIP`, `ENABLE_FILEPATH_EXTRACTION_MOCK`), all on by default.
public struct LocalAnswerSwitches: Sendable, Equatable {
    public var quotaMock: Bool
    public var prefixDetection: Bool
    public var titleSkip: Bool
    public var suggestionSkip: Bool
    public var filepathMock: Bool

    public init(
        quotaMock: Bool = true, prefixDetection: Bool = true, titleSkip: Bool = true,
        suggestionSkip: Bool = true, filepathMock: Bool = true
    ) {
        self.quotaMock = quotaMock
        self.prefixDetection = prefixDetection
        self.titleSkip = titleSkip
        self.suggestionSkip = suggestionSkip
        self.filepathMock = filepathMock
    }

    public static let allOff = LocalAnswerSwitches(
        quotaMock: false, prefixDetection: false, titleSkip: false, suggestionSkip: false, filepathMock: false)
}

/// The fast path that answered a request, for logging.
public enum LocalAnswerKind: String, Sendable, Equatable {
    case quotaMock = "quota_mock"
    /// A `max_tokens: 1` start-up or model check whose text is not about quota.
    case networkProbe = "network_probe"
    /// Current Claude Code's session-title request (`titleSkip` switches it).
    case sessionTitle = "session_title"
    case prefixDetection = "prefix_detection"
    case titleSkip = "title_skip"
    case suggestionSkip = "suggestion_skip"
    case filepathMock = "filepath_mock"
}

/// A request answered without the upstream, and which fast path answered it.
public struct LocalAnswer: Sendable, Equatable {
    public var kind: LocalAnswerKind
    public var response: MessagesResponse
}

/// Answers a request locally when it is one of Claude Code's housekeeping calls, trying
/// the fast paths in the reference's order (quota and probes, prefix, title, suggestion,
/// filepath); nil when the request must go upstream.
///
/// `knownModels` are the configured upstream models: a probe naming one of them (or a Claude
/// name) is answered here, a probe naming anything else goes upstream so a mistyped model is
/// still reported. `measure` counts a session title's usage (input, output); without it the
/// answer reports estimates.
public func answerLocally(
    _ request: MessagesRequest, switches: LocalAnswerSwitches, knownModels: Set<String> = [],
    measure: ((MessagesRequest, String) -> (input: Int, output: Int))? = nil,
    makeID: () -> String = { MessageID.make() }
) -> LocalAnswer? {
    func answer(
        _ kind: LocalAnswerKind, _ text: String, input: Int, output: Int, stop: StopReason = .endTurn
    ) -> LocalAnswer {
        LocalAnswer(
            kind: kind,
            response: MessagesResponse(
                id: makeID(), model: request.model, content: [.text(text)], stopReason: stop,
                usage: Usage(inputTokens: input, outputTokens: output)))
    }
    if switches.quotaMock, isNetworkProbe(request, knownModels: knownModels) {
        if isQuotaCheckRequest(request) { return answer(.quotaMock, "Quota check passed.", input: 10, output: 5) }
        return answer(.networkProbe, "OK", input: 10, output: 1, stop: .maxTokens)
    }
    if switches.prefixDetection, let command = prefixDetectionCommand(request) {
        return answer(.prefixDetection, extractCommandPrefix(command), input: 100, output: 5)
    }
    if switches.titleSkip, let session = sessionTitleRequest(request) {
        let text = sessionTitleAnswer(makeSessionTitle(session))
        let usage = measure?(request, text) ?? (input: 100, output: 10)
        return answer(.sessionTitle, text, input: usage.input, output: usage.output)
    }
    if switches.titleSkip, isTitleGenerationRequest(request) {
        return answer(.titleSkip, "Conversation", input: 100, output: 5)
    }
    if switches.suggestionSkip, isSuggestionModeRequest(request) {
        return answer(.suggestionSkip, "", input: 100, output: 1)
    }
    if switches.filepathMock, let found = filepathExtractionRequest(request) {
        return answer(.filepathMock, extractFilepaths(command: found.command, output: found.output), input: 100, output: 10)
    }
    return nil
}
