import AnthropicAPI
import EventLoop
import HTTPServer
import JSON
import Metrics
import ProxyConfig
import App
import TestSupport
import Testing

/// Stands in for the upstream side: only its count of open streams is read.
private final class CountingStreamer: MessageStreamer {
    var openStreams = 0
    var healthFields: [(String, JSONValue)] { [] }
    func stream(_ request: MessagesRequest, inputTokens: Int, to responder: HTTPResponder, requestID: UInt64) {
        responder.respondError(.api("not in this test", status: 501))
    }
}

@Suite(.serialized) struct MetricsEndpointTests {
    /// Every response is counted under the route pattern it was for (middleware refusals, 404, 405,
    /// the server's own protocol errors and a client that left before any answer included), and a
    /// scrape shows the counts in Prometheus's text format.
    @Test func aScrapeCountsEveryResponse() throws {
        var settings = Settings()
        settings.http.host = "127.0.0.1"
        settings.http.port = 0
        let refuseMarked = Middleware("test refusal") { request in
            request.header("x-refuse") != nil ? .refuse(.permission("refused by the test")) : .pass
        }
        let streamer = CountingStreamer()
        streamer.openStreams = 3
        var statuses: [Int?] = []
        var scrape: TestResponse?
        var keepAlive: ProxyApp?
        let run = try runLoop { loop in
            let app = ProxyApp(loop: loop, settings: settings, log: .silent, middleware: [refuseMarked])
            keepAlive = app
            app.streamer = streamer
            // A route that never answers: its client leaves first.
            var leaving: LoopHTTPClient?
            app.register("GET", "/never") { _, _, _ in leaving?.close() }
            let port = try app.start()
            let calls: [(String, String, [(String, String)])] = [
                ("GET", "/health", []), ("GET", "/health", []), ("GET", "/v1/models/claude-opus", []),
                ("GET", "/v1/models/claude-haiku", []), ("GET", "/nope", []), ("DELETE", "/health", []),
                ("GET", "/health", [("x-refuse", "1")]),
            ]
            func scrapeThenStop() {
                LoopHTTPClient.fetch(loop, port: port, method: "GET", path: "/metrics") { response in
                    scrape = response
                    app.shutdown(timeout: .seconds(1)) {}
                }
            }
            func clientLeaves() {
                LoopHTTPClient.connect(loop, port: port) { result in
                    guard case .success(let client) = result else { return scrapeThenStop() }
                    leaving = client
                    client.onEnd = { _ in }
                    client.send(LoopHTTPClient.requestBytes(method: "GET", path: "/never"))
                    // The server notices the end of the connection on its next read; give it a turn.
                    whenCounted(app, route: "/never", status: nil, then: scrapeThenStop)
                }
            }
            func malformed() {
                LoopHTTPClient.connect(loop, port: port) { result in
                    guard case .success(let client) = result else { return clientLeaves() }
                    client.onEnd = { c in
                        statuses.append(c.responses.first?.status)
                        clientLeaves()
                    }
                    client.send("GET /health HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n")
                }
            }
            func next(_ i: Int) {
                guard i < calls.count else { return malformed() }
                LoopHTTPClient.fetch(loop, port: port, method: calls[i].0, path: calls[i].1, headers: calls[i].2) { response in
                    statuses.append(response?.status)
                    next(i + 1)
                }
            }
            next(0)
        }
        withExtendedLifetime(keepAlive) {}
        run.expectClean()
        #expect(statuses == [200, 200, 200, 200, 404, 405, 403, 400])
        let response = try #require(scrape)
        #expect(response.status == 200)
        #expect(response.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        let lines = response.text.split(separator: "\n").map(String.init)
        let requestLines = lines.filter { $0.hasPrefix("nim_proxy_requests_total") }
        #expect(requestLines == [
            #"nim_proxy_requests_total{route="/health",status="200"} 2"#,
            #"nim_proxy_requests_total{route="/health",status="403"} 1"#,
            #"nim_proxy_requests_total{route="/health",status="405"} 1"#,
            #"nim_proxy_requests_total{route="/never",status="499"} 1"#,
            #"nim_proxy_requests_total{route="/v1/models/{id}",status="200"} 2"#,
            #"nim_proxy_requests_total{route="unmatched",status="400"} 1"#,
            #"nim_proxy_requests_total{route="unmatched",status="404"} 1"#,
        ])
        #expect(lines.contains("# TYPE nim_proxy_requests_total counter"))
        #expect(lines.contains("nim_proxy_open_streams 3"))
        for name in ["nim_proxy_upstream_requests_total", "nim_proxy_fallbacks_total", "nim_proxy_retries_total",
                     "nim_proxy_rate_limit_wait_seconds", "nim_proxy_first_content_seconds", "nim_proxy_open_streams"] {
            #expect(lines.contains { $0.hasPrefix("# TYPE \(name) ") }, "\(name)")
        }
    }

    /// The scrape itself is counted once its answer went out, so the next scrape shows it.
    @Test func aScrapeIsCountedByTheNext() throws {
        try withApp([("GET", "/metrics", ""), ("GET", "/metrics", "")]) { r in
            #expect(r[0]?.text.contains(#"route="/metrics""#) == false)
            #expect(r[1]?.text.contains(#"nim_proxy_requests_total{route="/metrics",status="200"} 1"#) == true)
        }
    }
}

/// Polls until `app` counted a response of `route` with `status`, then runs `then`.
private func whenCounted(_ app: ProxyApp, route: String, status: Int?, then: @escaping () -> Void) {
    guard let timer = try? Timer(loop: app.loop) else { return then() }
    try? timer.start(after: .milliseconds(1), repeating: .milliseconds(1)) {
        guard app.metrics.requestCount(route: route, status: status) > 0 else { return }
        timer.close()
        then()
    }
}
