import JSON
import StreamTranslation

/// Turns the Anthropic SSE bytes of one whole answer (as `StreamTranslator` wrote them) into the
/// non-streaming Message a `stream: false` request gets, or the error to answer with instead.
/// `NIMProvider.assembleMessage` holds the one in use.
public typealias MessageAssembly = ([UInt8]) -> Result<JSONValue, UpstreamError>

/// `MessageAssembler` over the collected events. An answer cut short (no `message_stop`) cannot
/// reach it (the lifecycle answers those as failures); if one did, it is an `api_error`.
public func assembleMessage(from events: [UInt8]) -> Result<JSONValue, UpstreamError> {
    var assembler = MessageAssembler()
    assembler.feed(events)
    switch assembler.outcome {
    case .message(let message):
        return .success(message)
    case .failed(let error):
        return .failure(error)
    case .incomplete:
        return .failure(UpstreamError(type: .api, status: 500, message: "The upstream's answer ended before it was complete."))
    }
}
