// HTTPConnection: one accepted socket, its http_parser and the request/response cycle.
//
// Phases:
//   idle       waiting for a request's first byte (idle timer: silent close)
//   head       request line and headers arriving (header timer from the first byte: 408)
//   body       body arriving (idle timer between reads: 408)
//   responding the handler owns the response; reading continues only to notice a disconnect, and
//              pipelined bytes are kept unparsed (bounded) until the response finished, which is
//              what answers pipelined requests strictly in order
//   resuming   the response finished outside a read; kept bytes are parsed from a zero-delay timer
//              so the handler is never re-entered from inside a responder call
//   closing    an error or `Connection: close` response is on its way; reads are drained and dropped
//              until the peer closes or the linger timer fires
//
// Parser callbacks are non-capturing closures that forward to one method through `parser.data`;
// they only record, and dispatch happens after `http_parser_execute` returned (the parser is paused
// on each message end), so a handler that responds synchronously never re-enters the parser.

import CHTTPParser
import EventLoop

/// Loop-confined.
final class HTTPConnection {
    let id: UInt64
    let server: HTTPServer
    let socket: TCPConnection
    private let config: HTTPServerConfig
    private let timer: Timer
    private let parser: UnsafeMutablePointer<http_parser>
    let remoteAddress: String

    enum Phase { case idle, head, body, responding, resuming, closing, closed }
    private(set) var phase = Phase.idle
    private var timerPurpose = TimerPurpose.none
    private enum TimerPurpose { case none, idle, head, body, resume, linger, writeFailed }

    // The request being parsed.
    private var url: [UInt8] = []
    private var fieldBytes: [UInt8] = []
    private var valueBytes: [UInt8] = []
    private var lastCallbackWasValue = false
    private var headers: [(name: String, value: String)] = []
    private var headerSectionBytes = 0
    private var body: [UInt8] = []
    private var requestKeepAlive = true
    private var versionOfRequest = HTTPVersion(major: 1, minor: 1)
    private var methodOfRequest = ""
    /// Set by a callback that rejects the request; the parser is then stopped with an error.
    private var rejection: (status: Int, message: String)?
    private var completedRequest: HTTPRequest?
    private var isProcessing = false

    /// Bytes read while a response was in progress (pipelined requests), parsed afterwards.
    private var pending: [UInt8] = []
    private var maxPendingBytes: Int { config.maxHeaderBytes + 64 * 1024 }

    private(set) var responder: HTTPResponder?
    /// The server's shared scratch buffer: filled and written within one call, never kept.
    private var outBuffer: [UInt8] {
        _read { yield server.outBuffer }
        _modify { yield &server.outBuffer }
    }
    /// Set by a graceful server shutdown: close once the current response (if any) finished.
    private var closeWhenIdle = false

    init(id: UInt64, server: HTTPServer, socket: TCPConnection, config: HTTPServerConfig) throws(UVError) {
        self.id = id
        self.server = server
        self.socket = socket
        self.config = config
        self.timer = try Timer(loop: socket.loop)
        self.remoteAddress = socket.peerAddress?.description ?? ""
        parser = UnsafeMutablePointer<http_parser>.allocate(capacity: 1)
        http_parser_init(parser, HTTP_REQUEST)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        parser.deallocate()
    }

    func start() throws(UVError) {
        socket.writeHighWaterBytes = config.writeHighWaterBytes
        socket.writeLowWaterBytes = config.writeLowWaterBytes
        try? socket.setNoDelay(true)
        socket.onWritable = { [unowned self] in self.responder?.connectionWritable() }
        try socket.startReading(onData: { [unowned self] bytes in self.didRead(bytes) },
                                onEnd: { [unowned self] _ in self.peerClosed() })
        arm(.idle, config.idleTimeout)
    }

    var isWritable: Bool { socket.isWritable }
    var isIdle: Bool { phase == .idle }

    // MARK: Reading

    private func didRead(_ bytes: UnsafeRawBufferPointer) {
        switch phase {
        case .closing, .closed:
            return
        case .responding, .resuming:
            pending.append(contentsOf: bytes)
            if pending.count > maxPendingBytes { socket.stopReading() }
            return
        case .body:
            arm(.body, config.idleTimeout)
        case .idle, .head:
            break
        }
        process(bytes)
    }

    /// Parses `bytes`, dispatching each complete request in turn.
    private func process(_ bytes: UnsafeRawBufferPointer) {
        isProcessing = true
        defer { isProcessing = false }
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let consumed = http_parser_execute(parser, &HTTPConnection.settings,
                                               rest.baseAddress?.assumingMemoryBound(to: CChar.self), rest.count)
            offset += consumed
            let error = chp_errno(parser)
            if error != HPE_OK.rawValue && error != HPE_PAUSED.rawValue {
                reject(error)
                return
            }
            guard let request = completedRequest else {
                // Upgrade (or CONNECT): the rest is not HTTP; this connection closes after answering.
                break
            }
            completedRequest = nil
            dispatch(request)
            if timerPurpose == .writeFailed { return }
            switch phase {
            case .responding:
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                return
            case .closing, .closed:
                return
            case .idle, .head, .body, .resuming:
                http_parser_pause(parser, 0)
                if chp_upgrade(parser) != 0 { return }
            }
        }
        // Stray bytes between requests (CRLFs the parser skips) do not extend the idle time.
        if phase == .idle && !closeWhenIdle && timerPurpose != .idle { arm(.idle, config.idleTimeout) }
        if phase == .idle && closeWhenIdle { closeNow() }
    }

    private func reject(_ parserError: UInt32) {
        if let rejection {
            sendErrorAndClose(status: rejection.status, message: rejection.message)
        } else if parserError == HPE_HEADER_OVERFLOW.rawValue {
            sendErrorAndClose(status: 431, message: "Request header fields too large")
        } else {
            let name = String(cString: http_errno_description(http_errno(rawValue: parserError)))
            sendErrorAndClose(status: 400, message: "Malformed request: \(name)")
        }
    }

    /// EOF or a read error. Like uvicorn, a closed read side means the client is gone, also while a
    /// response is in progress (a client that half-closes after its request loses the response).
    private func peerClosed() {
        closeNow()
    }

    // MARK: Parser callbacks

    fileprivate func messageBegin() -> Int32 {
        phase = .head
        url.removeAll(keepingCapacity: true)
        headers.removeAll(keepingCapacity: true)
        fieldBytes.removeAll(keepingCapacity: true)
        valueBytes.removeAll(keepingCapacity: true)
        lastCallbackWasValue = false
        headerSectionBytes = 0
        body = []
        rejection = nil
        arm(.head, config.headerTimeout)
        return 0
    }

    private func countHeaderBytes(_ count: Int) -> Int32 {
        headerSectionBytes += count
        if headerSectionBytes > config.maxHeaderBytes {
            rejection = (431, "Request header fields too large")
            return -1
        }
        return 0
    }

    fileprivate func urlData(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        url.append(contentsOf: bytes)
        return countHeaderBytes(bytes.count)
    }

    fileprivate func headerField(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        if lastCallbackWasValue { flushHeader() }
        lastCallbackWasValue = false
        fieldBytes.append(contentsOf: bytes)
        // Each header line also carries ": " and CRLF.
        return countHeaderBytes(bytes.count + (fieldBytes.count == bytes.count ? 4 : 0))
    }

    fileprivate func headerValue(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        lastCallbackWasValue = true
        valueBytes.append(contentsOf: bytes)
        return countHeaderBytes(bytes.count)
    }

    private func flushHeader() {
        if fieldBytes.isEmpty { return }
        headers.append((String(decoding: fieldBytes, as: UTF8.self), String(decoding: valueBytes, as: UTF8.self)))
        fieldBytes.removeAll(keepingCapacity: true)
        valueBytes.removeAll(keepingCapacity: true)
    }

    fileprivate func headersComplete() -> Int32 {
        flushHeader()
        disarm()
        versionOfRequest = HTTPVersion(major: Int(parser.pointee.http_major), minor: Int(parser.pointee.http_minor))
        methodOfRequest = String(cString: http_method_str(http_method(rawValue: chp_method(parser))))
        requestKeepAlive = http_should_keep_alive(parser) != 0
        let declared = chp_content_length(parser)
        let chunked = chp_is_chunked(parser) != 0
        if declared != UInt64.max && declared > UInt64(config.maxBodyBytes) {
            rejection = (413, "Request body of \(declared) bytes exceeds the limit of \(config.maxBodyBytes) bytes")
            return -1
        }
        let expectsBody = chunked || (declared != UInt64.max && declared > 0)
        if expectsBody {
            if declared != UInt64.max { body.reserveCapacity(Int(min(declared, 1 << 20))) }
            if versionOfRequest.minor >= 1, let expect = headerValue(named: "expect"),
               asciiCaseInsensitiveEqual(expect, "100-continue") {
                try? socket.write(HTTPConnection.continueResponse)
            }
            phase = .body
            arm(.body, config.idleTimeout)
        }
        return 0
    }

    private func headerValue(named name: String) -> String? {
        headers.first { asciiCaseInsensitiveEqual($0.name, name) }?.value
    }

    fileprivate func bodyData(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        if body.count + bytes.count > config.maxBodyBytes {
            rejection = (413, "Request body exceeds the limit of \(config.maxBodyBytes) bytes")
            return -1
        }
        body.append(contentsOf: bytes)
        return 0
    }

    fileprivate func messageComplete() -> Int32 {
        disarm()
        let target = String(decoding: url, as: UTF8.self)
        let keepAlive = requestKeepAlive && chp_upgrade(parser) == 0
        completedRequest = HTTPRequest(method: methodOfRequest, target: target, headers: headers, body: body,
                                       version: versionOfRequest, keepAlive: keepAlive,
                                       requestID: server.nextRequestID(), connectionID: id,
                                       remoteAddress: remoteAddress)
        // The request owns its copies now; a streamed response can last minutes, so the
        // parse buffers are not kept at capacity for it (the next request makes new ones).
        body = []
        headers = []
        url = []
        fieldBytes = []
        valueBytes = []
        http_parser_pause(parser, 1)
        return 0
    }

    // MARK: Responding

    private func dispatch(_ request: HTTPRequest) {
        phase = .responding
        let responder = HTTPResponder(connection: self, version: request.version,
                                      isHead: request.method == "HEAD", keepAlive: request.keepAlive)
        self.responder = responder
        server.requestStarted()
        server.handler(request, responder)
    }

    func keepAliveAfterResponse(requested: Bool) -> Bool {
        requested && !closeWhenIdle && !server.isShuttingDown
    }

    func sendComplete(status: Int, headers: [(name: String, value: String)], body: [UInt8], keepAlive: Bool,
                      version: HTTPVersion, isHead: Bool) {
        outBuffer.removeAll(keepingCapacity: true)
        let noBody = statusHasNoBody(status)
        appendResponseHead(to: &outBuffer, status: status, headers: headers,
                           framing: noBody ? .none : .contentLength(body.count),
                           keepAlive: keepAlive, clientVersion: version)
        if !noBody && !isHead { outBuffer.append(contentsOf: body) }
        flushOut()
    }

    /// The head of a streamed response, and with it the body's first bytes when given, in one
    /// write (one system call and one wake-up of the client instead of two).
    func sendHead(status: Int, headers: [(name: String, value: String)], framing: BodyFraming, keepAlive: Bool,
                  version: HTTPVersion, firstBytes: [UInt8] = []) {
        outBuffer.removeAll(keepingCapacity: true)
        appendResponseHead(to: &outBuffer, status: status, headers: headers, framing: framing,
                           keepAlive: keepAlive, clientVersion: version)
        if !firstBytes.isEmpty {
            switch framing {
            case .chunked: appendChunk(firstBytes)
            case .untilClose: outBuffer.append(contentsOf: firstBytes)
            default: break
            }
        }
        flushOut()
    }

    /// Part of a streamed body; `last` also ends a chunked body, in the same write.
    func sendBody(_ bytes: [UInt8], chunked: Bool, last: Bool = false) {
        if !chunked {
            do { try socket.write(bytes) } catch { writeFailed() }
            return
        }
        outBuffer.removeAll(keepingCapacity: true)
        if !bytes.isEmpty { appendChunk(bytes) }
        if last { outBuffer.append(contentsOf: HTTPConnection.lastChunk) }
        flushOut()
    }

    private func appendChunk(_ bytes: [UInt8]) {
        outBuffer.appendHex(bytes.count)
        outBuffer.appendCRLF()
        outBuffer.append(contentsOf: bytes)
        outBuffer.appendCRLF()
    }

    private func flushOut() {
        let failed = outBuffer.withUnsafeBytes { bytes in
            do { try socket.write(bytes); return false } catch { return true }
        }
        if outBuffer.capacity > 64 * 1024 { outBuffer = [] }
        if failed { writeFailed() }
    }

    /// The peer reset the connection. Closing right here would call `onClientGone` from inside the
    /// application's own `write`/`respond` call, so the close goes through the loop.
    private func writeFailed() {
        guard phase != .closed, timerPurpose != .writeFailed else { return }
        socket.stopReading()
        arm(.writeFailed, .zero)
    }

    func responseFinished(keepAlive: Bool) {
        guard phase == .responding else { return }
        responder = nil
        server.requestFinished()
        if !keepAlive {
            closeAfterWrites()
            return
        }
        if isProcessing {
            // `process` carries on with the bytes after this request.
            phase = .idle
            return
        }
        if pending.isEmpty {
            phase = .idle
            if closeWhenIdle { closeNow(); return }
            http_parser_pause(parser, 0)
            try? socket.resumeReading()
            arm(.idle, config.idleTimeout)
        } else {
            phase = .resuming
            arm(.resume, .zero)
        }
    }

    private func resumePending() {
        phase = .idle
        http_parser_pause(parser, 0)
        var bytes = pending
        pending = []
        if socket.isClosed { return }
        try? socket.resumeReading()
        bytes.withUnsafeBytes { process($0) }
        bytes.removeAll(keepingCapacity: true)
        if pending.isEmpty { pending = bytes }
    }

    // MARK: Closing

    private func sendErrorAndClose(status: Int, message: String) {
        guard phase != .closing && phase != .closed else { return }
        let errorBody = config.errorBody(status, message)
        outBuffer.removeAll(keepingCapacity: true)
        appendResponseHead(to: &outBuffer, status: status, headers: [("Content-Type", errorBody.contentType)],
                           framing: .contentLength(errorBody.body.count), keepAlive: false,
                           clientVersion: HTTPVersion(major: 1, minor: 1))
        outBuffer.append(contentsOf: errorBody.body)
        flushOut()
        closeAfterWrites()
    }

    /// Half-closes after the queued response and drains the client's leftovers for a while, so a
    /// client still sending (an oversized body) reads our answer rather than a connection reset.
    private func closeAfterWrites() {
        phase = .closing
        pending = []
        do {
            try socket.shutdown { [weak self] error in
                if error != nil { self?.closeNow() }
            }
            try? socket.resumeReading()
            arm(.linger, config.lingerTimeout)
        } catch {
            closeNow()
        }
    }

    /// Closes at once. A response still in progress learns that its client is gone.
    func closeNow() {
        guard phase != .closed else { return }
        let responder = self.responder
        self.responder = nil
        phase = .closed
        timer.close()
        socket.close()
        if responder != nil { server.requestFinished() }
        responder?.clientGone()
    }

    /// Graceful shutdown: idle or half-received connections close now, a response in progress
    /// finishes first and then closes.
    func beginGracefulClose() {
        closeWhenIdle = true
        switch phase {
        case .idle, .head, .body, .resuming:
            // A resuming connection holds pipelined requests that were never started.
            closeNow()
        case .responding, .closing, .closed:
            break
        }
    }

    // MARK: Timer

    private func arm(_ purpose: TimerPurpose, _ delay: Duration) {
        // A pending close after a failed write wins over every other schedule.
        guard phase != .closed, timerPurpose != .writeFailed else { return }
        timerPurpose = purpose
        try? timer.start(after: delay) { [unowned self] in self.timerFired() }
    }

    private func disarm() {
        guard timerPurpose != .writeFailed else { return }
        timer.stop()
        timerPurpose = .none
    }

    private func timerFired() {
        let purpose = timerPurpose
        timerPurpose = .none
        switch purpose {
        case .none:
            return
        case .idle, .linger, .writeFailed:
            closeNow()
        case .head, .body:
            sendErrorAndClose(status: 408, message: "Request timed out")
        case .resume:
            resumePending()
        }
    }

    // MARK: Constants

    static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    static let lastChunk = Array("0\r\n\r\n".utf8)

    nonisolated(unsafe) static var settings: http_parser_settings = {
        var settings = http_parser_settings()
        settings.on_message_begin = { parser in connection(parser).messageBegin() }
        settings.on_url = { parser, at, length in connection(parser).urlData(UnsafeRawBufferPointer(start: at, count: length)) }
        settings.on_header_field = { parser, at, length in
            connection(parser).headerField(UnsafeRawBufferPointer(start: at, count: length))
        }
        settings.on_header_value = { parser, at, length in
            connection(parser).headerValue(UnsafeRawBufferPointer(start: at, count: length))
        }
        settings.on_headers_complete = { parser in connection(parser).headersComplete() }
        settings.on_body = { parser, at, length in connection(parser).bodyData(UnsafeRawBufferPointer(start: at, count: length)) }
        settings.on_message_complete = { parser in connection(parser).messageComplete() }
        return settings
    }()
}

@inline(__always)
private func connection(_ parser: UnsafeMutablePointer<http_parser>?) -> HTTPConnection {
    Unmanaged<HTTPConnection>.fromOpaque(parser!.pointee.data).takeUnretainedValue()
}

@available(*, unavailable)
extension HTTPConnection: Sendable {}
