// HTTP2Stream: one request/response exchange on an HTTP/2 connection.
//
// While the request arrives it collects the pseudo-headers, headers and body. Once answered it
// holds the response body the player wrote and nghttp2 has not framed yet: the byte arrays
// themselves (a scenario's compiled writes are shared by every stream playing it, so nothing is
// copied until nghttp2 frames it), each handed out as its own DATA frame when the window allows,
// like each HTTP/1.1 write becomes its own chunk. When nothing is left, the data source reports
// "deferred" and the next write resumes it.

import CNGHTTP2
import HTTPServer

/// Loop-confined.
final class HTTP2Stream: ResponseSink {
    private enum State {
        /// The request's headers or body are still arriving.
        case receiving
        /// The request is complete and has not been answered.
        case requested
        /// A streamed response is in progress.
        case streaming
        /// The response body is complete (possibly not yet all framed).
        case finished
        /// The stream closed (reset by either side, or its connection went) before the response finished.
        case gone
    }

    /// Bytes buffered above which `write` asks the player to wait. Bounds what one stream holds
    /// while its flow-control window is shut or its connection's socket is backed up.
    static let highWaterBytes = 64 * 1024
    /// A parked stream is woken once nghttp2 took it down to this.
    static let lowWaterBytes = 16 * 1024

    let id: Int32
    /// Cleared when the stream closes, so a player that outlives it touches nothing.
    private(set) var connection: HTTP2Connection?
    private var state = State.receiving

    // Request.
    private(set) var method = ""
    private(set) var target = ""
    private(set) var authority: String?
    private(set) var headers: [(name: String, value: String)] = []
    private(set) var body: [UInt8] = []

    // Response body not yet framed: `pending[pendingIndex...]`, the first from `pendingOffset`.
    private var pending: [[UInt8]] = []
    private var pendingIndex = 0
    private var pendingOffset = 0
    private(set) var pendingBytes = 0
    /// The data source last answered "deferred" and waits for `nghttp2_session_resume_data`.
    var isDeferred = false
    /// `write` returned false; the connection wakes the stream once it can take more.
    var isParked = false

    var onWritable: (() -> Void)?
    var onClientGone: (() -> Void)?

    init(id: Int32, connection: HTTP2Connection) {
        self.id = id
        self.connection = connection
    }

    // MARK: Request (from the connection's nghttp2 callbacks)

    func addHeader(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard state == .receiving else { return }
        let valueText = String(decoding: value, as: UTF8.self)
        if name.first == UInt8(ascii: ":") {
            switch String(decoding: name, as: UTF8.self) {
            case ":method": method = valueText
            case ":path": target = valueText
            case ":authority": authority = valueText
            default: break
            }
        } else {
            headers.append((name: String(decoding: name, as: UTF8.self), value: valueText))
        }
    }

    func addBody(_ bytes: UnsafeRawBufferPointer) {
        guard state == .receiving else { return }
        body.append(contentsOf: bytes)
    }

    /// Returns whether the request just became complete (and should be handed to the handler).
    func requestEnded() -> Bool {
        guard state == .receiving else { return false }
        state = .requested
        return true
    }

    var awaitsAnswer: Bool { state == .requested }

    /// The request as the handler sees it; the stream lets go of its copy.
    func takeRequest(requestID: UInt64, connectionID: UInt64, remoteAddress: String) -> HTTPRequest {
        var fields = headers
        // HTTP/2 carries the host as `:authority`; HTTP/1.1 handlers and records expect a Host header.
        if let authority, !fields.contains(where: { asciiEqualFolded($0.name, "host") }) {
            fields.insert((name: "host", value: authority), at: 0)
        }
        let request = HTTPRequest(method: method, target: target, headers: fields, body: body,
                                  version: HTTPVersion(major: 2, minor: 0), keepAlive: true,
                                  requestID: requestID, connectionID: connectionID, remoteAddress: remoteAddress)
        headers = []
        body = []
        return request
    }

    // MARK: ResponseSink

    var isClosed: Bool { state == .finished || state == .gone }

    var queuedBytes: Int { pendingBytes }

    func respond(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        guard state == .requested, let connection else { return }
        state = .finished
        var fields = headers
        fields.append((name: "content-length", value: String(body.count)))
        append(body)
        connection.submitResponse(self, status: status, headers: fields, withBody: !body.isEmpty)
    }

    func startStream(status: Int, headers: [(name: String, value: String)], firstBytes: [UInt8]) {
        guard state == .requested, let connection else { return }
        state = .streaming
        append(firstBytes)
        connection.submitResponse(self, status: status, headers: headers, withBody: true)
    }

    func write(_ bytes: [UInt8]) -> Bool {
        guard state == .streaming, let connection else { return false }
        if !bytes.isEmpty {
            append(bytes)
            connection.bodyGrew(self)
        }
        if pendingBytes < Self.highWaterBytes && connection.canTakeMore { return true }
        connection.park(self)
        return false
    }

    func finish(lastBytes: [UInt8]) {
        guard state == .streaming, let connection else { return }
        state = .finished
        append(lastBytes)
        // Also when nothing was added: the deferred source must run once more to report the end.
        connection.bodyGrew(self)
    }

    func cut(listeningPort: Int, remoteAddress: String) -> Bool {
        // A request not answered yet may be reset too: that is how `dropConnection` fails it.
        guard state == .streaming || state == .requested, let connection else { return false }
        return connection.reset(self)
    }

    private func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        pending.append(bytes)
        pendingBytes += bytes.count
    }

    // MARK: Framing (from the data source callback)

    /// Copies the next piece of body into `buffer`: at most one write's bytes, so each write
    /// leaves as its own DATA frame when the window allows.
    func fill(_ buffer: UnsafeMutablePointer<UInt8>, capacity: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard pendingIndex < pending.count else {
            if state == .finished {
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                return 0
            }
            isDeferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        let piece = pending[pendingIndex]
        let count = min(capacity, piece.count - pendingOffset)
        piece.withUnsafeBytes { bytes in
            UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + pendingOffset, byteCount: count)
        }
        pendingOffset += count
        pendingBytes -= count
        if pendingOffset == piece.count {
            pendingIndex += 1
            pendingOffset = 0
            if pendingIndex == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingIndex = 0
            }
        }
        if pending.isEmpty && state == .finished { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return count
    }

    // MARK: Ending (from the connection)

    /// The stream closed. Returns whether a response in progress was broken off, so the
    /// connection reports it (outside nghttp2's callbacks) through `clientGone`.
    func closed() -> Bool {
        connection = nil
        pending = []
        pendingIndex = 0
        pendingOffset = 0
        pendingBytes = 0
        switch state {
        case .receiving, .requested, .streaming:
            state = .gone
            return true
        case .finished, .gone:
            return false
        }
    }

    func clientGone() {
        let callback = onClientGone
        onClientGone = nil
        onWritable = nil
        callback?()
    }

    func becameWritable() {
        guard state == .streaming else { return }
        onWritable?()
    }
}

@inline(__always)
func asciiEqualFolded(_ a: String, _ b: String) -> Bool {
    let a = a.utf8, b = b.utf8
    guard a.count == b.count else { return false }
    return zip(a, b).allSatisfy { x, y in (x >= 65 && x <= 90 ? x + 32 : x) == (y >= 65 && y <= 90 ? y + 32 : y) }
}

@available(*, unavailable)
extension HTTP2Stream: Sendable {}
