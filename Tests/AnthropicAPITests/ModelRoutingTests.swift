import Testing

@testable import AnthropicAPI

@Suite struct ModelUtilsTests {
    @Test(arguments: [
        ("anthropic/claude-3", "claude-3"),
        ("openai/gpt-4", "gpt-4"),
        ("gemini/gemini-pro", "gemini-pro"),
        ("no-prefix", "no-prefix"),
        ("", ""),
        ("anthropic/", ""),
        ("anthropic/openai/nested", "openai/nested"),
        ("anthropic/\u{301}x", "\u{301}x"),
    ])
    func stripsOneProviderPrefix(model: String, expected: String) {
        #expect(stripProviderPrefix(model) == expected)
    }

    @Test(arguments: [
        ("claude-3-sonnet", true),
        ("claude-3-opus", true),
        ("claude-3-haiku", true),
        ("claude-2.1", true),
        ("gpt-4", false),
        ("gemini-pro", false),
        ("", false),
        ("my-claude-wrapper", true),
        ("CLAUDE-3-SONNET", true),
        ("sonnet-v2", true),
        ("haiku-model", true),
        // Python compares code points: a combining accent after the name still contains it.
        ("claude\u{301}-x", true),
        // Python lowercases first: the Kelvin sign becomes `k`, so "hai\u{212A}u" holds "haiku".
        ("hai\u{212A}u", true),
        ("\u{e9}-opus", true),
        ("\u{e9}-opu", false),
        // Words cut short at the end, overlapping starts, and near misses.
        ("clau", false), ("sonne", false), ("opu", false), ("haik", false),
        ("ccclaude", true), ("ssonnet", true), ("oopus", true), ("hhaiku", true),
        ("c-l-a-u-d-e", false), ("xOPUSx", true),
    ])
    func recognisesClaudeNames(model: String, expected: Bool) {
        #expect(isClaudeModel(model) == expected)
    }

    @Test(arguments: [
        ("claude-3-sonnet", "target", "target"),
        ("anthropic/claude-3-opus", "target", "target"),
        ("anthropic/claude-3-sonnet", "target", "target"),
        ("claude-3-opus", "target", "target"),
        ("gpt-4", "target", "gpt-4"),
        ("openai/gpt-3.5-turbo", "target", "openai/gpt-3.5-turbo"),
        ("", "target", ""),
    ])
    func normalizesLikeTheReference(model: String, defaultModel: String, expected: String) {
        #expect(normalizeModelName(model, defaultModel: defaultModel) == expected)
        // A routing with no tiers is the reference's single-model mapping.
        #expect(ModelRouting(default: defaultModel).resolve(model) == expected)
    }
}

@Suite struct TierRoutingTests {
    let routing = ModelRouting(default: "nim/default", opus: "nim/big", sonnet: "nim/mid", haiku: "nim/small")

    @Test func eachTierGoesToItsModel() {
        #expect(routing.resolve("claude-opus-4-5-20251101") == "nim/big")
        #expect(routing.resolve("claude-sonnet-4-5") == "nim/mid")
        #expect(routing.resolve("claude-3-haiku-20240307") == "nim/small")
        #expect(routing.resolve("anthropic/Claude-3-HAIKU") == "nim/small")
        // The first tier in opus, sonnet, haiku order wins when a name holds several.
        #expect(routing.resolve("haiku-sonnet-opus") == "nim/big")
        #expect(routing.resolve("haiku-sonnet") == "nim/mid")
        #expect(routing.resolve("claude-\u{212A}-haiku") == "nim/small")
    }

    @Test func claudeWithoutTierUsesDefault() {
        #expect(routing.resolve("claude-2.1") == "nim/default")
    }

    @Test func unsetTierFallsBackToDefault() {
        let partial = ModelRouting(default: "nim/default", opus: "nim/big")
        #expect(partial.resolve("claude-sonnet-4") == "nim/default")
        #expect(partial.resolve("claude-haiku-4") == "nim/default")
        #expect(partial.resolve("claude-opus-4") == "nim/big")
    }

    @Test func nonClaudeNamesPassThroughWithPrefix() {
        #expect(routing.resolve("openai/gpt-4o") == "openai/gpt-4o")
        #expect(routing.resolve("moonshotai/kimi-k2") == "moonshotai/kimi-k2")
    }
}

@Suite struct FallbackRoutingTests {
    let routing = ModelRouting(
        default: "nim/default", opus: "nim/big", fallbacks: ["nim/f1", "nim/default", "nim/f2", "nim/f1"],
        opusFallbacks: ["nim/big-2"], haikuFallbacks: [])

    /// The routed model first, then the general list, each once and never the routed model again.
    @Test func generalListFollowsTheRoutedModel() {
        #expect(routing.modelsToTry("claude-sonnet-4-5") == ["nim/default", "nim/f1", "nim/f2"])
        #expect(routing.modelsToTry("claude-2.1") == ["nim/default", "nim/f1", "nim/f2"])
        // A model named directly has the general list too.
        #expect(routing.modelsToTry("moonshotai/kimi-k2") == ["moonshotai/kimi-k2", "nim/f1", "nim/default", "nim/f2"])
    }

    /// A tier's own list, even an empty one, replaces the general list for that tier's names.
    @Test func aTiersListWins() {
        #expect(routing.modelsToTry("claude-opus-4-5") == ["nim/big", "nim/big-2"])
        #expect(routing.modelsToTry("anthropic/claude-3-HAIKU") == ["nim/default"])
    }

    @Test func noFallbacksIsTheRoutedModelAlone() {
        #expect(ModelRouting(default: "m").modelsToTry("claude-opus-4") == ["m"])
        #expect(!ModelRouting(default: "m").hasFallbacks)
        #expect(routing.hasFallbacks)
        #expect(ModelRouting(default: "m", haikuFallbacks: []).hasFallbacks)
    }
}

/// Tier names are found in place for ASCII names and through Python's lowercasing otherwise.
@Suite struct TierNameSearchTests {
    let routing = ModelRouting(default: "d", opus: "o", sonnet: "s", haiku: "h")

    @Test(arguments: [
        ("claude-3-5-haiku-20241022", "h"), ("CLAUDE-OPUS-4", "o"), ("Claude-Sonnet-4-5", "s"), ("anthropic/claude-x", "d"),
        ("my-claude", "d"), ("gpt-4o", "gpt-4o"), ("claudeHAIKU", "h"), ("haik", "haik"), ("", ""),
        // Python lowercases the Kelvin sign to an ASCII k: "HAIKU" with it is a haiku name there.
        ("claude-HAI\u{212A}U", "h"), ("\u{212A}laude", "\u{212A}laude"), ("claude-é-sonnet", "s"),
    ])
    func resolvesAsPythonWould(name: String, expected: String) {
        #expect(routing.resolve(name) == expected)
    }
}
