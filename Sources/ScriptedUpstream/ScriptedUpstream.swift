// ScriptedUpstream: an OpenAI-compatible chat-completions server that plays scripted scenarios.
//
// Tests point the proxy at it and assert two things: the exact request body the proxy sent
// upstream (every request is recorded with its headers), and what the proxy made of a known
// stream. Benchmarks use it as a cheap, paced source of many concurrent streams.
//
// Which scenario answers a request: the next one queued with `enqueue` (tests), else the one the
// request's model names as "scenario:NAME" (scripts and benchmarks), else `defaultScenario`.

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

    let pacer: Pacer
    private var server: HTTPServer?
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

    /// Binds and listens; returns the bound port (the kernel's pick for port 0).
    @discardableResult
    public func start(host: String = "127.0.0.1", port: Int = 0) throws -> Int {
        precondition(server == nil, "ScriptedUpstream.start called twice")
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
        guard let server else {
            pacer.close()
            // Complete from the loop, as the server path does, never synchronously.
            loop.onNextTurn(completion)
            return
        }
        server.beginShutdown(timeoutMs: graceMs) { [self] in
            pacer.close()
            self.server = nil
            completion()
        }
    }

    // MARK: Requests

    private static let completionPaths: Set<String> = ["/v1/chat/completions", "/chat/completions"]

    private func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        guard Self.completionPaths.contains(request.path) else {
            if request.path == "/health" && request.method == "GET" {
                responder.respond(status: 200, headers: [("Content-Type", "application/json")],
                                  body: Array("{\"status\":\"ok\"}".utf8))
            } else {
                respondError(responder, status: 404, message: "Not found: \(request.path)",
                             type: "invalid_request_error", code: "not_found")
            }
            return
        }
        guard request.method == "POST" else {
            respondError(responder, status: 405, message: "Method \(request.method) not allowed",
                         type: "invalid_request_error", code: "method_not_allowed")
            return
        }
        let record = RecordedRequest(method: request.method, path: request.path, query: request.query,
                                     headers: request.headers, body: request.body)
        if keepsRecords { received.append(record) }
        onRequest?(record)
        guard let json = record.json, json.objectValue != nil else {
            respondError(responder, status: 400, message: "Request body is not a JSON object",
                         type: "invalid_request_error", code: "invalid_json")
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
            guard let named = namedScenarios[name] ?? Scenario.named(name) else {
                respondError(responder, status: 404, message: "The model `\(model)` does not exist",
                             type: "invalid_request_error", code: "model_not_found")
                return
            }
            scenario = named
        } else {
            scenario = defaultScenario
        }
        play(scenario, for: json, responder, remoteAddress: request.remoteAddress)
    }

    private func play(_ scenario: Scenario, for request: JSONValue, _ responder: HTTPResponder, remoteAddress: String) {
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
        case .stream(let plan):
            scenariosPlayed += 1
            activeStreams += 1
            StreamPlayer(plan: plan, responder: responder, remoteAddress: remoteAddress, upstream: self).start()
        }
    }

    private func respondError(_ responder: HTTPResponder, status: Int, message: String, type: String,
                              code: JSONValue) {
        responder.respond(status: status, headers: [("Content-Type", "application/json")],
                          body: openAIErrorBody(message: message, type: type, code: code))
    }

    func streamEnded() {
        activeStreams -= 1
        endedStreams += 1
    }
}

@available(*, unavailable)
extension ScriptedUpstream: Sendable {}
