#if canImport(Glibc)
import Glibc
#endif
// A loopback HTTP/1.1 client on the test's loop, and the parser for what it reads back.

import EventLoop
import JSON
import Testing

/// A response read back from raw bytes (Content-Length, chunked, or close-delimited).
public struct TestResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Whether the body came with chunked transfer encoding.
    public var chunked = false

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
    public var json: JSONValue? { try? JSONValue.parse(body) }

    /// The complete responses at the start of `bytes`; interim (1xx) responses are entries of
    /// their own. A body without length or chunking counts only once the connection `closed`.
    public static func parseAll(_ bytes: [UInt8], closed: Bool = false) -> [TestResponse] {
        var out: [TestResponse] = []
        var index = 0
        while let (r, next) = parse(bytes, from: index, closed: closed) {
            out.append(r)
            index = next
            if next >= bytes.count { break }
        }
        return out
    }

    static func crlf(_ b: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 1 < b.count {
            if b[i] == 13 && b[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }

    static func parse(_ b: [UInt8], from start: Int, closed: Bool) -> (TestResponse, Int)? {
        guard let lineEnd = crlf(b, from: start) else { return nil }
        let statusLine = String(decoding: b[start..<lineEnd], as: UTF8.self).split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [(name: String, value: String)] = []
        var cursor = lineEnd + 2
        while true {
            guard let end = crlf(b, from: cursor) else { return nil }
            if end == cursor {
                cursor += 2
                break
            }
            let line = String(decoding: b[cursor..<end], as: UTF8.self)
            if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " })))
            }
            cursor = end + 2
        }
        var r = TestResponse(status: status, headers: headers, body: [])
        if (100..<200).contains(status) || status == 204 || status == 304 { return (r, cursor) }
        if let length = r.header("content-length").flatMap({ Int($0) }) {
            guard b.count >= cursor + length else { return nil }
            r.body = Array(b[cursor..<cursor + length])
            return (r, cursor + length)
        }
        if r.header("transfer-encoding")?.lowercased() == "chunked" {
            r.chunked = true
            while true {
                guard let end = crlf(b, from: cursor),
                    let size = Int(String(decoding: b[cursor..<end], as: UTF8.self), radix: 16)
                else { return nil }
                cursor = end + 2
                if size == 0 {
                    guard b.count >= cursor + 2 else { return nil }
                    return (r, cursor + 2)
                }
                guard b.count >= cursor + size + 2 else { return nil }
                r.body += b[cursor..<cursor + size]
                cursor += size + 2
            }
        }
        guard closed else { return nil }
        r.body = Array(b[cursor...])
        return (r, b.count)
    }
}

/// One loopback connection on the loop that sends requests and collects what comes back.
/// Loop-confined.
public final class LoopHTTPClient {
    public let connection: TCPConnection
    public private(set) var received: [UInt8] = []
    public private(set) var ended = false
    /// Called after every read and once at the end.
    public var onUpdate: ((LoopHTTPClient) -> Void)?
    /// Called after every read.
    public var onReceive: ((LoopHTTPClient) -> Void)?
    /// Called once when the peer ends the connection (it is closed by then).
    public var onEnd: ((LoopHTTPClient) -> Void)?

    init(_ connection: TCPConnection) { self.connection = connection }

    /// Connects to 127.0.0.1:`port`; without `reading` the client reads nothing until
    /// `startReading()`.
    public static func connect(
        _ loop: EventLoop, port: Int, reading: Bool = true,
        _ then: @escaping (Result<LoopHTTPClient, UVError>) -> Void
    ) {
        do {
            try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                switch result {
                case .success(let c):
                    let client = LoopHTTPClient(c)
                    if reading { client.startReading() }
                    then(.success(client))
                case .failure(let e):
                    then(.failure(e))
                }
            }
        } catch {
            then(.failure(error))
        }
    }

    /// Like `connect`, for tests that only go on with a connected client: a failed connect is
    /// recorded as a test issue and `then` never runs.
    public static func connectOrRecordIssue(
        _ loop: EventLoop, port: Int, reading: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation, _ then: @escaping (LoopHTTPClient) -> Void
    ) throws {
        try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
            guard case .success(let connection) = result else {
                Issue.record("connect failed: \(result)", sourceLocation: sourceLocation)
                return
            }
            let client = LoopHTTPClient(connection)
            if reading { client.startReading() }
            then(client)
        }
    }

    /// The read callbacks hold the client strongly: it lives while its connection is open
    /// (the connection drops its callbacks when it closes).
    public func startReading() {
        try? connection.startReading(
            onData: { bytes in
                self.received += bytes
                self.onUpdate?(self)
                self.onReceive?(self)
            },
            onEnd: { _ in
                self.ended = true
                self.connection.close()
                let update = self.onUpdate
                self.onUpdate = nil
                update?(self)
                self.onEnd?(self)
                self.onReceive = nil
                self.onEnd = nil
            })
    }

    public func send(_ bytes: [UInt8]) { try? connection.write(bytes) }
    public func send(_ text: String) { send(Array(text.utf8)) }
    public func close() { connection.close() }

    public var text: String { String(decoding: received, as: UTF8.self) }

    public var responses: [TestResponse] { TestResponse.parseAll(received, closed: ended) }

    /// Serializes one request with a Content-Length body.
    public static func requestBytes(
        method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = []
    ) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (n, v) in headers { head += "\(n): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    /// Opens a connection, sends one request and delivers its response (or nil if the
    /// connection ended first), then closes the connection.
    public static func fetch(
        _ loop: EventLoop, port: Int, method: String, path: String, headers: [(String, String)] = [],
        body: [UInt8] = [], _ completion: @escaping (TestResponse?) -> Void
    ) {
        connect(loop, port: port) { result in
            guard case .success(let client) = result else {
                completion(nil)
                return
            }
            var delivered = false
            client.onUpdate = { c in
                guard !delivered else { return }
                if let r = c.responses.first {
                    delivered = true
                    c.onUpdate = nil
                    if !c.ended { c.close() }
                    completion(r)
                } else if c.ended {
                    delivered = true
                    completion(nil)
                }
            }
            client.send(requestBytes(method: method, path: path, headers: headers, body: body))
        }
    }
}

@available(*, unavailable)
extension LoopHTTPClient: Sendable {}
