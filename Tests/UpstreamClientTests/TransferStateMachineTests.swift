import Testing

@testable import UpstreamClient

/// A clock of the tests' own: the machine reads no time but what it is given.
struct TestInstant: InstantProtocol {
    var offset: Duration
    func advanced(by duration: Duration) -> TestInstant { TestInstant(offset: offset + duration) }
    func duration(to other: TestInstant) -> Duration { other.offset - offset }
    static func < (a: TestInstant, b: TestInstant) -> Bool { a.offset < b.offset }
}

typealias Machine = TransferStateMachine<TestInstant>

private func at(_ ms: Int64) -> TestInstant { TestInstant(offset: .milliseconds(ms)) }

/// A machine that started at 0 ms with a 100 ms stall watch.
private func started(stallTimeout: Duration = .milliseconds(100)) -> Machine {
    var machine = Machine(stallTimeout: stallTimeout, now: at(0))
    #expect(machine.started() == (stallTimeout > .zero ? .armStallTimer(after: stallTimeout) : .none))
    return machine
}

@Suite struct TransferStateMachineTests {
    // MARK: data

    @Test func bodyBeforeTheHeadBlockEndedDeliversTheHeadFirstOnce() {
        var m = started()
        #expect(m.bodyReceived(byteCount: 3, now: at(1)) == .deliver(headFirst: true))
        #expect(m.bodyReceived(byteCount: 4, now: at(2)) == .deliver(headFirst: false))
        #expect(m.headReceived() == false)
        #expect(m.bytesReceived == 7)
        #expect(m.headDelivered)
    }

    @Test func headIsDeliveredOnceThenBodyFollowsWithoutIt() {
        var m = started()
        #expect(m.headReceived() == true)
        #expect(m.headReceived() == false)
        #expect(m.bodyReceived(byteCount: 5, now: at(1)) == .deliver(headFirst: false))
    }

    // MARK: pause and resume (backpressure)

    @Test func pauseStopsTheStallWatchAndCurlKeepsTheNextChunk() {
        var m = started()
        #expect(m.pause() == .stopStallTimer)
        #expect(m.isPaused)
        #expect(m.pause() == .none)
        #expect(m.bodyReceived(byteCount: 8, now: at(5)) == .pause)
        #expect(m.bytesReceived == 0)
        #expect(m.resume(now: at(50)) == .resume(stallTimer: .milliseconds(100), unpauseCurlLater: true))
        #expect(!m.isPaused)
        #expect(m.unpauseTurnArrived() == true)
        #expect(m.unpauseTurnArrived() == false)
        #expect(m.unpauseReturned() == .none)
        #expect(m.bodyReceived(byteCount: 8, now: at(51)) == .deliver(headFirst: true))
    }

    @Test func resumeWithoutHeldDataOnlyRearmsTheStallWatch() {
        var m = started()
        _ = m.pause()
        #expect(m.resume(now: at(10)) == .resume(stallTimer: .milliseconds(100), unpauseCurlLater: false))
        #expect(m.unpauseTurnArrived() == false)
        #expect(m.resume(now: at(11)) == .none)
    }

    @Test func pauseBeforeTheUnpauseTurnKeepsTheHeldChunkForTheNextResume() {
        var m = started()
        _ = m.pause()
        _ = m.bodyReceived(byteCount: 1, now: at(1))
        _ = m.resume(now: at(2))
        #expect(m.pause() == .stopStallTimer)
        #expect(m.unpauseTurnArrived() == false)
        #expect(m.resume(now: at(3)) == .resume(stallTimer: .milliseconds(100), unpauseCurlLater: true))
        #expect(m.unpauseTurnArrived() == true)
    }

    @Test func withoutAStallWatchPauseAndResumeArmNothing() {
        var m = started(stallTimeout: .zero)
        #expect(m.pause() == .none)
        #expect(m.resume(now: at(1)) == .resume(stallTimer: nil, unpauseCurlLater: false))
        #expect(m.stallTimerFired(now: at(1_000_000)) == .none)
    }

    // MARK: stall timer

    @Test func stallTimerFiringEarlyRearmsForTheRestOfTheQuietTime() {
        var m = started()
        _ = m.bodyReceived(byteCount: 1, now: at(60))
        #expect(m.stallTimerFired(now: at(100)) == .armStallTimer(after: .milliseconds(60)))
        #expect(m.isFinished == false)
    }

    @Test func stallTimerAfterTheQuietLimitFailsTheTransfer() {
        var m = started()
        _ = m.bodyReceived(byteCount: 1, now: at(60))
        #expect(m.stallTimerFired(now: at(160)) == .complete(failure: .stalled(.milliseconds(100)), headFirst: false))
        #expect(m.isFinished)
        #expect(m.bodyReceived(byteCount: 1, now: at(161)) == .abort)
        #expect(m.stallTimerFired(now: at(300)) == .none)
        #expect(m.cancel(insideCurlCallback: false) == .none)
        #expect(UpstreamFailure.stalled(.milliseconds(100)).description == "upstream sent nothing for 100 ms")
    }

    @Test func stallTimerIsIgnoredWhilePaused() {
        var m = started()
        _ = m.pause()
        #expect(m.stallTimerFired(now: at(500)) == .none)
        #expect(m.isFinished == false)
    }

    @Test func resumeRestartsTheQuietTime() {
        var m = started()
        _ = m.pause()
        _ = m.resume(now: at(400))
        #expect(m.stallTimerFired(now: at(450)) == .armStallTimer(after: .milliseconds(50)))
        #expect(m.stallTimerFired(now: at(500)) == .complete(failure: .stalled(.milliseconds(100)), headFirst: false))
    }

    // MARK: cancel

    @Test func cancelOutsideCurlReleasesAtOnceAndEndsEverything() {
        var m = started()
        _ = m.bodyReceived(byteCount: 2, now: at(1))
        #expect(m.cancel(insideCurlCallback: false) == .release)
        #expect(m.isFinished)
        #expect(m.isCancelled == false)
        #expect(m.cancel(insideCurlCallback: false) == .none)
        #expect(m.pause() == .none)
        #expect(m.resume(now: at(2)) == .none)
        #expect(m.headReceived() == false)
        #expect(m.bodyReceived(byteCount: 1, now: at(3)) == .abort)
    }

    @Test func cancelInsideACurlCallbackAbortsTheNextWriteAndReleasesWhenCurlIsDone() {
        var m = started()
        #expect(m.cancel(insideCurlCallback: true) == .none)
        #expect(m.isFinished)
        #expect(m.isCancelled)
        #expect(m.bodyReceived(byteCount: 1, now: at(1)) == .abort)
        #expect(m.stallTimerFired(now: at(1_000)) == .none)
        #expect(m.curlFinished(.failed("write error")) == .release)
        #expect(m.isCancelled == false)
    }

    @Test func cancelDuringAnUnpauseReleasesOnceCurlReturns() {
        var m = started()
        _ = m.pause()
        _ = m.bodyReceived(byteCount: 1, now: at(1))
        _ = m.resume(now: at(2))
        #expect(m.unpauseTurnArrived() == true)
        // curl_easy_pause delivers the held chunk; the delegate cancels from its body callback.
        #expect(m.bodyReceived(byteCount: 1, now: at(2)) == .deliver(headFirst: true))
        #expect(m.cancel(insideCurlCallback: true) == .none)
        #expect(m.unpauseReturned() == .release)
        #expect(m.unpauseReturned() == .none)
    }

    // MARK: done and errors

    @Test func doneWithoutAClosedHeadBlockDeliversTheHeadThenCompletes() {
        var m = started()
        #expect(m.curlFinished(.ok) == .complete(failure: nil, headFirst: true))
        #expect(m.isFinished)
    }

    @Test func doneAfterTheHeadCompletesWithoutIt() {
        var m = started()
        _ = m.headReceived()
        _ = m.bodyReceived(byteCount: 10, now: at(1))
        #expect(m.curlFinished(.ok) == .complete(failure: nil, headFirst: false))
    }

    @Test func timeoutBeforeAnyAnswerIsAConnectFailureAndAfterItATimeout() {
        var before = started()
        #expect(before.curlFinished(.timedOut("t")) == .complete(failure: .connect("t"), headFirst: false))
        var afterHead = started()
        _ = afterHead.headReceived()
        #expect(afterHead.curlFinished(.timedOut("t")) == .complete(failure: .timeout("t"), headFirst: false))
        var afterBody = started()
        _ = afterBody.bodyReceived(byteCount: 1, now: at(1))
        #expect(afterBody.curlFinished(.timedOut("t")) == .complete(failure: .timeout("t"), headFirst: false))
    }

    @Test func connectAndTransportErrorsKeepCurlsDetail() {
        var connect = started()
        #expect(connect.curlFinished(.couldNotConnect("refused")) == .complete(failure: .connect("refused"), headFirst: false))
        var broken = started()
        _ = broken.headReceived()
        #expect(broken.curlFinished(.failed("reset")) == .complete(failure: .transport("reset"), headFirst: false))
    }

    @Test func doneAfterDoneOnlyReleases() {
        var m = started()
        _ = m.curlFinished(.ok)
        #expect(m.curlFinished(.ok) == .release)
    }

    @Test func failureToStartCompletesLaterAndNothingElseHappens() {
        var m = Machine(stallTimeout: .milliseconds(100), now: at(0))
        #expect(m.failedToStart(.transport("closed")) == .completeLater(.transport("closed")))
        #expect(m.isFinished)
        #expect(m.started() == .none)
        #expect(m.cancel(insideCurlCallback: false) == .none)
        #expect(m.detach(grace: .seconds(1), now: at(1)) == .none)
    }

    // MARK: detach

    @Test func detachDropsTheRestAndGivesUpAfterTheGrace() {
        var m = started()
        _ = m.headReceived()
        #expect(m.detach(grace: .milliseconds(30), now: at(10)) == .armStallTimer(after: .milliseconds(30)))
        #expect(m.isDetached)
        #expect(m.bodyReceived(byteCount: 4, now: at(20)) == .drop)
        #expect(m.stallTimerFired(now: at(40)) == .armStallTimer(after: .milliseconds(10)))
        // The failure names the stall timeout the request asked for, not the grace.
        #expect(m.stallTimerFired(now: at(50)) == .complete(failure: .stalled(.milliseconds(100)), headFirst: false))
    }

    @Test func detachWhilePausedResumesTheFlow() {
        var m = started()
        _ = m.pause()
        _ = m.bodyReceived(byteCount: 1, now: at(1))
        #expect(m.detach(grace: .milliseconds(30), now: at(5)) == .resume(stallTimer: .milliseconds(30), unpauseCurlLater: true))
        #expect(m.unpauseTurnArrived() == true)
        #expect(m.bodyReceived(byteCount: 1, now: at(6)) == .drop)
    }

    @Test func detachWithoutAStallWatchArmsNothing() {
        var m = started(stallTimeout: .zero)
        #expect(m.detach(grace: .milliseconds(30), now: at(5)) == .none)
        #expect(m.curlFinished(.ok) == .complete(failure: nil, headFirst: true))
    }
}

/// The send watch: while curl reads the request body, no progress for the send timeout ends the
/// transfer as a timeout; once the body is sent (or the answer begins) the stall watch takes over.
@Suite struct TransferSendWatchTests {
    func sending(send: Int64 = 10, stall: Int64 = 100) -> Machine {
        var m = Machine(stallTimeout: .milliseconds(stall), sendTimeout: .milliseconds(send), now: at(0))
        #expect(m.started(sendingBody: true) == .armStallTimer(after: .milliseconds(send)))
        return m
    }

    @Test func anUpstreamThatStopsReadingTheBodyTimesOut() {
        var m = sending()
        m.bodySent(byteCount: 16_384, now: at(4))
        // Progress at 4 ms: at 10 ms only 6 ms were quiet.
        #expect(m.stallTimerFired(now: at(10)) == .armStallTimer(after: .milliseconds(4)))
        guard case .complete(failure: .timeout(let detail)?, headFirst: false) = m.stallTimerFired(now: at(14)) else {
            Issue.record("expected a send timeout")
            return
        }
        #expect(detail.contains("UPSTREAM_SEND_TIMEOUT"))
        #expect(m.isFinished)
    }

    @Test func onceTheBodyIsSentTheStallLimitApplies() {
        var m = sending()
        m.bodySent(byteCount: 100, now: at(2))
        m.bodySent(byteCount: 0, now: at(3))
        // 50 ms of waiting for the answer is within the 100 ms stall limit.
        #expect(m.stallTimerFired(now: at(53)) == .armStallTimer(after: .milliseconds(50)))
        guard case .complete(failure: .stalled?, headFirst: false) = m.stallTimerFired(now: at(103)) else {
            Issue.record("expected a stall")
            return
        }
    }

    @Test func theAnswerBeginningEndsTheSendWatch() {
        var m = sending()
        #expect(m.headReceived() == true)
        #expect(m.stallTimerFired(now: at(50)) == .armStallTimer(after: .milliseconds(50)))
    }

    @Test func withoutASendTimeoutOrABodyOnlyTheStallWatchRuns() {
        var a = Machine(stallTimeout: .milliseconds(100), sendTimeout: nil, now: at(0))
        #expect(a.started(sendingBody: true) == .armStallTimer(after: .milliseconds(100)))
        var b = Machine(stallTimeout: .milliseconds(100), sendTimeout: .milliseconds(10), now: at(0))
        #expect(b.started(sendingBody: false) == .armStallTimer(after: .milliseconds(100)))
        b.bodySent(byteCount: 5, now: at(1))
        #expect(b.stallTimerFired(now: at(20)) == .armStallTimer(after: .milliseconds(80)))
    }
}
