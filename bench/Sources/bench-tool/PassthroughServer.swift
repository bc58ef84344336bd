// The Anthropic-native pass-through served on its own, for bench/callgrind.sh: the proxy does not
// route requests to it yet, so its cost is measured on an HTTP server whose every `/v1/messages`
// goes through `AnthropicPassthrough` to one upstream with one model. What this leaves out beside
// the proxy's translating path is the proxy's per-request work (middleware, decoding the request
// to route it, token counting); the per-chunk figure is the relay's alone on both sides.

#if canImport(Glibc)
import Glibc
#endif
import EventLoop
import HTTPServer
import NIMProvider
import UpstreamClient

func runPassthroughServer(_ flags: Flags) {
    let port = flags.int("port", 0)
    guard let base = flags.optional("upstream") else { fail("passthrough needs --upstream BASE_URL") }
    let model = flags.string("model", "scenario:synthetic")
    let upstream = NativeUpstream(baseURL: base, apiKey: flags.optional("key"))
    do {
        let loop = try EventLoop()
        let curl = try CurlMulti(loop: loop)
        var config = HTTPServerConfig()
        config.port = port
        let server = HTTPServer(loop: loop, config: config) { request, responder in
            guard request.method == "POST", request.path == "/v1/messages" else {
                responder.respond(status: request.path == "/health" ? 200 : 404)
                return
            }
            guard let pass = AnthropicPassthrough(loop: loop, curl: curl, upstream: upstream, body: request.body,
                                                  model: model, responder: responder)
            else {
                responder.respond(status: 400)
                return
            }
            pass.start()
        }
        let bound = try server.start()
        writeAll("listening \(bound)\n", to: 1)
        let signals = try SignalWatcher(loop: loop)
        try signals.start(signal: SIGTERM) { _ in
            signals.close()
            server.beginShutdown(timeout: .milliseconds(500)) { curl.close() }
        }
        loop.run()
        try loop.close()
    } catch {
        fail("passthrough: \(error)")
    }
}
