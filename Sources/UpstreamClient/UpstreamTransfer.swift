// UpstreamTransfer: one upstream HTTP exchange. Its lifecycle is `TransferStateMachine`'s; this class
// feeds the machine what curl, the stall timer and the delegate do, and runs the actions it returns.

import CCurl
import EventLoop

/// One upstream HTTP exchange. Loop-confined.
public final class UpstreamTransfer {
    private unowned(unsafe) let owner: CurlMulti
    /// The request as started, except `body` and `headers`, emptied once curl has its own copies
    /// (a long stream need not hold them twice; ten thousand streams feel every few hundred bytes).
    public private(set) var request: UpstreamRequest
    private weak var delegate: UpstreamTransferDelegate?
    private var easy: CurlEasy?
    private var stallTimer: Timer?
    private var machine: TransferStateMachine<LoopInstant>

    private var status = 0
    private var headers: [(name: String, value: String)] = []
    /// True while curl is inside one of our callbacks: curl calls that would re-enter
    /// the multi handle are not allowed then.
    private var inCallback = false
    /// Set from a body delivery until `endDelivery`.
    private var awaitingDeliveryEnd = false
    /// Body for curl's read callback, until the answer begins; nil after (or when not used).
    private var uploadBody: [UInt8]?
    private var uploadOffset = 0
    /// curl reported the transfer done with `CURLE_OK`: its handle may serve another transfer.
    private var endedCleanly = false

    public var isPaused: Bool { machine.isPaused }
    public var isDone: Bool { machine.isFinished }
    /// Bytes of body delivered so far.
    public var bytesReceived: Int { machine.bytesReceived }
    var holdsUploadBody: Bool { uploadBody != nil }

    init(owner: CurlMulti, request: UpstreamRequest, delegate: UpstreamTransferDelegate) {
        self.owner = owner
        self.request = request
        self.delegate = delegate
        machine = TransferStateMachine(stallTimeout: request.stallTimeout, sendTimeout: request.sendTimeout, now: owner.loop.now)
    }

    /// Takes `easy`, configured for the request (with the multi's shared `headerList` for its
    /// headers, when there is one), and starts the stall watch.
    func attach(_ easy: CurlEasy, headerList: UnsafeMutablePointer<curl_slist>?) {
        var easy = easy
        uploadBody = easy.configure(for: request, transfer: Unmanaged.passUnretained(self).toOpaque(), headerList: headerList)
        self.easy = easy
        request.body = []
        request.headers = []
        run(machine.started(sendingBody: uploadBody != nil))
    }

    // MARK: what the delegate calls

    /// Stops body delivery until `resume()`; data curl has already read is kept by
    /// curl, and the socket is no longer read, so memory stays bounded.
    public func pause() {
        run(machine.pause())
    }

    /// Restarts body delivery on a later loop turn.
    public func resume() {
        run(machine.resume(now: owner.loop.now))
    }

    /// Ends the transfer now and closes its connection; the delegate hears nothing more.
    public func cancel() {
        guard !machine.isFinished else { return }
        delegate = nil
        run(machine.cancel(insideCurlCallback: inCallback))
    }

    /// The caller has all it needs (e.g. the stream's `[DONE]`) but the body has not ended:
    /// read and drop the rest so the connection goes back to the pool instead of being closed
    /// (a cancel would close it, and the next request would pay a new connection, and with
    /// TLS a new handshake). The delegate hears nothing more. If nothing arrives for `grace`,
    /// the transfer is cancelled.
    public func detach(grace: Duration = .seconds(5)) {
        guard !machine.isFinished else { return }
        delegate = nil
        run(machine.detach(grace: grace, now: owner.loop.now))
    }

    // MARK: running the machine's actions

    private func run(_ action: TransferStateMachine<LoopInstant>.Action) {
        switch action {
        case .none:
            break
        case .armStallTimer(let after):
            armStallTimer(after: after)
        case .stopStallTimer:
            stallTimer?.stop()
        case .resume(let stallTimeout, let unpauseCurlLater):
            if let stallTimeout { armStallTimer(after: stallTimeout) }
            if unpauseCurlLater { owner.runLater { [self] in unpauseCurl() } }
        case .release:
            owner.remove(self)
        case .complete(let failure, let headFirst):
            let d = delegate
            owner.remove(self)
            if headFirst { d?.transferDidReceiveHead(self, status: status, headers: headers) }
            d?.transferDidComplete(self, failure: failure)
        case .completeLater(let failure):
            let d = delegate
            // Delivered on a later turn so the caller of start() is never re-entered.
            owner.runLater { [self] in d?.transferDidComplete(self, failure: failure) }
        }
    }

    private func armStallTimer(after delay: Duration) {
        if stallTimer == nil { stallTimer = owner.takeTimer() }
        try? stallTimer?.start(after: delay) { [unowned self] in
            run(machine.stallTimerFired(now: owner.loop.now))
        }
    }

    private func unpauseCurl() {
        guard machine.unpauseTurnArrived(), let easy else { return }
        inCallback = true
        curl_easy_pause(easy.handle, ccurl_pause_cont)
        inCallback = false
        run(machine.unpauseReturned())
    }

    // MARK: curl callbacks

    func headerLine(_ data: UnsafeRawBufferPointer) {
        // Worked on as bytes: String splitting and lowercasing cost more per line than the rest
        // of a short stream's setup. CR and LF are trimmed as bytes ("\r\n" is one Character).
        var end = data.count
        while end > 0, data[end - 1] == 10 || data[end - 1] == 13 { end -= 1 }
        if end == 0 {
            // End of one header block; a 1xx block is followed by the real one.
            if status >= 200 && machine.headReceived() { deliverHead() }
            return
        }
        let line = UnsafeRawBufferPointer(rebasing: data[0..<end])
        if line.starts(with: "HTTP/".utf8) {
            status = Self.parseStatus(line)
            headers.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return }
        var valueStart = colon + 1
        while valueStart < end, line[valueStart] == 32 || line[valueStart] == 9 { valueStart += 1 }
        let name = UnsafeRawBufferPointer(rebasing: line[0..<colon])
        let value = UnsafeRawBufferPointer(rebasing: line[valueStart..<end])
        guard let nameText = Self.lowercased(name), let valueText = String(validating: value, as: UTF8.self)
        else { return }
        headers.append((name: nameText, value: valueText))
    }

    /// A header name in lower case (ASCII letters only); nil when it is not UTF-8. Names are ASCII
    /// tokens, written into the string directly; validating a lazily lowercased sequence cost
    /// about 3 k instructions a header, more than the rest of the line.
    static func lowercased(_ name: UnsafeRawBufferPointer) -> String? {
        guard name.allSatisfy({ $0 < 0x80 }) else {
            return String(validating: name.lazy.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
        }
        return String(unsafeUninitializedCapacity: name.count) { out in
            for (i, b) in name.enumerated() { out[i] = b >= 65 && b <= 90 ? b + 32 : b }
            return name.count
        }
    }

    /// The code of a status line ("HTTP/1.1 200 OK", "HTTP/2 429"), 0 when there is none.
    static func parseStatus(_ line: UnsafeRawBufferPointer) -> Int {
        guard var i = line.firstIndex(of: 32) else { return 0 }
        while i < line.count, line[i] == 32 { i += 1 }
        var code = 0
        var digits = 0
        while i < line.count, line[i] >= 48, line[i] <= 57, digits < 3 {
            code = code * 10 + Int(line[i] - 48)
            digits += 1
            i += 1
        }
        return digits == 3 && (i == line.count || line[i] == 32) ? code : 0
    }

    private func deliverHead() {
        // The answer has begun: nothing will be sent or resent.
        uploadBody = nil
        inCallback = true
        delegate?.transferDidReceiveHead(self, status: status, headers: headers)
        inCallback = false
        headers = []
    }

    /// Returns the number of bytes taken, `CURL_WRITEFUNC_PAUSE`, or 0 to abort.
    func body(_ data: UnsafeRawBufferPointer) -> Int {
        switch machine.bodyReceived(byteCount: data.count, now: owner.loop.now) {
        case .abort:
            return 0
        case .pause:
            return Int(ccurl_writefunc_pause)
        case .drop:
            return data.count
        case .deliver(let headFirst):
            if headFirst {
                deliverHead()
                if machine.isFinished { return 0 }
            }
            inCallback = true
            delegate?.transferDidReceiveBody(self, data)
            inCallback = false
            if !awaitingDeliveryEnd {
                awaitingDeliveryEnd = true
                owner.delivered.append(self)
            }
            return machine.isFinished ? 0 : data.count
        }
    }

    func endDelivery() {
        awaitingDeliveryEnd = false
        guard !machine.isCancelled else { return }
        delegate?.transferDidEndDelivery(self)
    }

    func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let body = uploadBody else { return 0 }
        let n = min(buffer.count, body.count - uploadOffset)
        body.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + uploadOffset, byteCount: n)
        }
        uploadOffset += n
        machine.bodySent(byteCount: n, now: owner.loop.now)
        return n
    }

    func seekBody(to offset: Int, origin: Int32) -> Int32 {
        guard let body = uploadBody, origin == SEEK_SET, offset >= 0, offset <= body.count else {
            return Int32(ccurl_seekfunc_cantseek)
        }
        uploadOffset = offset
        return Int32(ccurl_seekfunc_ok)
    }

    // MARK: completion

    /// curl reported the transfer done (outside its callbacks).
    func finished(result: CURLcode) {
        let outcome: CurlOutcome
        switch result {
        case CURLE_OK:
            endedCleanly = true
            outcome = .ok
        case CURLE_OPERATION_TIMEDOUT:
            outcome = .timedOut(easy?.errorDetail(result) ?? "")
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY,
            CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION:
            outcome = .couldNotConnect(easy?.errorDetail(result) ?? "")
        default:
            outcome = .failed(easy?.errorDetail(result) ?? "")
        }
        run(machine.curlFinished(outcome))
    }

    func failBeforeStart(_ failure: UpstreamFailure) {
        run(machine.failedToStart(failure))
    }

    /// Gives the easy handle (removed from the multi) and the stall timer back to the multi.
    func releaseEasy() {
        if let easy { owner.giveBack(easy, reusable: endedCleanly) }
        easy = nil
        if let stallTimer { owner.giveBack(stallTimer) }
        stallTimer = nil
    }
}

@available(*, unavailable)
extension UpstreamTransfer: Sendable {}
