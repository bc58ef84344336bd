import HTTP1
import Testing
import TestSupport

typealias Machine = HTTPConnectionStateMachine<TestInstant>

/// A machine on a hand clock, fed as the server's connection feeds it: each action is recorded and
/// the rest of the input fed again.
struct Driver {
    var machine: Machine
    var now: TestInstant = 0
    var actions: [String] = []
    var dispatched: [(head: HTTPRequestHead, body: [UInt8])] = []

    init(_ configure: (inout Machine.Configuration) -> Void = { _ in }) {
        var configuration = Machine.Configuration()
        configuration.headerTimeout = .seconds(30)
        configuration.idleTimeout = .seconds(5)
        configuration.bodyTimeout = .seconds(10)
        configuration.lingerTimeout = .seconds(2)
        configuration.maxQueuedResponseBytes = 1000
        configuration.maxPendingBytes = 100
        configure(&configuration)
        machine = Machine(configuration: configuration, now: 0)
    }

    mutating func feed(_ text: String) { feed(Array(text.utf8)) }

    mutating func feed(_ bytes: [UInt8]) {
        var offset = 0
        while true {
            let (consumed, action) = bytes.withUnsafeBytes {
                machine.received(UnsafeRawBufferPointer(rebasing: $0[offset...]), now: now)
            }
            offset += consumed
            record(action)
            if offset >= bytes.count { return }
            if consumed == 0, case .none = action { return }
        }
    }

    mutating func record(_ action: Machine.Action) {
        switch action {
        case .none: break
        case .sendContinue: actions.append("continue")
        case .dispatch(let head, let body):
            actions.append("dispatch \(head.target)")
            dispatched.append((head, body))
        case .sendErrorAndClose(let error): actions.append("error \(error.status)")
        case .closeAfterWrites: actions.append("closeAfterWrites")
        case .watchDrain: actions.append("watchDrain")
        case .parsePending: actions.append("parsePending")
        case .close: actions.append("close")
        }
    }

    mutating func finish(keepAlive: Bool = true, queued: Int = 0) {
        record(machine.responseFinished(keepAlive: keepAlive, queuedBytes: queued, now: now))
    }

    mutating func advance(to instant: TestInstant) {
        now = instant
    }

    func deadline(is purpose: Machine.TimerPurpose, at instant: TestInstant) -> Bool {
        machine.deadline == Machine.Deadline(purpose: purpose, at: instant)
    }

    /// Fires the timer at its deadline.
    mutating func fire() {
        guard let deadline = machine.deadline else {
            Issue.record("no deadline armed")
            return
        }
        now = deadline.at
        record(machine.timerFired(now: now))
    }

    mutating func resume() {
        fire()
        let bytes = machine.takePending()
        feed(bytes)
    }
}

@Suite struct ConnectionStateMachineTests {
    @Test func aFreshConnectionWaitsWithTheIdleDeadline() {
        var d = Driver()
        #expect(d.deadline(is: .idle, at: 5))
        #expect(d.machine.wantsToRead)
        d.fire()
        #expect(d.actions == ["close"])
        #expect(d.machine.isClosed)
    }

    /// Blank lines between requests neither start one nor extend the idle time; the first byte of
    /// a request line starts the header deadline.
    @Test func theFirstByteStartsTheHeaderDeadlineAndTheRequestIsDispatched() {
        var d = Driver()
        d.advance(to: 1)
        d.feed("\r\n\r\n")
        #expect(d.deadline(is: .idle, at: 5))
        #expect(d.machine.isIdle)
        d.feed("GET / HT")
        #expect(d.deadline(is: .head, at: 31))
        d.feed("TP/1.1\r\n\r\n")
        #expect(d.actions == ["dispatch /"])
        #expect(d.machine.deadline == nil)
        #expect(d.machine.isResponding)
        d.advance(to: 2)
        d.finish()
        #expect(d.deadline(is: .idle, at: 7))
        #expect(d.machine.isIdle)
    }

    @Test func slowHeadersGet408ThenTheConnectionLingers() {
        var d = Driver()
        d.feed("GET / HTTP/1.1\r\n")
        d.fire()
        #expect(d.actions == ["error 408"])
        #expect(d.deadline(is: .linger, at: 32))
        #expect(d.machine.wantsToRead)
        d.feed("more bytes are drained")
        #expect(d.actions == ["error 408"])
        d.fire()
        #expect(d.actions == ["error 408", "close"])
    }

    @Test func aBodyIsCollectedAcrossReads() {
        var d = Driver()
        d.feed("POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123")
        d.feed("456")
        d.feed("789GET /next HTTP/1.1\r\n\r\n")
        #expect(d.actions == ["dispatch /p"])
        #expect(d.dispatched.first.map { String(decoding: $0.body, as: UTF8.self) } == "0123456789")
        #expect(d.machine.pendingBytes == "GET /next HTTP/1.1\r\n\r\n".utf8.count)
    }

    @Test func aStalledBodyGets408AfterTheIdleTime() {
        var d = Driver()
        d.feed("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        #expect(d.deadline(is: .body, at: 5))
        d.advance(to: 4)
        d.feed("d")
        #expect(d.deadline(is: .body, at: 9))
        d.fire()
        #expect(d.actions == ["error 408"])
    }

    @Test func aTrickledBodyGets408AtItsTotalDeadline() {
        var d = Driver()
        d.feed("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
        for second in 1...9 {
            d.advance(to: TestInstant(integerLiteral: Int64(second)))
            d.feed("x")
        }
        // Each byte came within the idle time, but the body's total time ends at 10 s.
        #expect(d.deadline(is: .body, at: 10))
        d.fire()
        #expect(d.actions == ["error 408"])
        #expect(d.dispatched.isEmpty)
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() {
        var d = Driver()
        d.feed("POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        #expect(d.actions == ["continue"])
        d.feed("ok")
        #expect(d.actions == ["continue", "dispatch /"])
    }

    @Test func anOversizedDeclaredBodyIsRefusedWithoutContinue() {
        var d = Driver { $0.limits.maxBodyBytes = 10 }
        d.feed("POST / HTTP/1.1\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        #expect(d.actions == ["error 413"])
    }

    @Test func pipelinedRequestsWaitForTheResponseInProgress() {
        var d = Driver()
        d.feed("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n")
        #expect(d.actions == ["dispatch /1"])
        d.advance(to: 1)
        d.finish()
        // Parsed from a zero-delay timer, never from inside the responder's call.
        #expect(d.deadline(is: .resume, at: 1))
        d.resume()
        #expect(d.actions == ["dispatch /1", "parsePending", "dispatch /2"])
        d.finish()
        d.resume()
        #expect(d.actions == ["dispatch /1", "parsePending", "dispatch /2", "parsePending", "dispatch /3"])
        d.finish()
        #expect(d.machine.isIdle)
        #expect(d.machine.wantsToRead)
    }

    @Test func aResponseFinishedWithinTheReadLetsTheNextRequestGoOn() {
        var d = Driver()
        let bytes = Array("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n".utf8)
        var offset = 0
        while offset < bytes.count {
            let (consumed, action) = bytes.withUnsafeBytes {
                d.machine.received(UnsafeRawBufferPointer(rebasing: $0[offset...]), now: d.now)
            }
            offset += consumed
            d.record(action)
            if case .dispatch = action { d.finish() }
        }
        #expect(d.actions == ["dispatch /1", "dispatch /2"])
        #expect(d.machine.isIdle)
        #expect(d.machine.pendingBytes == 0)
    }

    @Test func bytesKeptDuringAResponseAreBounded() {
        var d = Driver()
        d.feed("GET / HTTP/1.1\r\n\r\n")
        d.feed([UInt8](repeating: 0x41, count: 60))
        #expect(d.machine.wantsToRead)
        d.feed([UInt8](repeating: 0x41, count: 60))
        #expect(!d.machine.wantsToRead)
    }

    @Test func unsentResponsesOverTheLimitStopReadingUntilTheyDrain() {
        var d = Driver()
        d.feed("GET /1 HTTP/1.1\r\n\r\n")
        d.finish(queued: 1001)
        #expect(d.actions == ["dispatch /1", "watchDrain"])
        #expect(!d.machine.wantsToRead)
        // Bytes already read are kept, not parsed.
        d.feed("GET /2 HTTP/1.1\r\n\r\n")
        #expect(d.actions == ["dispatch /1", "watchDrain"])
        d.advance(to: 1)
        d.record(d.machine.writeQueueDrained(now: d.now))
        d.resume()
        #expect(d.actions == ["dispatch /1", "watchDrain", "parsePending", "dispatch /2"])
        d.finish(queued: 1000)
        #expect(d.machine.isIdle)
        #expect(d.machine.wantsToRead)
    }

    @Test func aClientThatNeverReadsIsClosedAfterTheIdleTime() {
        var d = Driver()
        d.feed("GET /1 HTTP/1.1\r\n\r\n")
        d.finish(queued: 5000)
        #expect(d.machine.deadline?.purpose == .idle)
        d.fire()
        #expect(d.actions.last == "close")
    }

    @Test func connectionCloseEndsAfterTheWrites() {
        var d = Driver()
        d.feed("GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n")
        #expect(d.dispatched.first?.head.keepAlive == false)
        d.finish(keepAlive: false)
        #expect(d.actions == ["dispatch /", "closeAfterWrites"])
        #expect(d.machine.deadline?.purpose == .linger)
        #expect(d.machine.pendingBytes == 0)
    }

    @Test func malformedInputIsAnsweredAndTheRestDropped() {
        var d = Driver()
        d.feed("GET /health HTTP/9.9\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        #expect(d.actions == ["error 505"])
        #expect(d.dispatched.isEmpty)
    }

    @Test func gracefulCloseWaitsForTheResponseInProgress() {
        var fresh = Driver()
        #expect(fresh.machine.beginGracefulClose().isClose)
        var idle = Driver()
        idle.feed("GET / HTTP/1.1\r\n\r\n")
        #expect(idle.machine.beginGracefulClose().isNone)
        #expect(idle.machine.closesWhenIdle)
        idle.finish()
        #expect(idle.actions == ["dispatch /", "close"])
    }

    @Test func aFailedWriteWinsOverLaterDeadlines() {
        var d = Driver()
        d.feed("GET / HTTP/1.1\r\n\r\n")
        d.advance(to: 1)
        d.machine.writeFailed(now: d.now)
        #expect(d.deadline(is: .writeFailed, at: 1))
        #expect(!d.machine.wantsToRead)
        d.finish()
        #expect(d.deadline(is: .writeFailed, at: 1))
        d.fire()
        #expect(d.actions.last == "close")
    }

    @Test func aRefusedConnectionIsAnsweredAndLingers() {
        var d = Driver()
        d.record(d.machine.refuse(HTTPParseError(status: 503, message: "busy"), now: d.now))
        #expect(d.actions == ["error 503"])
        #expect(d.machine.deadline?.purpose == .linger)
    }

    @Test func aLargeBodyGrowsToItsDeclaredSizeAndNoFurther() {
        let size = 3_000_000
        var d = Driver { $0.limits.maxBodyBytes = 4_000_000 }
        d.feed("POST / HTTP/1.1\r\nContent-Length: \(size)\r\n\r\n")
        let piece = [UInt8](repeating: 0x62, count: 65536)
        var sent = 0
        while sent < size {
            let count = min(piece.count, size - sent)
            d.feed(Array(piece[..<count]))
            sent += count
        }
        let body = d.dispatched.first?.body ?? []
        #expect(body.count == size)
        #expect(body.capacity < size + 65536)
    }
}

extension Machine.Action {
    var isClose: Bool { if case .close = self { true } else { false } }
    var isNone: Bool { if case .none = self { true } else { false } }
}
