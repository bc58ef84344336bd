// swift-tools-version:6.0
import PackageDescription

// Pure modules (the README lists them) never import libuv or libcurl and do no I/O; loop
// modules (EventLoop, HTTPServer, App, ...) and the two I/O modules (Logging,
// SessionStoreFile) do.
/// The byte-crunching pure modules are compiled with optimization in debug builds too, so the
/// test suite can push realistic volumes (megabyte streams, the tokenizer corpus) quickly.
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
/// Generic state machines used from loop modules with the loop's clock: their bodies are made
/// available to the callers so the calls are specialized (otherwise every call looks up generic
/// metadata at run time, a few thousand instructions a request).
let specializedAcrossModules: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "nim-proxy",
    products: [
        .executable(name: "nim-proxy", targets: ["nim-proxy"]),
        .executable(name: "scripted-upstream", targets: ["scripted-upstream"]),
        // libFuzzer entry for the HTTP request parser (built with --sanitize=fuzzer, see scripts/).
        .executable(name: "fuzz-http-request-parser", targets: ["FuzzHTTPRequestParser"]),
        // For the benchmark package in bench/, which drives load with the same loop library.
        .library(name: "EventLoop", targets: ["EventLoop"]),
        .library(name: "JSON", targets: ["JSON"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        // The Anthropic-native pass-through, served on its own by `bench-tool passthrough`.
        .library(name: "NIMProvider", targets: ["NIMProvider"]),
        .library(name: "HTTPServer", targets: ["HTTPServer"]),
        .library(name: "UpstreamClient", targets: ["UpstreamClient"]),
        // libFuzzer targets, one product each named `fuzz-<name>` (scripts/fuzz.sh finds them by
        // that prefix; fuzz/README.md has the convention).
        .executable(name: "fuzz-json-parser", targets: ["FuzzJSONParser"]),
        .executable(name: "fuzz-request-decoding", targets: ["FuzzRequestDecoding"]),
        .executable(name: "fuzz-sse-translator", targets: ["FuzzSSETranslator"]),
        .executable(name: "fuzz-think-tag-parser", targets: ["FuzzThinkTagParser"]),
        .executable(name: "fuzz-heuristic-tool-parser", targets: ["FuzzHeuristicToolParser"]),
        .executable(name: "fuzz-dotenv", targets: ["FuzzDotEnv"]),
        .executable(name: "fuzz-resp-parser", targets: ["FuzzRESPParser"]),
    ],
    targets: [
        // System libraries from Debian: libuv1-dev, libcurl4-openssl-dev.
        .systemLibrary(name: "CLibUV", path: "CLibUV", pkgConfig: "libuv"),
        .systemLibrary(name: "CCurl", path: "CCurl", pkgConfig: "libcurl"),
        // prctl(2) for the server's start-up (the call is variadic, so Swift needs a wrapper).
        .systemLibrary(name: "CProcessControl"),
        // HTTP/2 framing for the scripted upstream only (libnghttp2-dev); the proxy never links it.
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2"),

        // Pure modules.
        // Python's text rules (whitespace, strip, split, repr, int()) and a hex writer, for all.
        .target(name: "Text", swiftSettings: optimizedInDebug),
        .target(name: "JSON", dependencies: ["Text"], swiftSettings: optimizedInDebug),
        // The ranks file embedded with C23 #embed (clang): see CL100KRanks/ranks.c.
        .target(
            name: "CL100KRanks", path: "CL100KRanks", exclude: ["cl100k_base.tiktoken"],
            cSettings: [.unsafeFlags(["-std=c23"])]),
        .target(name: "Tokenizer", dependencies: ["CL100KRanks"], swiftSettings: optimizedInDebug),
        // Text: the reference's rule for MAX_MESSAGE_LOG_ENTRIES_PER_CHAT (`PythonText`).
        .target(name: "ProxyConfig", dependencies: ["Text"]),
        .target(name: "AnthropicAPI", dependencies: ["JSON", "ProxyConfig", "Text"]),
        .target(name: "LocalAnswers", dependencies: ["AnthropicAPI", "JSON", "Text"]),
        .target(name: "TokenCounting", dependencies: ["JSON", "AnthropicAPI", "Tokenizer"]),
        .target(name: "RateLimit", dependencies: ["Text"]),
        // Redis's wire protocol (RESP2): commands out, replies parsed from bytes in any pieces.
        .target(name: "RESP"),
        // The strict HTTP/1.1 request parser and the server connection's state machine.
        .target(name: "HTTP1", swiftSettings: optimizedInDebug + specializedAcrossModules),
        .target(name: "NIMRequest", dependencies: ["JSON", "AnthropicAPI", "ProxyConfig", "Text"]),
        .target(name: "SessionStore", dependencies: ["JSON", "Text"]),
        .target(name: "StreamTranslation", dependencies: ["JSON", "Text"], swiftSettings: optimizedInDebug),
        // Counters, gauges and histograms in Prometheus's text format, and the proxy's metrics.
        .target(name: "Metrics"),

        // Loop modules.
        .target(name: "EventLoop", dependencies: ["CLibUV", "Text"]),
        .target(name: "UpstreamClient", dependencies: ["EventLoop", "CCurl"]),
        .target(name: "CLIProcess", dependencies: ["EventLoop", "JSON", "Text"]),
        // One Redis connection on a loop (RATE_LIMIT_STORE): commands answered in order, with a deadline.
        .target(name: "RedisClient", dependencies: ["EventLoop", "RESP"]),
        // Structured log lines (JSON) on a file descriptor.
        .target(name: "Logging", dependencies: ["JSON"]),
        // The session store's file (blocking I/O, run on a worker thread or at start-up).
        .target(name: "SessionStoreFile", dependencies: ["EventLoop", "SessionStore"]),
        .target(name: "HTTPServer", dependencies: ["EventLoop", "HTTP1", "Text"]),
        // The HTTP application: the router, the middleware and the Anthropic-facing endpoints.
        .target(
            name: "App",
            dependencies: [
                "JSON", "ProxyConfig", "AnthropicAPI", "LocalAnswers", "TokenCounting",
                "Tokenizer", "EventLoop", "HTTPServer", "Logging", "StreamTranslation", "Metrics",
            ]),
        // An OpenAI-compatible upstream that plays named scenarios (tests and benchmarks).
        .target(name: "ScriptedUpstream", dependencies: ["EventLoop", "HTTPServer", "JSON", "Text", "CNGHTTP2"]),
        .executableTarget(name: "scripted-upstream", dependencies: ["ScriptedUpstream", "EventLoop", "JSON"]),
        .target(name: "BotAPI", dependencies: ["App", "Logging", "HTTPServer", "EventLoop", "JSON", "SessionStore", "SessionStoreFile", "CLIProcess", "ProxyConfig", "AnthropicAPI", "Text"]),
        // Shared by the test targets (fixture paths, a test clock, loop scaffolding, loopback HTTP
        // client); no product uses it.
        .target(name: "TestSupport", dependencies: ["EventLoop", "JSON"]),
        // The upstream side: rate-limit slots, libcurl transfers, stream translation.
        .target(
            name: "NIMProvider",
            dependencies: [
                "App", "HTTPServer", "EventLoop", "UpstreamClient", "StreamTranslation", "RateLimit",
                "NIMRequest", "AnthropicAPI", "ProxyConfig", "JSON", "Tokenizer", "Logging", "Metrics", "RedisClient", "RESP",
            ]),
        .executableTarget(name: "FuzzHTTPRequestParser", dependencies: ["FuzzSupport", "HTTP1"], swiftSettings: optimizedInDebug),
        .executableTarget(name: "nim-proxy", dependencies: ["App", "NIMProvider", "BotAPI", "CLIProcess", "ProxyConfig", "EventLoop", "Tokenizer", "Logging", "CProcessControl"]),

        // Fuzz targets: each `Entry.swift` defines `LLVMFuzzerTestOneInput`. scripts/fuzz.sh builds
        // them with `-DFUZZING -sanitize=fuzzer` (libFuzzer's main drives them); in the normal build
        // each has a main that replays input files, so a crash reproduces in a debug build. The
        // checks around the parser are optimized like the parsers: under the sanitizers unoptimized
        // checking code took most of each run.
        .target(name: "FuzzSupport", swiftSettings: optimizedInDebug),
        .executableTarget(name: "FuzzJSONParser", dependencies: ["FuzzSupport", "JSON"], swiftSettings: optimizedInDebug),
        .executableTarget(
            name: "FuzzRequestDecoding",
            dependencies: ["FuzzSupport", "JSON", "AnthropicAPI", "LocalAnswers", "NIMRequest", "ProxyConfig", "TokenCounting"], swiftSettings: optimizedInDebug),
        .executableTarget(name: "FuzzSSETranslator", dependencies: ["FuzzSupport", "JSON", "StreamTranslation"], swiftSettings: optimizedInDebug),
        .executableTarget(name: "FuzzThinkTagParser", dependencies: ["FuzzSupport", "StreamTranslation"], swiftSettings: optimizedInDebug),
        .executableTarget(name: "FuzzHeuristicToolParser", dependencies: ["FuzzSupport", "StreamTranslation", "Text"], swiftSettings: optimizedInDebug),
        .executableTarget(name: "FuzzDotEnv", dependencies: ["FuzzSupport", "ProxyConfig"], swiftSettings: optimizedInDebug),
        .executableTarget(name: "FuzzRESPParser", dependencies: ["FuzzSupport", "RESP"], swiftSettings: optimizedInDebug),

        .testTarget(name: "TextTests", dependencies: ["Text"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ProxyConfigTests", dependencies: ["ProxyConfig"]),
        .testTarget(name: "AnthropicAPITests", dependencies: ["AnthropicAPI", "JSON", "ProxyConfig", "TestSupport"]),
        .testTarget(name: "LocalAnswersTests", dependencies: ["LocalAnswers", "AnthropicAPI", "JSON", "TestSupport"]),
        .testTarget(name: "TokenCountingTests", dependencies: ["TokenCounting", "AnthropicAPI", "JSON", "Tokenizer", "TestSupport"]),
        .testTarget(name: "SessionStoreTests", dependencies: ["SessionStore", "SessionStoreFile", "JSON", "Text", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "NIMRequestTests", dependencies: ["NIMRequest", "AnthropicAPI", "JSON", "ProxyConfig", "TestSupport"]),
        .testTarget(name: "RateLimitTests", dependencies: ["RateLimit", "TestSupport"]),
        .testTarget(name: "RESPTests", dependencies: ["RESP"]),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient", "RESP", "EventLoop", "TestSupport"]),
        .testTarget(name: "StreamTranslationTests", dependencies: ["StreamTranslation", "JSON", "Tokenizer", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "UpstreamClientTests", dependencies: ["UpstreamClient", "EventLoop", "HTTPServer", "TestSupport"]),
        .testTarget(name: "CLIProcessTests", dependencies: ["CLIProcess", "EventLoop", "JSON", "Text", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "CLibUV", "TestSupport"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "EventLoop", "TestSupport"]),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1", "TestSupport"]),
        .testTarget(name: "ScriptedUpstreamTests", dependencies: ["ScriptedUpstream", "EventLoop", "JSON", "TestSupport", "UpstreamClient", "CCurl", "CNGHTTP2"]),
        .testTarget(
            name: "NIMProviderTests",
            dependencies: [
                "NIMProvider", "App", "ScriptedUpstream", "TestSupport", "EventLoop", "JSON", "ProxyConfig",
                "AnthropicAPI", "RateLimit", "NIMRequest", "CCurl", "UpstreamClient", "StreamTranslation", "Logging", "Metrics",
            ]),
        .testTarget(name: "AppTests", dependencies: ["App", "EventLoop", "JSON", "Metrics", "ProxyConfig", "TestSupport"]),
        .testTarget(name: "LoggingTests", dependencies: ["Logging", "JSON"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics"]),
        .testTarget(name: "BotAPITests", dependencies: ["BotAPI", "App", "EventLoop", "JSON", "ProxyConfig", "Text", "TestSupport"]),
    ]
)
