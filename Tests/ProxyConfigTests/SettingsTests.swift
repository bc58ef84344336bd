import ProxyConfig
import Testing

@Suite struct SettingsDefaultsTests {
    @Test func defaultsMatchTheReference() throws {
        let s = try load()
        #expect(s == Settings())
        #expect(s.upstream.apiKey == "")
        #expect(s.upstream.model == "moonshotai/kimi-k2-thinking")
        #expect(s.upstream.rateLimit == 40)
        #expect(s.upstream.rateWindow == .seconds(60))
        let local = s.localAnswers
        #expect(local.fastPrefixDetection && local.networkProbeMock && local.titleGenerationSkip)
        #expect(local.suggestionModeSkip && local.filepathExtractionMock)
        #expect(s.cli.workspace == "./agent_workspace")
        #expect(s.cli.allowedDir == "")
        #expect(s.cli.maxSessions == 10)
        #expect(s.cli.messageLogCap == nil)
        #expect(s.http.host == "127.0.0.1")
        #expect(s.http.port == 8082)
        #expect(s.upstream.baseURL == "https://integrate.api.nvidia.com/v1")
        #expect(s.upstream.modelOpus == nil && s.upstream.modelSonnet == nil && s.upstream.modelHaiku == nil)
        #expect(s.http.maxRequestBodyBytes == 33_554_432)
        #expect(s.http.headerTimeout == .seconds(30) && s.http.idleTimeout == .seconds(75))
        #expect(s.upstream.connectTimeout == .seconds(10) && s.upstream.stallTimeout == .seconds(300))
        #expect(s.upstream.totalTimeout == nil)
        #expect(s.upstream.httpVersion == .auto)
        #expect(s.http.shutdownTimeout == .seconds(5))
        #expect(s.http.authToken == nil)
        #expect(s.cli.executable == "claude")
        #expect(s.logging.level == .info)
    }

    @Test func nimDefaultsMatchTheReference() throws {
        let nim = try load().upstream.nim
        #expect(nim.temperature == 1.0 && nim.topP == 1.0 && nim.topK == -1)
        #expect(nim.maxTokens == 81920)
        #expect(nim.presencePenalty == 0 && nim.frequencyPenalty == 0 && nim.minP == 0)
        #expect(nim.repetitionPenalty == 1.0)
        #expect(nim.seed == nil && nim.stop == nil && nim.chatTemplate == nil && nim.requestId == nil)
        #expect(nim.parallelToolCalls && !nim.returnTokensAsTokenIds && !nim.includeStopStrInOutput && !nim.ignoreEos)
        #expect(nim.minTokens == 0)
        #expect(nim.reasoningEffort == .high)
        #expect(nim.includeReasoning)
    }

    @Test func referenceEnvExampleLoads() throws {
        // The reference's .env.example, verbatim in substance.
        let example = """
            MODEL="stepfun-ai/step-3.5-flash"
            CLAUDE_WORKSPACE="./agent_workspace"
            MAX_CLI_SESSIONS=10
            ALLOWED_DIR=""
            FAST_PREFIX_DETECTION=true
            ENABLE_NETWORK_PROBE_MOCK=true
            TELEGRAM_BOT_TOKEN=""
            ALLOWED_TELEGRAM_USER_ID=""
            MESSAGING_RATE_LIMIT=1
            MESSAGING_RATE_WINDOW=1
            NVIDIA_NIM_API_KEY=""
            NVIDIA_NIM_RATE_LIMIT=40
            NVIDIA_NIM_RATE_WINDOW=60
            # All NVIDIA_NIM_* settings are strictly validated (unknown keys will error).
            NVIDIA_NIM_TEMPERATURE=1.0
            NVIDIA_NIM_TOP_P=1.0
            NVIDIA_NIM_TOP_K=-1
            NVIDIA_NIM_MAX_TOKENS=81920
            NVIDIA_NIM_PRESENCE_PENALTY=0.0
            NVIDIA_NIM_FREQUENCY_PENALTY=0.0
            NVIDIA_NIM_MIN_P=0.0
            NVIDIA_NIM_REPETITION_PENALTY=1.0
            NVIDIA_NIM_SEED=
            NVIDIA_NIM_STOP=
            NVIDIA_NIM_PARALLEL_TOOL_CALLS=true
            NVIDIA_NIM_RETURN_TOKENS_AS_TOKEN_IDS=false
            NVIDIA_NIM_INCLUDE_STOP_STR_IN_OUTPUT=false
            NVIDIA_NIM_IGNORE_EOS=false
            NVIDIA_NIM_MIN_TOKENS=0
            NVIDIA_NIM_CHAT_TEMPLATE=""
            NVIDIA_NIM_REQUEST_ID=""
            NVIDIA_NIM_REASONING_EFFORT=high
            NVIDIA_NIM_INCLUDE_REASONING=true
            """
        let s = try load(dotEnv: example)
        var expected = Settings()
        expected.upstream.model = "stepfun-ai/step-3.5-flash"
        #expect(s == expected)
    }
}

/// Ported from the reference's tests/test_config.py (TestNimSettingsValidBounds and friends).
@Suite struct NimSettingsBoundsTests {
    @Test(arguments: [-1, 0, 1, 100])
    func topKValid(topK: Int) throws {
        #expect(try load(["NVIDIA_NIM_TOP_K": String(topK)]).upstream.nim.topK == topK)
    }

    @Test(arguments: ["0.0": 0.0, "0.5": 0.5, "1.0": 1.0, "2.0": 2.0])
    func temperatureValid(text: String, value: Double) throws {
        #expect(try load(["NVIDIA_NIM_TEMPERATURE": text]).upstream.nim.temperature == value)
    }

    @Test(arguments: ["0.0": 0.0, "0.5": 0.5, "1.0": 1.0])
    func topPValid(text: String, value: Double) throws {
        #expect(try load(["NVIDIA_NIM_TOP_P": text]).upstream.nim.topP == value)
    }

    @Test(arguments: NimSettings.ReasoningEffort.allCases)
    func reasoningEffortValid(effort: NimSettings.ReasoningEffort) throws {
        #expect(try load(["NVIDIA_NIM_REASONING_EFFORT": effort.rawValue]).upstream.nim.reasoningEffort == effort)
    }

    @Test func tokenBoundsValid() throws {
        let nim = try load(["NVIDIA_NIM_MAX_TOKENS": "1", "NVIDIA_NIM_MIN_TOKENS": "0"]).upstream.nim
        #expect(nim.maxTokens == 1 && nim.minTokens == 0)
    }

    @Test(arguments: ["-2.0": -2.0, "0.0": 0.0, "2.0": 2.0])
    func penaltiesValid(text: String, value: Double) throws {
        let nim = try load(["NVIDIA_NIM_PRESENCE_PENALTY": text, "NVIDIA_NIM_FREQUENCY_PENALTY": text]).upstream.nim
        #expect(nim.presencePenalty == value && nim.frequencyPenalty == value)
    }

    @Test(arguments: ["0.0": 0.0, "0.5": 0.5, "1.0": 1.0])
    func minPValid(text: String, value: Double) throws {
        #expect(try load(["NVIDIA_NIM_MIN_P": text]).upstream.nim.minP == value)
    }

    @Test(arguments: [
        ("NVIDIA_NIM_TOP_K", "-2", "NVIDIA_NIM_TOP_K=-2 is out of range: must be -1 or >= 0"),
        ("NVIDIA_NIM_TOP_K", "-100", "NVIDIA_NIM_TOP_K=-100 is out of range: must be -1 or >= 0"),
        ("NVIDIA_NIM_TEMPERATURE", "-0.1", "NVIDIA_NIM_TEMPERATURE=-0.1 is out of range: must be >= 0.0"),
        ("NVIDIA_NIM_TOP_P", "-0.1", "NVIDIA_NIM_TOP_P=-0.1 is out of range: must be between 0.0 and 1.0"),
        ("NVIDIA_NIM_TOP_P", "1.1", "NVIDIA_NIM_TOP_P=1.1 is out of range: must be between 0.0 and 1.0"),
        ("NVIDIA_NIM_TOP_P", "1.5", "NVIDIA_NIM_TOP_P=1.5 is out of range: must be between 0.0 and 1.0"),
        ("NVIDIA_NIM_PRESENCE_PENALTY", "-2.1", "NVIDIA_NIM_PRESENCE_PENALTY=-2.1 is out of range: must be between -2.0 and 2.0"),
        ("NVIDIA_NIM_PRESENCE_PENALTY", "2.1", "NVIDIA_NIM_PRESENCE_PENALTY=2.1 is out of range: must be between -2.0 and 2.0"),
        ("NVIDIA_NIM_FREQUENCY_PENALTY", "-2.1", "NVIDIA_NIM_FREQUENCY_PENALTY=-2.1 is out of range: must be between -2.0 and 2.0"),
        ("NVIDIA_NIM_FREQUENCY_PENALTY", "2.1", "NVIDIA_NIM_FREQUENCY_PENALTY=2.1 is out of range: must be between -2.0 and 2.0"),
        ("NVIDIA_NIM_MIN_P", "-0.1", "NVIDIA_NIM_MIN_P=-0.1 is out of range: must be between 0.0 and 1.0"),
        ("NVIDIA_NIM_MIN_P", "1.1", "NVIDIA_NIM_MIN_P=1.1 is out of range: must be between 0.0 and 1.0"),
        ("NVIDIA_NIM_MAX_TOKENS", "0", "NVIDIA_NIM_MAX_TOKENS=0 is out of range: must be >= 1"),
        ("NVIDIA_NIM_MAX_TOKENS", "-1", "NVIDIA_NIM_MAX_TOKENS=-1 is out of range: must be >= 1"),
        ("NVIDIA_NIM_MIN_TOKENS", "-1", "NVIDIA_NIM_MIN_TOKENS=-1 is out of range: must be >= 0"),
        ("NVIDIA_NIM_REPETITION_PENALTY", "-0.5", "NVIDIA_NIM_REPETITION_PENALTY=-0.5 is out of range: must be >= 0.0"),
        ("NVIDIA_NIM_REASONING_EFFORT", "invalid", "NVIDIA_NIM_REASONING_EFFORT=invalid is not allowed: must be one of low, medium, high"),
        ("NVIDIA_NIM_REASONING_EFFORT", "HIGH", "NVIDIA_NIM_REASONING_EFFORT=HIGH is not allowed: must be one of low, medium, high"),
        ("NVIDIA_NIM_TOP_P", "abc", "NVIDIA_NIM_TOP_P=abc is not a number: must be between 0.0 and 1.0"),
        ("NVIDIA_NIM_TEMPERATURE", "nan", "NVIDIA_NIM_TEMPERATURE=nan is not a number: must be >= 0.0"),
        ("NVIDIA_NIM_TEMPERATURE", "inf", "NVIDIA_NIM_TEMPERATURE=inf is not a number: must be >= 0.0"),
        ("NVIDIA_NIM_TEMPERATURE", "0x1p1", "NVIDIA_NIM_TEMPERATURE=0x1p1 is not a number: must be >= 0.0"),
        ("NVIDIA_NIM_TEMPERATURE", "", "NVIDIA_NIM_TEMPERATURE= is not a number: must be >= 0.0"),
        ("NVIDIA_NIM_MAX_TOKENS", "1.5", "NVIDIA_NIM_MAX_TOKENS=1.5 is not an integer: must be >= 1"),
        ("NVIDIA_NIM_MAX_TOKENS", "1e3", "NVIDIA_NIM_MAX_TOKENS=1e3 is not an integer: must be >= 1"),
        ("NVIDIA_NIM_MAX_TOKENS", "99999999999999999999", "NVIDIA_NIM_MAX_TOKENS=99999999999999999999 is not an integer: must be >= 1"),
        ("NVIDIA_NIM_SEED", "x42", "NVIDIA_NIM_SEED=x42 is not an integer: must be a whole number or empty"),
        ("NVIDIA_NIM_IGNORE_EOS", "maybe", "NVIDIA_NIM_IGNORE_EOS=maybe is not a boolean: must be one of true, false, 1, 0, yes, no, on, off, t, f, y, n"),
        ("NVIDIA_NIM_UNKNOWN_FIELD", "value", "NVIDIA_NIM_UNKNOWN_FIELD is not a known setting: NVIDIA_NIM_* keys must be one of " + Settings.knownNvidiaNimKeys.joined(separator: ", ")),
        ("NVIDIA_NIM_RATE_LIMIT", "0", "NVIDIA_NIM_RATE_LIMIT=0 is out of range: must be >= 1"),
        ("NVIDIA_NIM_RATE_WINDOW", "-5", "NVIDIA_NIM_RATE_WINDOW=-5 is out of range: must be between 1 and 1000000000"),
        ("NVIDIA_NIM_BASE_URL", "ftp://example.com", "NVIDIA_NIM_BASE_URL=ftp://example.com is not an http(s) URL: must look like https://integrate.api.nvidia.com/v1"),
        ("NVIDIA_NIM_BASE_URL", "http://", "NVIDIA_NIM_BASE_URL=http:// is not an http(s) URL: must look like https://integrate.api.nvidia.com/v1"),
        ("MAX_CLI_SESSIONS", "0", "MAX_CLI_SESSIONS=0 is out of range: must be >= 1"),
        ("PORT", "65536", "PORT=65536 is out of range: must be between 0 and 65535"),
        ("PORT", "-1", "PORT=-1 is out of range: must be between 0 and 65535"),
        ("PORT", "80a", "PORT=80a is not an integer: must be between 0 and 65535"),
        ("FAST_PREFIX_DETECTION", "enabled", "FAST_PREFIX_DETECTION=enabled is not a boolean: must be one of true, false, 1, 0, yes, no, on, off, t, f, y, n"),
        ("MODEL", "", "MODEL= is empty: a value is required"),
        ("HOST", " ", "HOST=  is empty: a value is required"),
        ("CLAUDE_CLI_BIN", "", "CLAUDE_CLI_BIN= is empty: a value is required"),
        ("MAX_REQUEST_BODY_BYTES", "0", "MAX_REQUEST_BODY_BYTES=0 is out of range: must be >= 1"),
        ("HTTP_HEADER_TIMEOUT", "0", "HTTP_HEADER_TIMEOUT=0 is out of range: must be a number of seconds > 0"),
        ("HTTP_IDLE_TIMEOUT", "soon", "HTTP_IDLE_TIMEOUT=soon is not a number: must be a number of seconds > 0"),
        ("UPSTREAM_CONNECT_TIMEOUT", "-1", "UPSTREAM_CONNECT_TIMEOUT=-1 is out of range: must be a number of seconds > 0"),
        ("UPSTREAM_STALL_TIMEOUT", "0.0", "UPSTREAM_STALL_TIMEOUT=0.0 is out of range: must be a number of seconds > 0"),
        ("SHUTDOWN_TIMEOUT", "-0.5", "SHUTDOWN_TIMEOUT=-0.5 is out of range: must be >= 0.0"),
        ("UPSTREAM_MAX_RETRY_AFTER", "-1", "UPSTREAM_MAX_RETRY_AFTER=-1 is out of range: must be >= 0.0"),
        ("UPSTREAM_MAX_RETRY_AFTER", "1e300", "UPSTREAM_MAX_RETRY_AFTER=1e300 is out of range: must be at most 1000000000 seconds"),
        ("UPSTREAM_MAX_RETRY_AFTER", "inf", "UPSTREAM_MAX_RETRY_AFTER=inf is not a number: must be >= 0.0"),
        ("UPSTREAM_MAX_LINE_BYTES", "1023", "UPSTREAM_MAX_LINE_BYTES=1023 is out of range: must be >= 1024"),
        ("UPSTREAM_MAX_LINE_BYTES", "99999999999999999999", "UPSTREAM_MAX_LINE_BYTES=99999999999999999999 is not an integer: must be >= 1024"),
        // A window of 10^16 s once overflowed the loop clock's milliseconds at the first request.
        ("NVIDIA_NIM_RATE_WINDOW", "10000000000000000", "NVIDIA_NIM_RATE_WINDOW=10000000000000000 is out of range: must be between 1 and 1000000000"),
        ("NVIDIA_NIM_RATE_WINDOW", "1000000001", "NVIDIA_NIM_RATE_WINDOW=1000000001 is out of range: must be between 1 and 1000000000"),
        ("UPSTREAM_STALL_TIMEOUT", "1e300", "UPSTREAM_STALL_TIMEOUT=1e300 is out of range: must be at most 1000000000 seconds"),
        ("UPSTREAM_TOTAL_TIMEOUT", "1000000000.5", "UPSTREAM_TOTAL_TIMEOUT=1000000000.5 is out of range: must be at most 1000000000 seconds"),
    ])
    func rejects(key: String, value: String, message: String) {
        #expect(problems([key: value]) == [message])
    }

    @Test func errorDescription() {
        #expect(ConfigError(problems: ["A=1 is bad"]).description == "invalid configuration: A=1 is bad")
        #expect(ConfigError(problems: ["A", "B"]).description == "invalid configuration:\n  - A\n  - B")
    }
}

/// Ported from TestNimSettingsValidators and TestSettingsOptionalStr.
@Suite struct OptionalValueTests {
    @Test func seed() throws {
        #expect(try load(["NVIDIA_NIM_SEED": ""]).upstream.nim.seed == nil)
        #expect(try load(["NVIDIA_NIM_SEED": "42"]).upstream.nim.seed == 42)
        #expect(try load(["NVIDIA_NIM_SEED": "-7"]).upstream.nim.seed == -7)
        #expect(try load().upstream.nim.seed == nil)
    }

    @Test func optionalStrings() throws {
        #expect(try load(["NVIDIA_NIM_STOP": ""]).upstream.nim.stop == nil)
        #expect(try load(["NVIDIA_NIM_STOP": "STOP"]).upstream.nim.stop == "STOP")
        #expect(try load(["NVIDIA_NIM_CHAT_TEMPLATE": ""]).upstream.nim.chatTemplate == nil)
        #expect(try load(["NVIDIA_NIM_CHAT_TEMPLATE": "template"]).upstream.nim.chatTemplate == "template")
        #expect(try load(["NVIDIA_NIM_REQUEST_ID": "r-1"]).upstream.nim.requestId == "r-1")
        #expect(try load(["MODEL_OPUS": "", "MODEL_SONNET": "a/b", "MODEL_HAIKU": "c/d"]).upstream.modelOpus == nil)
        #expect(try load(["MODEL_SONNET": "a/b"]).upstream.modelSonnet == "a/b")
        #expect(try load(["MODEL_HAIKU": "c/d"]).upstream.modelHaiku == "c/d")
        #expect(try load(["PROXY_AUTH_TOKEN": ""]).http.authToken == nil)
        #expect(try load(["PROXY_AUTH_TOKEN": "s3cret"]).http.authToken == "s3cret")
    }

    /// Fallback lists are comma-separated, trimmed, empty entries dropped; a tier's empty list is unset.
    @Test func fallbackListsAndTheConcurrencyCap() throws {
        let s = try load([
            "MODEL_FALLBACKS": " a/b , c/d,,", "MODEL_OPUS_FALLBACKS": "e/f", "MODEL_SONNET_FALLBACKS": " , ",
            "PROVIDER_MAX_CONCURRENCY": "2", "STREAM_EARLY_START_SECONDS": "0.5",
        ])
        #expect(s.upstream.modelFallbacks == ["a/b", "c/d"])
        #expect(s.upstream.modelOpusFallbacks == ["e/f"])
        #expect(s.upstream.modelSonnetFallbacks == nil)
        #expect(s.upstream.modelHaikuFallbacks == nil)
        #expect(s.upstream.maxConcurrency == 2)
        #expect(s.upstream.streamEarlyStart == .milliseconds(500))
        #expect(Settings().upstream.maxConcurrency == 0)
        #expect(Settings().upstream.streamEarlyStart == .seconds(240))
        #expect(throws: (any Error).self) { try load(["PROVIDER_MAX_CONCURRENCY": "-1"]) }
    }
}

@Suite struct LoadingRulesTests {
    @Test func environmentWinsOverDotEnv() throws {
        let s = try load(["MODEL": "env/model", "PORT": "9000"], dotEnv: "MODEL=file/model\nHOST=0.0.0.0\nPORT=9100")
        #expect(s.upstream.model == "env/model")
        #expect(s.http.port == 9000)
        #expect(s.http.host == "0.0.0.0")
    }

    @Test func laterDotEnvLinesWin() throws {
        #expect(try load(dotEnv: "PORT=1\nPORT=2").http.port == 2)
    }

    @Test func namesAreCaseInsensitive() throws {
        let s = try load(["nvidia_nim_top_p": "0.25", "Port": "9001"], dotEnv: "model=file/model")
        #expect(s.upstream.nim.topP == 0.25)
        #expect(s.http.port == 9001)
        #expect(s.upstream.model == "file/model")
        // The environment wins over .env whatever the casing.
        #expect(try load(["model": "env/model"], dotEnv: "MODEL=file/model").upstream.model == "env/model")
        // Within the environment, the uppercase spelling wins.
        #expect(try load(["PORT": "1000", "port": "2000", "Port": "3000"]).http.port == 1000)
        // Unknown-key checks are case-insensitive too.
        #expect(problems(["nvidia_nim_bogus": "1"]).first?.hasPrefix("nvidia_nim_bogus is not a known setting") == true)
    }

    @Test func unrelatedKeysAreIgnored() throws {
        #expect(try load(["PATH": "/bin", "MESSAGING_RATE_LIMIT": "x", "NVIDIA_API": "1"]) == Settings())
    }

    @Test func unknownNimKeyInDotEnvStopsStartup() {
        #expect(problems([:], dotEnv: "NVIDIA_NIM_TOPP=0.5").count == 1)
    }

    @Test func allProblemsAreCollected() {
        let found = problems(
            ["NVIDIA_NIM_TOP_P": "1.5", "PORT": "x", "NVIDIA_NIM_NOPE": "1"],
            dotEnv: "NVIDIA_NIM_MAX_TOKENS=0\nENABLE_NETWORK_PROBE_MOCK=sometimes")
        #expect(found.count == 5)
        #expect(found.contains("NVIDIA_NIM_TOP_P=1.5 is out of range: must be between 0.0 and 1.0"))
        #expect(found.contains("PORT=x is not an integer: must be between 0 and 65535"))
        #expect(found.contains("NVIDIA_NIM_MAX_TOKENS=0 is out of range: must be >= 1"))
        #expect(found.contains { $0.hasPrefix("ENABLE_NETWORK_PROBE_MOCK=sometimes is not a boolean") })
        #expect(found.contains { $0.hasPrefix("NVIDIA_NIM_NOPE is not a known setting") })
    }

    @Test(arguments: [
        ("true", true), ("TRUE", true), ("1", true), ("yes", true), ("On", true), ("t", true), ("Y", true),
        ("false", false), ("False", false), ("0", false), ("no", false), ("OFF", false), ("f", false), ("n", false),
        (" true ", true),
    ])
    func booleans(text: String, value: Bool) throws {
        let s = try load(["FAST_PREFIX_DETECTION": text, "NVIDIA_NIM_IGNORE_EOS": text])
        #expect(s.localAnswers.fastPrefixDetection == value)
        #expect(s.upstream.nim.ignoreEos == value)
    }

    @Test func numberForms() throws {
        #expect(try load(["NVIDIA_NIM_TEMPERATURE": "1"]).upstream.nim.temperature == 1)
        #expect(try load(["NVIDIA_NIM_TEMPERATURE": ".5"]).upstream.nim.temperature == 0.5)
        #expect(try load(["NVIDIA_NIM_TEMPERATURE": "2."]).upstream.nim.temperature == 2)
        #expect(try load(["NVIDIA_NIM_TEMPERATURE": "5e-1"]).upstream.nim.temperature == 0.5)
        #expect(try load(["NVIDIA_NIM_TEMPERATURE": " 0.7 "]).upstream.nim.temperature == 0.7)
        #expect(try load(["NVIDIA_NIM_TOP_K": "+40"]).upstream.nim.topK == 40)
        #expect(try load(["PORT": "0"]).http.port == 0)
        #expect(try load(["PORT": "65535"]).http.port == 65535)
        #expect(try load(["SHUTDOWN_TIMEOUT": "0"]).http.shutdownTimeout == .zero)
        #expect(try load(["HTTP_HEADER_TIMEOUT": "2.5"]).http.headerTimeout == .milliseconds(2500))
        #expect(try load(["MAX_REQUEST_BODY_BYTES": "1024"]).http.maxRequestBodyBytes == 1024)
    }

    @Test func baseURL() throws {
        #expect(try load(["NVIDIA_NIM_BASE_URL": "http://127.0.0.1:9999/v1/"]).upstream.baseURL == "http://127.0.0.1:9999/v1")
        #expect(try load(["NVIDIA_NIM_BASE_URL": "HTTPS://nim.example"]).upstream.baseURL == "HTTPS://nim.example")
        #expect(problems(["NVIDIA_NIM_BASE_URL": "integrate.api.nvidia.com"]).count == 1)
        #expect(problems(["NVIDIA_NIM_BASE_URL": "http://a b"]).count == 1)
    }

    @Test func upstreamHTTPVersion() throws {
        #expect(try load().upstream.httpVersion == .auto)
        #expect(try load(["UPSTREAM_HTTP_VERSION": "2"]).upstream.httpVersion == .http2)
        #expect(try load(["UPSTREAM_HTTP_VERSION": "1.1"]).upstream.httpVersion == .http1_1)
        #expect(try load(["UPSTREAM_HTTP_VERSION": "auto"]).upstream.httpVersion == .auto)
        #expect(problems(["UPSTREAM_HTTP_VERSION": "3"]) == ["UPSTREAM_HTTP_VERSION=3 is not allowed: must be one of auto, 1.1, 2"])
        #expect(try load().upstream.caFile == nil)
        #expect(try load(["UPSTREAM_CA_FILE": "/etc/ca.pem"]).upstream.caFile == "/etc/ca.pem")
    }

    @Test func otherFields() throws {
        let s = try load([
            "NVIDIA_NIM_API_KEY": "nvapi-x", "CLAUDE_WORKSPACE": "/w", "ALLOWED_DIR": "/a",
            "MAX_CLI_SESSIONS": "3", "CLAUDE_CLI_BIN": "/usr/bin/claude",
            "NVIDIA_NIM_RATE_LIMIT": "100", "NVIDIA_NIM_RATE_WINDOW": "30",
        ])
        #expect(s.upstream.apiKey == "nvapi-x")
        #expect(s.cli.workspace == "/w" && s.cli.allowedDir == "/a")
        #expect(s.cli.maxSessions == 3)
        #expect(s.cli.executable == "/usr/bin/claude")
        #expect(s.upstream.rateLimit == 100 && s.upstream.rateWindow == .seconds(30))
    }
}

/// The limits on what the upstream can make the server hold or wait for, and the largest
/// times, which still fit the loop clock (their refusals are among `rejects` above).
@Suite struct UpstreamLimitSettingsTests {
    @Test func defaults() {
        #expect(Settings().upstream.maxRetryAfter == .seconds(60))
        #expect(Settings().upstream.maxLineBytes == 4_194_304)
    }

    @Test func values() throws {
        let s = try load(["UPSTREAM_MAX_RETRY_AFTER": "2.5", "UPSTREAM_MAX_LINE_BYTES": "1024"])
        #expect(s.upstream.maxRetryAfter == .milliseconds(2500))
        #expect(s.upstream.maxLineBytes == 1024)
        #expect(try load(["UPSTREAM_MAX_RETRY_AFTER": "0"]).upstream.maxRetryAfter == .zero)
    }

    @Test func theLargestAllowedTimesAreKept() throws {
        let s = try load(["NVIDIA_NIM_RATE_WINDOW": "1000000000", "UPSTREAM_MAX_RETRY_AFTER": "1000000000"])
        #expect(s.upstream.rateWindow == .seconds(1_000_000_000))
        #expect(s.upstream.maxRetryAfter == .seconds(1_000_000_000))
    }
}
