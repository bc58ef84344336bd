import Testing
import TestSupport
@testable import SessionStore

/// `ms` milliseconds after the test clock's origin.
private func at(_ ms: Int64) -> TestInstant { .milliseconds(ms) }

typealias Debouncer = SaveDebouncer<TestInstant>

@Suite struct SaveDebouncerTests {
    @Test func referenceDelayIsHalfASecond() {
        #expect(Debouncer().delay == .milliseconds(500))
    }

    @Test func saveComesHalfASecondAfterTheLastMutation() {
        var d = Debouncer()
        #expect(d.mutated(now: at(0)) == .armTimer(deadline: at(500)))
        #expect(d.mutated(now: at(300)) == .armTimer(deadline: at(800)))
        // The first timer, if the loop did not re-arm it, fires early and is ignored.
        #expect(d.timerFired(now: at(500)) == .none)
        #expect(d.mutated(now: at(700)) == .armTimer(deadline: at(1200)))
        #expect(d.timerFired(now: at(800)) == .none)
        #expect(d.timerFired(now: at(1200)) == .startSave)
        #expect(d.isSaving && !d.isDirty)
        #expect(d.saveCompleted(now: at(1210), succeeded: true) == .none)
        #expect(d.isIdle)
        // A late duplicate fire does nothing.
        #expect(d.timerFired(now: at(1300)) == .none)
    }

    @Test func flushSavesAtOnceEvenWhenClean() {
        var d = Debouncer()
        #expect(d.flush(now: at(0)) == .startSave)
        #expect(d.saveCompleted(now: at(5), succeeded: true) == .none)
        #expect(d.isIdle)
    }

    @Test func flushCancelsThePendingTimer() {
        var d = Debouncer()
        _ = d.mutated(now: at(0))
        #expect(d.flush(now: at(100)) == .startSave)
        #expect(d.deadline == nil)
        #expect(d.timerFired(now: at(500)) == .none)
        #expect(d.saveCompleted(now: at(120), succeeded: true) == .none)
        #expect(d.isIdle)
    }

    @Test func mutationDuringSaveIsSavedAfterIt() {
        var d = Debouncer()
        _ = d.mutated(now: at(0))
        #expect(d.timerFired(now: at(500)) == .startSave)
        // Mutation while the write runs: re-armed, and the timer fires before the
        // write is done, so the next save waits for it.
        #expect(d.mutated(now: at(510)) == .armTimer(deadline: at(1010)))
        #expect(d.timerFired(now: at(1010)) == .none)
        #expect(!d.isIdle)
        #expect(d.saveCompleted(now: at(2000), succeeded: true) == .startSave)
        #expect(d.saveCompleted(now: at(2010), succeeded: true) == .none)
        #expect(d.isIdle)
    }

    @Test func mutationDuringSaveWithTimerAfterIt() {
        var d = Debouncer()
        _ = d.mutated(now: at(0))
        _ = d.timerFired(now: at(500))
        _ = d.mutated(now: at(510))
        // The write ends before the new deadline: the armed timer does the next save.
        #expect(d.saveCompleted(now: at(520), succeeded: true) == .none)
        #expect(d.isDirty)
        #expect(d.timerFired(now: at(1010)) == .startSave)
    }

    @Test func flushDuringSaveRunsRightAfterIt() {
        var d = Debouncer()
        _ = d.mutated(now: at(0))
        _ = d.timerFired(now: at(500))
        _ = d.mutated(now: at(510))
        #expect(d.flush(now: at(520)) == .cancelTimer)
        #expect(d.timerFired(now: at(1010)) == .none)
        #expect(d.saveCompleted(now: at(530), succeeded: true) == .startSave)
        #expect(d.saveCompleted(now: at(540), succeeded: true) == .none)
        #expect(d.isIdle)
    }

    @Test func failedSaveIsRetried() {
        var d = Debouncer()
        _ = d.mutated(now: at(0))
        _ = d.timerFired(now: at(500))
        #expect(d.saveCompleted(now: at(600), succeeded: false) == .armTimer(deadline: at(1100)))
        #expect(d.isDirty)
        #expect(d.timerFired(now: at(1100)) == .startSave)
        #expect(d.saveCompleted(now: at(1200), succeeded: true) == .none)
        #expect(d.isIdle)
    }

    @Test func failedFlushIsRetried() {
        var d = Debouncer()
        #expect(d.flush(now: at(0)) == .startSave)
        #expect(d.saveCompleted(now: at(10), succeeded: false) == .armTimer(deadline: at(510)))
        #expect(!d.isIdle)
    }

    @Test func timerWithoutChangesDoesNotSave() {
        var d = Debouncer()
        #expect(d.timerFired(now: at(1000)) == .none)
        #expect(d.isIdle)
    }

    /// Drives state + debouncer together the way the loop will: no mutation is
    /// ever missing from the last write once everything settles.
    @Test func noLostUpdateAcrossInterleavings() throws {
        var state = SessionStoreState()
        var d = Debouncer()
        var written: [UInt8]? = nil
        var inFlight: [UInt8]? = nil
        var timer: TestInstant? = nil
        var now: Int64 = 0

        func run(_ action: Debouncer.Action) {
            switch action {
            case .none: break
            case .armTimer(let deadline): timer = deadline
            case .cancelTimer: timer = nil
            case .startSave:
                #expect(inFlight == nil, "two saves at once")
                inFlight = state.serialize()
            }
        }
        func apply() {
            switch state.takePendingSave() {
            case .none: break
            case .debounced: run(d.mutated(now: at(now)))
            case .immediate: run(d.flush(now: at(now)))
            }
        }
        // A deterministic mix: mutations, timer ticks and save completions.
        for step in 0..<300 {
            now += Int64((step * 37) % 400)
            switch step % 7 {
            case 0, 3: state.registerNode("n\(step)", rootID: "r\(step % 5)")
            case 1: state.recordMessageID(platform: "telegram", chatID: "c", messageID: "\(step)", direction: "in",
                                          kind: "k", now: .utc(2025, 1, 1))
            case 2: if step % 70 == 2 { state.flushPendingSave() }
            default: break
            }
            apply()
            if let t = timer, t <= at(now) { timer = nil; run(d.timerFired(now: at(now))) }
            if step % 3 == 0, let bytes = inFlight {
                written = bytes
                inFlight = nil
                run(d.saveCompleted(now: at(now), succeeded: true))
            }
        }
        // Let it settle.
        for _ in 0..<10 {
            now += 1000
            if let bytes = inFlight {
                written = bytes
                inFlight = nil
                run(d.saveCompleted(now: at(now), succeeded: true))
            }
            if let t = timer, t <= at(now) { timer = nil; run(d.timerFired(now: at(now))) }
        }
        #expect(d.isIdle)
        #expect(inFlight == nil)
        #expect(written == state.serialize())
    }
}
