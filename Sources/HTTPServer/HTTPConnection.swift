// HTTPConnection: one accepted socket and the request/response cycle, driven by
// `HTTPConnectionStateMachine` (module HTTP1), which decides everything: this class only runs the
// machine's actions and mirrors its wishes (read or not, which deadline) onto the socket and the
// one timer. Bytes are parsed straight from the loop's read buffer; only bytes that arrive while a
// response is in progress are copied (bounded) for later.

import EventLoop
import HTTP1

typealias ConnectionMachine = HTTPConnectionStateMachine<LoopInstant>

/// Loop-confined.
final class HTTPConnection {
    let id: UInt64
    let server: HTTPServer
    let socket: TCPConnection
    private let timer: Timer
    private var machine: ConnectionMachine
    /// The deadline the timer is armed for, to re-arm only when the machine changed it.
    private var armedDeadline: ConnectionMachine.Deadline?
    /// When the armed timer fires: at or before `armedDeadline`.
    private var timerDue: LoopInstant?
    private var isSocketClosed = false
    let remoteAddress: String

    private(set) var responder: HTTPResponder?
    /// The server's shared scratch buffer: filled and written within one call, never kept.
    private var outBuffer: [UInt8] {
        _read { yield server.outBuffer }
        _modify { yield &server.outBuffer }
    }

    init(id: UInt64, server: HTTPServer, socket: TCPConnection, config: HTTPServerConfig) throws(UVError) {
        self.id = id
        self.server = server
        self.socket = socket
        self.timer = try Timer(loop: socket.loop)
        self.remoteAddress = socket.peerAddress?.description ?? ""
        machine = ConnectionMachine(configuration: config.machineConfiguration, now: socket.loop.now)
        socket.writeHighWaterBytes = config.writeHighWaterBytes
        socket.writeLowWaterBytes = config.writeLowWaterBytes
    }

    func start() throws(UVError) {
        try? socket.setNoDelay(true)
        socket.onWritable = { [unowned self] in self.responder?.connectionWritable() }
        try socket.startReading(onData: { [unowned self] bytes in self.feed(bytes) },
                                onEnd: { [unowned self] _ in self.closeNow() })
        sync()
    }

    /// Answers `error` at once and closes (a connection over the server's limit).
    func refuse(_ status: Int, message: String) {
        run(machine.refuse(HTTPParseError(status: status, message: message), now: socket.loop.now))
        sync()
    }

    var isWritable: Bool { socket.isWritable }

    // MARK: Running the machine

    /// Feeds bytes through the machine, running each action before the rest is fed, so a request
    /// answered synchronously lets the next pipelined one go on within the same read.
    private func feed(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while !isSocketClosed {
            let (consumed, action) = machine.received(UnsafeRawBufferPointer(rebasing: bytes[offset...]), now: socket.loop.now)
            offset += consumed
            run(action)
            if offset >= bytes.count || machine.deadline?.purpose == .writeFailed { break }
            if consumed == 0, case .none = action { break }
        }
        sync()
    }

    private func run(_ action: ConnectionMachine.Action) {
        switch action {
        case .none:
            break
        case .sendContinue:
            do { try socket.write(HTTPConnection.continueResponse) } catch { writeFailed() }
        case .dispatch(let head, let body):
            sync()
            dispatch(head, body: body)
        case .sendErrorAndClose(let error):
            sendError(status: error.status, message: error.message)
            shutdownAfterWrites()
        case .closeAfterWrites:
            shutdownAfterWrites()
        case .watchDrain:
            // An empty write completes after every write queued before it (libuv keeps order).
            try? socket.write([UInt8](), completion: { [weak self] _ in self?.queueDrained() })
        case .parsePending:
            let bytes = machine.takePending()
            sync()
            bytes.withUnsafeBytes { feed($0) }
        case .close:
            closeNow()
        }
    }

    /// Mirrors the machine's wishes onto the socket and the timer.
    private func sync() {
        guard !isSocketClosed else { return }
        if machine.wantsToRead {
            try? socket.resumeReading()
        } else {
            socket.stopReading()
        }
        let deadline = machine.deadline
        guard deadline != armedDeadline else { return }
        armedDeadline = deadline
        // Every request on a kept-alive connection clears the deadline while it is answered, then
        // sets it later than before. A timer already armed stays armed: firing early or without a
        // deadline it re-arms for the rest or does nothing, which costs less than stopping and
        // re-arming it for every request.
        guard let deadline else { return }
        if let timerDue, timerDue <= deadline.at { return }
        timerDue = deadline.at
        try? timer.start(after: socket.loop.now.duration(to: deadline.at)) { [unowned self] in self.timerFired() }
    }

    private func timerFired() {
        timerDue = nil
        armedDeadline = nil
        if let deadline = machine.deadline, socket.loop.now < deadline.at {
            sync()
            return
        }
        run(machine.timerFired(now: socket.loop.now))
        sync()
    }

    private func queueDrained() {
        run(machine.writeQueueDrained(now: socket.loop.now))
        sync()
    }

    // MARK: Responding

    private func dispatch(_ head: HTTPRequestHead, body: [UInt8]) {
        let version = HTTPVersion(major: 1, minor: head.minorVersion)
        let request = HTTPRequest(method: head.method, target: head.target, headers: head.headers, body: body,
                                  version: version, keepAlive: head.keepAlive,
                                  requestID: server.nextRequestID(), connectionID: id,
                                  remoteAddress: remoteAddress)
        let responder = HTTPResponder(connection: self, version: version,
                                      isHead: request.method == "HEAD", keepAlive: request.keepAlive)
        self.responder = responder
        server.requestStarted()
        server.handler(request, responder)
    }

    func keepAliveAfterResponse(requested: Bool) -> Bool {
        requested && !machine.closesWhenIdle && !server.isShuttingDown
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
                  version: HTTPVersion, firstBytes: [UInt8] = [], last: Bool = false) {
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
        // `last` also ends a chunked body, in the same write.
        if last, case .chunked = framing { outBuffer.append(contentsOf: HTTPConnection.lastChunk) }
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
        machine.writeFailed(now: socket.loop.now)
        sync()
    }

    func responseFinished(keepAlive: Bool) {
        guard machine.isResponding else { return }
        responder = nil
        server.requestFinished()
        run(machine.responseFinished(keepAlive: keepAlive, queuedBytes: socket.writeQueueBytes, now: socket.loop.now))
        sync()
    }

    // MARK: Closing

    private func sendError(status: Int, message: String) {
        let errorBody = server.config.errorBody(status, message)
        outBuffer.removeAll(keepingCapacity: true)
        appendResponseHead(to: &outBuffer, status: status, headers: [("Content-Type", errorBody.contentType)],
                           framing: .contentLength(errorBody.body.count), keepAlive: false,
                           clientVersion: HTTPVersion(major: 1, minor: 1))
        outBuffer.append(contentsOf: errorBody.body)
        flushOut()
    }

    /// Half-closes after the queued response; the machine keeps reading (and dropping) the client's
    /// leftovers until the linger deadline, so a client still sending (an oversized body) reads our
    /// answer rather than a connection reset.
    private func shutdownAfterWrites() {
        guard !isSocketClosed else { return }
        do {
            try socket.shutdown { [weak self] error in
                if error != nil { self?.closeNow() }
            }
        } catch {
            closeNow()
        }
    }

    /// Closes at once. A response still in progress learns that its client is gone.
    func closeNow() {
        guard !isSocketClosed else { return }
        isSocketClosed = true
        machine.closed()
        let responder = self.responder
        self.responder = nil
        timer.close()
        socket.close()
        if responder != nil { server.requestFinished() }
        responder?.clientGone()
    }

    /// Graceful shutdown: idle or half-received connections close now, a response in progress
    /// finishes first and then closes.
    func beginGracefulClose() {
        run(machine.beginGracefulClose())
        sync()
    }

    // MARK: Constants

    static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    static let lastChunk = Array("0\r\n\r\n".utf8)
}

@available(*, unavailable)
extension HTTPConnection: Sendable {}
