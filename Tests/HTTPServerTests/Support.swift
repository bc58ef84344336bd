import EventLoop
import HTTPServer
import Testing

/// Runs a scenario on a fresh loop until every handle is closed, then proves nothing leaked by
/// closing the loop (libuv's MAKE_VALGRIND_HAPPY). An unreferenced watchdog ends a hung scenario.
func withLoop(timeoutMs: UInt64 = 10_000, sourceLocation: SourceLocation = #_sourceLocation,
              _ body: (EventLoop) throws -> Void) throws {
    let loop = try EventLoop()
    let watchdog = try Timer(loop: loop)
    var timedOut = false
    try watchdog.start(afterMs: timeoutMs) {
        timedOut = true
        loop.stop()
    }
    watchdog.unref()
    try body(loop)
    loop.run()
    #expect(!timedOut, "scenario did not finish; open: \(loop.openHandleDescriptions)", sourceLocation: sourceLocation)
    watchdog.close()
    if timedOut { return }
    try loop.close()
}

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
            server.beginShutdown(timeoutMs: 1000) {}
        }
    }
}

/// A loopback client on the same loop that records everything it receives.
final class TestClient {
    let connection: TCPConnection
    var received: [UInt8] = []
    var ended = false
    var onReceive: ((TestClient) -> Void)?
    var onEnd: ((TestClient) -> Void)?

    init(_ connection: TCPConnection) { self.connection = connection }

    static func connect(_ loop: EventLoop, port: Int, reading: Bool = true, _ then: @escaping (TestClient) -> Void) throws {
        try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
            guard case .success(let connection) = result else {
                Issue.record("connect failed: \(result)")
                return
            }
            let client = TestClient(connection)
            if reading { client.startReading() }
            then(client)
        }
    }

    /// The callbacks hold the client strongly: it stays alive until its connection closes.
    func startReading() {
        try? connection.startReading(onData: { bytes in
            self.received += bytes
            self.onReceive?(self)
        }, onEnd: { _ in
            self.ended = true
            self.connection.close()
            self.onEnd?(self)
            self.onReceive = nil
            self.onEnd = nil
        })
    }

    func send(_ text: String) { try? connection.write(Array(text.utf8)) }
    func send(_ bytes: [UInt8]) { try? connection.write(bytes) }
    func close() { connection.close() }

    var text: String { String(decoding: received, as: UTF8.self) }
    var responses: [ParsedResponse] { ParsedResponse.parseAll(received) }
}

/// A response parsed back from raw bytes (Content-Length, chunked, or close-delimited bodies).
struct ParsedResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var chunked: Bool

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// Complete responses at the start of `bytes`.
    static func parseAll(_ bytes: [UInt8]) -> [ParsedResponse] {
        var responses: [ParsedResponse] = []
        var index = 0
        while let (response, next) = parse(bytes, from: index) {
            responses.append(response)
            index = next
        }
        return responses
    }

    private static func findCRLF(_ bytes: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 1 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }

    static func parse(_ bytes: [UInt8], from start: Int) -> (ParsedResponse, Int)? {
        guard let lineEnd = findCRLF(bytes, from: start) else { return nil }
        let statusLine = String(decoding: bytes[start..<lineEnd], as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var headers: [(String, String)] = []
        var cursor = lineEnd + 2
        while true {
            guard let end = findCRLF(bytes, from: cursor) else { return nil }
            if end == cursor { cursor += 2; break }
            let line = String(decoding: bytes[cursor..<end], as: UTF8.self)
            if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingPrefixSpaces()))
            }
            cursor = end + 2
        }
        var response = ParsedResponse(status: status, headers: headers, body: [], chunked: false)
        if (100..<200).contains(status) || status == 204 || status == 304 { return (response, cursor) }
        if let length = response.header("content-length").flatMap({ Int($0) }) {
            guard bytes.count >= cursor + length else { return nil }
            response.body = Array(bytes[cursor..<cursor + length])
            return (response, cursor + length)
        }
        if response.header("transfer-encoding")?.lowercased() == "chunked" {
            response.chunked = true
            while true {
                guard let end = findCRLF(bytes, from: cursor),
                      let size = Int(String(decoding: bytes[cursor..<end], as: UTF8.self), radix: 16) else { return nil }
                cursor = end + 2
                if size == 0 {
                    guard bytes.count >= cursor + 2 else { return nil }
                    return (response, cursor + 2)
                }
                guard bytes.count >= cursor + size + 2 else { return nil }
                response.body += bytes[cursor..<cursor + size]
                cursor += size + 2
            }
        }
        response.body = Array(bytes[cursor...])
        return (response, bytes.count)
    }
}

extension Substring {
    func trimmingPrefixSpaces() -> String { String(drop { $0 == " " }) }
}

func okText(_ responder: HTTPResponder, _ text: String) {
    responder.respond(status: 200, headers: [("Content-Type", "text/plain")], body: Array(text.utf8))
}
