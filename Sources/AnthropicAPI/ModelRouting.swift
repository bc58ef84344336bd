import ProxyConfig
import Text

/// Which upstream model serves a request.
///
/// The reference maps every Claude model name to one configured model and passes any
/// other name through unchanged. The per-tier fields let a Claude name that mentions
/// opus, sonnet or haiku go to its own model; a tier left nil falls back to `default`,
/// which reproduces the reference exactly.
public struct ModelRouting: Sendable, Equatable {
    public var `default`: String
    public var opus: String?
    public var sonnet: String?
    public var haiku: String?
    /// Models tried after the routed one fails, in order; a tier's own list (non-nil) wins for a
    /// Claude name of that tier.
    public var fallbacks: [String]
    public var opusFallbacks: [String]?
    public var sonnetFallbacks: [String]?
    public var haikuFallbacks: [String]?

    public init(
        default: String, opus: String? = nil, sonnet: String? = nil, haiku: String? = nil, fallbacks: [String] = [],
        opusFallbacks: [String]? = nil, sonnetFallbacks: [String]? = nil, haikuFallbacks: [String]? = nil
    ) {
        self.default = `default`
        self.opus = opus
        self.sonnet = sonnet
        self.haiku = haiku
        self.fallbacks = fallbacks
        self.opusFallbacks = opusFallbacks
        self.sonnetFallbacks = sonnetFallbacks
        self.haikuFallbacks = haikuFallbacks
    }

    /// The upstream models configured, default first, each once.
    public var upstreamModels: [String] {
        var out: [String] = []
        for m in [self.default, opus, sonnet, haiku] {
            if let m, !m.isEmpty, !out.contains(m) { out.append(m) }
        }
        return out
    }

    /// Every configured model, fallbacks included, each once, in setting order: what `/v1/models`
    /// lists under the model's own name (a provider's as `provider/model`, a NIM one as written).
    public var listedModels: [String] {
        var out = upstreamModels
        for list in [fallbacks, opusFallbacks ?? [], sonnetFallbacks ?? [], haikuFallbacks ?? []] {
            for m in list where !m.isEmpty && !out.contains(m) { out.append(m) }
        }
        return out
    }

    /// `upstreamModels` as a set.
    public var configuredModels: Set<String> { Set(upstreamModels) }

    /// The model name to send for a request that named `requested`: a Claude name maps by tier,
    /// any other name (also a provider-qualified one, `open_router/anthropic/claude-...`) is kept.
    public func resolve(_ requested: String) -> String {
        let words = tierWords(requested)
        guard !words.isEmpty else { return requested }
        if let opus, words.contains(.opus) { return opus }
        if let sonnet, words.contains(.sonnet) { return sonnet }
        if let haiku, words.contains(.haiku) { return haiku }
        return self.default
    }

    /// Whether any fallback list is set (without one, a request's models are its routed model).
    public var hasFallbacks: Bool {
        !fallbacks.isEmpty || opusFallbacks != nil || sonnetFallbacks != nil || haikuFallbacks != nil
    }

    /// The models to try, in order, for a request that named `requested`: the routed model first,
    /// then the fallbacks of its tier (or the general list), each once.
    public func modelsToTry(_ requested: String) -> [String] {
        var out = [resolve(requested)]
        let words = tierWords(requested)
        var list = fallbacks
        if !words.isEmpty {
            let tierList: [String]?
            if words.contains(.opus) {
                tierList = opusFallbacks
            } else if words.contains(.sonnet) {
                tierList = sonnetFallbacks
            } else if words.contains(.haiku) {
                tierList = haikuFallbacks
            } else {
                tierList = nil
            }
            if let tierList { list = tierList }
        }
        for m in list where !m.isEmpty && !out.contains(m) { out.append(m) }
        return out
    }

    /// The provider and the provider's model name for a request that named `requested`: a name
    /// with a provider's exact prefix (a user's `/model open_router/deepseek/deepseek-r1:free`)
    /// goes to that provider, a Claude name to its tier's configured model, any other name to
    /// NVIDIA NIM unchanged.
    public func provider(for requested: String) -> ProviderModel {
        ProviderModel(parsing: resolve(requested))
    }

    /// `modelsToTry` with each model's provider.
    public func providerModelsToTry(_ requested: String) -> [ProviderModel] {
        modelsToTry(requested).map(ProviderModel.init(parsing:))
    }

    /// `upstreamModels` with each model's provider.
    public var upstreamProviderModels: [ProviderModel] {
        upstreamModels.map(ProviderModel.init(parsing:))
    }

    /// The tier words of a Claude name, none for any other name. A name that names a provider
    /// outright is the user's own choice of model, never a tier's.
    private func tierWords(_ requested: String) -> ClaudeWords {
        guard ProviderModel.qualified(requested) == nil else { return [] }
        return ClaudeWords(in: stripProviderPrefix(requested))
    }
}

/// Which of the words that make a name a Claude name it contains, in any case.
struct ClaudeWords: OptionSet {
    let rawValue: UInt8
    static let haiku = ClaudeWords(rawValue: 1)
    static let sonnet = ClaudeWords(rawValue: 2)
    static let opus = ClaudeWords(rawValue: 4)
    static let claude = ClaudeWords(rawValue: 8)

    init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Python's `word in name.lower()` for the four words, in one pass over the bytes (every
    /// request's model name is checked). An ASCII name is searched with ASCII letters folded; any
    /// other name is lowercased as Python does first (a non-ASCII letter can lowercase to an ASCII
    /// one: the Kelvin sign to `k`).
    init(in name: String) {
        var text = name
        let isASCII = text.utf8.withContiguousStorageIfAvailable { !$0.contains { $0 >= 0x80 } }
            ?? text.utf8.allSatisfy { $0 < 0x80 }
        if !isASCII { text = text.lowercased() }
        var found: UInt8 = 0
        text.withUTF8 { bytes in
            func at(_ i: Int, _ word: StaticString) -> Bool {
                let n = word.utf8CodeUnitCount
                guard i + n <= bytes.count else { return false }
                for k in 1..<n where foldASCII(bytes[i + k]) != word.utf8Start[k] { return false }
                return true
            }
            for i in 0..<bytes.count {
                switch foldASCII(bytes[i]) {
                case UInt8(ascii: "h") where at(i, "haiku"): found |= ClaudeWords.haiku.rawValue
                case UInt8(ascii: "s") where at(i, "sonnet"): found |= ClaudeWords.sonnet.rawValue
                case UInt8(ascii: "o") where at(i, "opus"): found |= ClaudeWords.opus.rawValue
                case UInt8(ascii: "c") where at(i, "claude"): found |= ClaudeWords.claude.rawValue
                default: break
                }
            }
        }
        rawValue = found
    }
}

@inline(__always)
private func foldASCII(_ byte: UInt8) -> UInt8 {
    byte >= 65 && byte <= 90 ? byte | 0x20 : byte
}

private let providerPrefixes = ["anthropic/", "openai/", "gemini/"]

/// Drops one leading `anthropic/`, `openai/` or `gemini/` (only the first that matches).
public func stripProviderPrefix(_ model: String) -> String {
    // Compared on UTF-8 bytes: Python's startswith works on code points, Swift's
    // hasPrefix on grapheme clusters.
    // Every request's model name comes here: most start with none of the prefixes' letters.
    guard let first = model.utf8.first, first == UInt8(ascii: "a") || first == UInt8(ascii: "o") || first == UInt8(ascii: "g")
    else { return model }
    for prefix in providerPrefixes where model.utf8.starts(with: prefix.utf8) {
        return String(decoding: model.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }
    return model
}

/// True when the (prefix-stripped) name contains haiku, sonnet, opus or claude, in any case.
public func isClaudeModel(_ model: String) -> Bool {
    !ClaudeWords(in: model).isEmpty
}

/// The reference's `normalize_model_name`: a Claude name becomes `defaultModel`; any
/// other name is returned as given, provider prefix included.
public func normalizeModelName(_ model: String, defaultModel: String) -> String {
    isClaudeModel(stripProviderPrefix(model)) ? defaultModel : model
}

