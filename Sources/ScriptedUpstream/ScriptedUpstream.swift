// ScriptedUpstream: an OpenAI-compatible chat-completions server that plays scripted scenarios.
//
// Tests point the proxy at it and assert two things: the exact request body the proxy sent
// upstream (every request is recorded with its headers), and what the proxy made of a known
// stream. Benchmarks use it as a cheap, paced source of many concurrent streams.
//
// Which scenario answers a request: the next one queued with `enqueue` (tests), else the one the
// request's model names as "scenario:NAME" (scripts and benchmarks), else `defaultScenario`.
// `GET /stats` answers its counters as JSON (requests, streams open now and at most at once), so a
// test running it as a process can check how many requests a proxy sent and how many at once.
//
// `POST /v1/messages` is its Anthropic-native mode (what LM Studio and llama.cpp serve): the same
// choice of scenario, from the native catalog (`Scenario.native(_:)`) for "scenario:NAME", answered
// with Anthropic SSE, and refusals of its own with Anthropic's error JSON.
//
// It speaks HTTP/1.1, or with `start(http2: true)` only HTTP/2 to clients that open with the
// HTTP/2 preface (prior knowledge, no TLS): the protocol the proxy uses with NVIDIA, where
// concurrent transfers share a few connections. Both answer every request the same way; on
// HTTP/2 a cut scenario resets its stream instead of the whole connection.

import EventLoop
import HTTPServer
import JSON

/// One request as the upstream received it.
public struct RecordedRequest: Sendable {
    public var method: String
    /// The path without the query.
    public var path: String
    public var query: String?
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// The body parsed as JSON, nil when it is not JSON.
    public var json: JSONValue?

    public init(method: String, path: String, query: String?, headers: [(name: String, value: String)],
                body: [UInt8]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.json = try? JSONValue.parse(body)
    }

    /// The first header with this name (ASCII case-insensitive).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The request's `model` field.
    public var model: String? { json?["model"]?.stringValue }
}

/// The scripted upstream server. Loop-confined: create, configure and use it on the loop's thread.
public final class ScriptedUpstream {
    public let loop: EventLoop
    /// The bound port, once started.
    public private(set) var port = 0
    /// Every request received, oldest first (unless `keepsRecords` is off).
    public private(set) var received: [RecordedRequest] = []
    /// Keeping every body costs memory in long benchmarks; they turn this off and use `onRequest`.
    public var keepsRecords = true
    /// Called on the loop with each request, before it is answered.
    public var onRequest: ((RecordedRequest) -> Void)?
    /// Answers requests when the queue is empty and the model names no scenario.
    public var defaultScenario: Scenario = .text()
    /// Scenarios the model field may name besides the catalog's (these win over the catalog).
    public var namedScenarios: [String: Scenario] = [:]
    /// Streams started and not yet ended (finished, cut, or left by their client).
    public private(set) var activeStreams = 0
    /// Streams parked until their client reads (a write hit the connection's high-water mark).
    public internal(set) var blockedStreams = 0
    /// Streams that ended, for any reason.
    public private(set) var endedStreams = 0
    /// Requests answered with a scenario (streams and scripted errors).
    public private(set) var scenariosPlayed = 0
    /// Chat-completion requests received, answered or not.
    public private(set) var completionRequests = 0
    /// Anthropic-native (`/v1/messages`) requests received, answered or not.
    public private(set) var messagesRequests = 0
    /// The most streams open at once so far: what a test of a concurrency cap reads.
    public private(set) var peakActiveStreams = 0
    /// Connections closed (or HTTP/2 streams reset) before any byte of an answer.
    public private(set) var droppedConnections = 0
    /// Whether `start` was asked for HTTP/2.
    public private(set) var speaksHTTP2 = false
    /// SETTINGS_MAX_CONCURRENT_STREAMS advertised over HTTP/2 (set before `start`): how many
    /// transfers a client may multiplex onto one connection.
    public var http2MaxConcurrentStreams: UInt32 = 100

    /// TCP connections accepted so far, to show how transfers share connections. Over HTTP/1.1
    /// it is read off the requests (the server numbers connections as it accepts them), so a
    /// connection that never sent a request counts only once a later one does.
    public var connectionsAccepted: Int {
        if let http2Server { return http2Server.connectionsAccepted }
        return speaksHTTP2 ? http2ConnectionsAccepted : Int(highestConnectionID)
    }

    let pacer: Pacer
    private var server: HTTPServer?
    private var http2Server: HTTP2Server?
    private var highestConnectionID: UInt64 = 0
    /// The HTTP/2 server's count, kept once it was shut down and released.
    private var http2ConnectionsAccepted = 0
    private var queue: [Scenario] = []
    private var queueHead = 0
    /// Next element of each sequence named by the model field or set as default, by scenario name.
    private var sequenceCursors: [String: Int] = [:]
    private var shutdownStarted = false

    public init(loop: EventLoop) {
        self.loop = loop
        self.pacer = Pacer(loop: loop)
    }

    /// Scenarios queued and not yet consumed.
    public var queuedCount: Int { queue.count - queueHead }

    /// Queues a scenario for the next request without one. A sequence is queued as its elements,
    /// one request each.
    public func enqueue(_ scenario: Scenario) {
        if case .sequence(let elements) = scenario.behaviour {
            for element in elements { enqueue(element) }
            return
        }
        queue.append(scenario)
    }

    /// Binds and listens; returns the bound port (the kernel's pick for port 0). With `http2`,
    /// the listener speaks only HTTP/2 with prior knowledge.
    @discardableResult
    public func start(host: String = "127.0.0.1", port: Int = 0, http2: Bool = false) throws -> Int {
        precondition(server == nil && http2Server == nil, "ScriptedUpstream.start called twice")
        if http2 {
            let server = HTTP2Server(loop: loop, maxConcurrentStreams: http2MaxConcurrentStreams) { [weak self] request, stream in
                guard let self else {
                    stream.respond(status: 503, headers: [], body: [])
                    return
                }
                self.handle(request, stream)
            }
            // Benchmarks open many connections at once; the kernel caps this at somaxconn.
            self.port = try server.start(host: host, port: port, backlog: 4096)
            self.http2Server = server
            speaksHTTP2 = true
            return self.port
        }
        var config = HTTPServerConfig()
        config.host = host
        config.port = port
        // Benchmarks open thousands of connections at once; the kernel caps this at somaxconn.
        config.backlog = 4096
        let server = HTTPServer(loop: loop, config: config) { [weak self] request, responder in
            guard let self else {
                responder.respond(status: 503)
                return
            }
            self.handle(request, responder)
        }
        self.port = try server.start()
        self.server = server
        return self.port
    }

    /// Stops accepting and ends every stream: responses in progress get `graceMs` to finish, then
    /// their connections close. `completion` runs on the loop once everything is closed.
    public func shutdown(graceMs: UInt64 = 0, completion: @escaping () -> Void) {
        guard !shutdownStarted else { return }
        shutdownStarted = true
        if let http2Server {
            http2Server.beginShutdown(graceMs: graceMs) { [self] in
                pacer.close()
                http2ConnectionsAccepted = http2Server.connectionsAccepted
                self.http2Server = nil
                completion()
            }
            return
        }
        guard let server else {
            pacer.close()
            // Complete from the loop, as the server path does, never synchronously.
            loop.onNextTurn(completion)
            return
        }
        server.beginShutdown(timeout: .milliseconds(graceMs)) { [self] in
            pacer.close()
            self.server = nil
            completion()
        }
    }

    // MARK: Requests

    private static let completionPaths: Set<String> = ["/v1/chat/completions", "/chat/completions"]
    private static let messagesPaths: Set<String> = ["/v1/messages", "/messages"]

    private func handle(_ request: HTTPRequest, _ responder: any ResponseSink) {
        highestConnectionID = max(highestConnectionID, request.connectionID)
        let native = Self.messagesPaths.contains(request.path)
        guard native || Self.completionPaths.contains(request.path) else {
            if request.path == "/health" && request.method == "GET" {
                responder.respond(status: 200, headers: [("Content-Type", "application/json")],
                                  body: Array("{\"status\":\"ok\"}".utf8))
            } else if request.path == "/stats" && request.method == "GET" {
                responder.respond(status: 200, headers: [("Content-Type", "application/json")],
                                  body: stats.compactBytes())
            } else {
                respondError(responder, status: 404, message: "Not found: \(request.path)",
                             type: "invalid_request_error", code: "not_found")
            }
            return
        }
        guard request.method == "POST" else {
            respondError(responder, status: 405, message: "Method \(request.method) not allowed",
                         type: "invalid_request_error", code: "method_not_allowed", native: native)
            return
        }
        if native { messagesRequests += 1 } else { completionRequests += 1 }
        let record = RecordedRequest(method: request.method, path: request.path, query: request.query,
                                     headers: request.headers, body: request.body)
        if keepsRecords { received.append(record) }
        onRequest?(record)
        guard let json = record.json, json.objectValue != nil else {
            respondError(responder, status: 400, message: "Request body is not a JSON object",
                         type: "invalid_request_error", code: "invalid_json", native: native)
            return
        }
        let scenario: Scenario
        if queueHead < queue.count {
            scenario = queue[queueHead]
            queueHead += 1
            if queueHead == queue.count {
                queue.removeAll(keepingCapacity: true)
                queueHead = 0
            }
        } else if let model = json["model"]?.stringValue, model.hasPrefix("scenario:") {
            let name = String(model.dropFirst("scenario:".count))
            guard let named = namedScenarios[name] ?? (native ? Scenario.native(name) : Scenario.named(name)) else {
                respondError(responder, status: 404, message: "The model `\(model)` does not exist",
                             type: native ? "not_found_error" : "invalid_request_error", code: "model_not_found",
                             native: native)
                return
            }
            scenario = named
        } else {
            scenario = defaultScenario
        }
        play(scenario, for: json, responder, remoteAddress: request.remoteAddress)
    }

    private func play(_ scenario: Scenario, for request: JSONValue, _ responder: any ResponseSink, remoteAddress: String) {
        switch scenario.behaviour {
        case .sequence(let elements):
            let cursor = sequenceCursors[scenario.name, default: 0]
            sequenceCursors[scenario.name] = cursor + 1
            play(elements[min(cursor, elements.count - 1)], for: request, responder, remoteAddress: remoteAddress)
        case .byRequest(let choose):
            play(choose(request), for: request, responder, remoteAddress: remoteAddress)
        case .httpError(let reply):
            scenariosPlayed += 1
            responder.respond(status: reply.status, headers: reply.headers, body: reply.body)
        case .dropConnection:
            scenariosPlayed += 1
            droppedConnections += 1
            if !responder.cut(listeningPort: port, remoteAddress: remoteAddress) {
                respondError(responder, status: 500, message: "The scripted upstream could not drop this connection",
                             type: "server_error", code: nil)
            }
        case .stream(let plan):
            scenariosPlayed += 1
            activeStreams += 1
            peakActiveStreams = max(peakActiveStreams, activeStreams)
            StreamPlayer(plan: plan, responder: responder, remoteAddress: remoteAddress, upstream: self).start()
        }
    }

    private func respondError(_ responder: any ResponseSink, status: Int, message: String, type: String,
                              code: JSONValue, native: Bool = false) {
        responder.respond(status: status, headers: [("Content-Type", "application/json")],
                          body: native ? anthropicErrorBody(type: type, message: message)
                                       : openAIErrorBody(message: message, type: type, code: code))
    }

    /// The counters as `GET /stats` answers them, for tests that run the upstream as a process.
    public var stats: JSONValue {
        .object(JSONObject([
            ("completion_requests", .int(completionRequests)),
            ("messages_requests", .int(messagesRequests)),
            ("scenarios_played", .int(scenariosPlayed)),
            ("active_streams", .int(activeStreams)),
            ("peak_active_streams", .int(peakActiveStreams)),
            ("ended_streams", .int(endedStreams)),
            ("dropped_connections", .int(droppedConnections)),
        ]))
    }

    func streamEnded() {
        activeStreams -= 1
        endedStreams += 1
    }
}

@available(*, unavailable)
extension ScriptedUpstream: Sendable {}
