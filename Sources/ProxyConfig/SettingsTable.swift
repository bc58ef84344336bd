import Text

/// The README's headings for the settings table, in its order.
public enum SettingGroup: CaseIterable, Sendable {
    case http, upstream, providers, sampling, localAnswers, cli, logging

    public var title: String {
        switch self {
        case .http: "HTTP server"
        case .upstream: "Upstream (NVIDIA NIM)"
        case .providers: "Providers"
        case .sampling: "Sampling and request options sent to NIM"
        case .localAnswers: "Requests answered locally"
        case .cli: "Claude Code sessions and the session store"
        case .logging: "Logging"
        }
    }
}

/// One row of the settings table: a key, the names it may also be read under, how its text
/// is parsed and checked, where the value goes, and what the README says about it.
public struct SettingSpec: Sendable {
    public let key: String
    /// Other names for the same setting; `key` wins when both are set.
    public let aliases: [String]
    public let group: SettingGroup
    /// One line for the README.
    public let meaning: String
    /// The default as the README shows it, read from the field's initial value.
    public let defaultText: String
    /// The allowed values as the README shows them.
    public let allowed: String
    /// Parses the text into its field; a problem leaves the field as it was.
    let assign: @Sendable (String, inout Settings) -> SettingProblem?

    public var names: [String] { [key] + aliases }

    public init<Value: Sendable>(
        _ key: String, _ field: WritableKeyPath<Settings, Value> & Sendable, _ kind: SettingKind<Value>,
        _ group: SettingGroup, _ meaning: String, aliases: [String] = []
    ) {
        self.key = key
        self.aliases = aliases
        self.group = group
        self.meaning = meaning
        defaultText = kind.describe(Settings()[keyPath: field])
        allowed = kind.allowed
        let parse = kind.parse
        assign = { text, settings in
            switch parse(text) {
            case .success(let value):
                settings[keyPath: field] = value
                return nil
            case .failure(let problem):
                return problem
            }
        }
    }
}

/// A key of the reference's configuration that this server accepts, whatever its value, and
/// does not use.
public struct IgnoredSetting: Sendable, Equatable {
    public let key: String
    /// Why it has no use here, for the README.
    public let reason: String
}

extension Settings {
    /// Every setting. The strict `NVIDIA_NIM_*` check and the README's table come from here.
    public static let specs: [SettingSpec] = [
        SettingSpec("HOST", \.http.host, .requiredText, .http, "address to listen on (`--host` overrides it)"),
        SettingSpec(
            "PORT", \.http.port, .int(min: 0, max: 65535), .http,
            "port to listen on, `0` for any free port (`--port` overrides it)"),
        SettingSpec("MAX_REQUEST_BODY_BYTES", \.http.maxRequestBodyBytes, .int(min: 1), .http, "larger bodies get 413"),
        SettingSpec(
            "HTTP_MAX_HEADER_BYTES", \.http.maxHeaderBytes, .int(min: 1024), .http,
            "request line and headers; more get 431"),
        SettingSpec(
            "HTTP_MAX_QUEUED_RESPONSE_BYTES", \.http.maxQueuedResponseBytes, .int(min: 1), .http,
            "unsent answers on one connection above which it stops reading (pipelining backpressure)"),
        SettingSpec(
            "MAX_CONNECTIONS", \.http.maxConnections, .int(min: 1), .http,
            "open connections; one more gets 503 and is closed"),
        SettingSpec(
            "HTTP_HEADER_TIMEOUT", \.http.headerTimeout, .positiveSeconds, .http,
            "a client slower than this to send its headers is closed"),
        SettingSpec(
            "HTTP_BODY_TIMEOUT", \.http.bodyTimeout, .positiveSeconds, .http,
            "a request body not complete this long after its headers gets 408"),
        SettingSpec(
            "HTTP_IDLE_TIMEOUT", \.http.idleTimeout, .positiveSeconds, .http,
            "a keep-alive connection idle this long is closed"),
        SettingSpec(
            "SHUTDOWN_TIMEOUT", \.http.shutdownTimeout, .seconds, .http,
            "time streams get to finish on SIGTERM/SIGINT"),
        SettingSpec(
            "WORKERS", \.http.workers, .workerCount, .http,
            "event loops serving connections, each on a thread of its own; `1` is one loop for everything"),
        SettingSpec(
            "PROXY_AUTH_TOKEN", \.http.authToken, .optionalText(unset: "(unset)"), .http,
            "token required on every endpoint when set; unset: the CLI, store and `/stop` endpoints are closed (403), "
                + "and a non-loopback `HOST` is refused at startup"),

        SettingSpec("NVIDIA_NIM_API_KEY", \.upstream.apiKey, .text, .upstream, "key for NVIDIA NIM"),
        SettingSpec("NVIDIA_NIM_BASE_URL", \.upstream.baseURL, .httpURL, .upstream, "any OpenAI-compatible server"),
        SettingSpec(
            "MODEL", \.upstream.model, .modelName, .upstream,
            "model every Claude model name maps to; a name without a provider prefix (`open_router/`, `lmstudio/`, "
                + "`llamacpp/`, `ollama/`, `nvidia_nim/`) is an NVIDIA NIM model"),
        SettingSpec(
            "MODEL_OPUS", \.upstream.modelOpus, .optionalModelName(unset: "(unset: `MODEL`)"), .upstream,
            "upstream model for Claude Opus names"),
        SettingSpec(
            "MODEL_SONNET", \.upstream.modelSonnet, .optionalModelName(unset: "(unset: `MODEL`)"), .upstream,
            "upstream model for Claude Sonnet names"),
        SettingSpec(
            "MODEL_HAIKU", \.upstream.modelHaiku, .optionalModelName(unset: "(unset: `MODEL`)"), .upstream,
            "upstream model for Claude Haiku names"),
        SettingSpec(
            "MODEL_CONTEXT_TOKENS", \.upstream.modelContextTokens, .int(min: 0), .upstream,
            "the upstream models' context window in tokens: `max_tokens` is lowered so prompt and answer fit; "
                + "`0`: unknown, learned from the upstream's first context-length refusal"),
        SettingSpec(
            "MODEL_FALLBACKS", \.upstream.modelFallbacks, .modelList(empty: "(none)"), .upstream,
            "models tried in order when the request's model fails before any content (429 after the retries, "
                + "5xx, overloaded, timeout, no connection); never once content reached the client"),
        SettingSpec(
            "MODEL_OPUS_FALLBACKS", \.upstream.modelOpusFallbacks, .optionalModelList(unset: "(unset: `MODEL_FALLBACKS`)"),
            .upstream, "fallback models for Claude Opus names"),
        SettingSpec(
            "MODEL_SONNET_FALLBACKS", \.upstream.modelSonnetFallbacks,
            .optionalModelList(unset: "(unset: `MODEL_FALLBACKS`)"), .upstream, "fallback models for Claude Sonnet names"),
        SettingSpec(
            "MODEL_HAIKU_FALLBACKS", \.upstream.modelHaikuFallbacks, .optionalModelList(unset: "(unset: `MODEL_FALLBACKS`)"),
            .upstream, "fallback models for Claude Haiku names"),
        SettingSpec(
            "PROVIDER_MAX_CONCURRENCY", \.upstream.maxConcurrency, .int(min: 0), .upstream,
            "upstream streams open at once; more wait first-come first-served (`/health` shows how many); `0`: no cap"),
        SettingSpec(
            "RATE_LIMIT_STORE", \.upstream.rateLimitStore, .rateLimitStore, .upstream,
            "where every provider's rate window and concurrency places are kept: this process, or a Redis server shared by several instances (unreachable: each instance falls back to its own, `/health` says so)"),
        SettingSpec(
            "STREAM_EARLY_START_SECONDS", \.upstream.streamEarlyStart, .seconds, .upstream,
            "until the upstream's first content nothing is sent (a failure is an HTTP error); a wait for a slot or a "
                + "retry longer than this starts the stream early with pings, and later failures are SSE `error` events; "
                + "`0`: every stream starts at once"),
        SettingSpec(
            "NVIDIA_NIM_RATE_LIMIT", \.upstream.rateLimit, .int(min: 1), .upstream,
            "upstream requests started per window on NVIDIA NIM (unset: `PROVIDER_RATE_LIMIT`'s value when that is set)"),
        SettingSpec(
            "NVIDIA_NIM_RATE_WINDOW", \.upstream.rateWindow, .wholeSeconds(min: 1), .upstream,
            "NVIDIA NIM's rate window (unset: `PROVIDER_RATE_WINDOW`'s value when that is set)"),
        SettingSpec(
            "UPSTREAM_CONNECT_TIMEOUT", \.upstream.connectTimeout, .positiveSeconds, .upstream,
            "time to connect to the upstream", aliases: ["HTTP_CONNECT_TIMEOUT"]),
        SettingSpec(
            "UPSTREAM_STALL_TIMEOUT", \.upstream.stallTimeout, .positiveSeconds, .upstream,
            "silence from the upstream that ends a stream", aliases: ["HTTP_READ_TIMEOUT"]),
        SettingSpec(
            "UPSTREAM_SEND_TIMEOUT", \.upstream.sendTimeout, .positiveSeconds, .upstream,
            "while a request body is sent, the longest the upstream may go without taking more of it; then the request "
                + "fails as a timeout",
            aliases: ["HTTP_WRITE_TIMEOUT"]),
        SettingSpec(
            "UPSTREAM_TOTAL_TIMEOUT", \.upstream.totalTimeout, .secondsOrNone, .upstream,
            "time a whole upstream answer may take"),
        SettingSpec(
            "UPSTREAM_HTTP_VERSION", \.upstream.httpVersion, .choice(), .upstream,
            "`auto`: HTTP/2 when TLS negotiates it, else HTTP/1.1; `1.1`; `2`: HTTP/2 also over plain HTTP "
                + "(prior knowledge; needs libcurl 8.0 or later, refused at startup otherwise)"),
        SettingSpec(
            "UPSTREAM_CA_FILE", \.upstream.caFile, .optionalText(unset: "(unset: the system's)"), .upstream,
            "PEM certificates trusted for the upstream's TLS (a NIM behind a private CA)"),
        SettingSpec(
            "UPSTREAM_MAX_RETRY_AFTER", \.upstream.maxRetryAfter, .seconds, .upstream,
            "the longest upstream `Retry-After` waited on; a longer one ends the request at once with a "
                + "`rate_limit_error`, and no rate-limit block lasts longer"),
        SettingSpec(
            "UPSTREAM_MAX_LINE_BYTES", \.upstream.maxLineBytes, .int(min: 1024), .upstream,
            "the longest SSE line (and event) taken from the upstream; a longer one ends the stream with an error"),

        SettingSpec(
            "OPENROUTER_API_KEY", \.providers.openRouterAPIKey, .text, .providers,
            "key for OpenRouter; required when a model setting names `open_router/`"),
        SettingSpec(
            "OPENROUTER_BASE_URL", \.providers.openRouterBaseURL, .optionalHTTPURL, .providers,
            "OpenRouter's OpenAI-compatible API"),
        SettingSpec(
            "LM_STUDIO_BASE_URL", \.providers.lmStudioBaseURL, .optionalHTTPURL, .providers,
            "LM Studio's server, for `lmstudio/` models (no key)"),
        SettingSpec(
            "LLAMACPP_BASE_URL", \.providers.llamaCppBaseURL, .optionalHTTPURL, .providers,
            "llama.cpp's `llama-server`, for `llamacpp/` models (no key)"),
        SettingSpec(
            "OLLAMA_BASE_URL", \.providers.ollamaBaseURL, .ollamaURL, .providers,
            "Ollama's server, for `ollama/` models (no key); kept as its OpenAI-compatible `/v1` base"),
        SettingSpec(
            "PROVIDER_RATE_LIMIT", \.providers.rateLimit, .int(min: 1), .providers,
            "requests started per window on each provider; NIM's also, unless `NVIDIA_NIM_RATE_LIMIT` is set"),
        SettingSpec(
            "PROVIDER_RATE_WINDOW", \.providers.rateWindow, .wholeSeconds(min: 1), .providers,
            "the providers' rate window; NIM's also, unless `NVIDIA_NIM_RATE_WINDOW` is set"),

        SettingSpec(
            "NVIDIA_NIM_TEMPERATURE", \.upstream.nim.temperature, .decimal(min: 0), .sampling,
            "`temperature` when the request sets none"),
        SettingSpec(
            "NVIDIA_NIM_TOP_P", \.upstream.nim.topP, .decimal(min: 0, max: 1), .sampling,
            "`top_p` when the request sets none"),
        SettingSpec(
            "NVIDIA_NIM_TOP_K", \.upstream.nim.topK, .int(min: -1, rangeText: "must be -1 or >= 0"), .sampling,
            "`top_k` when the request sets none; `-1`: not sent"),
        SettingSpec(
            "NVIDIA_NIM_MAX_TOKENS", \.upstream.nim.maxTokens, .int(min: 1), .sampling,
            "`max_tokens` when the request sets none, and its cap"),
        SettingSpec(
            "NVIDIA_NIM_PRESENCE_PENALTY", \.upstream.nim.presencePenalty, .decimal(min: -2, max: 2), .sampling,
            "`presence_penalty`; `0`: not sent"),
        SettingSpec(
            "NVIDIA_NIM_FREQUENCY_PENALTY", \.upstream.nim.frequencyPenalty, .decimal(min: -2, max: 2), .sampling,
            "`frequency_penalty`; `0`: not sent"),
        SettingSpec(
            "NVIDIA_NIM_MIN_P", \.upstream.nim.minP, .decimal(min: 0, max: 1), .sampling, "`min_p`; `0`: not sent"),
        SettingSpec(
            "NVIDIA_NIM_REPETITION_PENALTY", \.upstream.nim.repetitionPenalty, .decimal(min: 0), .sampling,
            "`repetition_penalty`; `1`: not sent"),
        SettingSpec("NVIDIA_NIM_SEED", \.upstream.nim.seed, .optionalInt, .sampling, "`seed`"),
        SettingSpec(
            "NVIDIA_NIM_STOP", \.upstream.nim.stop, .optionalText(unset: "(unset)"), .sampling,
            "`stop` when the request sets no stop sequences"),
        SettingSpec(
            "NVIDIA_NIM_PARALLEL_TOOL_CALLS", \.upstream.nim.parallelToolCalls, .bool, .sampling,
            "`parallel_tool_calls`"),
        SettingSpec(
            "NVIDIA_NIM_RETURN_TOKENS_AS_TOKEN_IDS", \.upstream.nim.returnTokensAsTokenIds, .bool, .sampling,
            "`return_tokens_as_token_ids`"),
        SettingSpec(
            "NVIDIA_NIM_INCLUDE_STOP_STR_IN_OUTPUT", \.upstream.nim.includeStopStrInOutput, .bool, .sampling,
            "`include_stop_str_in_output`"),
        SettingSpec("NVIDIA_NIM_IGNORE_EOS", \.upstream.nim.ignoreEos, .bool, .sampling, "`ignore_eos`"),
        SettingSpec(
            "NVIDIA_NIM_MIN_TOKENS", \.upstream.nim.minTokens, .int(min: 0), .sampling, "`min_tokens`; `0`: not sent"),
        SettingSpec(
            "NVIDIA_NIM_CHAT_TEMPLATE", \.upstream.nim.chatTemplate, .optionalText(unset: "(unset)"), .sampling,
            "`chat_template`"),
        SettingSpec(
            "NVIDIA_NIM_REQUEST_ID", \.upstream.nim.requestId, .optionalText(unset: "(unset)"), .sampling,
            "`request_id`"),
        SettingSpec(
            "NVIDIA_NIM_REASONING_EFFORT", \.upstream.nim.reasoningEffort, .choice(), .sampling,
            "`reasoning_effort` when thinking is on"),
        SettingSpec(
            "NVIDIA_NIM_INCLUDE_REASONING", \.upstream.nim.includeReasoning, .bool, .sampling,
            "`include_reasoning` when thinking is on"),

        SettingSpec(
            "FAST_PREFIX_DETECTION", \.localAnswers.fastPrefixDetection, .bool, .localAnswers,
            "answer command-prefix requests locally (Claude Code before 2.1.228)"),
        SettingSpec(
            "ENABLE_NETWORK_PROBE_MOCK", \.localAnswers.networkProbeMock, .bool, .localAnswers,
            "answer `max_tokens: 1` probes (`quota`, `.`, `Hi`, `test`) for Claude names and configured models locally"),
        SettingSpec(
            "ENABLE_TITLE_GENERATION_SKIP", \.localAnswers.titleGenerationSkip, .bool, .localAnswers,
            "make session titles locally (current Claude Code's title request beside every turn; older CLIs' 5-10 word title)"),
        SettingSpec(
            "ENABLE_SUGGESTION_MODE_SKIP", \.localAnswers.suggestionModeSkip, .bool, .localAnswers,
            "answer suggestion-mode requests locally"),
        SettingSpec(
            "ENABLE_FILEPATH_EXTRACTION_MOCK", \.localAnswers.filepathExtractionMock, .bool, .localAnswers,
            "answer file-path extraction locally (Claude Code before 2.1.63)"),

        SettingSpec(
            "CLAUDE_WORKSPACE", \.cli.workspace, .text, .cli,
            "where CLI sessions run and the session store (`sessions.json`) is kept"),
        SettingSpec(
            "ALLOWED_DIR", \.cli.allowedDir, .text, .cli,
            "the directory tree CLI sessions may work in (`workspace_path`, `allowed_dirs`; symlinks resolved); "
                + "empty: `CLAUDE_WORKSPACE`"),
        SettingSpec(
            "MAX_CLI_SESSIONS", \.cli.maxSessions, .int(min: 1), .cli,
            "CLI sessions at once across all managers, and the cap of each manager's `max_sessions`"),
        SettingSpec("CLAUDE_CLI_BIN", \.cli.executable, .requiredText, .cli, "the `claude` executable"),
        SettingSpec(
            "MAX_MESSAGE_LOG_ENTRIES_PER_CHAT", \.cli.messageLogCap, .pythonIntCap, .cli,
            "message-log entries the store keeps per chat"),

        SettingSpec(
            "LOG_LEVEL", \.logging.level, .choice(parse: Settings.Logging.Level.init(spelling:)), .logging,
            "the least severe level logged (any case; `warn` is `warning`); logs are JSON lines on stderr"),
    ]

    /// Keys of the reference's configuration (`config/settings.py` and `.env.example`) that this
    /// server accepts and ignores: a reference `.env` works unchanged.
    public static let ignoredKeys: [IgnoredSetting] = [
        IgnoredSetting(
            key: "PROVIDER_TYPE", reason: "the provider is the prefix of each model setting (`open_router/...`)"),
        IgnoredSetting(key: "MESSAGING_PLATFORM", reason: "the bot runs in its own process"),
        IgnoredSetting(key: "TELEGRAM_BOT_TOKEN", reason: "the bot runs in its own process"),
        IgnoredSetting(key: "ALLOWED_TELEGRAM_USER_ID", reason: "the bot runs in its own process"),
        IgnoredSetting(key: "MESSAGING_RATE_LIMIT", reason: "the bot's own message rate"),
        IgnoredSetting(key: "MESSAGING_RATE_WINDOW", reason: "the bot's own message rate"),
        IgnoredSetting(key: "LOG_FILE", reason: "logs are JSON lines on stderr"),
        IgnoredSetting(key: "DISCORD_BOT_TOKEN", reason: "the bot runs in its own process"),
        IgnoredSetting(key: "ALLOWED_DISCORD_CHANNELS", reason: "the bot runs in its own process"),
        IgnoredSetting(key: "VOICE_NOTE_ENABLED", reason: "voice notes belong to the bot, which runs in its own process"),
        IgnoredSetting(key: "WHISPER_DEVICE", reason: "voice notes belong to the bot, which runs in its own process"),
        IgnoredSetting(key: "WHISPER_MODEL", reason: "voice notes belong to the bot, which runs in its own process"),
        IgnoredSetting(key: "HF_TOKEN", reason: "voice notes belong to the bot, which runs in its own process"),
        IgnoredSetting(key: "NVIDIA_NIM_PROXY", reason: "an outgoing proxy for NIM is not supported yet"),
    ]

    /// The README's settings section, from `specs` and `ignoredKeys`
    /// (`nim-proxy --print-settings-table` prints it).
    public static func markdownTable(
        specs: [SettingSpec] = Settings.specs, ignored: [IgnoredSetting] = Settings.ignoredKeys
    ) -> String {
        func cell(_ text: String) -> String { text.split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|") }
        var lines: [String] = []
        for group in SettingGroup.allCases {
            let rows = specs.filter { $0.group == group }
            if rows.isEmpty { continue }
            lines += ["### \(group.title)", "", "| variable | default | allowed | meaning |", "|---|---|---|---|"]
            for spec in rows {
                let also = spec.aliases.isEmpty ? "" : " (also " + spec.aliases.map { "`\($0)`" }.joined(separator: ", ") + ")"
                lines.append(
                    "| `\(spec.key)`\(also) | \(cell(spec.defaultText)) | \(cell(spec.allowed)) | \(cell(spec.meaning)) |")
            }
            lines.append("")
        }
        if !ignored.isEmpty {
            lines += ["### Accepted, ignored", "", "| variable | why |", "|---|---|"]
            lines += ignored.map { "| `\($0.key)` | \(cell($0.reason)) |" }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }
}

extension SettingKind where Value == Int? {
    /// The reference reads this with Python's `int(raw.strip())` and ignores what `int()`
    /// refuses, so no text is refused here either: `PythonText` holds that rule.
    static var pythonIntCap: Self {
        Self(allowed: "integer; anything else or <= 0: no cap", describe: { $0.map { "`\($0)`" } ?? "(unset: no cap)" }) {
            .success(PythonText.messageLogCap(environmentValue: $0))
        }
    }
}
