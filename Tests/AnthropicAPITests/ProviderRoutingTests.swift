import ProxyConfig
import Testing

@testable import AnthropicAPI

@Suite struct ProviderRoutingTests {
    let routing = ModelRouting(
        default: "nvidia_nim/z-ai/glm4.7", opus: "moonshotai/kimi-k2-thinking",
        sonnet: "open_router/arcee-ai/trinity-large-preview:free", haiku: "ollama/qwen3:8b",
        fallbacks: ["meta/llama-3.3-70b-instruct"], haikuFallbacks: ["llamacpp/local", "lmstudio/qwen3-8b"])

    @Test func claudeNamesMapByTier() {
        #expect(routing.provider(for: "claude-opus-4-1") == ProviderModel(provider: .nvidiaNim, model: "moonshotai/kimi-k2-thinking"))
        #expect(routing.provider(for: "claude-sonnet-4-5") == ProviderModel(provider: .openRouter, model: "arcee-ai/trinity-large-preview:free"))
        #expect(routing.provider(for: "anthropic/claude-3-5-haiku") == ProviderModel(provider: .ollama, model: "qwen3:8b"))
        #expect(routing.provider(for: "claude-2.1") == ProviderModel(provider: .nvidiaNim, model: "z-ai/glm4.7"))
    }

    /// A user's `/model provider/...` goes where it says, even when the model is a Claude model on
    /// that provider.
    @Test func qualifiedRequestNamesGoToTheirProvider() {
        #expect(routing.provider(for: "open_router/deepseek/deepseek-r1:free") == ProviderModel(provider: .openRouter, model: "deepseek/deepseek-r1:free"))
        #expect(routing.provider(for: "open_router/anthropic/claude-sonnet-4") == ProviderModel(provider: .openRouter, model: "anthropic/claude-sonnet-4"))
        #expect(routing.resolve("open_router/anthropic/claude-sonnet-4") == "open_router/anthropic/claude-sonnet-4")
        #expect(routing.provider(for: "lmstudio/qwen3") == ProviderModel(provider: .lmStudio, model: "qwen3"))
    }

    /// Any other name goes to NIM unchanged, as before providers; a near miss from a client is
    /// not refused (only settings are), it is a NIM name.
    @Test func otherNamesGoToNIMUnchanged() {
        #expect(routing.provider(for: "openai/gpt-oss-120b") == ProviderModel(provider: .nvidiaNim, model: "openai/gpt-oss-120b"))
        #expect(routing.provider(for: "openrouter/x") == ProviderModel(provider: .nvidiaNim, model: "openrouter/x"))
        #expect(routing.provider(for: "qwen/qwen3-coder") == ProviderModel(provider: .nvidiaNim, model: "qwen/qwen3-coder"))
    }

    @Test func modelsToTryCarryTheirProviders() {
        #expect(routing.providerModelsToTry("claude-haiku-4-5") == [
            ProviderModel(provider: .ollama, model: "qwen3:8b"), ProviderModel(provider: .llamaCpp, model: "local"),
            ProviderModel(provider: .lmStudio, model: "qwen3-8b"),
        ])
        // A qualified name is not a tier's: it takes the general list.
        #expect(routing.providerModelsToTry("ollama/claude-haiku-distill") == [
            ProviderModel(provider: .ollama, model: "claude-haiku-distill"),
            ProviderModel(provider: .nvidiaNim, model: "meta/llama-3.3-70b-instruct"),
        ])
        #expect(routing.upstreamProviderModels.map(\.description) == [
            "nvidia_nim/z-ai/glm4.7", "nvidia_nim/moonshotai/kimi-k2-thinking",
            "open_router/arcee-ai/trinity-large-preview:free", "ollama/qwen3:8b",
        ])
    }
}

@Suite struct ListedModelsTests {
    @Test func fallbacksAreListedOnceAfterTheRoutedModels() {
        let routing = ModelRouting(
            default: "a", sonnet: "open_router/b", fallbacks: ["c", "a"], opusFallbacks: ["ollama/d"], haikuFallbacks: ["c", "e"])
        #expect(routing.listedModels == ["a", "open_router/b", "c", "ollama/d", "e"])
        #expect(routing.upstreamModels == ["a", "open_router/b"])
    }
}
