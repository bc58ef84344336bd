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
        body(request, then: referenceParameters(request, nim: nim, provider: provider))
    }

    /// `model` and `messages`, then `parameters` (whose keys are never those two).
    private static func body(_ request: MessagesRequest, then parameters: JSONObject) -> JSONObject {
        var body = JSONObject()
        body.appendUnchecked(key: "model", value: .string(request.model))
        body.appendUnchecked(key: "messages", value: .array(MessageConverter.convertMessages(request.messages, system: request.system)))
        for entry in parameters.entries {
            body.appendUnchecked(key: entry.key, value: entry.value)
        }
        return body
    }

    /// `referenceBody` after `model` and `messages`: the sampling parameters, the tools and the
    /// `extra_body`. (Its keys are never `model` or `messages`: those are protected.)
    static func referenceParameters(_ request: MessagesRequest, nim: NimSettings, provider: Provider) -> JSONObject {
        var body = standardParameters(request, nim: nim)
        var extra = clientExtra(request, nim: nim)
        for (key, value) in providerDefaults(request, nim: nim, provider: provider, besides: extra) {
            extra.appendUnchecked(key: key, value: value)
        }
        if !extra.isEmpty { body.appendUnchecked(key: "extra_body", value: .object(extra)) }
        return body
    }

    /// The chat-completions parameters every provider takes, in the reference's order. Their keys
    /// are distinct, so they are appended without the search a subscript would make for each.
    private static func standardParameters(_ request: MessagesRequest, nim: NimSettings) -> JSONObject {
        var body = JSONObject()
        body.appendUnchecked(key: "max_tokens", value: .int(maxTokens(request, nim: nim)))
        body.appendUnchecked(key: "temperature", value: .double(request.temperature ?? nim.temperature))
        body.appendUnchecked(key: "top_p", value: .double(request.topP ?? nim.topP))

        if let stops = request.stopSequences, !stops.isEmpty {
            body.appendUnchecked(key: "stop", value: .array(stops.map { .string($0) }))
        } else if let stop = nim.stop, !stop.isEmpty {
            body.appendUnchecked(key: "stop", value: .string(stop))
        }

        var parallelToolCalls = nim.parallelToolCalls
        if let tools = request.tools, !tools.isEmpty {
            body.appendUnchecked(key: "tools", value: .array(MessageConverter.convertTools(tools)))
        }
        if let choice = request.toolChoice, !choice.isEmpty {
            let converted = MessageConverter.convertToolChoice(choice)
            if let c = converted.choice { body.appendUnchecked(key: "tool_choice", value: c) }
            if converted.disableParallel { parallelToolCalls = false }
        }

        if nim.presencePenalty != 0 { body.appendUnchecked(key: "presence_penalty", value: .double(nim.presencePenalty)) }
        if nim.frequencyPenalty != 0 { body.appendUnchecked(key: "frequency_penalty", value: .double(nim.frequencyPenalty)) }
        if let seed = nim.seed { body.appendUnchecked(key: "seed", value: .int(seed)) }
        body.appendUnchecked(key: "parallel_tool_calls", value: .bool(parallelToolCalls))
        return body
    }

    /// The client's `extra_body` without the protected keys, its `max_tokens` capped.
    private static func clientExtra(_ request: MessagesRequest, nim: NimSettings) -> JSONObject {
        guard var extra = request.extraBody, !extra.isEmpty else { return JSONObject() }
        for key in protectedKeys { extra.removeValue(forKey: key) }
        if let asked = extra["max_tokens"]?.intValue, nim.maxTokens > 0, asked > nim.maxTokens {
            extra["max_tokens"] = .int(nim.maxTokens)
        }
        return extra
    }

    /// The extras `provider` gets unless the client set them (`client`), in order. None of their
    /// keys is a standard parameter's, and they are distinct.
    private static func providerDefaults(
        _ request: MessagesRequest, nim: NimSettings, provider: Provider, besides client: JSONObject
    ) -> [(String, JSONValue)] {
        var defaults: [(String, JSONValue)] = []
        func setDefault(_ key: String, _ value: JSONValue) {
            if client.isEmpty || client[key] == nil { defaults.append((key, value)) }
        }
        // The reference always asks for thinking, even when the client turned it off.
        let thinkingOn = request.thinking?.enabled ?? true
        switch provider {
        case .nvidiaNim:
            break
        case .openRouter:
            // OpenRouter's one switch for every model's reasoning; it streams it as `reasoning`.
            setDefault("reasoning", .object(JSONObject([("enabled", .bool(thinkingOn))])))
            return defaults
        case .lmStudio, .llamaCpp, .ollama:
            return defaults
        }
        defaults.reserveCapacity(16)
        setDefault("thinking", .object(JSONObject([("type", .string(thinkingOn ? "enabled" : "disabled"))])))
        setDefault("reasoning_split", true)
        setDefault("chat_template_kwargs", .object(JSONObject([
            ("thinking", .bool(thinkingOn)), ("reasoning_split", true), ("clear_thinking", false),
        ])))

        let topK = request.topK ?? nim.topK
        if topK != -1 { setDefault("top_k", .int(topK)) }
        if nim.minP != 0 { setDefault("min_p", .double(nim.minP)) }
        if nim.repetitionPenalty != 1 { setDefault("repetition_penalty", .double(nim.repetitionPenalty)) }
        if nim.minTokens != 0 { setDefault("min_tokens", .int(nim.minTokens)) }
        if let t = nim.chatTemplate { setDefault("chat_template", .string(t)) }
        if let r = nim.requestId { setDefault("request_id", .string(r)) }
        setDefault("return_tokens_as_token_ids", .bool(nim.returnTokensAsTokenIds))
        setDefault("include_stop_str_in_output", .bool(nim.includeStopStrInOutput))
        setDefault("ignore_eos", .bool(nim.ignoreEos))
        if thinkingOn {
            setDefault("reasoning_effort", .string(nim.reasoningEffort.rawValue))
        }
        setDefault("include_reasoning", .bool(thinkingOn && nim.includeReasoning))
        return defaults
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
        writeUpstreamParameters(request, nim: nim, provider: provider, into: &writer)
        writer.raw("}")
        return writer.take()
    }

    /// `upstreamParameters`' members, each after a comma, written without building the object:
    /// the standard parameters in their order (a client's `extra_body` key of the same name
    /// replacing the value in place), the client's other keys, the provider's defaults, `stream`.
    static func writeUpstreamParameters(
        _ request: MessagesRequest, nim: NimSettings, provider: Provider, into w: inout CompactJSONWriter
    ) {
        let client = clientExtra(request, nim: nim)
        /// The standard keys written, for the client's keys that replaced them.
        var standardKeys: [String] = []
        func member(_ key: StaticString, _ w: inout CompactJSONWriter, _ write: (inout CompactJSONWriter) -> Void) {
            w.raw(",\"")
            w.raw(key)
            w.raw("\":")
            if client.isEmpty {
                write(&w)
                return
            }
            let name = String(decoding: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount), as: UTF8.self)
            standardKeys.append(name)
            if let replaced = client[name] { w.value(replaced) } else { write(&w) }
        }

        member("max_tokens", &w) { $0.value(.int(maxTokens(request, nim: nim))) }
        member("temperature", &w) { $0.value(.double(request.temperature ?? nim.temperature)) }
        member("top_p", &w) { $0.value(.double(request.topP ?? nim.topP)) }
        if let stops = request.stopSequences, !stops.isEmpty {
            member("stop", &w) { w in
                w.raw("[")
                for (i, stop) in stops.enumerated() {
                    if i > 0 { w.raw(",") }
                    w.string(stop)
                }
                w.raw("]")
            }
        } else if let stop = nim.stop, !stop.isEmpty {
            member("stop", &w) { $0.string(stop) }
        }
        var parallelToolCalls = nim.parallelToolCalls
        if let tools = request.tools, !tools.isEmpty {
            member("tools", &w) { w in MessageConverter.writeTools(tools, into: &w) }
        }
        if let choice = request.toolChoice, !choice.isEmpty {
            let converted = MessageConverter.convertToolChoice(choice)
            if let c = converted.choice { member("tool_choice", &w) { $0.value(c) } }
            if converted.disableParallel { parallelToolCalls = false }
        }
        if nim.presencePenalty != 0 { member("presence_penalty", &w) { $0.value(.double(nim.presencePenalty)) } }
        if nim.frequencyPenalty != 0 { member("frequency_penalty", &w) { $0.value(.double(nim.frequencyPenalty)) } }
        if let seed = nim.seed { member("seed", &w) { $0.value(.int(seed)) } }
        member("parallel_tool_calls", &w) { $0.value(.bool(parallelToolCalls)) }

        for entry in client where !standardKeys.contains(entry.key) {
            w.raw(",")
            w.string(entry.key)
            w.raw(":")
            w.value(entry.value)
        }
        for (key, value) in providerDefaults(request, nim: nim, provider: provider, besides: client) {
            w.raw(",")
            w.string(key)
            w.raw(":")
            w.value(value)
        }
        w.raw(#","stream":true"#)
    }

    /// The JSON object posted to `/chat/completions` (what `upstreamBodyBytes` writes).
    public static func upstreamBody(_ request: MessagesRequest, nim: NimSettings, provider: Provider = .nvidiaNim) -> JSONObject {
        body(request, then: upstreamParameters(request, nim: nim, provider: provider))
    }

    /// The upstream body after `model` and `messages`: the Python client merges `extra_body` into
    /// the top level (a key already there keeps its place) and adds `stream`.
    static func upstreamParameters(_ request: MessagesRequest, nim: NimSettings, provider: Provider) -> JSONObject {
        var parameters = standardParameters(request, nim: nim)
        let client = clientExtra(request, nim: nim)
        // Only the client's keys can be standard ones (replaced in place); the provider's
        // defaults and `stream` are new keys.
        for entry in client { parameters[entry.key] = entry.value }
        for (key, value) in providerDefaults(request, nim: nim, provider: provider, besides: client) {
            parameters.appendUnchecked(key: key, value: value)
        }
        parameters.appendUnchecked(key: "stream", value: true)
        return parameters
    }
}
