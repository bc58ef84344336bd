import Text

/// The upstream services a model can live on. The raw values are the prefixes a model setting
/// uses (`open_router/deepseek/deepseek-r1:free`), spelled as the reference spells them.
public enum Provider: String, CaseIterable, Sendable {
    case nvidiaNim = "nvidia_nim"
    case openRouter = "open_router"
    case lmStudio = "lmstudio"
    case llamaCpp = "llamacpp"
    case ollama

    /// Whether requests to it carry a key that must be configured: the local servers need none,
    /// and NIM keeps working without one (any OpenAI-compatible server may stand in for it).
    public var requiresAPIKey: Bool { self == .openRouter }
}

/// A model on a provider. A name without one of the five provider prefixes is an NVIDIA NIM model
/// under its whole name: `nvidia/...`, `openai/...`, `meta/...` are NIM organisations.
public struct ProviderModel: Sendable, Hashable, CustomStringConvertible {
    public var provider: Provider
    /// The name the provider knows the model by, without the provider prefix.
    public var model: String

    public init(provider: Provider, model: String) {
        self.provider = provider
        self.model = model
    }

    /// Never refuses: a name whose first segment is exactly a provider's prefix goes to that
    /// provider, anything else to NIM unchanged. Requests are read this way, so a client's model
    /// name keeps today's meaning unless it names a provider exactly.
    public init(parsing name: String) {
        self = ProviderModel.qualified(name) ?? ProviderModel(provider: .nvidiaNim, model: name)
    }

    /// The provider and model of a name that starts with a provider's exact prefix and names a
    /// model after it; nil for any other name.
    public static func qualified(_ name: String) -> ProviderModel? {
        // On UTF-8 code units, as Python splits on code points (and a name without a slash, every
        // Claude name, costs one byte scan instead of a walk over grapheme clusters).
        let utf8 = name.utf8
        guard let slash = utf8.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        let prefix = utf8[..<slash]
        guard let provider = Provider.allCases.first(where: { $0.rawValue.utf8.elementsEqual(prefix) }) else { return nil }
        let rest = String(decoding: utf8[utf8.index(after: slash)...], as: UTF8.self)
        return rest.isEmpty ? nil : ProviderModel(provider: provider, model: rest)
    }

    /// The configured form: a setting's value is checked this way at startup, so a misspelt
    /// provider prefix stops the server instead of sending the name to NIM as a model.
    public static func parseSetting(_ name: String) -> Result<ProviderModel, SettingProblem> {
        guard let slash = name.firstIndex(of: "/") else { return .success(ProviderModel(parsing: name)) }
        let prefix = String(name[..<slash])
        let rest = String(name[name.index(after: slash)...])
        if let provider = Provider(rawValue: prefix) {
            if rest.trimmingUnicodeWhitespace().isEmpty {
                return .failure(SettingProblem("names the provider \(prefix) but no model: must look like \(prefix)/MODEL"))
            }
            return .success(ProviderModel(provider: provider, model: rest))
        }
        if let meant = nearMissProvider(prefix) {
            return .failure(
                SettingProblem(
                    "has the prefix `\(prefix)/`, which is not a provider: did you mean `\(meant.rawValue)/\(rest)`? "
                        + "(providers: \(Provider.allCases.map(\.rawValue).joined(separator: ", ")); "
                        + "a name without one of them is an NVIDIA NIM model)"))
        }
        return .success(ProviderModel(parsing: name))
    }

    /// `provider/model`, the form `/v1/models` lists and the logs show.
    public var description: String { "\(provider.rawValue)/\(model)" }
}

/// NIM model organisations whose names come near a provider's: never taken for a misspelt
/// provider, whatever the distance says.
private let nimOrganisations: Set<String> = ["nvidia", "openai", "meta", "moonshotai", "mistralai"]

/// Spellings people write for a provider that the distance rule alone would miss.
private let providerNicknames: [String: Provider] = ["nim": .nvidiaNim, "nvidia-nim": .nvidiaNim, "lm-studio": .lmStudio]

/// The provider a prefix was probably meant to be: another letter case, other separators
/// (`open-router`, `llama_cpp`), a known nickname (`nim`), or one or two letters off
/// (`open_ruoter`). Short prefixes must be closer, so `meta` or `qwen` are never taken.
func nearMissProvider(_ prefix: String) -> Provider? {
    let lower = prefix.lowercased()
    if nimOrganisations.contains(lower) { return nil }
    if let nickname = providerNicknames[lower] { return nickname }
    let squeezed = squeeze(lower)
    if squeezed.isEmpty { return nil }
    var best: (provider: Provider, distance: Int)?
    for provider in Provider.allCases {
        let target = squeeze(provider.rawValue)
        let distance = editDistance(squeezed, target)
        let allowed = target.count <= 6 ? 1 : 2
        if distance <= allowed, distance < best?.distance ?? Int.max { best = (provider, distance) }
    }
    return best?.provider
}

/// Letters and digits only: `open-router`, `Open_Router` and `openrouter` compare equal.
private func squeeze(_ text: String) -> [UInt8] {
    text.utf8.filter { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }
}

/// Levenshtein distance on bytes.
func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
