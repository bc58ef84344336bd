import EventLoop
import HTTPServer
import Testing
import TestSupport

/// Starts a server on 127.0.0.1:0 and hands the port to `client`; calling `done` shuts the server
/// down so the loop can finish.
func withServer(config: HTTPServerConfig = HTTPServerConfig(),
                sourceLocation: SourceLocation = #_sourceLocation,
                handler: @escaping (HTTPRequest, HTTPResponder) -> Void,
                client: (_ loop: EventLoop, _ server: HTTPServer, _ port: Int, _ done: @escaping () -> Void) throws -> Void) throws {
    var config = config
    config.host = "127.0.0.1"
    config.port = 0
    try withLoop(sourceLocation: sourceLocation) { loop in
        let server = HTTPServer(loop: loop, config: config, handler: handler)
        let port = try server.start()
        var finished = false
        try client(loop, server, port) {
            if finished { return }
            finished = true
            server.beginShutdown(timeout: .milliseconds(1000)) {}
        }
    }
}

func okText(_ responder: HTTPResponder, _ text: String) {
    responder.respond(status: 200, headers: [("Content-Type", "text/plain")], body: Array(text.utf8))
}
