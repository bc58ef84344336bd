/// Every problem found while loading the configuration, so one start-up
/// failure lists all of them instead of making the user fix one at a time.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    /// One sentence per problem, each naming the key, the bad value and what is allowed.
    public let problems: [String]

    public init(problems: [String]) { self.problems = problems }

    public var description: String {
        if problems.count == 1 { return "invalid configuration: \(problems[0])" }
        return "invalid configuration:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Sampling and request options forwarded to NVIDIA NIM (`NVIDIA_NIM_*`), with
/// the reference's defaults and ranges.
public struct NimSettings: Sendable, Equatable {
    public enum ReasoningEffort: String, Sendable, CaseIterable {
        case low, medium, high
    }

    public var temperature = 1.0
    public var topP = 1.0
    /// -1 means disabled.
    public var topK = -1
    public var maxTokens = 81920
    public var presencePenalty = 0.0
    public var frequencyPenalty = 0.0
    public var minP = 0.0
    public var repetitionPenalty = 1.0
    public var seed: Int? = nil
    public var stop: String? = nil
    public var parallelToolCalls = true
    public var returnTokensAsTokenIds = false
    public var includeStopStrInOutput = false
    public var ignoreEos = false
    public var minTokens = 0
    public var chatTemplate: String? = nil
    public var requestId: String? = nil
    public var reasoningEffort = ReasoningEffort.high
    public var includeReasoning = true

    public init() {}
}

public struct Settings: Sendable, Equatable {
    public static let defaultNvidiaNimBaseURL = "https://integrate.api.nvidia.com/v1"

    public var providerType = "nvidia_nim"
    public var messagingPlatform = "telegram"
    public var nvidiaNimApiKey = ""
    /// Every Claude model name maps to this one unless a per-family model is set.
    public var model = "moonshotai/kimi-k2-thinking"
    public var nvidiaNimRateLimit = 40
    public var nvidiaNimRateWindow = 60
    public var fastPrefixDetection = true
    public var enableNetworkProbeMock = true
    public var enableTitleGenerationSkip = true
    public var enableSuggestionModeSkip = true
    public var enableFilepathExtractionMock = true
    public var nim = NimSettings()
    public var telegramBotToken: String? = nil
    public var allowedTelegramUserId: String? = nil
    public var claudeWorkspace = "./agent_workspace"
    public var allowedDir = ""
    public var maxCliSessions = 10
    /// Loopback by default: the reference binds 0.0.0.0, which exposes an
    /// unauthenticated proxy holding the user's API key to the network.
    public var host = "127.0.0.1"
    /// 0 asks the OS for an ephemeral port (tests).
    public var port = 8082
    public var logFile = "server.log"

    // Not in the reference.
    /// Without a trailing slash, so paths can be appended with "/chat/completions".
    public var nvidiaNimBaseURL = Settings.defaultNvidiaNimBaseURL
    public var modelOpus: String? = nil
    public var modelSonnet: String? = nil
    public var modelHaiku: String? = nil
    public var maxRequestBodyBytes = 33_554_432
    public var headerTimeoutSeconds = 30.0
    public var idleTimeoutSeconds = 75.0
    public var upstreamConnectTimeoutSeconds = 10.0
    /// Silence allowed between upstream bytes: the reference's client uses httpx's
    /// `timeout=300`, which is a per-read limit, not a limit on the whole answer.
    public var upstreamStallTimeoutSeconds = 300.0
    /// A limit on a whole upstream answer; 0 means none (long generations may take longer
    /// than any fixed limit; the stall timeout catches a dead upstream).
    public var upstreamTotalTimeoutSeconds = 0.0
    /// `auto`: HTTP/2 where TLS negotiates it (many streams share one connection), HTTP/1.1
    /// otherwise; `1.1`: HTTP/1.1 only; `2`: HTTP/2 also without TLS (prior knowledge).
    public var upstreamHTTPVersion = "auto"
    /// PEM certificates trusted for the upstream's TLS instead of the system's (a NIM behind a
    /// private certificate authority); nil: the system's.
    public var upstreamCAFile: String? = nil
    public var shutdownTimeoutSeconds = 5.0
    public var proxyAuthToken: String? = nil
    public var claudeCliBin = "claude"

    public init() {}

    /// The `NVIDIA_NIM_*` names that are settings; any other key with that
    /// prefix is refused at start-up, as the reference's `extra="forbid"` does.
    public static let knownNvidiaNimKeys: [String] = [
        "NVIDIA_NIM_API_KEY", "NVIDIA_NIM_RATE_LIMIT", "NVIDIA_NIM_RATE_WINDOW", "NVIDIA_NIM_BASE_URL",
        "NVIDIA_NIM_TEMPERATURE", "NVIDIA_NIM_TOP_P", "NVIDIA_NIM_TOP_K", "NVIDIA_NIM_MAX_TOKENS",
        "NVIDIA_NIM_PRESENCE_PENALTY", "NVIDIA_NIM_FREQUENCY_PENALTY", "NVIDIA_NIM_MIN_P",
        "NVIDIA_NIM_REPETITION_PENALTY", "NVIDIA_NIM_SEED", "NVIDIA_NIM_STOP", "NVIDIA_NIM_PARALLEL_TOOL_CALLS",
        "NVIDIA_NIM_RETURN_TOKENS_AS_TOKEN_IDS", "NVIDIA_NIM_INCLUDE_STOP_STR_IN_OUTPUT", "NVIDIA_NIM_IGNORE_EOS",
        "NVIDIA_NIM_MIN_TOKENS", "NVIDIA_NIM_CHAT_TEMPLATE", "NVIDIA_NIM_REQUEST_ID",
        "NVIDIA_NIM_REASONING_EFFORT", "NVIDIA_NIM_INCLUDE_REASONING",
    ]

    /// Builds the settings from the process environment and the text of the
    /// `.env` file (nil when there is none).
    ///
    /// - The environment wins over `.env` (python-dotenv never overrides a set variable).
    /// - Names match case-insensitively, as with pydantic-settings; when the
    ///   environment holds one name in several casings, the all-uppercase one wins.
    /// - Keys that are not settings are ignored, except unknown `NVIDIA_NIM_*` keys.
    /// - Every value that does not parse or is out of range is reported; all
    ///   problems are collected into one `ConfigError`.
    public static func load(environment: [String: String], dotEnv: String?) throws(ConfigError) -> Settings {
        var reader = SettingsReader(environment: environment, dotEnv: dotEnv.map(DotEnv.parse) ?? [])
        var s = Settings()

        s.providerType = reader.choice("PROVIDER_TYPE", default: s.providerType, allowed: ["nvidia_nim"])
        s.messagingPlatform = reader.string("MESSAGING_PLATFORM", default: s.messagingPlatform)
        s.nvidiaNimApiKey = reader.string("NVIDIA_NIM_API_KEY", default: s.nvidiaNimApiKey)
        s.model = reader.nonEmptyString("MODEL", default: s.model)
        s.nvidiaNimRateLimit = reader.int("NVIDIA_NIM_RATE_LIMIT", default: s.nvidiaNimRateLimit, min: 1)
        s.nvidiaNimRateWindow = reader.int("NVIDIA_NIM_RATE_WINDOW", default: s.nvidiaNimRateWindow, min: 1)
        s.fastPrefixDetection = reader.bool("FAST_PREFIX_DETECTION", default: s.fastPrefixDetection)
        s.enableNetworkProbeMock = reader.bool("ENABLE_NETWORK_PROBE_MOCK", default: s.enableNetworkProbeMock)
        s.enableTitleGenerationSkip = reader.bool("ENABLE_TITLE_GENERATION_SKIP", default: s.enableTitleGenerationSkip)
        s.enableSuggestionModeSkip = reader.bool("ENABLE_SUGGESTION_MODE_SKIP", default: s.enableSuggestionModeSkip)
        s.enableFilepathExtractionMock = reader.bool(
            "ENABLE_FILEPATH_EXTRACTION_MOCK", default: s.enableFilepathExtractionMock)
        s.telegramBotToken = reader.optionalString("TELEGRAM_BOT_TOKEN")
        s.allowedTelegramUserId = reader.optionalString("ALLOWED_TELEGRAM_USER_ID")
        s.claudeWorkspace = reader.string("CLAUDE_WORKSPACE", default: s.claudeWorkspace)
        s.allowedDir = reader.string("ALLOWED_DIR", default: s.allowedDir)
        s.maxCliSessions = reader.int("MAX_CLI_SESSIONS", default: s.maxCliSessions, min: 1)
        s.host = reader.nonEmptyString("HOST", default: s.host)
        s.port = reader.int("PORT", default: s.port, min: 0, max: 65535)
        s.logFile = reader.string("LOG_FILE", default: s.logFile)

        s.nvidiaNimBaseURL = reader.httpURL("NVIDIA_NIM_BASE_URL", default: s.nvidiaNimBaseURL)
        s.modelOpus = reader.optionalString("MODEL_OPUS")
        s.modelSonnet = reader.optionalString("MODEL_SONNET")
        s.modelHaiku = reader.optionalString("MODEL_HAIKU")
        s.maxRequestBodyBytes = reader.int("MAX_REQUEST_BODY_BYTES", default: s.maxRequestBodyBytes, min: 1)
        s.headerTimeoutSeconds = reader.positiveSeconds("HTTP_HEADER_TIMEOUT", default: s.headerTimeoutSeconds)
        s.idleTimeoutSeconds = reader.positiveSeconds("HTTP_IDLE_TIMEOUT", default: s.idleTimeoutSeconds)
        s.upstreamConnectTimeoutSeconds = reader.positiveSeconds(
            "UPSTREAM_CONNECT_TIMEOUT", default: s.upstreamConnectTimeoutSeconds)
        s.upstreamStallTimeoutSeconds = reader.positiveSeconds(
            "UPSTREAM_STALL_TIMEOUT", default: s.upstreamStallTimeoutSeconds)
        s.upstreamTotalTimeoutSeconds = reader.double(
            "UPSTREAM_TOTAL_TIMEOUT", default: s.upstreamTotalTimeoutSeconds, min: 0)
        s.upstreamHTTPVersion = reader.choice(
            "UPSTREAM_HTTP_VERSION", default: s.upstreamHTTPVersion, allowed: ["auto", "1.1", "2"])
        s.upstreamCAFile = reader.optionalString("UPSTREAM_CA_FILE")
        s.shutdownTimeoutSeconds = reader.double("SHUTDOWN_TIMEOUT", default: s.shutdownTimeoutSeconds, min: 0)
        s.proxyAuthToken = reader.optionalString("PROXY_AUTH_TOKEN")
        s.claudeCliBin = reader.nonEmptyString("CLAUDE_CLI_BIN", default: s.claudeCliBin)

        var nim = NimSettings()
        nim.temperature = reader.double("NVIDIA_NIM_TEMPERATURE", default: nim.temperature, min: 0)
        nim.topP = reader.double("NVIDIA_NIM_TOP_P", default: nim.topP, min: 0, max: 1)
        nim.topK = reader.int("NVIDIA_NIM_TOP_K", default: nim.topK, min: -1, rangeText: "must be -1 or >= 0")
        nim.maxTokens = reader.int("NVIDIA_NIM_MAX_TOKENS", default: nim.maxTokens, min: 1)
        nim.presencePenalty = reader.double("NVIDIA_NIM_PRESENCE_PENALTY", default: nim.presencePenalty, min: -2, max: 2)
        nim.frequencyPenalty = reader.double(
            "NVIDIA_NIM_FREQUENCY_PENALTY", default: nim.frequencyPenalty, min: -2, max: 2)
        nim.minP = reader.double("NVIDIA_NIM_MIN_P", default: nim.minP, min: 0, max: 1)
        nim.repetitionPenalty = reader.double("NVIDIA_NIM_REPETITION_PENALTY", default: nim.repetitionPenalty, min: 0)
        nim.seed = reader.optionalInt("NVIDIA_NIM_SEED")
        nim.stop = reader.optionalString("NVIDIA_NIM_STOP")
        nim.parallelToolCalls = reader.bool("NVIDIA_NIM_PARALLEL_TOOL_CALLS", default: nim.parallelToolCalls)
        nim.returnTokensAsTokenIds = reader.bool(
            "NVIDIA_NIM_RETURN_TOKENS_AS_TOKEN_IDS", default: nim.returnTokensAsTokenIds)
        nim.includeStopStrInOutput = reader.bool(
            "NVIDIA_NIM_INCLUDE_STOP_STR_IN_OUTPUT", default: nim.includeStopStrInOutput)
        nim.ignoreEos = reader.bool("NVIDIA_NIM_IGNORE_EOS", default: nim.ignoreEos)
        nim.minTokens = reader.int("NVIDIA_NIM_MIN_TOKENS", default: nim.minTokens, min: 0)
        nim.chatTemplate = reader.optionalString("NVIDIA_NIM_CHAT_TEMPLATE")
        nim.requestId = reader.optionalString("NVIDIA_NIM_REQUEST_ID")
        nim.reasoningEffort = NimSettings.ReasoningEffort(
            rawValue: reader.choice(
                "NVIDIA_NIM_REASONING_EFFORT", default: nim.reasoningEffort.rawValue,
                allowed: NimSettings.ReasoningEffort.allCases.map(\.rawValue))) ?? .high
        nim.includeReasoning = reader.bool("NVIDIA_NIM_INCLUDE_REASONING", default: nim.includeReasoning)
        s.nim = nim

        reader.rejectUnknownNvidiaNimKeys(known: Set(knownNvidiaNimKeys))
        if !reader.problems.isEmpty { throw ConfigError(problems: reader.problems) }
        return s
    }
}

/// Looks keys up case-insensitively and records a problem for each bad value,
/// returning the default so loading can go on and find the rest.
private struct SettingsReader {
    struct Entry {
        var name: String
        var value: String
        var fromEnvironment: Bool
    }

    var entries: [String: Entry] = [:]
    var problems: [String] = []

    init(environment: [String: String], dotEnv: [(key: String, value: String)]) {
        for (name, value) in dotEnv {
            entries[name.uppercased()] = Entry(name: name, value: value, fromEnvironment: false)
        }
        // Sorted so the outcome does not depend on dictionary order.
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            let key = name.uppercased()
            if let existing = entries[key], existing.fromEnvironment, existing.name == key { continue }
            entries[key] = Entry(name: name, value: value, fromEnvironment: true)
        }
    }

    static let boolWords: [String: Bool] = [
        "true": true, "1": true, "yes": true, "on": true, "t": true, "y": true,
        "false": false, "0": false, "no": false, "off": false, "f": false, "n": false,
    ]

    mutating func report(_ entry: Entry, _ problem: String) {
        problems.append("\(entry.name)=\(entry.value) \(problem)")
    }

    func string(_ key: String, default value: String) -> String {
        entries[key]?.value ?? value
    }

    func optionalString(_ key: String) -> String? {
        guard let value = entries[key]?.value, !value.isEmpty else { return nil }
        return value
    }

    mutating func nonEmptyString(_ key: String, default value: String) -> String {
        guard let entry = entries[key] else { return value }
        if entry.value.trimmingWhitespace().isEmpty {
            report(entry, "is empty: a value is required")
            return value
        }
        return entry.value
    }

    mutating func choice(_ key: String, default value: String, allowed: [String]) -> String {
        guard let entry = entries[key] else { return value }
        if allowed.contains(entry.value) { return entry.value }
        report(entry, "is not allowed: must be one of \(allowed.joined(separator: ", "))")
        return value
    }

    mutating func bool(_ key: String, default value: Bool) -> Bool {
        guard let entry = entries[key] else { return value }
        if let parsed = Self.boolWords[entry.value.trimmingWhitespace().lowercased()] { return parsed }
        report(entry, "is not a boolean: must be one of true, false, 1, 0, yes, no, on, off, t, f, y, n")
        return value
    }

    static func rangeText<T: Comparable>(min: T?, max: T?) -> String {
        switch (min, max) {
        case let (lo?, hi?): return "must be between \(lo) and \(hi)"
        case let (lo?, nil): return "must be >= \(lo)"
        case let (nil, hi?): return "must be <= \(hi)"
        case (nil, nil): return "any value"
        }
    }

    mutating func int(_ key: String, default value: Int, min: Int? = nil, max: Int? = nil, rangeText: String? = nil) -> Int {
        guard let entry = entries[key] else { return value }
        let allowed = rangeText ?? Self.rangeText(min: min, max: max)
        guard let parsed = parseInt(entry.value) else {
            report(entry, "is not an integer: \(allowed)")
            return value
        }
        if let min, parsed < min { report(entry, "is out of range: \(allowed)"); return value }
        if let max, parsed > max { report(entry, "is out of range: \(allowed)"); return value }
        return parsed
    }

    mutating func optionalInt(_ key: String) -> Int? {
        guard let entry = entries[key], !entry.value.trimmingWhitespace().isEmpty else { return nil }
        guard let parsed = parseInt(entry.value) else {
            report(entry, "is not an integer: must be a whole number or empty")
            return nil
        }
        return parsed
    }

    mutating func double(_ key: String, default value: Double, min: Double? = nil, max: Double? = nil) -> Double {
        guard let entry = entries[key] else { return value }
        let allowed = Self.rangeText(min: min, max: max)
        guard let parsed = parseDecimal(entry.value) else {
            report(entry, "is not a number: \(allowed)")
            return value
        }
        if let min, parsed < min { report(entry, "is out of range: \(allowed)"); return value }
        if let max, parsed > max { report(entry, "is out of range: \(allowed)"); return value }
        return parsed
    }

    mutating func positiveSeconds(_ key: String, default value: Double) -> Double {
        guard let entry = entries[key] else { return value }
        guard let parsed = parseDecimal(entry.value) else {
            report(entry, "is not a number: must be a number of seconds > 0")
            return value
        }
        if parsed <= 0 { report(entry, "is out of range: must be a number of seconds > 0"); return value }
        return parsed
    }

    mutating func httpURL(_ key: String, default value: String) -> String {
        guard let entry = entries[key] else { return value }
        var url = entry.value.trimmingWhitespace()
        let lower = url.lowercased()
        let scheme = lower.hasPrefix("http://") ? 7 : lower.hasPrefix("https://") ? 8 : 0
        let host = url.dropFirst(scheme).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard scheme > 0, !host.isEmpty, !url.contains(where: \.isWhitespace) else {
            report(entry, "is not an http(s) URL: must look like https://integrate.api.nvidia.com/v1")
            return value
        }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    mutating func rejectUnknownNvidiaNimKeys(known: Set<String>) {
        for key in entries.keys.sorted() where key.hasPrefix("NVIDIA_NIM_") && !known.contains(key) {
            problems.append(
                "\(entries[key]!.name) is not a known setting: NVIDIA_NIM_* keys must be one of "
                    + Settings.knownNvidiaNimKeys.joined(separator: ", "))
        }
    }

    /// Optional sign and decimal digits, surrounding whitespace allowed.
    func parseInt(_ text: String) -> Int? {
        let t = text.trimmingWhitespace()
        let digits = t.hasPrefix("-") || t.hasPrefix("+") ? t.dropFirst() : Substring(t)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(t)
    }

    /// Decimal notation only (`1`, `-0.5`, `.5`, `2.`, `1e-3`); no inf, nan or hex,
    /// which `Double.init` would accept.
    func parseDecimal(_ text: String) -> Double? {
        let t = text.trimmingWhitespace()
        var chars = Substring(t)
        if chars.first == "-" || chars.first == "+" { chars = chars.dropFirst() }
        let mantissa = chars.prefix { $0 != "e" && $0 != "E" }
        let exponent = chars.dropFirst(mantissa.count)
        let parts = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let isDigits: (Substring) -> Bool = { $0.allSatisfy { $0.isASCII && $0.isNumber } }
        guard parts.count <= 2, parts.allSatisfy(isDigits), parts.contains(where: { !$0.isEmpty }) else { return nil }
        if !exponent.isEmpty {
            var e = exponent.dropFirst()
            if e.first == "-" || e.first == "+" { e = e.dropFirst() }
            guard !e.isEmpty, isDigits(e) else { return nil }
        }
        guard let value = Double(t), value.isFinite else { return nil }
        return value
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
