import CLibUV
import Glibc
import EventLoop
import Testing
import TestSupport

@Suite struct TimerTests {
    @Test func oneShotTimersFireInDeadlineOrder() throws {
        var fired: [Int] = []
        try withLoop { loop in
            for delay in [30, 10, 20, 0] {
                let timer = try Timer(loop: loop)
                try timer.start(after: .milliseconds(UInt64(delay))) {
                    fired.append(delay)
                    timer.close()
                }
            }
        }
        #expect(fired == [0, 10, 20, 30])
    }

    @Test func zeroDelayTimerNeverFiresSynchronously() throws {
        var fired = false
        try withLoop { loop in
            let timer = try Timer(loop: loop)
            try timer.start(after: .zero) {
                fired = true
                timer.close()
            }
            #expect(!fired)
            #expect(timer.isActive)
        }
        #expect(fired)
    }

    @Test func repeatingTimerFiresUntilStopped() throws {
        var count = 0
        try withLoop { loop in
            let timer = try Timer(loop: loop)
            try timer.start(after: .milliseconds(1), repeating: .milliseconds(1)) {
                count += 1
                if count == 5 { timer.stop(); timer.close() }
            }
        }
        #expect(count == 5)
    }

    @Test func stoppedTimerDoesNotFireAndRestartRearms() throws {
        var fired = 0
        try withLoop { loop in
            let timer = try Timer(loop: loop)
            try timer.start(after: .milliseconds(5)) {
                fired += 1
                timer.close()
            }
            timer.stop()
            #expect(!timer.isActive)
            let kick = try Timer(loop: loop)
            try kick.start(after: .milliseconds(20)) {
                #expect(fired == 0)
                try? timer.restart()
                kick.close()
            }
        }
        #expect(fired == 1)
    }

    @Test func closeIsIdempotentAndOnCloseRunsOnceFromTheLoop() throws {
        var closes = 0
        try withLoop { loop in
            let timer = try Timer(loop: loop)
            timer.onClose = { closes += 1 }
            timer.close()
            timer.close()
            #expect(timer.isClosed)
            #expect(closes == 0)
            #expect(throws: UVError.self) { try timer.start(after: .milliseconds(1)) {} }
        }
        #expect(closes == 1)
    }

    @Test func closedTimerCallbackDoesNotRun() throws {
        var fired = false
        try withLoop { loop in
            let timer = try Timer(loop: loop)
            try timer.start(after: .zero) { fired = true }
            timer.close()
        }
        #expect(!fired)
    }
}

@Suite struct LoopCloseTests {
    @Test func closeRefusesWhileAHandleIsOpenThenSucceeds() throws {
        let loop = try EventLoop()
        let timer = try Timer(loop: loop)
        do {
            try loop.close()
            Issue.record("close succeeded with an open timer")
        } catch {
            #expect(error.name == "EBUSY")
            #expect(error.detail?.contains("timer") == true)
        }
        #expect(loop.openHandleDescriptions == ["timer"])
        timer.close()
        try loop.close()
        #expect(loop.isClosed)
    }

    @Test func droppingAnOpenWrapperStillReleasesTheHandle() throws {
        let loop = try EventLoop()
        do {
            let timer = try Timer(loop: loop)
            try timer.start(after: .milliseconds(1000)) { Issue.record("dropped timer fired") }
        }
        // deinit closed it with data cleared; draining finishes the close.
        try loop.close()
    }

    @Test func stopMakesRunReturn() throws {
        var ticks = 0
        let loop = try EventLoop()
        let timer = try Timer(loop: loop)
        try timer.start(after: .milliseconds(1), repeating: .milliseconds(1)) {
            ticks += 1
            if ticks == 3 { loop.stop() }
        }
        loop.run()
        #expect(ticks == 3)
        timer.close()
        try loop.close()
    }
}

@Suite struct SignalAndWorkerTests {
    @Test func signalWatcherSeesRaisedSignal() throws {
        var seen: [Int32] = []
        try withLoop { loop in
            let watcher = try SignalWatcher(loop: loop)
            try watcher.start(signal: SIGUSR2) { signal in
                seen.append(signal)
                watcher.close()
            }
            // Process-directed: the test thread may have the signal blocked.
            kill(getpid(), SIGUSR2)
        }
        #expect(seen == [SIGUSR2])
    }

    @Test func runOnWorkerBringsTheResultBackToTheLoop() throws {
        var result: Int?
        try withLoop { loop in
            try loop.runOnWorker({ (1...1000).reduce(0, +) }) { value in result = value }
        }
        #expect(result == 500500)
    }

    @Test func asyncWakeupFromAnotherThread() throws {
        var wakeups = 0
        try withLoop { loop in
            var wakeup: AsyncWakeup?
            wakeup = try AsyncWakeup(loop: loop) {
                wakeups += 1
                wakeup?.close()
                wakeup = nil
            }
            let sender = wakeup!.sender
            // The pool thread stands in for any foreign thread.
            try loop.runOnWorker({ sender.send(); return 0 }) { _ in }
        }
        #expect(wakeups == 1)
    }

    @Test func sendAfterCloseIsHarmless() throws {
        try withLoop { loop in
            let wakeup = try AsyncWakeup(loop: loop) { Issue.record("closed wakeup fired") }
            let sender = wakeup.sender
            wakeup.close()
            sender.send()
        }
    }
}
