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
        let clean = stripProviderPrefix(requested)
        guard isTierName(requested, clean) else { return requested }
        if let opus, lowercasedContains(clean, "opus") { return opus }
        if let sonnet, lowercasedContains(clean, "sonnet") { return sonnet }
        if let haiku, lowercasedContains(clean, "haiku") { return haiku }
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
        let clean = stripProviderPrefix(requested)
        var list = fallbacks
        if isTierName(requested, clean) {
            let tierList: [String]?
            if lowercasedContains(clean, "opus") {
                tierList = opusFallbacks
            } else if lowercasedContains(clean, "sonnet") {
                tierList = sonnetFallbacks
            } else if lowercasedContains(clean, "haiku") {
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

    /// A name that names a provider outright is the user's own choice of model, never a tier's.
    private func isTierName(_ requested: String, _ clean: String) -> Bool {
        ProviderModel.qualified(requested) == nil && isClaudeModel(clean)
    }
}

private let providerPrefixes = ["anthropic/", "openai/", "gemini/"]

/// Drops one leading `anthropic/`, `openai/` or `gemini/` (only the first that matches).
public func stripProviderPrefix(_ model: String) -> String {
    // Compared on UTF-8 bytes: Python's startswith works on code points, Swift's
    // hasPrefix on grapheme clusters.
    for prefix in providerPrefixes where model.utf8.starts(with: prefix.utf8) {
        return String(decoding: model.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }
    return model
}

/// True when the (prefix-stripped) name contains haiku, sonnet, opus or claude, in any case.
public func isClaudeModel(_ model: String) -> Bool {
    lowercasedContains(model, "haiku") || lowercasedContains(model, "sonnet") || lowercasedContains(model, "opus")
        || lowercasedContains(model, "claude")
}

/// Python's `needle in name.lower()` for an ASCII lowercase needle. An ASCII name (every model
/// name in practice) is searched in place with ASCII letters folded; any other name is lowercased
/// as Python does first (a non-ASCII letter can lowercase to an ASCII one: the Kelvin sign to `k`).
func lowercasedContains(_ name: String, _ needle: String) -> Bool {
    let isASCII = name.utf8.withContiguousStorageIfAvailable { !$0.contains { $0 >= 0x80 } }
        ?? name.utf8.allSatisfy { $0 < 0x80 }
    if isASCII { return textContains(name, needle, asciiCaseInsensitive: true) }
    return containsScalars(name.lowercased(), needle)
}

/// The reference's `normalize_model_name`: a Claude name becomes `defaultModel`; any
/// other name is returned as given, provider prefix included.
public func normalizeModelName(_ model: String, defaultModel: String) -> String {
    isClaudeModel(stripProviderPrefix(model)) ? defaultModel : model
}

/// Substring test on code points, as Python's `in` does. Swift's `String.contains` compares
/// grapheme clusters, so `"claude\u{301}"` would not contain `"claude"` there.
func containsScalars(_ haystack: String, _ needle: String) -> Bool {
    let h = Array(haystack.utf8)
    let n = Array(needle.utf8)
    guard !n.isEmpty else { return true }
    guard h.count >= n.count else { return false }
    for i in 0...(h.count - n.count) where h[i] == n[0] && h[i..<(i + n.count)].elementsEqual(n) {
        return true
    }
    return false
}
