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

    public init(default: String, opus: String? = nil, sonnet: String? = nil, haiku: String? = nil) {
        self.default = `default`
        self.opus = opus
        self.sonnet = sonnet
        self.haiku = haiku
    }

    public func resolve(_ requested: String) -> String {
        let clean = stripProviderPrefix(requested)
        guard isClaudeModel(clean) else { return requested }
        let lower = clean.lowercased()
        if let opus, lower.contains("opus") { return opus }
        if let sonnet, lower.contains("sonnet") { return sonnet }
        if let haiku, lower.contains("haiku") { return haiku }
        return self.default
    }
}

private let providerPrefixes = ["anthropic/", "openai/", "gemini/"]
private let claudeIdentifiers = ["haiku", "sonnet", "opus", "claude"]

/// Drops one leading `anthropic/`, `openai/` or `gemini/` (only the first that matches).
public func stripProviderPrefix(_ model: String) -> String {
    for prefix in providerPrefixes where model.hasPrefix(prefix) {
        return String(model.dropFirst(prefix.count))
    }
    return model
}

/// True when the (prefix-stripped) name contains haiku, sonnet, opus or claude, in any case.
public func isClaudeModel(_ model: String) -> Bool {
    let lower = model.lowercased()
    return claudeIdentifiers.contains { lower.contains($0) }
}

/// The reference's `normalize_model_name`: a Claude name becomes `defaultModel`; any
/// other name is returned as given, provider prefix included.
public func normalizeModelName(_ model: String, defaultModel: String) -> String {
    isClaudeModel(stripProviderPrefix(model)) ? defaultModel : model
}
