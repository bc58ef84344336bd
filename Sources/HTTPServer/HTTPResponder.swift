// HTTPResponder: the handler's side of one request's response.
//
// Either `respond(status:headers:body:)` once, or `startStream(status:headers:)`, any number of
// `write(_:)` and `finish()`. Streams use chunked framing (close-delimited for HTTP/1.0 clients).
// Backpressure: `write` returns false once the connection's write queue reached the high-water mark;
// stop writing until `onWritable` fires. `onClientGone` fires once if the client disconnects before the
// response finished, so the application can cancel upstream work; later calls are ignored.

/// One request's response. Loop-confined.
public final class HTTPResponder {
    private weak var connection: HTTPConnection?
    /// Set instead of `connection` when the request came from another loop (see `RequestForwarding`).
    private let relay: ResponseRelay?
    let version: HTTPVersion
    let isHead: Bool
    private var keepAlive: Bool

    private enum State { case pending, streaming(chunked: Bool), finished, clientGone }
    private var state = State.pending

    /// Fires when the write queue drained after `write` returned false.
    public var onWritable: (() -> Void)?
    /// Fires once if the client disconnects before `finish()` / `respond()` completed the response.
    public var onClientGone: (() -> Void)?
    /// Fires once, for metrics: with the status as the head goes out, or with nil when the client
    /// left before any head. Set by whoever dispatches the request, apart from the handler's own
    /// callbacks above.
    public var onOutcome: ((Int?) -> Void)?

    init(connection: HTTPConnection, version: HTTPVersion, isHead: Bool, keepAlive: Bool) {
        self.connection = connection
        self.relay = nil
        self.version = version
        self.isHead = isHead
        self.keepAlive = keepAlive
    }

    /// A responder whose calls go to `relay` rather than to a connection of this loop. The loop
    /// holding the connection applies HEAD, the HTTP version and keep-alive there.
    public init(relay: ResponseRelay) {
        self.relay = relay
        version = HTTPVersion(major: 1, minor: 1)
        isHead = false
        keepAlive = true
    }

    /// True once the response finished or the client went away: nothing more can be sent.
    public var isClosed: Bool {
        switch state {
        case .finished, .clientGone: true
        case .pending, .streaming: false
        }
    }

    /// Whether the response has started (head sent).
    public var hasStarted: Bool {
        if case .pending = state { return false }
        return true
    }

    /// False while the connection's write queue is at or above the high-water mark.
    public var isWritable: Bool { connection?.isWritable ?? relay?.isWritable ?? false }

    /// Bytes of this connection's responses accepted but not yet taken by the kernel.
    public var queuedBytes: Int { connection?.socket.writeQueueBytes ?? 0 }

    /// Sends a complete response with a Content-Length. A `Connection: close` header from the caller
    /// closes the connection afterwards.
    public func respond(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        guard case .pending = state else { return }
        if let relay {
            reportOutcome(status)
            state = .finished
            relay.complete(status: status, headers: headers, body: body)
            return
        }
        guard let connection else { return }
        reportOutcome(status)
        noteConnectionHeader(headers)
        state = .finished
        let keep = connection.keepAliveAfterResponse(requested: keepAlive)
        connection.sendComplete(status: status, headers: headers, body: body, keepAlive: keep,
                                version: version, isHead: isHead)
        connection.responseFinished(keepAlive: keep)
    }

    /// Sends the head of a streamed response, with `firstBytes` of the body in the same write.
    public func startStream(status: Int, headers: [(name: String, value: String)] = [], firstBytes: [UInt8] = []) {
        guard case .pending = state else { return }
        if let relay {
            reportOutcome(status)
            state = .streaming(chunked: true)
            relay.head(status: status, headers: headers, firstBytes: firstBytes)
            return
        }
        guard let connection else { return }
        reportOutcome(status)
        noteConnectionHeader(headers)
        let chunked = version.major > 1 || (version.major == 1 && version.minor >= 1)
        if !chunked { keepAlive = false }
        keepAlive = connection.keepAliveAfterResponse(requested: keepAlive)
        state = .streaming(chunked: chunked && !isHead)
        connection.sendHead(status: status, headers: headers,
                            framing: isHead ? .none : (chunked ? .chunked : .untilClose),
                            keepAlive: keepAlive, version: version, firstBytes: isHead ? [] : firstBytes)
    }

    /// `startStream(status:headers:firstBytes: body)` then `finish()`, in one write: a streamed
    /// answer that was whole before it started (a short upstream answer) costs one syscall, not two.
    public func streamWhole(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8]) {
        guard case .pending = state, let connection else { return }
        reportOutcome(status)
        noteConnectionHeader(headers)
        let chunked = version.major > 1 || (version.major == 1 && version.minor >= 1)
        if !chunked { keepAlive = false }
        keepAlive = connection.keepAliveAfterResponse(requested: keepAlive)
        state = .finished
        connection.sendHead(status: status, headers: headers,
                            framing: isHead ? .none : (chunked ? .chunked : .untilClose),
                            keepAlive: keepAlive, version: version, firstBytes: isHead ? [] : body, last: chunked && !isHead)
        connection.responseFinished(keepAlive: keepAlive)
    }

    /// Sends part of a streamed body. Returns `isWritable`: false asks the caller to wait for
    /// `onWritable`. Empty writes are ignored (an empty chunk would end the body).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard case .streaming(let chunked) = state else { return false }
        if let relay {
            if !bytes.isEmpty { relay.body(bytes) }
            return relay.isWritable
        }
        guard let connection else { return false }
        if !bytes.isEmpty && !isHead { connection.sendBody(bytes, chunked: chunked) }
        return connection.isWritable
    }

    /// Ends a streamed response; `lastBytes` of the body go out in the same write as the end.
    public func finish(lastBytes: [UInt8] = []) {
        guard case .streaming(let chunked) = state else { return }
        if let relay {
            state = .finished
            relay.end(lastBytes: lastBytes)
            return
        }
        guard let connection else { return }
        state = .finished
        if chunked {
            connection.sendBody(isHead ? [] : lastBytes, chunked: true, last: true)
        } else if !lastBytes.isEmpty && !isHead {
            connection.sendBody(lastBytes, chunked: false)
        }
        connection.responseFinished(keepAlive: keepAlive)
    }

    private func reportOutcome(_ status: Int?) {
        guard let callback = onOutcome else { return }
        onOutcome = nil
        callback(status)
    }

    private func noteConnectionHeader(_ headers: [(name: String, value: String)]) {
        for header in headers where asciiCaseInsensitiveEqual(header.name, "connection") {
            if header.value.lowercased().contains("close") { keepAlive = false }
        }
    }

    /// A relayed response's far side drained its queue: as a connection's `onWritable`.
    public func relayWritable() { connectionWritable() }

    /// A relayed response's client left: as a connection's client going away.
    public func relayClientGone() { clientGone() }

    // Called by the connection.

    func connectionWritable() {
        if case .streaming = state { onWritable?() }
    }

    func clientGone() {
        switch state {
        case .finished, .clientGone:
            return
        case .pending, .streaming:
            if case .pending = state { reportOutcome(nil) }
            state = .clientGone
            let callback = onClientGone
            onClientGone = nil
            onWritable = nil
            callback?()
        }
    }
}

@available(*, unavailable)
extension HTTPResponder: Sendable {}

/// Where a responder made with `init(relay:)` sends what the handler answers. Loop-confined to
/// the responder's loop.
public protocol ResponseRelay: AnyObject {
    func complete(status: Int, headers: [(name: String, value: String)], body: [UInt8])
    func head(status: Int, headers: [(name: String, value: String)], firstBytes: [UInt8])
    func body(_ bytes: [UInt8])
    func end(lastBytes: [UInt8])
    /// False while the far side's queue is full: `write` then asks the handler to wait.
    var isWritable: Bool { get }
}
