import AnthropicAPI
import FuzzSupport
import JSON
import LocalAnswers
import NIMRequest
import ProxyConfig
import TokenCounting

// A request body, from its bytes to what the server does with it before any upstream call:
// JSON, then the `/v1/messages` and `/v1/messages/count_tokens` models, the local answers, the
// token count and the chat-completions body posted to NIM.
//
// Checked beyond not crashing: the body the proxy would post upstream is always JSON.

private let routing = ModelRouting(default: "nim/default", opus: "nim/opus", haiku: "nim/haiku")
private let nim = NimSettings()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let body = try? JSONValue.parse(UnsafeRawBufferPointer(start: data, count: size)) else { return 0 }
    switch Result(catching: { () throws(RequestValidationError) in try MessagesRequest.decode(body, routing: routing) }) {
    case .success(let request):
        _ = answerLocally(request, switches: LocalAnswerSwitches(), makeID: { "msg_fuzz" })
        _ = request.inputTokens()
        let upstream = JSONValue.object(RequestBuilder.upstreamBody(request, nim: nim)).compactBytes()
        do {
            _ = try JSONValue.parse(upstream)
        } catch {
            propertyFailed("the upstream body does not parse: \(error)")
        }
    case .failure(let error):
        // The client sees this text in the 400 body.
        _ = APIError(error).body.compactBytes()
    }
    if let request = try? TokenCountRequest.decode(body, routing: routing) {
        _ = request.inputTokens()
    }
    return 0
}

#if !FUZZING
@main enum Replay {
    static func main() { replayMain(fuzz) }
}
#endif
