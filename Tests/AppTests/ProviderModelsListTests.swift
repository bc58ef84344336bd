import JSON
import ProxyConfig
import Testing

/// `/v1/models` lists every configured model, fallbacks included, a provider's as `provider/model`
/// and a NIM one as written; each id is a name a client may send back.
@Suite(.serialized) struct ProviderModelsListTests {
    @Test func everyConfiguredModelIsListed() throws {
        var settings = Settings()
        settings.upstream.model = "nvidia_nim/z-ai/glm4.7"
        settings.upstream.modelSonnet = "open_router/arcee-ai/trinity-large-preview:free"
        settings.upstream.modelFallbacks = ["meta/llama-3.3-70b-instruct", "nvidia_nim/z-ai/glm4.7"]
        settings.upstream.modelHaikuFallbacks = ["ollama/qwen3:8b", "lmstudio/local"]
        try withApp(settings: settings, [
            ("GET", "/v1/models", ""), ("GET", "/v1/models/open_router%2Farcee-ai%2Ftrinity-large-preview:free", ""),
            ("GET", "/v1/models/meta/llama-3.3-70b-instruct", ""),
        ]) { r in
            let data = r[0]?.json?["data"]?.arrayValue ?? []
            #expect(data.compactMap { $0["id"]?.stringValue } == [
                "claude-opus", "claude-sonnet", "claude-haiku", "nvidia_nim/z-ai/glm4.7",
                "open_router/arcee-ai/trinity-large-preview:free", "meta/llama-3.3-70b-instruct", "ollama/qwen3:8b",
                "lmstudio/local",
            ])
            #expect(data[1]["display_name"] == "Claude Sonnet (open_router/arcee-ai/trinity-large-preview:free)")
            #expect(r[1]?.status == 200)
            #expect(r[1]?.json?["id"] == "open_router/arcee-ai/trinity-large-preview:free")
            #expect(r[2]?.status == 200)
        }
    }
}
