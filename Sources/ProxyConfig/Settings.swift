import Text

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

/// The server's configuration, grouped by the part of the server that reads it. Each field's
/// initial value is its default; `Settings.specs` says which key sets it and how.
public struct Settings: Sendable, Equatable {
    public static let defaultNvidiaNimBaseURL = "https://integrate.api.nvidia.com/v1"

    public var http = HTTP()
    public var upstream = Upstream()
    public var providers = Providers()
    public var localAnswers = LocalAnswers()
    public var cli = CLI()
    public var logging = Logging()

    public init() {}

    /// The listening side.
    public struct HTTP: Sendable, Equatable {
        /// Loopback by default: the reference binds 0.0.0.0, which exposes an
        /// unauthenticated proxy holding the user's API key to the network.
        public var host = "127.0.0.1"
        /// 0 asks the OS for an ephemeral port (tests).
        public var port = 8082
        public var maxRequestBodyBytes = 33_554_432
        /// Request line and headers. Claude Code sends a few KB; 64 KiB leaves room for long
        /// cookies or tokens of other clients.
        public var maxHeaderBytes = 65_536
        /// Unsent answers a connection may have queued before its next pipelined request waits:
        /// far above one answer to a request Claude Code sends, far below what a client that
        /// pipelines without reading could make the server hold.
        public var maxQueuedResponseBytes = 1_048_576
        /// Claude Code opens a handful; the benchmark's 10,000 concurrent streams fit.
        public var maxConnections = 16_384
        public var headerTimeout = Duration.seconds(30)
        /// A whole request body, however it trickles: a few MB on loopback take milliseconds.
        public var bodyTimeout = Duration.seconds(120)
        public var idleTimeout = Duration.seconds(75)
        /// How long streams may go on after SIGTERM/SIGINT.
        public var shutdownTimeout = Duration.seconds(5)
        /// Event loops (the main one included); nil: one per core this process may run on.
        public var workers: Int? = nil
        /// Required on every endpoint when set; nil: the bot endpoints are closed, and only a
        /// loopback `host` may be bound.
        public var authToken: String? = nil

        public init() {}
    }

    /// NVIDIA NIM (or any OpenAI-compatible server) and how it is called.
    public struct Upstream: Sendable, Equatable {
        /// Without a trailing slash, so paths can be appended with "/chat/completions".
        public var baseURL = Settings.defaultNvidiaNimBaseURL
        public var apiKey = ""
        /// Every Claude model name maps to this one unless a per-family model is set.
        public var model = "moonshotai/kimi-k2-thinking"
        public var modelOpus: String? = nil
        public var modelSonnet: String? = nil
        public var modelHaiku: String? = nil
        /// The upstream models' context window in tokens, so `max_tokens` can leave the prompt
        /// room; 0: unknown until an upstream refusal states it.
        public var modelContextTokens = 0
        /// Models tried in order after the request's own when it fails before any content
        /// (429 after the limiter's retries, 5xx, overloaded, timeout, no connection).
        public var modelFallbacks: [String] = []
        /// Per tier, for requests mapped to that tier; nil: `modelFallbacks`.
        public var modelOpusFallbacks: [String]? = nil
        public var modelSonnetFallbacks: [String]? = nil
        public var modelHaikuFallbacks: [String]? = nil
        /// Upstream streams open at once; further requests wait first-come first-served. 0: no cap.
        public var maxConcurrency = 0
        /// Where the rate windows and concurrency places live: this process, or Redis shared by instances.
        public var rateLimitStore = RateLimitStore.memory
        /// A wait for a slot (or a retry's backoff) longer than this from a request's arrival starts
        /// its response early (head, `message_start`, pings); until then nothing is sent, so a
        /// failure can still be an HTTP error.
        public var streamEarlyStart = Duration.seconds(240)
        /// Requests started per `rateWindow`.
        public var rateLimit = 40
        public var rateWindow = Duration.seconds(60)
        public var connectTimeout = Duration.seconds(10)
        /// The longest an upstream may go without taking more of a request's body while it is sent
        /// (the reference's `HTTP_WRITE_TIMEOUT`, httpx's per-write limit).
        public var sendTimeout = Duration.seconds(10)
        /// Silence allowed between upstream bytes: the reference's client uses httpx's
        /// `timeout=300`, which is a per-read limit, not a limit on the whole answer.
        public var stallTimeout = Duration.seconds(300)
        /// A limit on a whole upstream answer; nil means none (long generations may take longer
        /// than any fixed limit; the stall timeout catches a dead upstream).
        public var totalTimeout: Duration? = nil
        public var httpVersion = HTTPVersion.auto
        /// PEM certificates trusted for the upstream's TLS instead of the system's (a NIM behind a
        /// private certificate authority); nil: the system's.
        public var caFile: String? = nil
        /// The longest `Retry-After` waited on; a longer one ends the request at once, and no
        /// rate-limit block lasts longer.
        public var maxRetryAfter = Duration.seconds(60)
        /// The longest SSE line (and one event's data) taken from the upstream: a peer that
        /// never sends a newline cannot grow the server without bound. NIM's longest lines are
        /// a few kilobytes.
        public var maxLineBytes = 4 * 1024 * 1024
        /// The `NVIDIA_NIM_*` sampling and request options.
        public var nim = NimSettings()

        public init() {}

        public enum HTTPVersion: String, Sendable, CaseIterable {
            /// HTTP/2 where TLS negotiates it (many streams share one connection), HTTP/1.1 otherwise.
            case auto
            case http1_1 = "1.1"
            /// HTTP/2 also without TLS (prior knowledge).
            case http2 = "2"
        }
    }

    /// The providers besides NVIDIA NIM (whose own settings are in `upstream`), and the rate limit
    /// every provider gets unless it has its own.
    public struct Providers: Sendable, Equatable {
        public var openRouterAPIKey = ""
        /// Base URLs without a trailing slash; empty: unset, refused at startup when a model needs it.
        public var openRouterBaseURL = "https://openrouter.ai/api/v1"
        public var lmStudioBaseURL = "http://localhost:1234/v1"
        public var llamaCppBaseURL = "http://localhost:8080/v1"
        /// Always the OpenAI-compatible base (ending in `/v1`), however it was written.
        public var ollamaBaseURL = "http://localhost:11434/v1"
        /// Requests started per `rateWindow` on each provider; NIM's `NVIDIA_NIM_RATE_*` win for NIM.
        public var rateLimit = 40
        public var rateWindow = Duration.seconds(60)

        public init() {}
    }

    /// Switches for the requests answered without calling the upstream.
    public struct LocalAnswers: Sendable, Equatable {
        public var fastPrefixDetection = true
        public var networkProbeMock = true
        public var titleGenerationSkip = true
        public var suggestionModeSkip = true
        public var filepathExtractionMock = true

        public init() {}
    }

    /// Claude Code sessions run for the bot, and the session store.
    public struct CLI: Sendable, Equatable {
        /// Where sessions run and `sessions.json` lives.
        public var workspace = "./agent_workspace"
        /// The tree sessions may work in; empty: `workspace`.
        public var allowedDir = ""
        /// Sessions across all managers, and the cap of each manager's own limit.
        public var maxSessions = 10
        /// The `claude` executable.
        public var executable = "claude"
        /// Entries kept per chat in the store's message log; nil: no cap.
        public var messageLogCap: Int? = nil

        public init() {}
    }

    public struct Logging: Sendable, Equatable {
        public var level = Level.info

        public init() {}

        public enum Level: String, Sendable, CaseIterable {
            case debug, info, warning, error

            /// Any case, and `warn` for `warning`.
            init?(spelling: String) {
                let lower = spelling.lowercased()
                self.init(rawValue: lower == "warn" ? "warning" : lower)
            }
        }
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

extension Settings {
    /// The `NVIDIA_NIM_*` names that are settings; any other key with that
    /// prefix is refused at start-up, as the reference's `extra="forbid"` does.
    public static var knownNvidiaNimKeys: [String] { knownNvidiaNimKeys(in: specs) }

    static func knownNvidiaNimKeys(in specs: [SettingSpec]) -> [String] {
        specs.flatMap(\.names).filter { $0.hasPrefix("NVIDIA_NIM_") }
    }

    /// Builds the settings from the process environment and the text of the
    /// `.env` file (nil when there is none), following `specs`.
    ///
    /// - The environment wins over `.env` (python-dotenv never overrides a set variable).
    /// - Names match case-insensitively, as with pydantic-settings; when the
    ///   environment holds one name in several casings, the all-uppercase one wins.
    /// - A setting's primary key wins over its aliases from the same source; the
    ///   environment still wins over `.env` (pydantic-settings reads source by source).
    /// - Keys that are not settings are ignored, except unknown `NVIDIA_NIM_*` keys.
    /// - Every value that does not parse or is out of range is reported; all
    ///   problems are collected into one `ConfigError`.
    public static func load(
        environment: [String: String], dotEnv: String?, specs: [SettingSpec] = Settings.specs
    ) throws(ConfigError) -> Settings {
        let entries = SettingEntries(environment: environment, dotEnv: dotEnv.map(DotEnv.parse) ?? [])
        var settings = Settings()
        var problems: [String] = []
        for spec in specs {
            guard let entry = entries.lookup(spec.names) else { continue }
            if let problem = spec.assign(entry.value, &settings) {
                problems.append("\(entry.name)=\(entry.value) \(problem.text)")
            }
        }
        // NIM's own rate keys win; unset, the general ones apply to NIM too (the reference has
        // only the general ones), and NIM's defaults stay when neither is set.
        // nil: not a row of `specs`.
        func isSet(_ key: String) -> Bool? { specs.first { $0.key == key }.map { entries.lookup($0.names) != nil } }
        if isSet("NVIDIA_NIM_RATE_LIMIT") == false, isSet("PROVIDER_RATE_LIMIT") == true {
            settings.upstream.rateLimit = settings.providers.rateLimit
        }
        if isSet("NVIDIA_NIM_RATE_WINDOW") == false, isSet("PROVIDER_RATE_WINDOW") == true {
            settings.upstream.rateWindow = settings.providers.rateWindow
        }
        let known = knownNvidiaNimKeys(in: specs)
        let knownSet = Set(known).union(ignoredKeys.map(\.key))
        for (key, entry) in entries.byKey.sorted(by: { $0.key < $1.key })
        where key.hasPrefix("NVIDIA_NIM_") && !knownSet.contains(key) {
            problems.append(
                "\(entry.name) is not a known setting: NVIDIA_NIM_* keys must be one of "
                    + known.joined(separator: ", "))
        }
        if problems.isEmpty { problems = settings.providerProblems() }
        if !problems.isEmpty { throw ConfigError(problems: problems) }
        return settings
    }

    /// The keys of `ignoredKeys` that are set, in the table's order, for one line of the startup log.
    public static func ignoredKeysSet(environment: [String: String], dotEnv: String?) -> [String] {
        let entries = SettingEntries(environment: environment, dotEnv: dotEnv.map(DotEnv.parse) ?? [])
        return ignoredKeys.compactMap { entries.lookup([$0.key])?.name }
    }
}

/// What one provider is reached with.
public struct ProviderSettings: Sendable, Equatable {
    /// Without a trailing slash, so `/chat/completions` can be appended; empty: not configured.
    public var baseURL: String
    /// Empty: requests carry no key.
    public var apiKey: String
    public var rateLimit: Int
    public var rateWindow: Duration
    /// Streams open at once to this provider; 0: no cap.
    public var maxConcurrency: Int

    public init(baseURL: String, apiKey: String, rateLimit: Int, rateWindow: Duration, maxConcurrency: Int) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.rateLimit = rateLimit
        self.rateWindow = rateWindow
        self.maxConcurrency = maxConcurrency
    }
}

extension Settings {
    /// One provider's address, key and limits; NIM's come from the `upstream` group.
    public func provider(_ provider: Provider) -> ProviderSettings {
        func local(_ baseURL: String, apiKey: String = "") -> ProviderSettings {
            ProviderSettings(
                baseURL: baseURL, apiKey: apiKey, rateLimit: providers.rateLimit, rateWindow: providers.rateWindow,
                maxConcurrency: upstream.maxConcurrency)
        }
        switch provider {
        case .nvidiaNim:
            return ProviderSettings(
                baseURL: upstream.baseURL, apiKey: upstream.apiKey, rateLimit: upstream.rateLimit,
                rateWindow: upstream.rateWindow, maxConcurrency: upstream.maxConcurrency)
        case .openRouter: return local(providers.openRouterBaseURL, apiKey: providers.openRouterAPIKey)
        case .lmStudio: return local(providers.lmStudioBaseURL)
        case .llamaCpp: return local(providers.llamaCppBaseURL)
        case .ollama: return local(providers.ollamaBaseURL)
        }
    }

    /// The settings that name a provider's base URL and its key (nil: it takes none).
    public static func keys(of provider: Provider) -> (baseURL: String, apiKey: String?) {
        switch provider {
        case .nvidiaNim: ("NVIDIA_NIM_BASE_URL", "NVIDIA_NIM_API_KEY")
        case .openRouter: ("OPENROUTER_BASE_URL", "OPENROUTER_API_KEY")
        case .lmStudio: ("LM_STUDIO_BASE_URL", nil)
        case .llamaCpp: ("LLAMACPP_BASE_URL", nil)
        case .ollama: ("OLLAMA_BASE_URL", nil)
        }
    }

    /// Every model setting that is set, by key, in the table's order, each model parsed.
    public var modelSettings: [(key: String, models: [ProviderModel])] {
        let lists: [(String, [String]?)] = [
            ("MODEL", [upstream.model]), ("MODEL_OPUS", upstream.modelOpus.map { [$0] }),
            ("MODEL_SONNET", upstream.modelSonnet.map { [$0] }), ("MODEL_HAIKU", upstream.modelHaiku.map { [$0] }),
            ("MODEL_FALLBACKS", upstream.modelFallbacks), ("MODEL_OPUS_FALLBACKS", upstream.modelOpusFallbacks),
            ("MODEL_SONNET_FALLBACKS", upstream.modelSonnetFallbacks),
            ("MODEL_HAIKU_FALLBACKS", upstream.modelHaikuFallbacks),
        ]
        return lists.compactMap { key, names in
            guard let names, !names.isEmpty else { return nil }
            return (key, names.map(ProviderModel.init(parsing:)))
        }
    }

    /// The providers some model setting names, each once, in `Provider`'s order.
    public var providersInUse: [Provider] {
        let used = Set(modelSettings.flatMap { $0.models.map(\.provider) })
        return Provider.allCases.filter(used.contains)
    }

    /// A provider that a model setting names but that lacks its base URL or its key: said at
    /// startup, naming the settings, rather than as every request to it failing. NIM needs no key
    /// (any OpenAI-compatible server may stand in for it), as before providers existed.
    func providerProblems() -> [String] {
        var problems: [String] = []
        for provider in providersInUse {
            let users = modelSettings.filter { $0.models.contains { $0.provider == provider } }.map(\.key)
            let named = users.joined(separator: ", ") + (users.count == 1 ? " names" : " name")
            let keys = Settings.keys(of: provider)
            let current = self.provider(provider)
            if current.baseURL.isEmpty {
                problems.append("\(keys.baseURL) is empty, but \(named) \(provider.rawValue)/ models: set its URL")
            }
            if provider.requiresAPIKey, let apiKey = keys.apiKey, current.apiKey.trimmingUnicodeWhitespace().isEmpty {
                problems.append("\(apiKey) is not set, but \(named) \(provider.rawValue)/ models: set the key")
            }
        }
        return problems
    }
}

/// The environment and `.env` merged, keyed by uppercased name.
private struct SettingEntries {
    struct Entry {
        var name: String
        var value: String
        var fromEnvironment: Bool
    }

    var byKey: [String: Entry] = [:]

    init(environment: [String: String], dotEnv: [(key: String, value: String)]) {
        for (name, value) in dotEnv {
            byKey[name.uppercased()] = Entry(name: name, value: value, fromEnvironment: false)
        }
        // Sorted so the outcome does not depend on dictionary order.
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            let key = name.uppercased()
            if let existing = byKey[key], existing.fromEnvironment, existing.name == key { continue }
            byKey[key] = Entry(name: name, value: value, fromEnvironment: true)
        }
    }

    /// The first of `names` set in the environment, else the first set in `.env`.
    func lookup(_ names: [String]) -> Entry? {
        let found = names.compactMap { byKey[$0] }
        return found.first(where: \.fromEnvironment) ?? found.first
    }
}
