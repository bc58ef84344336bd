import Testing

@testable import ProxyConfig

@Suite struct ProviderModelTests {
    @Test(arguments: [
        ("open_router/deepseek/deepseek-r1:free", Provider.openRouter, "deepseek/deepseek-r1:free"),
        ("lmstudio/qwen3-8b", .lmStudio, "qwen3-8b"),
        ("llamacpp/local", .llamaCpp, "local"),
        ("ollama/llama3.1:8b", .ollama, "llama3.1:8b"),
        ("nvidia_nim/z-ai/glm4.7", .nvidiaNim, "z-ai/glm4.7"),
        // NIM organisations and names without a provider keep their whole name on NIM.
        ("nvidia/llama-3.1-nemotron-70b-instruct", .nvidiaNim, "nvidia/llama-3.1-nemotron-70b-instruct"),
        ("openai/gpt-oss-120b", .nvidiaNim, "openai/gpt-oss-120b"),
        ("meta/llama-3.3-70b-instruct", .nvidiaNim, "meta/llama-3.3-70b-instruct"),
        ("moonshotai/kimi-k2-thinking", .nvidiaNim, "moonshotai/kimi-k2-thinking"),
        ("plain-model", .nvidiaNim, "plain-model"),
        // A prefix with nothing after it names no model: the whole text stays a NIM name.
        ("open_router/", .nvidiaNim, "open_router/"),
        ("Open_Router/x", .nvidiaNim, "Open_Router/x"),
    ])
    func parsing(name: String, provider: Provider, model: String) {
        #expect(ProviderModel(parsing: name) == ProviderModel(provider: provider, model: model))
    }

    @Test func describedWithItsProvider() {
        #expect(ProviderModel(parsing: "meta/llama").description == "nvidia_nim/meta/llama")
        #expect(ProviderModel(parsing: "ollama/qwen3").description == "ollama/qwen3")
    }

    @Test(arguments: [
        ("openrouter", Provider.openRouter), ("open-router", .openRouter), ("Open_Router", .openRouter),
        ("OPENROUTER", .openRouter), ("open_ruoter", .openRouter), ("lm_studio", .lmStudio), ("lm-studio", .lmStudio),
        ("LMStudio", .lmStudio), ("llama_cpp", .llamaCpp), ("llama-cpp", .llamaCpp), ("llama.cpp", .llamaCpp),
        ("nim", .nvidiaNim), ("nvidia-nim", .nvidiaNim), ("NVIDIA_NIM", .nvidiaNim), ("nvidia_nin", .nvidiaNim),
        ("Ollama", .ollama), ("olama", .ollama),
    ])
    func nearMissesAreNamed(prefix: String, meant: Provider) {
        #expect(nearMissProvider(prefix) == meant)
    }

    /// Real NIM organisations (some a few letters from a provider's name) are never near misses.
    @Test(arguments: [
        "nvidia", "openai", "meta", "moonshotai", "mistralai", "qwen", "google", "deepseek-ai", "microsoft", "ibm",
        "z-ai", "minimaxai", "stepfun-ai", "bytedance", "writer", "01-ai", "nv-mistralai", "abacusai", "upstage",
        "igenius", "baichuan-inc", "thudm", "tiiuae", "sarvamai", "mediatek", "snowflake", "databricks", "bigcode",
        "arcee-ai", "stepfun", "institute-of-science-tokyo", "opengpt-x", "marin", "rakuten", "speakleash",
    ])
    func nimOrganisationsAreNotNearMisses(organisation: String) {
        #expect(nearMissProvider(organisation) == nil)
        #expect(problems(["MODEL": "\(organisation)/some-model"]).isEmpty)
    }

    @Test func editDistance() {
        #expect(ProxyConfig.editDistance(Array("kitten".utf8), Array("sitting".utf8)) == 3)
        #expect(ProxyConfig.editDistance([], Array("abc".utf8)) == 3)
        #expect(ProxyConfig.editDistance(Array("abc".utf8), Array("abc".utf8)) == 0)
    }
}

@Suite struct ModelSettingTests {
    @Test func nearMissStopsStartWithTheMeantSpelling() {
        #expect(problems(["MODEL_SONNET": "openrouter/deepseek/deepseek-r1:free"]) == [
            "MODEL_SONNET=openrouter/deepseek/deepseek-r1:free has the prefix `openrouter/`, which is not a provider: "
                + "did you mean `open_router/deepseek/deepseek-r1:free`? (providers: nvidia_nim, open_router, lmstudio, "
                + "llamacpp, ollama; a name without one of them is an NVIDIA NIM model)",
        ])
    }

    @Test func everyModelSettingIsChecked() {
        let keys = [
            "MODEL", "MODEL_OPUS", "MODEL_SONNET", "MODEL_HAIKU", "MODEL_FALLBACKS", "MODEL_OPUS_FALLBACKS",
            "MODEL_SONNET_FALLBACKS", "MODEL_HAIKU_FALLBACKS",
        ]
        for key in keys {
            let found = problems([key: "lm_studio/qwen3"])
            #expect(found.count == 1, "\(key)")
            #expect(found.first?.hasPrefix("\(key)=lm_studio/qwen3 ") == true, "\(key)")
            #expect(found.first?.contains("did you mean `lmstudio/qwen3`?") == true, "\(key)")
        }
    }

    @Test func aListNamesItsBadEntry() {
        let found = problems(["MODEL_FALLBACKS": "meta/llama, llama-cpp/local"])
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("MODEL_FALLBACKS=meta/llama, llama-cpp/local has the entry `llama-cpp/local`, which has the prefix `llama-cpp/`") == true)
        #expect(found.first?.contains("did you mean `llamacpp/local`?") == true)
    }

    @Test func aProviderWithoutAModelIsRefused() {
        #expect(problems(["MODEL": "ollama/"]) == ["MODEL=ollama/ names the provider ollama but no model: must look like ollama/MODEL"])
    }

    @Test func qualifiedNamesLoad() throws {
        let s = try load([
            "MODEL": "nvidia_nim/z-ai/glm4.7", "MODEL_HAIKU": "ollama/qwen3:8b", "MODEL_OPUS": "lmstudio/a",
            "MODEL_FALLBACKS": "llamacpp/b,meta/llama-3.3-70b-instruct",
        ])
        #expect(s.upstream.model == "nvidia_nim/z-ai/glm4.7")
        #expect(s.upstream.modelFallbacks == ["llamacpp/b", "meta/llama-3.3-70b-instruct"])
        #expect(s.providersInUse == [.nvidiaNim, .lmStudio, .llamaCpp, .ollama])
        #expect(s.modelSettings.map(\.key) == ["MODEL", "MODEL_OPUS", "MODEL_HAIKU", "MODEL_FALLBACKS"])
    }
}

@Suite struct ProviderSettingsTests {
    @Test func defaults() throws {
        let s = try load()
        #expect(s.provider(.openRouter) == ProviderSettings(
            baseURL: "https://openrouter.ai/api/v1", apiKey: "", rateLimit: 40, rateWindow: .seconds(60), maxConcurrency: 0))
        #expect(s.provider(.lmStudio).baseURL == "http://localhost:1234/v1")
        #expect(s.provider(.llamaCpp).baseURL == "http://localhost:8080/v1")
        #expect(s.provider(.ollama).baseURL == "http://localhost:11434/v1")
        #expect(s.provider(.nvidiaNim) == ProviderSettings(
            baseURL: "https://integrate.api.nvidia.com/v1", apiKey: "", rateLimit: 40, rateWindow: .seconds(60),
            maxConcurrency: 0))
    }

    @Test func perProviderView() throws {
        let s = try load([
            "OPENROUTER_API_KEY": "sk-or", "OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1/",
            "PROVIDER_MAX_CONCURRENCY": "5", "PROVIDER_RATE_LIMIT": "7", "PROVIDER_RATE_WINDOW": "30",
            "NVIDIA_NIM_API_KEY": "nvapi", "NVIDIA_NIM_BASE_URL": "http://127.0.0.1:8/v1",
        ])
        #expect(s.provider(.openRouter) == ProviderSettings(
            baseURL: "http://127.0.0.1:9/api/v1", apiKey: "sk-or", rateLimit: 7, rateWindow: .seconds(30), maxConcurrency: 5))
        #expect(s.provider(.lmStudio).apiKey == "")
        #expect(s.provider(.nvidiaNim) == ProviderSettings(
            baseURL: "http://127.0.0.1:8/v1", apiKey: "nvapi", rateLimit: 7, rateWindow: .seconds(30), maxConcurrency: 5))
    }

    @Test(arguments: [
        ("http://localhost:11434", "http://localhost:11434/v1"),
        ("http://localhost:11434/", "http://localhost:11434/v1"),
        ("http://localhost:11434/v1", "http://localhost:11434/v1"),
        ("http://localhost:11434/v1/", "http://localhost:11434/v1"),
        ("http://box:11434/ollama", "http://box:11434/ollama/v1"),
        ("", ""),
    ])
    func ollamaBaseIsTheOpenAICompatibleOne(text: String, stored: String) throws {
        #expect(try load(["OLLAMA_BASE_URL": text]).providers.ollamaBaseURL == stored)
    }

    /// NIM's own rate keys win; the general ones apply to NIM when NIM's are unset, and NIM's
    /// effective values are unchanged when neither is set.
    @Test func nimRatePrecedence() throws {
        let neither = try load()
        #expect(neither.upstream.rateLimit == 40 && neither.upstream.rateWindow == .seconds(60))
        let general = try load(["PROVIDER_RATE_LIMIT": "7", "PROVIDER_RATE_WINDOW": "30"])
        #expect(general.upstream.rateLimit == 7 && general.upstream.rateWindow == .seconds(30))
        let both = try load(dotEnv: "PROVIDER_RATE_LIMIT=7\nPROVIDER_RATE_WINDOW=30\nNVIDIA_NIM_RATE_LIMIT=3\nNVIDIA_NIM_RATE_WINDOW=9")
        #expect(both.upstream.rateLimit == 3 && both.upstream.rateWindow == .seconds(9))
        #expect(both.provider(.ollama).rateLimit == 7 && both.provider(.ollama).rateWindow == .seconds(30))
        let nimOnly = try load(["NVIDIA_NIM_RATE_LIMIT": "3"])
        #expect(nimOnly.upstream.rateLimit == 3 && nimOnly.provider(.openRouter).rateLimit == 40)
    }

    @Test func badProviderValuesAreRefused() {
        #expect(problems(["LM_STUDIO_BASE_URL": "localhost:1234"]) == [
            "LM_STUDIO_BASE_URL=localhost:1234 is not an http(s) URL: must look like https://integrate.api.nvidia.com/v1",
        ])
        #expect(problems(["PROVIDER_RATE_LIMIT": "0"]) == ["PROVIDER_RATE_LIMIT=0 is out of range: must be >= 1"])
    }
}

@Suite struct ProviderStartupTests {
    @Test func openRouterWithoutKeyStopsStart() {
        #expect(problems(["MODEL_SONNET": "open_router/a", "MODEL_HAIKU_FALLBACKS": "open_router/b"]) == [
            "OPENROUTER_API_KEY is not set, but MODEL_SONNET, MODEL_HAIKU_FALLBACKS name open_router/ models: set the key",
        ])
        #expect(problems(["MODEL": "open_router/a", "OPENROUTER_API_KEY": " "]) == [
            "OPENROUTER_API_KEY is not set, but MODEL names open_router/ models: set the key",
        ])
        #expect(problems(["MODEL": "open_router/a", "OPENROUTER_API_KEY": "sk-or"]).isEmpty)
    }

    /// As before providers: a NIM model needs no key, as any OpenAI-compatible server may stand in for NIM.
    @Test func nimNeedsNoKey() {
        #expect(problems(["MODEL": "nvidia_nim/z-ai/glm4.7", "NVIDIA_NIM_API_KEY": ""]).isEmpty)
        #expect(problems(["MODEL": "meta/llama"]).isEmpty)
    }

    @Test func providerWithoutBaseURLStopsStart() {
        #expect(problems(["MODEL_OPUS": "lmstudio/a", "LM_STUDIO_BASE_URL": ""]) == [
            "LM_STUDIO_BASE_URL is empty, but MODEL_OPUS names lmstudio/ models: set its URL",
        ])
        #expect(problems(["MODEL": "ollama/a", "MODEL_FALLBACKS": "llamacpp/b", "OLLAMA_BASE_URL": "", "LLAMACPP_BASE_URL": ""]) == [
            "LLAMACPP_BASE_URL is empty, but MODEL_FALLBACKS names llamacpp/ models: set its URL",
            "OLLAMA_BASE_URL is empty, but MODEL names ollama/ models: set its URL",
        ])
        // Unused, an empty address is no problem.
        #expect(problems(["LM_STUDIO_BASE_URL": "", "OPENROUTER_BASE_URL": ""]).isEmpty)
    }

    /// The example `.env` of issue 13's reference: every provider, aliases and the voice keys.
    @Test func referenceProvidersEnvLoads() throws {
        let s = try load(dotEnv: """
            NVIDIA_NIM_API_KEY=""
            OPENROUTER_API_KEY="sk-or-v1"
            LM_STUDIO_BASE_URL="http://localhost:1234/v1"
            LLAMACPP_BASE_URL="http://localhost:8080/v1"
            MODEL_OPUS="nvidia_nim/z-ai/glm4.7"
            MODEL_SONNET="open_router/arcee-ai/trinity-large-preview:free"
            MODEL_HAIKU="open_router/stepfun/step-3.5-flash:free"
            MODEL="nvidia_nim/z-ai/glm4.7"
            PROVIDER_RATE_LIMIT=40
            PROVIDER_RATE_WINDOW=60
            PROVIDER_MAX_CONCURRENCY=5
            HTTP_READ_TIMEOUT=120
            HTTP_WRITE_TIMEOUT=10
            HTTP_CONNECT_TIMEOUT=2
            MESSAGING_PLATFORM="discord"
            VOICE_NOTE_ENABLED=false
            WHISPER_DEVICE="nvidia_nim"
            WHISPER_MODEL="openai/whisper-large-v3"
            HF_TOKEN=""
            DISCORD_BOT_TOKEN=""
            ALLOWED_DISCORD_CHANNELS=""
            NVIDIA_NIM_PROXY="http://proxy:3128"
            """)
        #expect(s.upstream.stallTimeout == .seconds(120))
        #expect(s.upstream.sendTimeout == .seconds(10))
        #expect(s.upstream.connectTimeout == .seconds(2))
        #expect(s.upstream.maxConcurrency == 5)
        #expect(s.providersInUse == [.nvidiaNim, .openRouter])
    }
}

@Suite struct TimeoutAliasTests {
    @Test func portedNamesAreRead() throws {
        let s = try load(["HTTP_READ_TIMEOUT": "11", "HTTP_WRITE_TIMEOUT": "12", "HTTP_CONNECT_TIMEOUT": "13"])
        #expect(s.upstream.stallTimeout == .seconds(11))
        #expect(s.upstream.sendTimeout == .seconds(12))
        #expect(s.upstream.connectTimeout == .seconds(13))
    }

    @Test func explicitNameWins() throws {
        let s = try load(dotEnv: """
            HTTP_READ_TIMEOUT=11
            UPSTREAM_STALL_TIMEOUT=21
            HTTP_WRITE_TIMEOUT=12
            UPSTREAM_SEND_TIMEOUT=22
            HTTP_CONNECT_TIMEOUT=13
            UPSTREAM_CONNECT_TIMEOUT=23
            """)
        #expect(s.upstream.stallTimeout == .seconds(21))
        #expect(s.upstream.sendTimeout == .seconds(22))
        #expect(s.upstream.connectTimeout == .seconds(23))
    }

    @Test func aliasProblemNamesTheAlias() {
        #expect(problems(["HTTP_WRITE_TIMEOUT": "0"]) == ["HTTP_WRITE_TIMEOUT=0 is out of range: must be a number of seconds > 0"])
    }
}

@Suite struct IgnoredKeysSetTests {
    @Test func namesTheIgnoredKeysThatAreSet() {
        let set = Settings.ignoredKeysSet(
            environment: ["WHISPER_MODEL": "x", "MODEL": "m"], dotEnv: "nvidia_nim_proxy=http://p\nPROVIDER_TYPE=nvidia_nim")
        #expect(set == ["PROVIDER_TYPE", "WHISPER_MODEL", "nvidia_nim_proxy"])
        #expect(Settings.ignoredKeysSet(environment: ["MODEL": "m"], dotEnv: nil).isEmpty)
    }
}
