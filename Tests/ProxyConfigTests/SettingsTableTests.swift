import Foundation
import ProxyConfig
import Testing

/// Settings from an environment and a `.env` text (the suites of this target share these two).
func load(_ environment: [String: String] = [:], dotEnv: String? = nil, specs: [SettingSpec] = Settings.specs)
    throws -> Settings
{
    try Settings.load(environment: environment, dotEnv: dotEnv, specs: specs)
}

/// The problems `Settings.load` reports, none when it succeeds.
func problems(_ environment: [String: String], dotEnv: String? = nil, specs: [SettingSpec] = Settings.specs)
    -> [String]
{
    do {
        _ = try Settings.load(environment: environment, dotEnv: dotEnv, specs: specs)
        return []
    } catch {
        return error.problems
    }
}

/// LOG_LEVEL and MAX_MESSAGE_LOG_ENTRIES_PER_CHAT used to be read from the process environment
/// only, so a `.env` value for them did nothing.
@Suite struct FormerlyEnvironmentOnlySettingsTests {
    @Test func logLevelFromDotEnv() throws {
        #expect(try load(dotEnv: "LOG_LEVEL=debug").logging.level == .debug)
        #expect(try load(dotEnv: "LOG_LEVEL=error").logging.level == .error)
        #expect(try load(["LOG_LEVEL": "warning"], dotEnv: "LOG_LEVEL=debug").logging.level == .warning)
    }

    @Test(arguments: [
        ("debug", Settings.Logging.Level.debug), ("INFO", .info), ("Warning", .warning), ("warn", .warning),
        ("WARN", .warning), ("error", .error),
    ])
    func logLevelSpellings(text: String, level: Settings.Logging.Level) throws {
        #expect(try load(["LOG_LEVEL": text]).logging.level == level)
    }

    @Test func unknownLogLevelIsRefused() {
        #expect(problems(["LOG_LEVEL": "verbose"]) == ["LOG_LEVEL=verbose is not allowed: must be one of debug, info, warning, error"])
    }

    @Test func messageLogCapFromDotEnv() throws {
        #expect(try load(dotEnv: "MAX_MESSAGE_LOG_ENTRIES_PER_CHAT=3").cli.messageLogCap == 3)
        #expect(try load(["MAX_MESSAGE_LOG_ENTRIES_PER_CHAT": "5"], dotEnv: "MAX_MESSAGE_LOG_ENTRIES_PER_CHAT=3").cli.messageLogCap == 5)
    }

    /// The reference's `int(raw.strip())`, and what it refuses means no cap rather than an error.
    @Test(arguments: [(" 1_000 ", 1000 as Int?), ("+7", 7), ("0", nil), ("-3", nil), ("many", nil), ("", nil), ("1.5", nil)])
    func messageLogCapFollowsPythonInt(text: String, cap: Int?) throws {
        #expect(try load(dotEnv: "MAX_MESSAGE_LOG_ENTRIES_PER_CHAT=\(text)").cli.messageLogCap == cap)
    }
}

@Suite struct TypedValueTests {
    @Test func timesAreDurations() throws {
        let s = try load([
            "HTTP_IDLE_TIMEOUT": "0.25", "UPSTREAM_CONNECT_TIMEOUT": "3", "UPSTREAM_STALL_TIMEOUT": "1e1",
            "UPSTREAM_TOTAL_TIMEOUT": "1.5", "SHUTDOWN_TIMEOUT": "2", "NVIDIA_NIM_RATE_WINDOW": "30",
        ])
        #expect(s.http.idleTimeout == .milliseconds(250))
        #expect(s.upstream.connectTimeout == .seconds(3))
        #expect(s.upstream.stallTimeout == .seconds(10))
        #expect(s.upstream.totalTimeout == .milliseconds(1500))
        #expect(s.http.shutdownTimeout == .seconds(2))
        #expect(s.upstream.rateWindow == .seconds(30))
    }

    /// Consumers still count milliseconds: a decimal time converts to them exactly.
    @Test(arguments: [("2.3", 2300), ("0.29", 290), ("1.1", 1100), ("4.35", 4350), ("0.001", 1), ("300", 300_000)])
    func decimalSecondsGiveExactMilliseconds(text: String, milliseconds: UInt64) throws {
        let timeout = try load(["HTTP_HEADER_TIMEOUT": text]).http.headerTimeout
        #expect(UInt64(timeout / .milliseconds(1)) == milliseconds)
    }

    @Test func zeroTotalTimeoutMeansNone() throws {
        #expect(try load(["UPSTREAM_TOTAL_TIMEOUT": "0"]).upstream.totalTimeout == nil)
        #expect(problems(["UPSTREAM_TOTAL_TIMEOUT": "-1"]) == ["UPSTREAM_TOTAL_TIMEOUT=-1 is out of range: must be >= 0.0"])
    }

    /// A Duration cannot hold any Double, and consumers count milliseconds in 64 bits.
    @Test func absurdTimesAreRefused() {
        #expect(problems(["HTTP_HEADER_TIMEOUT": "1e300"]) == ["HTTP_HEADER_TIMEOUT=1e300 is out of range: must be at most 1000000000 seconds"])
        #expect(problems(["SHUTDOWN_TIMEOUT": "2e12"]) == ["SHUTDOWN_TIMEOUT=2e12 is out of range: must be at most 1000000000 seconds"])
    }

    /// Empty means one loop per core (decided at start); anything that is not 1 to the maximum
    /// stops the start.
    @Test func workersIsACountOfLoops() throws {
        #expect(try load([:]).http.workers == nil)
        #expect(try load(["WORKERS": ""]).http.workers == nil)
        #expect(try load(["WORKERS": "1"]).http.workers == 1)
        #expect(try load(["WORKERS": "64"]).http.workers == 64)
        #expect(problems(["WORKERS": "0"]) == ["WORKERS=0 is out of range: must be 1 to 64, or empty for one per core"])
        #expect(problems(["WORKERS": "-1"]) == ["WORKERS=-1 is out of range: must be 1 to 64, or empty for one per core"])
        #expect(problems(["WORKERS": "65"]) == ["WORKERS=65 is out of range: must be 1 to 64, or empty for one per core"])
        #expect(problems(["WORKERS": "x"]) == ["WORKERS=x is not an integer: must be 1 to 64, or empty for one per core"])
    }

    @Test func rateWindowStaysWholeSeconds() {
        #expect(problems(["NVIDIA_NIM_RATE_WINDOW": "1.5"]) == ["NVIDIA_NIM_RATE_WINDOW=1.5 is not an integer: must be between 1 and 1000000000"])
    }
}

@Suite struct IgnoredKeysTests {
    /// A reference `.env` keeps working: its keys that mean nothing here are accepted with any value.
    @Test func acceptedWhateverTheirValue() throws {
        let keys = Settings.ignoredKeys.map(\.key)
        #expect(Set(keys).isSuperset(of: [
            "PROVIDER_TYPE", "MESSAGING_PLATFORM", "TELEGRAM_BOT_TOKEN", "ALLOWED_TELEGRAM_USER_ID", "LOG_FILE",
        ]))
        let environment = Dictionary(uniqueKeysWithValues: keys.map { ($0, "not-a-value-we-know") })
        #expect(try load(environment) == Settings())
        #expect(try load(dotEnv: keys.map { "\($0)=openai" }.joined(separator: "\n")) == Settings())
        #expect(try load(["PROVIDER_TYPE": "openai"]) == Settings())
    }

    @Test func ignoredKeysAreNotSettings() {
        let settingNames = Set(Settings.specs.flatMap(\.names))
        for ignored in Settings.ignoredKeys {
            #expect(!settingNames.contains(ignored.key), "\(ignored.key)")
            // The strict `NVIDIA_NIM_*` check lets an ignored key of that prefix pass.
            #expect(problems([ignored.key: "http://proxy:3128"]).isEmpty, "\(ignored.key)")
        }
    }
}

@Suite struct TableTests {
    @Test func namesAreUniqueAndUppercase() {
        let names = Settings.specs.flatMap(\.names) + Settings.ignoredKeys.map(\.key)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0 == $0.uppercased() && !$0.isEmpty })
    }

    /// The strict check's list comes from the table; it is the reference's NimSettings fields
    /// plus the keys this server adds under that prefix.
    @Test func knownNvidiaNimKeys() {
        #expect(Set(Settings.knownNvidiaNimKeys) == [
            "NVIDIA_NIM_API_KEY", "NVIDIA_NIM_RATE_LIMIT", "NVIDIA_NIM_RATE_WINDOW", "NVIDIA_NIM_BASE_URL",
            "NVIDIA_NIM_TEMPERATURE", "NVIDIA_NIM_TOP_P", "NVIDIA_NIM_TOP_K", "NVIDIA_NIM_MAX_TOKENS",
            "NVIDIA_NIM_PRESENCE_PENALTY", "NVIDIA_NIM_FREQUENCY_PENALTY", "NVIDIA_NIM_MIN_P",
            "NVIDIA_NIM_REPETITION_PENALTY", "NVIDIA_NIM_SEED", "NVIDIA_NIM_STOP", "NVIDIA_NIM_PARALLEL_TOOL_CALLS",
            "NVIDIA_NIM_RETURN_TOKENS_AS_TOKEN_IDS", "NVIDIA_NIM_INCLUDE_STOP_STR_IN_OUTPUT", "NVIDIA_NIM_IGNORE_EOS",
            "NVIDIA_NIM_MIN_TOKENS", "NVIDIA_NIM_CHAT_TEMPLATE", "NVIDIA_NIM_REQUEST_ID",
            "NVIDIA_NIM_REASONING_EFFORT", "NVIDIA_NIM_INCLUDE_REASONING",
        ])
        #expect(Settings.knownNvidiaNimKeys.count == 23)
    }

    /// Every row writes its own field: with every key set, leaving any one out changes the
    /// result (were two rows to write one field, the later would hide the earlier).
    @Test func everyRowWritesItsOwnField() throws {
        #expect(Set(sampleValue.keys) == Set(Settings.specs.map(\.key)))
        let all = try load(sampleValue)
        for spec in Settings.specs {
            var others = sampleValue
            others[spec.key] = nil
            #expect(try load(others) != all, "\(spec.key) changed nothing")
        }
    }

    @Test func readmeTableIsTheGeneratedOne() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = "<!-- settings-table:begin -->\n"
        let end = "<!-- settings-table:end -->"
        let start = try #require(readme.range(of: begin))
        let stop = try #require(readme.range(of: end, range: start.upperBound..<readme.endIndex))
        let inReadme = String(readme[start.upperBound..<stop.lowerBound])
        #expect(inReadme == Settings.markdownTable(), "run nim-proxy --print-settings-table and paste its output")
    }
}

/// A value unlike the default for each key.
private let sampleValue: [String: String] = [
    "HOST": "0.0.0.0", "PORT": "9", "MAX_REQUEST_BODY_BYTES": "7", "HTTP_HEADER_TIMEOUT": "1",
    "HTTP_IDLE_TIMEOUT": "2", "SHUTDOWN_TIMEOUT": "3", "PROXY_AUTH_TOKEN": "t",
    "HTTP_MAX_HEADER_BYTES": "2048", "HTTP_MAX_QUEUED_RESPONSE_BYTES": "5", "MAX_CONNECTIONS": "6",
    "HTTP_BODY_TIMEOUT": "4", "WORKERS": "3",
    "NVIDIA_NIM_API_KEY": "k", "NVIDIA_NIM_BASE_URL": "http://h", "MODEL": "m", "MODEL_OPUS": "o",
    "MODEL_SONNET": "s", "MODEL_HAIKU": "h", "MODEL_CONTEXT_TOKENS": "131072", "MODEL_FALLBACKS": "f1,f2", "MODEL_OPUS_FALLBACKS": "of",
    "MODEL_SONNET_FALLBACKS": "sf", "MODEL_HAIKU_FALLBACKS": "hf", "PROVIDER_MAX_CONCURRENCY": "3", "RATE_LIMIT_STORE": "redis://cache.internal:6380/2",
    "STREAM_EARLY_START_SECONDS": "12", "NVIDIA_NIM_RATE_LIMIT": "4", "NVIDIA_NIM_RATE_WINDOW": "5",
    "UPSTREAM_CONNECT_TIMEOUT": "6", "UPSTREAM_STALL_TIMEOUT": "7", "UPSTREAM_TOTAL_TIMEOUT": "8",
    "UPSTREAM_HTTP_VERSION": "2", "UPSTREAM_CA_FILE": "ca.pem", "UPSTREAM_MAX_RETRY_AFTER": "9", "UPSTREAM_MAX_LINE_BYTES": "2048",
    "NVIDIA_NIM_TEMPERATURE": "0.5", "NVIDIA_NIM_TOP_P": "0.5", "NVIDIA_NIM_TOP_K": "3", "NVIDIA_NIM_MAX_TOKENS": "9",
    "NVIDIA_NIM_PRESENCE_PENALTY": "1", "NVIDIA_NIM_FREQUENCY_PENALTY": "1", "NVIDIA_NIM_MIN_P": "0.5",
    "NVIDIA_NIM_REPETITION_PENALTY": "2", "NVIDIA_NIM_SEED": "1", "NVIDIA_NIM_STOP": "x",
    "NVIDIA_NIM_PARALLEL_TOOL_CALLS": "false", "NVIDIA_NIM_RETURN_TOKENS_AS_TOKEN_IDS": "true",
    "NVIDIA_NIM_INCLUDE_STOP_STR_IN_OUTPUT": "true", "NVIDIA_NIM_IGNORE_EOS": "true", "NVIDIA_NIM_MIN_TOKENS": "1",
    "NVIDIA_NIM_CHAT_TEMPLATE": "c", "NVIDIA_NIM_REQUEST_ID": "r", "NVIDIA_NIM_REASONING_EFFORT": "low",
    "NVIDIA_NIM_INCLUDE_REASONING": "false", "FAST_PREFIX_DETECTION": "false", "ENABLE_NETWORK_PROBE_MOCK": "false",
    "ENABLE_TITLE_GENERATION_SKIP": "false", "ENABLE_SUGGESTION_MODE_SKIP": "false",
    "ENABLE_FILEPATH_EXTRACTION_MOCK": "false", "CLAUDE_WORKSPACE": "w", "ALLOWED_DIR": "a", "MAX_CLI_SESSIONS": "2",
    "CLAUDE_CLI_BIN": "c", "MAX_MESSAGE_LOG_ENTRIES_PER_CHAT": "4", "LOG_LEVEL": "debug",
    "UPSTREAM_SEND_TIMEOUT": "3", "OPENROUTER_API_KEY": "or-key", "OPENROUTER_BASE_URL": "http://or",
    "LM_STUDIO_BASE_URL": "http://lms", "LLAMACPP_BASE_URL": "http://lcpp", "OLLAMA_BASE_URL": "http://oll",
    "PROVIDER_RATE_LIMIT": "5", "PROVIDER_RATE_WINDOW": "6",
]

/// Aliases, tried on a table built here: no real setting has one yet.
@Suite struct AliasTests {
    static let specs = [
        SettingSpec(
            "NVIDIA_NIM_RATE_LIMIT", \.upstream.rateLimit, .int(min: 1), .upstream, "requests per window",
            aliases: ["PROVIDER_RATE_LIMIT", "NVIDIA_NIM_RPM"]),
        SettingSpec("MODEL", \.upstream.model, .requiredText, .upstream, "model"),
    ]

    @Test func aliasIsRead() throws {
        #expect(try load(["PROVIDER_RATE_LIMIT": "7"], specs: Self.specs).upstream.rateLimit == 7)
        #expect(try load(dotEnv: "provider_rate_limit=8", specs: Self.specs).upstream.rateLimit == 8)
        #expect(try load(["NVIDIA_NIM_RPM": "9"], specs: Self.specs).upstream.rateLimit == 9)
    }

    @Test func primaryNameWins() throws {
        let both = ["PROVIDER_RATE_LIMIT": "7", "NVIDIA_NIM_RATE_LIMIT": "3", "NVIDIA_NIM_RPM": "9"]
        #expect(try load(both, specs: Self.specs).upstream.rateLimit == 3)
        #expect(try load(dotEnv: "NVIDIA_NIM_RATE_LIMIT=3\nPROVIDER_RATE_LIMIT=7", specs: Self.specs).upstream.rateLimit == 3)
        // Aliases in table order.
        #expect(try load(["NVIDIA_NIM_RPM": "9", "PROVIDER_RATE_LIMIT": "7"], specs: Self.specs).upstream.rateLimit == 7)
    }

    /// Source before name, as pydantic-settings reads the environment before `.env`.
    @Test func environmentStillWinsOverDotEnv() throws {
        let s = try load(["PROVIDER_RATE_LIMIT": "7"], dotEnv: "NVIDIA_NIM_RATE_LIMIT=3", specs: Self.specs)
        #expect(s.upstream.rateLimit == 7)
    }

    @Test func problemNamesTheKeyAsWritten() {
        #expect(problems(["PROVIDER_RATE_LIMIT": "0"], specs: Self.specs) == ["PROVIDER_RATE_LIMIT=0 is out of range: must be >= 1"])
    }

    @Test func aliasesAreKnownToTheStrictCheck() {
        #expect(problems(["NVIDIA_NIM_RPM": "5"], specs: Self.specs).isEmpty)
        #expect(problems(["NVIDIA_NIM_TOP_P": "0.5"], specs: Self.specs) == [
            "NVIDIA_NIM_TOP_P is not a known setting: NVIDIA_NIM_* keys must be one of NVIDIA_NIM_RATE_LIMIT, NVIDIA_NIM_RPM",
        ])
    }

    @Test func markdown() {
        #expect(Settings.markdownTable(specs: Self.specs, ignored: [Settings.ignoredKeys[0]]) == """
            ### Upstream (NVIDIA NIM)

            | variable | default | allowed | meaning |
            |---|---|---|---|
            | `NVIDIA_NIM_RATE_LIMIT` (also `PROVIDER_RATE_LIMIT`, `NVIDIA_NIM_RPM`) | `40` | integer >= 1 | requests per window |
            | `MODEL` | `moonshotai/kimi-k2-thinking` | non-empty text | model |

            ### Accepted, ignored

            | variable | why |
            |---|---|
            | `PROVIDER_TYPE` | the provider is the prefix of each model setting (`open_router/...`) |

            """)
    }
}
