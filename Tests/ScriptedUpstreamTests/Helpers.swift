// Loopback helpers: one POST on its own connection, the raw bytes it got back, and the HTTP
// chunk frames inside them (each frame is one write of the upstream).

import EventLoop
import JSON
import ScriptedUpstream
import TestSupport

/// What one request got back.
struct Exchange {
    /// Every byte received, head included.
    var raw: [UInt8]
    /// Whether the server closed the connection.
    var ended: Bool
    /// The parsed response, when it is complete (or close-delimited).
    var response: TestResponse? = nil

    /// Payloads of the HTTP chunks of a chunked body, and whether the terminating chunk arrived.
    var chunkFrames: (payloads: [[UInt8]], terminated: Bool) {
        guard let headEnd = find([13, 10, 13, 10], in: raw) else { return ([], false) }
        var cursor = headEnd + 4
        var payloads: [[UInt8]] = []
        while let lineEnd = find([13, 10], in: raw, from: cursor),
              let size = Int(String(decoding: raw[cursor..<lineEnd], as: UTF8.self), radix: 16) {
            cursor = lineEnd + 2
            if size == 0 { return (payloads, true) }
            guard raw.count >= cursor + size + 2 else { break }
            payloads.append(Array(raw[cursor..<cursor + size]))
            cursor += size + 2
        }
        return (payloads, false)
    }

    /// The de-chunked body, complete or not.
    var bodyBytes: [UInt8] { chunkFrames.payloads.flatMap { $0 } }

    /// The `data:` payloads of the SSE body.
    var dataLines: [String] {
        String(decoding: bodyBytes, as: UTF8.self).split(separator: "\n\n", omittingEmptySubsequences: true)
            .map { line in line.hasPrefix("data: ") ? String(line.dropFirst(6)) : String(line) }
    }
}

func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
    guard needle.count <= haystack.count else { return nil }
    var i = start
    while i + needle.count <= haystack.count {
        if haystack[i..<i + needle.count].elementsEqual(needle) { return i }
        i += 1
    }
    return nil
}

func chatBody(model: String = "meta/llama-3.1-8b-instruct", content: String = "hi") -> [UInt8] {
    let body: JSONValue = [
        "model": .string(model),
        "messages": [["role": "user", "content": .string(content)]],
        "stream": true,
    ]
    return body.compactBytes()
}

/// Sends one request on a fresh connection; `done` runs once the response is complete or the
/// connection ended. `onConnected` hands out the client (to stop reading, close early...).
func post(_ loop: EventLoop, port: Int, path: String = "/v1/chat/completions", method: String = "POST",
          headers: [(String, String)] = [("Content-Type", "application/json")], body: [UInt8] = chatBody(),
          onConnected: ((LoopHTTPClient) -> Void)? = nil, _ done: @escaping (Exchange) -> Void) {
    LoopHTTPClient.connect(loop, port: port) { result in
        guard case .success(let client) = result else {
            done(Exchange(raw: [], ended: true, response: nil))
            return
        }
        var delivered = false
        client.onUpdate = { c in
            guard !delivered else { return }
            let complete = c.responses.first
            if complete != nil || c.ended {
                delivered = true
                c.onUpdate = nil
                if !c.ended { c.close() }
                done(Exchange(raw: c.received, ended: c.ended, response: complete))
            }
        }
        client.send(LoopHTTPClient.requestBytes(method: method, path: path, headers: headers, body: body))
        onConnected?(client)
    }
}

/// Runs requests one after another, collecting their exchanges.
func postInTurn(_ loop: EventLoop, port: Int, bodies: [[UInt8]], _ done: @escaping ([Exchange]) -> Void) {
    var results: [Exchange] = []
    func next() {
        guard results.count < bodies.count else {
            done(results)
            return
        }
        post(loop, port: port, body: bodies[results.count]) { exchange in
            results.append(exchange)
            next()
        }
    }
    next()
}

/// Polls `condition` from a timer every millisecond until it holds, then runs `then`.
func whenTrue(_ loop: EventLoop, _ condition: @escaping () -> Bool, then: @escaping () -> Void) {
    guard let timer = try? Timer(loop: loop) else { return }
    try? timer.start(after: .milliseconds(1), repeating: .milliseconds(1)) {
        guard condition() else { return }
        timer.close()
        then()
    }
}
