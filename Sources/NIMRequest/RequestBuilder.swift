import AnthropicAPI
import JSON
import ProxyConfig

/// Builds the chat-completions body NIM receives for an Anthropic request.
///
/// `referenceBody` is the reference's `build_request_body` result, with non-standard
/// parameters nested under `extra_body`; `upstreamBody` is what actually goes on the wire:
/// the Python OpenAI client merges `extra_body` into the top level and adds `stream`.
public enum RequestBuilder {
    /// Keys a client's `extra_body` may not override: they would bypass the model
    /// mapping, the `max_tokens` cap or the streaming the proxy relies on.
    static let protectedKeys: Set<String> = ["model", "messages", "stream", "stream_options"]

    /// `provider` decides the extras: NIM gets the reference's (thinking switches, vLLM sampling
    /// options), OpenRouter its own reasoning switch, the local servers only standard fields. The
    /// client's `extra_body` goes to every provider.
    public static func referenceBody(_ request: MessagesRequest, nim: NimSettings, provider: Provider = .nvidiaNim) -> JSONObject {
        var body = JSONObject()
        body.appendUnchecked(key: "model", value: .string(request.model))
        body.appendUnchecked(key: "messages", value: .array(MessageConverter.convertMessages(request.messages, system: request.system)))
        for entry in referenceParameters(request, nim: nim, provider: provider).entries {
            body.appendUnchecked(key: entry.key, value: entry.value)
        }
        return body
    }

    /// `referenceBody` after `model` and `messages`: the sampling parameters, the tools and the
    /// `extra_body`. (Its keys are never `model` or `messages`: those are protected.)
    static func referenceParameters(_ request: MessagesRequest, nim: NimSettings, provider: Provider) -> JSONObject {
        var body = JSONObject()
        body["max_tokens"] = .int(maxTokens(request, nim: nim))
        body["temperature"] = .double(request.temperature ?? nim.temperature)
        body["top_p"] = .double(request.topP ?? nim.topP)

        if let stops = request.stopSequences, !stops.isEmpty {
            body["stop"] = .array(stops.map { .string($0) })
        } else if let stop = nim.stop, !stop.isEmpty {
            body["stop"] = .string(stop)
        }

        var parallelToolCalls = nim.parallelToolCalls
        if let tools = request.tools, !tools.isEmpty {
            body["tools"] = .array(MessageConverter.convertTools(tools))
        }
        if let choice = request.toolChoice, !choice.isEmpty {
            let converted = MessageConverter.convertToolChoice(choice)
            if let c = converted.choice { body["tool_choice"] = c }
            if converted.disableParallel { parallelToolCalls = false }
        }

        if nim.presencePenalty != 0 { body["presence_penalty"] = .double(nim.presencePenalty) }
        if nim.frequencyPenalty != 0 { body["frequency_penalty"] = .double(nim.frequencyPenalty) }
        if let seed = nim.seed { body["seed"] = .int(seed) }
        body["parallel_tool_calls"] = .bool(parallelToolCalls)

        var extra = request.extraBody ?? JSONObject()
        for key in protectedKeys { extra.removeValue(forKey: key) }
        if let asked = extra["max_tokens"]?.intValue, nim.maxTokens > 0, asked > nim.maxTokens {
            extra["max_tokens"] = .int(nim.maxTokens)
        }

        // The reference always asks for thinking, even when the client turned it off.
        let thinkingOn = request.thinking?.enabled ?? true
        switch provider {
        case .nvidiaNim:
            break
        case .openRouter:
            // OpenRouter's one switch for every model's reasoning; it streams it as `reasoning`.
            setDefault(&extra, "reasoning", .object(JSONObject([("enabled", .bool(thinkingOn))])))
            if !extra.isEmpty { body["extra_body"] = .object(extra) }
            return body
        case .lmStudio, .llamaCpp, .ollama:
            if !extra.isEmpty { body["extra_body"] = .object(extra) }
            return body
        }
        setDefault(&extra, "thinking", .object(JSONObject([("type", .string(thinkingOn ? "enabled" : "disabled"))])))
        setDefault(&extra, "reasoning_split", true)
        setDefault(&extra, "chat_template_kwargs", .object(JSONObject([
            ("thinking", .bool(thinkingOn)), ("reasoning_split", true), ("clear_thinking", false),
        ])))

        let topK = request.topK ?? nim.topK
        if topK != -1 { setDefault(&extra, "top_k", .int(topK)) }
        if nim.minP != 0 { setDefault(&extra, "min_p", .double(nim.minP)) }
        if nim.repetitionPenalty != 1 { setDefault(&extra, "repetition_penalty", .double(nim.repetitionPenalty)) }
        if nim.minTokens != 0 { setDefault(&extra, "min_tokens", .int(nim.minTokens)) }
        if let t = nim.chatTemplate { setDefault(&extra, "chat_template", .string(t)) }
        if let r = nim.requestId { setDefault(&extra, "request_id", .string(r)) }
        setDefault(&extra, "return_tokens_as_token_ids", .bool(nim.returnTokensAsTokenIds))
        setDefault(&extra, "include_stop_str_in_output", .bool(nim.includeStopStrInOutput))
        setDefault(&extra, "ignore_eos", .bool(nim.ignoreEos))
        if thinkingOn {
            setDefault(&extra, "reasoning_effort", .string(nim.reasoningEffort.rawValue))
        }
        setDefault(&extra, "include_reasoning", .bool(thinkingOn && nim.includeReasoning))

        if !extra.isEmpty { body["extra_body"] = .object(extra) }
        return body
    }

    /// The `max_tokens` the body carries: the client's, capped by `NVIDIA_NIM_MAX_TOKENS`, or that
    /// setting when the client gave none.
    public static func maxTokens(_ request: MessagesRequest, nim: NimSettings) -> Int {
        guard let asked = request.maxTokens else { return nim.maxTokens }
        return nim.maxTokens > 0 ? min(asked, nim.maxTokens) : asked
    }

    /// `upstreamBody`'s compact bytes, written straight from the request: the messages, the bulk
    /// of a body, go to the buffer without a tree of them; the parameters after them are a small
    /// object built as `upstreamBody` builds them. The buffer is sized from the client's body (the
    /// upstream body is about as large: the same texts, re-wrapped), so a large request is written
    /// without the transient copies of a growing array.
    public static func upstreamBodyBytes(_ request: MessagesRequest, nim: NimSettings, provider: Provider = .nvidiaNim) -> [UInt8] {
        var writer = CompactJSONWriter(reservingCapacity: request.sourceByteCount + request.sourceByteCount / 8 + 1024)
        writer.raw(#"{"model":"#)
        writer.string(request.model)
        writer.raw(#","messages":"#)
        MessageConverter.writeMessages(request.messages, system: request.system, into: &writer)
        for entry in upstreamParameters(request, nim: nim, provider: provider).entries {
            writer.raw(",")
            writer.string(entry.key)
            writer.raw(":")
            writer.value(entry.value)
        }
        writer.raw("}")
        return writer.take()
    }

    /// The JSON object posted to `/chat/completions` (what `upstreamBodyBytes` writes).
    public static func upstreamBody(_ request: MessagesRequest, nim: NimSettings, provider: Provider = .nvidiaNim) -> JSONObject {
        var body = JSONObject()
        body.appendUnchecked(key: "model", value: .string(request.model))
        body.appendUnchecked(key: "messages", value: .array(MessageConverter.convertMessages(request.messages, system: request.system)))
        for entry in upstreamParameters(request, nim: nim, provider: provider).entries {
            body.appendUnchecked(key: entry.key, value: entry.value)
        }
        return body
    }

    /// The upstream body after `model` and `messages`: the Python client merges `extra_body` into
    /// the top level (a key already there keeps its place) and adds `stream`.
    static func upstreamParameters(_ request: MessagesRequest, nim: NimSettings, provider: Provider) -> JSONObject {
        var parameters = referenceParameters(request, nim: nim, provider: provider)
        let extra = parameters.removeValue(forKey: "extra_body")?.objectValue ?? JSONObject()
        for entry in extra { parameters[entry.key] = entry.value }
        parameters["stream"] = true
        return parameters
    }

    private static func setDefault(_ o: inout JSONObject, _ key: String, _ value: JSONValue) {
        if o[key] == nil { o[key] = value }
    }
}
