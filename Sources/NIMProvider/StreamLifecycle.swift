// StreamLifecycle: one `/v1/messages` request's upstream side as a value (events in, actions out,
// after `TransferStateMachine` and `HTTPConnectionStateMachine`). It touches no socket, timer or
// curl handle; `UpstreamStream` feeds it what the slots, the transfer, the client and the timers do
// and carries out the actions it returns, in order.
//
// Phases:
//   created               nothing asked yet
//   waitingForConcurrency in NIMProvider's first-come first-served queue (PROVIDER_MAX_CONCURRENCY)
//   waitingForRateSlot    in the rate limiter's queue; every attempt (retry, reconnect, fallback) takes a slot
//   requesting            posted; no answer head yet
//   receiving             a 2xx event stream: translating, nothing of the answer sent yet (held head)
//   collectingError       a refusal (non-2xx, or a 2xx that is not an event stream): its body arriving
//   backingOff            waiting out a 429's delay before asking for a rate slot again
//   streaming             content reached the client: no retry or fallback any more; `paused` while
//                         the client's write queue is full
//   ended
//
// Until content reaches the client nothing is written: a failure then is an HTTP error. Only a wait
// (for a slot or a backoff) that outlasts `earlyStartAfter` from the request's arrival starts the
// response early (head, `message_start`, pings); after that a failure is an SSE `error` event.

import StreamTranslation

/// Why one upstream attempt failed, as the shell read it.
enum AttemptFailure: Equatable {
    /// Could not connect, or the connection broke before any content: retried once on a new
    /// connection, then treated as `refused`.
    case connection(UpstreamError)
    /// A 429 the rate limiter retries after this delay (its backoff or the upstream's `Retry-After`).
    case rateLimited(retryAfter: Duration)
    /// Anything else. Before content, the next fallback model is tried when the error is the
    /// model's (429 after the limiter's retries, 5xx, overloaded, timeout); else it is the answer.
    case refused(UpstreamError)
    /// The prompt fits but prompt plus `max_tokens` does not: sent again once, at once, to the same
    /// model with a `max_tokens` that fits (the shell rewrites the body); then treated as `refused`.
    case completionBudget(UpstreamError)

    var error: UpstreamError? {
        switch self {
        case .connection(let e), .refused(let e), .completionBudget(let e): return e
        case .rateLimited: return nil
        }
    }
}

/// How one stream ended.
public enum StreamOutcome: Sendable, Equatable {
    /// The answer arrived whole; `model` served it.
    case served(model: String)
    case failed(UpstreamError)
    case clientGone
}

/// One request's upstream lifecycle. Generic over the clock so tests drive it by hand.
/// Not thread-safe: owned by its `UpstreamStream`.
struct StreamLifecycle<Instant: InstantProtocol> where Instant.Duration == Duration {
    /// How the client gets the answer.
    enum Delivery: Equatable {
        /// `stream: true`: Anthropic SSE as it arrives.
        case stream
        /// `stream: false`: one JSON message at the end. Nothing is sent before, so no early start,
        /// and a failure anywhere before the end may still be retried or fall back.
        case collect
    }

    struct Configuration {
        /// The request's model, then its fallbacks in order.
        var models: [String]
        var delivery: Delivery = .stream
        /// Wait for a place under PROVIDER_MAX_CONCURRENCY first.
        var capsConcurrency = false
        /// From the request's arrival; nil: never start early.
        var earlyStartAfter: Duration? = nil
        /// Retries on a new connection after a connection failure, per model.
        var reconnects = 1
    }

    typealias Outcome = StreamOutcome

    enum Action: Equatable {
        case requestConcurrencySlot
        case leaveConcurrencyQueue
        case releaseConcurrencySlot
        case requestRateSlot
        case leaveRateQueue
        /// Post the request for `model` (a fresh parser and translator); `freshConnection` forbids
        /// reusing a pooled connection (the retry after a reset).
        case send(model: String, freshConnection: Bool)
        /// Head and `message_start` now, before any content (a long wait).
        case startEarly
        case startPings
        case stopPings
        /// Head, the held `message_start` and the first content in one write.
        case startResponse
        /// The answer's first content leaves now (with `startResponse`, a `finishStream` or a
        /// `respondMessage`): the time to first content ends here.
        case firstContent
        case pauseTransfer
        case resumeTransfer
        /// End the transfer, if one is open; nothing more is heard from it.
        case cancelTransfer
        /// The answer is complete: let the rest of the body drain so the connection is reused.
        case detachTransfer
        case logRetry(reason: String)
        case logFallback(from: String, to: String)
        /// Before anything was sent: an HTTP error in Anthropic's shape.
        case respondError(UpstreamError)
        /// After the head: an SSE `error` event, then the body ends (no `message_stop`).
        case writeErrorEvent(UpstreamError)
        /// The translator's last events and the end of the body; `startingResponse` when the head
        /// has not been sent yet (an answer that ended without content).
        case finishStream(startingResponse: Bool)
        /// `stream: false`: the collected answer as one JSON message.
        case respondMessage
        /// The one way out: every handle is released. Always the last action.
        case teardown(Outcome)
    }

    enum Phase: Equatable {
        case created, waitingForConcurrency, waitingForRateSlot, requesting, receiving, collectingError
        case backingOff(until: Instant)
        case streaming(paused: Bool)
        case ended
    }

    let configuration: Configuration
    private(set) var phase = Phase.created
    /// Index into `configuration.models` of the model being tried.
    private(set) var modelIndex = 0
    /// 429 retries of the current model (the limiter's backoff schedule counts these).
    private(set) var rateLimitRetries = 0
    private var reconnectsUsed = 0
    private var completionBudgetRetried = false
    private var nextSendIsFresh = false
    /// Retries and reconnects over all models, for the log.
    private(set) var retries = 0
    /// Head sent (early, or with the first content).
    private(set) var responseStarted = false
    private(set) var holdsConcurrencySlot = false
    private var pinging = false
    private let earlyStartAt: Instant?
    private var earlyStartPassed = false

    init(_ configuration: Configuration, now: Instant) {
        precondition(!configuration.models.isEmpty, "a stream needs a model")
        self.configuration = configuration
        earlyStartAt = configuration.delivery == .stream ? configuration.earlyStartAfter.map { now.advanced(by: $0) } : nil
    }

    var model: String { configuration.models[modelIndex] }
    /// The models asked so far, in order.
    var modelsTried: [String] { Array(configuration.models[...modelIndex]) }

    /// True while translated output goes straight to the client (the per-chunk path asks this).
    var contentFlows: Bool {
        if case .streaming = phase { return true }
        return false
    }

    /// True while the upstream's body is an event stream to translate.
    var translating: Bool {
        switch phase {
        case .receiving, .streaming: return true
        default: return false
        }
    }

    var isEnded: Bool { phase == .ended }

    /// When `timerFired` is next wanted; the shell keeps one timer at this instant.
    var nextWakeup: Instant? {
        var wake: Instant?
        if case .backingOff(let until) = phase { wake = until }
        if !responseStarted, !earlyStartPassed, let at = earlyStartAt, isWaiting {
            wake = wake.map { min($0, at) } ?? at
        }
        return wake
    }

    private var isWaiting: Bool {
        switch phase {
        case .waitingForConcurrency, .waitingForRateSlot, .backingOff: return true
        default: return false
        }
    }

    // MARK: events

    mutating func begin(now: Instant) -> [Action] {
        guard phase == .created else { return [] }
        if configuration.capsConcurrency {
            phase = .waitingForConcurrency
            return waitStarted(now: now) + [.requestConcurrencySlot]
        }
        return askForRateSlot(now: now)
    }

    mutating func concurrencySlotGranted(now: Instant) -> [Action] {
        guard phase == .waitingForConcurrency else { return [] }
        holdsConcurrencySlot = true
        return askForRateSlot(now: now)
    }

    mutating func rateSlotGranted(now: Instant) -> [Action] {
        guard phase == .waitingForRateSlot else { return [] }
        phase = .requesting
        var actions: [Action] = []
        if pinging {
            pinging = false
            actions.append(.stopPings)
        }
        actions.append(.send(model: model, freshConnection: nextSendIsFresh))
        nextSendIsFresh = false
        return actions
    }

    /// The answer's head: `eventStream` when it is a 2xx `text/event-stream` (or says no type).
    mutating func headReceived(status: Int, eventStream: Bool) -> [Action] {
        guard phase == .requesting else { return [] }
        phase = (200..<300).contains(status) && eventStream ? .receiving : .collectingError
        return []
    }

    /// Translated content is ready to leave (stream delivery only).
    mutating func contentReady() -> [Action] {
        guard phase == .receiving, configuration.delivery == .stream else { return [] }
        phase = .streaming(paused: false)
        if responseStarted { return [.firstContent] }
        responseStarted = true
        return [.startResponse, .firstContent]
    }

    /// The upstream's answer ended well: `[DONE]` (`transferOpen`: its body may still be draining)
    /// or the body's end.
    mutating func upstreamFinished(transferOpen: Bool) -> [Action] {
        guard translating else { return [] }
        // Without content so far, the answer's first bytes are its last.
        let first: [Action] = phase == .receiving ? [.firstContent] : []
        let last: Action
        switch configuration.delivery {
        case .stream: last = .finishStream(startingResponse: !responseStarted)
        case .collect: last = .respondMessage
        }
        responseStarted = true
        return end(outcome: .served(model: model), response: [last] + first, transfer: transferOpen ? [.detachTransfer] : [])
    }

    /// The attempt failed (the shell has read the refusal's body, or the transfer broke).
    mutating func attemptFailed(_ failure: AttemptFailure, now: Instant) -> [Action] {
        switch phase {
        case .requesting, .receiving, .collectingError: break
        case .streaming:
            // Content reached the client: whatever failed, the stream ends with its error. (A 429
            // is read from a refusal's head, so it never arrives here; it still ends the stream.)
            return endWithError(failure.error ?? UpstreamError(type: .rateLimit, status: 429, message: "Rate limited."))
        default: return []
        }
        switch failure {
        case .rateLimited(let delay):
            rateLimitRetries += 1
            retries += 1
            phase = .backingOff(until: now.advanced(by: delay))
            return [.cancelTransfer, .logRetry(reason: "rate_limited")] + waitStarted(now: now)
        case .connection(let error):
            if reconnectsUsed < configuration.reconnects {
                reconnectsUsed += 1
                retries += 1
                nextSendIsFresh = true
                return [.cancelTransfer, .logRetry(reason: "connection")] + askForRateSlot(now: now)
            }
            return fallBackOrFail(error, now: now)
        case .refused(let error):
            return fallBackOrFail(error, now: now)
        case .completionBudget(let error):
            guard !completionBudgetRetried else { return fallBackOrFail(error, now: now) }
            completionBudgetRetried = true
            retries += 1
            return [.cancelTransfer, .logRetry(reason: "completion_budget")] + askForRateSlot(now: now)
        }
    }

    /// The client's write queue filled up.
    mutating func clientBackedUp() -> [Action] {
        guard phase == .streaming(paused: false) else { return [] }
        phase = .streaming(paused: true)
        return [.pauseTransfer]
    }

    mutating func clientWritable() -> [Action] {
        guard phase == .streaming(paused: true) else { return [] }
        phase = .streaming(paused: false)
        return [.resumeTransfer]
    }

    mutating func clientGone() -> [Action] {
        guard phase != .ended else { return [] }
        return end(outcome: .clientGone, response: [])
    }

    mutating func timerFired(now: Instant) -> [Action] {
        var actions: [Action] = []
        if !responseStarted, !earlyStartPassed, let at = earlyStartAt, now >= at {
            earlyStartPassed = true
            if isWaiting { actions += startEarly() }
        }
        if case .backingOff(let until) = phase, now >= until {
            phase = .waitingForRateSlot
            actions.append(.requestRateSlot)
        }
        return actions
    }

    /// The server is stopping: the client hears so (an HTTP 503, or an SSE error after the head).
    mutating func shutdown() -> [Action] {
        guard phase != .ended else { return [] }
        return endWithError(UpstreamError(type: .api, status: 503, message: "The server is shutting down."))
    }

    // MARK: transitions

    private mutating func askForRateSlot(now: Instant) -> [Action] {
        phase = .waitingForRateSlot
        return waitStarted(now: now) + [.requestRateSlot]
    }

    /// Entering a wait: pings when the response has started, or start it if the wait is already
    /// past the early-start deadline (a retry or fallback after a long wait).
    private mutating func waitStarted(now: Instant) -> [Action] {
        if !responseStarted, let at = earlyStartAt, now >= at {
            earlyStartPassed = true
            return startEarly()
        }
        if responseStarted, !pinging {
            pinging = true
            return [.startPings]
        }
        return []
    }

    private mutating func startEarly() -> [Action] {
        guard !responseStarted else { return [] }
        responseStarted = true
        pinging = true
        return [.startEarly, .startPings]
    }

    private mutating func fallBackOrFail(_ error: UpstreamError, now: Instant) -> [Action] {
        guard Self.modelFailed(error), modelIndex + 1 < configuration.models.count else { return endWithError(error) }
        let from = model
        modelIndex += 1
        rateLimitRetries = 0
        reconnectsUsed = 0
        completionBudgetRetried = false
        nextSendIsFresh = false
        return [.cancelTransfer, .logFallback(from: from, to: model)] + askForRateSlot(now: now)
    }

    /// The failures another model may not share: rate limits (per model on NIM), server errors,
    /// overload, timeouts and lost connections (the error mapping decides which those are).
    static func modelFailed(_ error: UpstreamError) -> Bool {
        error.fallbackMayHelp
    }

    private mutating func endWithError(_ error: UpstreamError) -> [Action] {
        end(outcome: .failed(error), response: [responseStarted ? .writeErrorEvent(error) : .respondError(error)])
    }

    /// The single way to `ended`: leave whatever queue or transfer the phase holds, stop pings,
    /// give back the concurrency place, answer, tear down.
    private mutating func end(outcome: Outcome, response: [Action], transfer: [Action] = [.cancelTransfer]) -> [Action] {
        var actions: [Action] = []
        switch phase {
        case .waitingForConcurrency: actions.append(.leaveConcurrencyQueue)
        case .waitingForRateSlot: actions.append(.leaveRateQueue)
        case .requesting, .receiving, .collectingError, .streaming: actions += transfer
        case .created, .backingOff, .ended: break
        }
        phase = .ended
        if pinging {
            pinging = false
            actions.append(.stopPings)
        }
        if holdsConcurrencySlot {
            holdsConcurrencySlot = false
            actions.append(.releaseConcurrencySlot)
        }
        return actions + response + [.teardown(outcome)]
    }
}

extension StreamLifecycle: Sendable where Instant: Sendable {}
