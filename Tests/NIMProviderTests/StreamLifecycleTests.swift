// The upstream stream's lifecycle without sockets: each event in each phase, and the actions out.

@testable import NIMProvider
import StreamTranslation
import JSON
import TestSupport
import Testing

private typealias Machine = StreamLifecycle<TestInstant>
private typealias Action = Machine.Action

private let overloaded = UpstreamError(type: .overloaded, status: 529, message: "overloaded")
private let badRequest = UpstreamError(type: .invalidRequest, status: 400, message: "bad")
private let connectionError = UpstreamError(type: .api, status: 500, message: "Connection error.")
private let shuttingDown = UpstreamError(type: .api, status: 503, message: "The server is shutting down.")

private func machine(
    models: [String] = ["m1"], delivery: Machine.Delivery = .stream, cap: Bool = false, earlyStart: Duration? = .seconds(240)
) -> Machine {
    var c = Machine.Configuration(models: models)
    c.delivery = delivery
    c.capsConcurrency = cap
    c.earlyStartAfter = earlyStart
    return Machine(c, now: 0)
}

/// A machine driven to `requesting` (slot granted, request sent).
private func requesting(models: [String] = ["m1"], delivery: Machine.Delivery = .stream, cap: Bool = false) -> Machine {
    var m = machine(models: models, delivery: delivery, cap: cap)
    _ = m.begin(now: 0)
    if cap { _ = m.concurrencySlotGranted(now: 0) }
    _ = m.rateSlotGranted(now: 0)
    return m
}

/// Driven to `streaming`: content reached the client.
private func streaming() -> Machine {
    var m = requesting()
    _ = m.headReceived(status: 200, eventStream: true)
    _ = m.contentReady()
    return m
}

@Suite struct StreamLifecycleTests {
    // MARK: the happy path

    @Test func slotThenRequestThenHeldHeadThenContentThenFinish() {
        var m = machine()
        #expect(m.begin(now: 0) == [.requestRateSlot])
        #expect(m.phase == .waitingForRateSlot)
        #expect(m.rateSlotGranted(now: 1) == [.send(model: "m1", freshConnection: false)])
        #expect(m.phase == .requesting)
        // The head is held: a 200 event stream writes nothing yet.
        #expect(m.headReceived(status: 200, eventStream: true) == [])
        #expect(m.translating && !m.contentFlows && !m.responseStarted)
        // The first content starts the response (head, held message_start, content: one write).
        #expect(m.contentReady() == [.startResponse, .firstContent])
        #expect(m.contentFlows)
        #expect(m.contentReady() == [])
        #expect(m.upstreamFinished(transferOpen: true) == [
            .detachTransfer, .finishStream(startingResponse: false), .teardown(.served(model: "m1")),
        ])
        #expect(m.isEnded)
        #expect(m.clientGone() == [] && m.shutdown() == [])
    }

    /// An answer without content (the upstream's body ended at once) still gets its head then.
    @Test func answerWithoutContentStartsTheResponseAtTheEnd() {
        var m = requesting()
        _ = m.headReceived(status: 200, eventStream: true)
        #expect(m.upstreamFinished(transferOpen: false) == [
            .finishStream(startingResponse: true), .firstContent, .teardown(.served(model: "m1")),
        ])
    }

    @Test func slowClientPausesAndResumesTheTransfer() {
        var m = streaming()
        #expect(m.clientBackedUp() == [.pauseTransfer])
        #expect(m.clientBackedUp() == [])
        #expect(m.phase == .streaming(paused: true))
        #expect(m.clientWritable() == [.resumeTransfer])
        #expect(m.clientWritable() == [])
    }

    // MARK: failures before content

    @Test func refusalBeforeContentIsAnHTTPError() {
        var m = requesting()
        _ = m.headReceived(status: 400, eventStream: false)
        #expect(m.phase == .collectingError)
        #expect(m.attemptFailed(.refused(badRequest), now: 1) == [
            .cancelTransfer, .respondError(badRequest), .teardown(.failed(badRequest)),
        ])
    }

    /// A 2xx that is not an event stream is collected as a refusal, not translated.
    @Test func nonEventStreamTwoHundredIsCollectedAsARefusal() {
        var m = requesting()
        _ = m.headReceived(status: 200, eventStream: false)
        #expect(m.phase == .collectingError)
        #expect(!m.translating)
    }

    @Test func rateLimitedWaitsThenAsksForASlotForTheSameModel() {
        var m = requesting()
        _ = m.headReceived(status: 429, eventStream: false)
        #expect(m.attemptFailed(.rateLimited(retryAfter: .seconds(2)), now: 10) == [
            .cancelTransfer, .logRetry(reason: "rate_limited"),
        ])
        #expect(m.phase == .backingOff(until: 12))
        #expect(m.rateLimitRetries == 1)
        #expect(m.nextWakeup == 12)
        #expect(m.timerFired(now: 11) == [])
        #expect(m.timerFired(now: 12) == [.requestRateSlot])
        #expect(m.rateSlotGranted(now: 12) == [.send(model: "m1", freshConnection: false)])
    }

    /// A reset before content: one retry on a new connection, then the error.
    @Test func connectionFailureIsRetriedOnceOnAFreshConnection() {
        var m = requesting()
        #expect(m.attemptFailed(.connection(connectionError), now: 1) == [
            .cancelTransfer, .logRetry(reason: "connection"), .requestRateSlot,
        ])
        #expect(m.rateSlotGranted(now: 1) == [.send(model: "m1", freshConnection: true)])
        #expect(m.attemptFailed(.connection(connectionError), now: 2) == [
            .cancelTransfer, .respondError(connectionError), .teardown(.failed(connectionError)),
        ])
        #expect(m.retries == 1)
    }

    /// A model's failure (5xx, overloaded, 429 after the retries, timeout) moves to the next model;
    /// the request's own failures (400) do not.
    @Test func fallbackToTheNextModelOnlyForTheModelsFailures() {
        var m = requesting(models: ["m1", "m2", "m3"])
        _ = m.headReceived(status: 503, eventStream: false)
        #expect(m.attemptFailed(.refused(overloaded), now: 1) == [
            .cancelTransfer, .logFallback(from: "m1", to: "m2"), .requestRateSlot,
        ])
        #expect(m.rateSlotGranted(now: 1) == [.send(model: "m2", freshConnection: false)])
        #expect(m.modelsTried == ["m1", "m2"])
        _ = m.headReceived(status: 400, eventStream: false)
        #expect(m.attemptFailed(.refused(badRequest), now: 2) == [
            .cancelTransfer, .respondError(badRequest), .teardown(.failed(badRequest)),
        ])
    }

    @Test func theLastModelsFailureIsTheAnswer() {
        var m = requesting(models: ["m1", "m2"])
        _ = m.attemptFailed(.refused(overloaded), now: 1)
        _ = m.rateSlotGranted(now: 1)
        #expect(m.attemptFailed(.refused(overloaded), now: 2) == [
            .cancelTransfer, .respondError(overloaded), .teardown(.failed(overloaded)),
        ])
    }

    /// After the reconnect, a connection failure falls back like any model failure, and the next
    /// model gets its own reconnect.
    @Test func connectionFailureAfterTheRetryFallsBack() {
        var m = requesting(models: ["m1", "m2"])
        _ = m.attemptFailed(.connection(connectionError), now: 1)
        _ = m.rateSlotGranted(now: 1)
        #expect(m.attemptFailed(.connection(connectionError), now: 2) == [
            .cancelTransfer, .logFallback(from: "m1", to: "m2"), .requestRateSlot,
        ])
        #expect(m.rateSlotGranted(now: 2) == [.send(model: "m2", freshConnection: false)])
        #expect(m.attemptFailed(.connection(connectionError), now: 3).contains(.logRetry(reason: "connection")))
    }

    // MARK: failures after content

    @Test func failureAfterContentIsAnErrorEventAndNeverRetried() {
        var m = streaming()
        #expect(m.attemptFailed(.connection(connectionError), now: 1) == [
            .cancelTransfer, .writeErrorEvent(connectionError), .teardown(.failed(connectionError)),
        ])
        var n = StreamLifecycle<TestInstant>(
            .init(models: ["m1", "m2"], delivery: .stream, capsConcurrency: false, earlyStartAfter: nil), now: 0)
        _ = n.begin(now: 0)
        _ = n.rateSlotGranted(now: 0)
        _ = n.headReceived(status: 200, eventStream: true)
        _ = n.contentReady()
        #expect(n.attemptFailed(.refused(overloaded), now: 1) == [
            .cancelTransfer, .writeErrorEvent(overloaded), .teardown(.failed(overloaded)),
        ])
    }

    /// `stream: false`: nothing is sent before the end, so a failure after content was read is
    /// still before anything reached the client: it may fall back, and the end is one message.
    @Test func collectedAnswersFallBackEvenAfterContent() {
        var m = requesting(models: ["m1", "m2"], delivery: .collect)
        _ = m.headReceived(status: 200, eventStream: true)
        #expect(m.contentReady() == [])
        #expect(m.attemptFailed(.refused(overloaded), now: 1).contains(.logFallback(from: "m1", to: "m2")))
        _ = m.rateSlotGranted(now: 1)
        _ = m.headReceived(status: 200, eventStream: true)
        #expect(m.upstreamFinished(transferOpen: true) == [
            .detachTransfer, .respondMessage, .firstContent, .teardown(.served(model: "m2")),
        ])
    }

    // MARK: early start

    /// A wait past the deadline starts the response early with pings; a failure after that is an
    /// SSE error event, not an HTTP status.
    @Test func longWaitForASlotStartsTheStreamEarly() {
        var m = machine(earlyStart: .seconds(240))
        _ = m.begin(now: 0)
        #expect(m.nextWakeup == 240)
        #expect(m.timerFired(now: 239) == [])
        #expect(m.timerFired(now: 240) == [.startEarly, .startPings])
        #expect(m.responseStarted && m.nextWakeup == nil)
        #expect(m.rateSlotGranted(now: 250) == [.stopPings, .send(model: "m1", freshConnection: false)])
        _ = m.headReceived(status: 200, eventStream: true)
        // Content after an early start: the head went already, so no startResponse.
        #expect(m.contentReady() == [.firstContent])
        #expect(m.contentFlows)
    }

    @Test func earlyStartedStreamReportsAFailureBeforeContentAsAnErrorEvent() {
        var m = machine()
        _ = m.begin(now: 0)
        _ = m.timerFired(now: 240)
        _ = m.rateSlotGranted(now: 241)
        #expect(m.attemptFailed(.refused(badRequest), now: 242) == [
            .cancelTransfer, .writeErrorEvent(badRequest), .teardown(.failed(badRequest)),
        ])
    }

    /// The deadline passing while the request is out changes nothing then; a retry's wait after
    /// it starts the response at once, and the waits after an early start ping.
    @Test func deadlinePassedDuringARequestStartsEarlyAtTheNextWait() {
        var m = requesting()
        #expect(m.nextWakeup == nil, "no early start while the upstream has the request")
        #expect(m.timerFired(now: 300) == [])
        _ = m.headReceived(status: 429, eventStream: false)
        #expect(m.attemptFailed(.rateLimited(retryAfter: .seconds(1)), now: 300) == [
            .cancelTransfer, .logRetry(reason: "rate_limited"), .startEarly, .startPings,
        ])
        #expect(m.timerFired(now: 301) == [.requestRateSlot])
        #expect(m.rateSlotGranted(now: 301) == [.stopPings, .send(model: "m1", freshConnection: false)])
        #expect(m.attemptFailed(.rateLimited(retryAfter: .seconds(1)), now: 302) == [
            .cancelTransfer, .logRetry(reason: "rate_limited"), .startPings,
        ])
    }

    /// STREAM_EARLY_START_SECONDS=0: every stream starts at once, as before this setting existed.
    @Test func earlyStartOfZeroStartsEveryStreamAtOnce() {
        var m = machine(earlyStart: .zero)
        #expect(m.begin(now: 5) == [.startEarly, .startPings, .requestRateSlot])
        #expect(m.rateSlotGranted(now: 5) == [.stopPings, .send(model: "m1", freshConnection: false)])
        _ = m.headReceived(status: 503, eventStream: false)
        #expect(m.attemptFailed(.refused(overloaded), now: 6) == [
            .cancelTransfer, .writeErrorEvent(overloaded), .teardown(.failed(overloaded)),
        ])
    }

    @Test func collectedAnswersNeverStartEarly() {
        var m = machine(delivery: .collect)
        _ = m.begin(now: 0)
        #expect(m.nextWakeup == nil)
        #expect(m.timerFired(now: 1000) == [])
        #expect(!m.responseStarted)
    }

    // MARK: the concurrency cap

    @Test func concurrencyPlaceFirstThenRateSlotAndItIsGivenBackAtTheEnd() {
        var m = machine(cap: true)
        #expect(m.begin(now: 0) == [.requestConcurrencySlot])
        #expect(m.phase == .waitingForConcurrency)
        #expect(m.concurrencySlotGranted(now: 1) == [.requestRateSlot])
        #expect(m.holdsConcurrencySlot)
        _ = m.rateSlotGranted(now: 1)
        _ = m.headReceived(status: 200, eventStream: true)
        #expect(m.upstreamFinished(transferOpen: false) == [
            .releaseConcurrencySlot, .finishStream(startingResponse: true), .firstContent, .teardown(.served(model: "m1")),
        ])
    }

    // MARK: client gone and shutdown, in every phase

    /// Each phase, reached by its events: what leaving it must release.
    private static func phases() -> [(String, Machine, [Action])] {
        var list: [(String, Machine, [Action])] = []
        var m = machine(cap: true)
        _ = m.begin(now: 0)
        list.append(("waitingForConcurrency", m, [.leaveConcurrencyQueue]))
        _ = m.concurrencySlotGranted(now: 0)
        list.append(("waitingForRateSlot", m, [.leaveRateQueue, .releaseConcurrencySlot]))
        _ = m.rateSlotGranted(now: 0)
        list.append(("requesting", m, [.cancelTransfer, .releaseConcurrencySlot]))
        var refused = m
        _ = refused.headReceived(status: 500, eventStream: false)
        list.append(("collectingError", refused, [.cancelTransfer, .releaseConcurrencySlot]))
        var backingOff = m
        _ = backingOff.attemptFailed(.rateLimited(retryAfter: .seconds(5)), now: 0)
        list.append(("backingOff", backingOff, [.releaseConcurrencySlot]))
        _ = m.headReceived(status: 200, eventStream: true)
        list.append(("receiving", m, [.cancelTransfer, .releaseConcurrencySlot]))
        _ = m.contentReady()
        list.append(("streaming", m, [.cancelTransfer, .releaseConcurrencySlot]))
        _ = m.clientBackedUp()
        list.append(("paused", m, [.cancelTransfer, .releaseConcurrencySlot]))
        var early = machine(cap: true)
        _ = early.begin(now: 0)
        _ = early.timerFired(now: 240)
        list.append(("waiting after an early start", early, [.leaveConcurrencyQueue, .stopPings]))
        return list
    }

    @Test func clientGoneInEveryPhaseReleasesWhatThePhaseHoldsAndAnswersNothing() {
        for (name, m, releases) in Self.phases() {
            var m = m
            #expect(m.clientGone() == releases + [.teardown(.clientGone)], "\(name)")
            #expect(m.isEnded, "\(name)")
            #expect(m.clientGone() == [], "\(name): one teardown")
            #expect(m.nextWakeup == nil, "\(name)")
        }
    }

    @Test func shutdownInEveryPhaseTellsTheClient() {
        for (name, m, releases) in Self.phases() {
            var m = m
            let answer: Action = m.responseStarted ? .writeErrorEvent(shuttingDown) : .respondError(shuttingDown)
            #expect(m.shutdown() == releases + [answer, .teardown(.failed(shuttingDown))], "\(name)")
            #expect(m.shutdown() == [] && m.clientGone() == [], "\(name): one teardown")
        }
    }

    /// Events that do not belong to the phase change nothing.
    @Test func strayEventsAreIgnored() {
        var m = machine()
        #expect(m.rateSlotGranted(now: 0) == [])
        #expect(m.headReceived(status: 200, eventStream: true) == [])
        #expect(m.contentReady() == [])
        #expect(m.upstreamFinished(transferOpen: true) == [])
        #expect(m.attemptFailed(.refused(badRequest), now: 0) == [])
        #expect(m.phase == .created)
    }
}

@Suite struct FallbackBodyTests {
    /// The builder's body gets the new model in its leading member; everything else is the same bytes.
    @Test func theLeadingModelIsReplaced() throws {
        let body = Array(#"{"model":"a/one","messages":[{"role":"user","content":"{\"model\":\"a/one\"}"}],"stream":true}"#.utf8)
        let replaced = UpstreamStream.replacingModel(in: body, from: "a/one", to: "b/\"two\"")
        #expect(String(decoding: replaced, as: UTF8.self)
            == #"{"model":"b/\"two\"","messages":[{"role":"user","content":"{\"model\":\"a/one\"}"}],"stream":true}"#)
    }

    /// Another layout goes through JSON and still carries the new model.
    @Test func anotherLayoutIsRewrittenThroughJSON() throws {
        let body = Array(#"{"messages":[],"model":"a/one"}"#.utf8)
        let replaced = try JSONValue.parse(UpstreamStream.replacingModel(in: body, from: "a/one", to: "b/two"))
        #expect(replaced == ["messages": [], "model": "b/two"])
    }
}

@Suite struct CollectedMessageTests {
    /// The translator's own events for thinking, text and a tool call become one message.
    @Test func translatorOutputBecomesOneMessage() throws {
        var t = StreamTranslator(model: "m", inputTokens: 7, messageID: "msg_1", countTokens: { _ in 1 },
                                 makeToolID: { _ in "toolu_1" })
        var events = t.start()
        events += t.consume(chunk: ["choices": [["delta": ["reasoning_content": "hmm"]]]])
        events += t.consume(chunk: ["choices": [["delta": ["content": "Hi"]]]])
        events += t.consume(chunk: ["choices": [["delta": ["tool_calls": [
            ["index": 0, "id": "call_1", "function": ["name": "Read", "arguments": #"{"path":"#]],
        ]]]]])
        events += t.consume(chunk: ["choices": [["delta": ["tool_calls": [["index": 0, "function": ["arguments": #""a"}"#]]]],
                                                 "finish_reason": "tool_calls"]],
                                    "usage": ["completion_tokens": 9]])
        events += t.finish()
        let message = try assembleMessage(from: events).get()
        #expect(message == [
            "id": "msg_1", "type": "message", "role": "assistant",
            "content": [
                ["type": "thinking", "thinking": "hmm"],
                ["type": "text", "text": "Hi"],
                ["type": "tool_use", "id": "call_1", "name": "Read", "input": ["path": "a"]],
            ],
            "model": "m", "stop_reason": "tool_use", "stop_sequence": nil, "usage": ["input_tokens": 7, "output_tokens": 9],
        ])
    }

    @Test func bytesWithoutAMessageAreAnError() {
        #expect((try? assembleMessage(from: Array("garbage".utf8)).get()) == nil)
    }
}
