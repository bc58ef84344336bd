// HTTPConnectionStateMachine: what one server connection does next, as a value (in the style of
// async-http-client's HTTP1ConnectionStateMachine): events in, one action out, no I/O. The socket
// side (HTTPServer's HTTPConnection) runs the actions and mirrors two declared wishes after every
// event: `wantsToRead` (read or stop reading the socket) and `deadline` (the one timer).
//
// States:
//   idle          waiting for a request's first byte (deadline: idle, then a silent close)
//   head          request line and headers arriving (deadline: header timeout from the first byte, 408)
//   body          body arriving (deadline: the nearer of the idle time since the last read and the
//                 body's total deadline, 408)
//   responding    the handler owns the response; bytes read meanwhile are kept unparsed (bounded,
//                 then reading stops), which answers pipelined requests strictly in order
//   awaitingDrain a response finished with more than `maxQueuedResponseBytes` unsent: nothing is
//                 read or parsed until the socket took them (backpressure on a client that
//                 pipelines without reading); deadline: idle, then close
//   resuming      kept bytes are parsed from a zero-delay timer, so the handler is never re-entered
//                 from inside a responder call
//   closing       an error or `Connection: close` answer is on its way; reads are drained and
//                 dropped until the peer closes or the linger deadline
//   closed

/// One connection's protocol logic. Generic over the clock so tests drive it with a hand clock.
public struct HTTPConnectionStateMachine<Instant: InstantProtocol> where Instant.Duration == Duration {
    public struct Configuration: Sendable {
        public var limits = HTTPRequestLimits()
        public var headerTimeout: Duration = .seconds(30)
        public var idleTimeout: Duration = .seconds(75)
        /// From a body's first expected byte to its last.
        public var bodyTimeout: Duration = .seconds(120)
        public var lingerTimeout: Duration = .seconds(2)
        /// Unsent response bytes above which the next pipelined request waits.
        public var maxQueuedResponseBytes = 1 << 20
        /// Bytes read during a response and kept for later, above which reading stops.
        public var maxPendingBytes = 128 * 1024

        public init() {}
    }

    public enum TimerPurpose: Sendable, Equatable {
        case idle, head, body, resume, linger, writeFailed
    }

    public struct Deadline: Equatable {
        public var purpose: TimerPurpose
        public var at: Instant

        public init(purpose: TimerPurpose, at: Instant) {
            self.purpose = purpose
            self.at = at
        }
    }

    public enum Action {
        case none
        /// Write `HTTP/1.1 100 Continue`.
        case sendContinue
        /// Hand the request to the application; the machine waits for `responseFinished`.
        case dispatch(HTTPRequestHead, body: [UInt8])
        /// Answer with this error, then close after the writes (the machine is closing).
        case sendErrorAndClose(HTTPParseError)
        /// Half-close after the queued response (the machine is closing).
        case closeAfterWrites
        /// Call `writeQueueDrained` once every byte queued so far reached the socket.
        case watchDrain
        /// Feed `takePending()` through `received`.
        case parsePending
        /// Close the socket now.
        case close
    }

    private enum State: Equatable {
        case idle, head, body, responding, awaitingDrain, resuming, closing, closed
    }

    public let configuration: Configuration
    private var state = State.idle
    private var parser: HTTPRequestParser
    private var pending: [UInt8] = []
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var bodyDeadline: Instant?
    /// Set by a graceful shutdown: close once the response in progress finished.
    public private(set) var closesWhenIdle = false
    /// The timer the connection should have armed (nil: none).
    public private(set) var deadline: Deadline?
    /// Whether the connection should read its socket.
    public private(set) var wantsToRead = true

    public init(configuration: Configuration, now: Instant) {
        self.configuration = configuration
        parser = HTTPRequestParser(limits: configuration.limits)
        setDeadline(.idle, now.advanced(by: configuration.idleTimeout))
    }

    /// Whether the connection waits for a request's first byte.
    public var isIdle: Bool { state == .idle }
    public var isClosed: Bool { state == .closed }
    public var isResponding: Bool { state == .responding }
    /// Bytes read but not yet parsed.
    public var pendingBytes: Int { pending.count }

    // MARK: Events

    /// Bytes from the socket. Consumes a prefix of `input` and returns what to do; call again with
    /// the rest (after running the action) until everything is consumed.
    public mutating func received(_ input: UnsafeRawBufferPointer, now: Instant) -> (consumed: Int, action: Action) {
        switch state {
        case .closing, .closed:
            return (input.count, .none)
        case .responding, .awaitingDrain, .resuming:
            pending.append(contentsOf: input)
            if pending.count > configuration.maxPendingBytes { wantsToRead = false }
            return (input.count, .none)
        case .body:
            armBodyDeadline(now)
        case .idle, .head:
            break
        }
        var offset = 0
        while true {
            let (event, consumed) = parser.parse(UnsafeRawBufferPointer(rebasing: input[offset...]))
            let start = offset
            offset += consumed
            switch event {
            case .needMore:
                if state == .idle && parser.isInsideMessage {
                    state = .head
                    setDeadline(.head, now.advanced(by: configuration.headerTimeout))
                }
                return (offset, .none)
            case .head(let head):
                self.head = head
                guard case .none = head.framing else {
                    startBody(head, now: now)
                    if head.expectsContinue { return (offset, .sendContinue) }
                    continue
                }
            case .body(let range):
                appendBody(UnsafeRawBufferPointer(rebasing: input[(start + range.lowerBound)..<(start + range.upperBound)]))
            case .end:
                // The parser reports a head before every end.
                guard let request = head else {
                    return (input.count, closeWithError(.init(status: 400, message: "Malformed request"), now: now))
                }
                state = .responding
                setDeadline(nil)
                head = nil
                let bytes = body
                body = []
                return (offset, .dispatch(request, body: bytes))
            case .error(let error):
                return (input.count, closeWithError(error, now: now))
            }
        }
    }

    /// Refuses the connection before reading anything (a server at its connection limit).
    public mutating func refuse(_ error: HTTPParseError, now: Instant) -> Action {
        guard state == .idle, !parser.isInsideMessage else { return .none }
        return closeWithError(error, now: now)
    }

    /// The application finished the response. `keepAlive` is what the response ended up with;
    /// `queuedBytes` is how much of what was written has not reached the socket yet.
    public mutating func responseFinished(keepAlive: Bool, queuedBytes: Int, now: Instant) -> Action {
        guard state == .responding else { return .none }
        if !keepAlive {
            enterClosing(now)
            return .closeAfterWrites
        }
        if closesWhenIdle {
            enterClosed()
            return .close
        }
        if queuedBytes > configuration.maxQueuedResponseBytes {
            state = .awaitingDrain
            wantsToRead = false
            setDeadline(.idle, now.advanced(by: configuration.idleTimeout))
            return .watchDrain
        }
        becomeIdleOrResume(now)
        return .none
    }

    /// Every response byte queued before `watchDrain` was written.
    public mutating func writeQueueDrained(now: Instant) -> Action {
        guard state == .awaitingDrain else { return .none }
        becomeIdleOrResume(now)
        return .none
    }

    public mutating func timerFired(now: Instant) -> Action {
        guard let fired = deadline else { return .none }
        deadline = nil
        switch fired.purpose {
        case .idle, .linger, .writeFailed:
            enterClosed()
            return .close
        case .head, .body:
            return closeWithError(HTTPParseError(status: 408, message: "Request timed out"), now: now)
        case .resume:
            return .parsePending
        }
    }

    /// The kept bytes, to feed through `received`; reading resumes.
    public mutating func takePending() -> [UInt8] {
        guard state == .resuming else { return [] }
        state = .idle
        wantsToRead = true
        let bytes = pending
        pending = []
        return bytes
    }

    /// A write to the socket failed (the peer reset). The close goes through the loop so the
    /// application's own write call does not see its client vanish under it; nothing else may
    /// replace this deadline.
    public mutating func writeFailed(now: Instant) {
        guard state != .closed, deadline?.purpose != .writeFailed else { return }
        wantsToRead = false
        deadline = Deadline(purpose: .writeFailed, at: now)
    }

    /// Graceful shutdown: close unless a response is in progress (it closes when it finished).
    public mutating func beginGracefulClose() -> Action {
        closesWhenIdle = true
        switch state {
        case .idle, .head, .body, .resuming, .awaitingDrain:
            // Resuming or waiting connections hold pipelined requests that never started.
            enterClosed()
            return .close
        case .responding, .closing, .closed:
            return .none
        }
    }

    /// The socket closed (peer end, read error, or a close action).
    public mutating func closed() {
        enterClosed()
    }

    // MARK: Transitions

    private mutating func becomeIdleOrResume(_ now: Instant) {
        if pending.isEmpty {
            state = .idle
            wantsToRead = true
            setDeadline(.idle, now.advanced(by: configuration.idleTimeout))
        } else {
            state = .resuming
            setDeadline(.resume, now)
        }
    }

    private mutating func closeWithError(_ error: HTTPParseError, now: Instant) -> Action {
        head = nil
        body = []
        enterClosing(now)
        return .sendErrorAndClose(error)
    }

    private mutating func enterClosing(_ now: Instant) {
        state = .closing
        pending = []
        wantsToRead = true
        setDeadline(.linger, now.advanced(by: configuration.lingerTimeout))
    }

    private mutating func enterClosed() {
        state = .closed
        pending = []
        body = []
        head = nil
        wantsToRead = false
        deadline = nil
    }

    private mutating func setDeadline(_ purpose: TimerPurpose, _ at: Instant) {
        setDeadline(Deadline(purpose: purpose, at: at))
    }

    private mutating func setDeadline(_ new: Deadline?) {
        if deadline?.purpose == .writeFailed { return }
        deadline = new
    }

    // MARK: Body

    private mutating func startBody(_ head: HTTPRequestHead, now: Instant) {
        state = .body
        bodyDeadline = now.advanced(by: configuration.bodyTimeout)
        armBodyDeadline(now)
        if case .contentLength(let length) = head.framing {
            body.reserveCapacity(min(length, Self.initialBodyCapacity))
        }
    }

    private mutating func armBodyDeadline(_ now: Instant) {
        let stall = now.advanced(by: configuration.idleTimeout)
        let at = bodyDeadline.map { min($0, stall) } ?? stall
        setDeadline(.body, at)
    }

    /// Grows by doubling but never past the declared length, so a body of N bytes costs at most
    /// about 1.5 N while it grows (the old buffer and the new one) and N once complete.
    private mutating func appendBody(_ bytes: UnsafeRawBufferPointer) {
        let needed = body.count + bytes.count
        if needed > body.capacity {
            var ceiling = configuration.limits.maxBodyBytes
            if case .contentLength(let length)? = head?.framing { ceiling = length }
            body.reserveCapacity(max(needed, min(body.capacity * 2, ceiling)))
        }
        body.append(contentsOf: bytes)
    }

    static var initialBodyCapacity: Int { 64 * 1024 }
}
