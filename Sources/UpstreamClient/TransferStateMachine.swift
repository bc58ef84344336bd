// TransferStateMachine: the lifecycle of one upstream transfer as a value (events in, actions out,
// after async-http-client's `HTTP1ConnectionStateMachine`). It runs no timer and touches no curl
// handle; `UpstreamTransfer` feeds it what curl and the delegate do and carries out what it returns.

/// How curl ended a transfer, as far as the lifecycle cares.
enum CurlOutcome: Equatable, Sendable {
    case ok
    /// `CURLE_OPERATION_TIMEDOUT`: a connect timeout before any answer, the total timeout after.
    case timedOut(String)
    /// Name resolution, TCP or TLS connect failed.
    case couldNotConnect(String)
    /// Anything else (a broken connection, a malformed response, an aborted write).
    case failed(String)
}

/// One transfer's lifecycle: flow control (pause, resume, the data curl holds meanwhile), the stall
/// watch, cancellation inside and outside curl's callbacks, detaching, and how it ended.
///
/// Generic over the clock, so tests drive it with instants of their own. Not thread-safe.
struct TransferStateMachine<Instant: InstantProtocol> where Instant.Duration == Duration {
    /// What to do with one chunk curl hands to the write callback.
    enum BodyAction: Equatable {
        /// Give it to the delegate; when `headFirst`, deliver the head before it (a response whose
        /// header block curl never closed with an empty line).
        case deliver(headFirst: Bool)
        /// Take it without delivering it (detached: draining the connection for reuse).
        case drop
        /// Return `CURL_WRITEFUNC_PAUSE`: curl keeps the chunk and stops reading the socket.
        case pause
        /// Return 0: curl aborts the transfer and reports it done.
        case abort
    }

    enum Action: Equatable {
        case none
        /// (Re)arm the transfer's stall timer to fire after this long.
        case armStallTimer(after: Duration)
        case stopStallTimer
        /// Flow restarts: arm the stall timer (when watched) and, when curl holds a paused chunk,
        /// unpause curl on a later loop turn (`curl_easy_pause` may deliver that chunk at once, so
        /// never from inside the caller) and report it with `unpauseTurnArrived`.
        case resume(stallTimer: Duration?, unpauseCurlLater: Bool)
        /// Remove the easy handle from curl now, stop the stall timer; tell the delegate nothing.
        case release
        /// Remove the easy handle, then report the end to the delegate (if still attached): first
        /// the head when `headFirst` (a complete response without a closed header block).
        case complete(failure: UpstreamFailure?, headFirst: Bool)
        /// Report a failure on a later loop turn (the transfer never reached curl).
        case completeLater(UpstreamFailure)
    }

    private enum Flow: Equatable {
        case flowing
        /// The delegate paused; `curlHoldsData` once curl was told to keep a chunk.
        case paused(curlHoldsData: Bool)
        /// Resumed while curl still holds a chunk: curl is unpaused on the next loop turn.
        case unpausing
    }

    private struct Running {
        var flow = Flow.flowing
        var headDelivered = false
        var bytesReceived = 0
        /// The last read (or resume, or detach), for the stall watch.
        var lastActivity: Instant
        /// Set by `detach`: the stall limit while the rest of the body is read and dropped.
        var detachedGrace: Duration?
        /// The request body is being read by curl (the read callback): until it is all sent, or the
        /// answer begins, the watch is the send timeout's.
        var sending = false
    }

    private enum State {
        case running(Running)
        /// Cancelled from inside a curl callback: the write callback aborts, and curl reports the
        /// transfer done later. Nothing reaches the delegate any more.
        case cancelledInCallback
        case finished
    }

    /// No byte for this long while flowing ends the transfer; nil: not watched.
    let stallTimeout: Duration?
    /// While the request body is sent: no progress for this long ends the transfer (an upstream that
    /// stops reading); nil: not watched.
    let sendTimeout: Duration?
    private var state: State

    init(stallTimeout: Duration?, sendTimeout: Duration? = nil, now: Instant) {
        self.stallTimeout = stallTimeout.flatMap { $0 > .zero ? $0 : nil }
        self.sendTimeout = sendTimeout.flatMap { $0 > .zero ? $0 : nil }
        state = .running(Running(lastActivity: now))
    }

    // MARK: what the transfer reports

    var isPaused: Bool {
        if case .running(let r) = state, case .paused = r.flow { return true }
        return false
    }

    /// Ended, by curl, a failure, a stall or a cancel: no more events reach the delegate.
    var isFinished: Bool {
        if case .running = state { return false }
        return true
    }

    var isCancelled: Bool {
        if case .cancelledInCallback = state { return true }
        return false
    }

    var headDelivered: Bool {
        if case .running(let r) = state { return r.headDelivered }
        return false
    }

    var bytesReceived: Int {
        if case .running(let r) = state { return r.bytesReceived }
        return 0
    }

    var isDetached: Bool {
        if case .running(let r) = state { return r.detachedGrace != nil }
        return false
    }

    // MARK: events

    /// The easy handle went to curl; `sendingBody` when curl reads the body through the callback.
    mutating func started(sendingBody: Bool = false) -> Action {
        guard case .running(var r) = state else { return .none }
        r.sending = sendingBody && sendTimeout != nil
        state = .running(r)
        guard let limit = stallLimit(r) else { return .none }
        return .armStallTimer(after: limit)
    }

    /// curl's read callback took `byteCount` bytes of the request body (0: the body is all sent).
    mutating func bodySent(byteCount: Int, now: Instant) {
        guard case .running(var r) = state, r.sending else { return }
        r.lastActivity = now
        if byteCount == 0 { r.sending = false }
        state = .running(r)
    }

    /// The transfer could not be handed to curl at all.
    mutating func failedToStart(_ failure: UpstreamFailure) -> Action {
        state = .finished
        return .completeLater(failure)
    }

    /// The final header block ended (status 2xx and up). True when the head is to be delivered now.
    mutating func headReceived() -> Bool {
        guard case .running(var r) = state, !r.headDelivered else { return false }
        r.headDelivered = true
        r.sending = false
        state = .running(r)
        return true
    }

    /// curl's write callback with `byteCount` bytes of body.
    mutating func bodyReceived(byteCount: Int, now: Instant) -> BodyAction {
        guard case .running(var r) = state else { return .abort }
        switch r.flow {
        case .paused:
            r.flow = .paused(curlHoldsData: true)
            state = .running(r)
            return .pause
        case .flowing, .unpausing:
            let headFirst = !r.headDelivered
            r.headDelivered = true
            r.sending = false
            r.bytesReceived += byteCount
            r.lastActivity = now
            state = .running(r)
            return r.detachedGrace != nil ? .drop : .deliver(headFirst: headFirst)
        }
    }

    /// The delegate stops the flow (a slow client).
    mutating func pause() -> Action {
        guard case .running(var r) = state else { return .none }
        switch r.flow {
        case .paused:
            return .none
        case .flowing:
            r.flow = .paused(curlHoldsData: false)
        case .unpausing:
            r.flow = .paused(curlHoldsData: true)
        }
        state = .running(r)
        return stallTimeout == nil ? .none : .stopStallTimer
    }

    /// The delegate restarts the flow.
    mutating func resume(now: Instant) -> Action {
        guard case .running(var r) = state, case .paused(let curlHoldsData) = r.flow else { return .none }
        r.flow = curlHoldsData ? .unpausing : .flowing
        r.lastActivity = now
        state = .running(r)
        return .resume(stallTimer: stallLimit(r), unpauseCurlLater: curlHoldsData)
    }

    /// The turn `.resume(unpauseCurlLater: true)` asked for. True when curl is to be unpaused now.
    mutating func unpauseTurnArrived() -> Bool {
        guard case .running(var r) = state, r.flow == .unpausing else { return false }
        r.flow = .flowing
        state = .running(r)
        return true
    }

    /// `curl_easy_pause` returned (it may have delivered held data, and the delegate may have
    /// cancelled meanwhile).
    mutating func unpauseReturned() -> Action {
        guard case .cancelledInCallback = state else { return .none }
        state = .finished
        return .release
    }

    /// The caller has all it needs; the rest of the body is read and dropped so the connection can
    /// be reused, for at most `grace` without a byte.
    mutating func detach(grace: Duration, now: Instant) -> Action {
        guard case .running(var r) = state else { return .none }
        r.detachedGrace = grace
        state = .running(r)
        if case .paused = r.flow { return resume(now: now) }
        guard let limit = stallLimit(r) else { return .none }
        r.lastActivity = now
        state = .running(r)
        return .armStallTimer(after: limit)
    }

    /// The stall timer fired. The clock restarts at every read without moving the timer (that would
    /// cost more per chunk than the chunk's translation), so an early fire re-arms for the rest.
    mutating func stallTimerFired(now: Instant) -> Action {
        guard case .running(let r) = state, let limit = stallLimit(r) else { return .none }
        if case .paused = r.flow { return .none }
        let quiet = r.lastActivity.duration(to: now)
        if quiet < limit { return .armStallTimer(after: limit - quiet) }
        state = .finished
        if r.sending {
            return .complete(failure: .timeout("the upstream took no more of the request for \(limit) (UPSTREAM_SEND_TIMEOUT)"), headFirst: false)
        }
        return .complete(failure: .stalled(stallTimeout ?? limit), headFirst: false)
    }

    /// The owner cancels. Inside a curl callback curl cannot be re-entered: the transfer is
    /// released when curl reports it done (the write callback aborts it).
    mutating func cancel(insideCurlCallback: Bool) -> Action {
        guard case .running = state else { return .none }
        if insideCurlCallback {
            state = .cancelledInCallback
            return .none
        }
        state = .finished
        return .release
    }

    /// curl reported the transfer done.
    mutating func curlFinished(_ outcome: CurlOutcome) -> Action {
        guard case .running(let r) = state else {
            state = .finished
            return .release
        }
        state = .finished
        switch outcome {
        case .ok:
            return .complete(failure: nil, headFirst: !r.headDelivered)
        case .timedOut(let detail):
            let answered = r.headDelivered || r.bytesReceived > 0
            return .complete(failure: answered ? .timeout(detail) : .connect(detail), headFirst: false)
        case .couldNotConnect(let detail):
            return .complete(failure: .connect(detail), headFirst: false)
        case .failed(let detail):
            return .complete(failure: .transport(detail), headFirst: false)
        }
    }

    private func stallLimit(_ r: Running) -> Duration? {
        if r.sending, let sendTimeout { return sendTimeout }
        guard let stallTimeout else { return nil }
        return r.detachedGrace ?? stallTimeout
    }
}

extension TransferStateMachine: Sendable where Instant: Sendable {}
