import EventLoop
import Glibc
import Testing
import TestSupport

/// A connected pair of Unix stream sockets, closed by `close()` (after every poll on them closed).
private struct SocketPair {
    let a: Int32
    let b: Int32
    init() throws {
        var fds: [Int32] = [-1, -1]
        let rc = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds)
        try #require(rc == 0)
        a = fds[0]
        b = fds[1]
    }
    func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBytes { write(b, $0.baseAddress, text.utf8.count) }
    }
    func close() {
        Glibc.close(a)
        Glibc.close(b)
    }
}

@Suite struct SocketPollTests {
    @Test func pollReportsAReadableSocketAndClosesFromItsCallback() throws {
        let pair = try SocketPair()
        var seen: [SocketPoll.Events] = []
        var closed = false
        try withLoop { loop in
            var poll: SocketPoll?
            poll = try SocketPoll(loop: loop, socket: pair.a) { readiness in
                if case .success(let events) = readiness { seen.append(events) }
                poll?.onClose = { closed = true }
                poll?.close()
                poll = nil
            }
            try poll?.start(.readable)
            pair.send("x")
        }
        pair.close()
        #expect(seen == [.readable])
        #expect(closed)
    }

    @Test func writableSocketIsReportedAndStopSilencesThePoll() throws {
        let pair = try SocketPair()
        var fired = 0
        var firedAfterStop = false
        try withLoop { loop in
            let poll = try SocketPoll(loop: loop, socket: pair.a) { readiness in
                fired += 1
                #expect((try? readiness.get())?.contains(.writable) == true)
            }
            let check = try Timer(loop: loop)
            // Stopped after its first report, the poll reports nothing more, although the socket
            // stays writable.
            try poll.start([.readable, .writable])
            let stopAfterFirst = try Timer(loop: loop)
            try stopAfterFirst.start(after: .zero, repeating: .milliseconds(1)) {
                guard fired > 0 else { return }
                poll.stop()
                let count = fired
                stopAfterFirst.close()
                try? check.start(after: .milliseconds(5)) {
                    firedAfterStop = fired != count
                    poll.close()
                    check.close()
                }
            }
        }
        pair.close()
        #expect(fired >= 1)
        #expect(!firedAfterStop)
    }

    @Test func closedPollRefusesToStartAndDroppedPollLeaksNothing() throws {
        let pair = try SocketPair()
        try withLoop { loop in
            let poll = try SocketPoll(loop: loop, socket: pair.a) { _ in Issue.record("closed poll fired") }
            poll.close()
            #expect(throws: UVError.self) { try poll.start(.readable) }
            do {
                let dropped = try SocketPoll(loop: loop, socket: pair.b) { _ in Issue.record("dropped poll fired") }
                try dropped.start(.writable)
            }
        }
        pair.close()
    }
}

@Suite struct ProcessAndPipeTests {
    /// Spawns `/bin/sh -c script` with its stdout on a pipe; returns what it wrote and how it ended.
    private func run(_ script: String) throws -> (output: String, status: Int64, signal: Int32, pipeEnd: UVError??) {
        var output: [UInt8] = []
        var ended: (Int64, Int32)?
        var pipeEnd: UVError??
        try withLoop { loop in
            let pipe = try PipeStream(loop: loop)
            var process: SpawnedProcess?
            process = try SpawnedProcess.spawn(
                loop: loop, arguments: ["/bin/sh", "-c", script], environment: [], workingDirectory: "/",
                detached: false, standardIO: [.ignore, .outputPipe(pipe), .ignore]
            ) { status, signal in
                ended = (status, signal)
                process?.close()
                process = nil
            }
            try pipe.startReading(onData: { output += $0 }, onEnd: { error in
                pipeEnd = .some(error)
                pipe.close()
            })
        }
        return (String(decoding: output, as: UTF8.self), ended?.0 ?? -1, ended?.1 ?? -1, pipeEnd)
    }

    @Test func childOutputArrivesThroughThePipeThenEOFAndTheExitStatus() throws {
        let result = try run("printf hello; exit 3")
        #expect(result.output == "hello")
        #expect(result.status == 3)
        #expect(result.signal == 0)
        #expect(result.pipeEnd == .some(nil))
    }

    @Test func aKilledChildReportsItsSignal() throws {
        let result = try run("kill -TERM $$")
        #expect(result.signal == SIGTERM)
        #expect(result.output == "")
    }

    @Test func failedSpawnThrowsAndClosesItsHandle() throws {
        var failure: UVError?
        try withLoop { loop in
            let pipe = try PipeStream(loop: loop)
            do throws(UVError) {
                _ = try SpawnedProcess.spawn(
                    loop: loop, arguments: ["/nonexistent/program"], environment: [], workingDirectory: "/",
                    detached: true, standardIO: [.ignore, .outputPipe(pipe)]
                ) { _, _ in Issue.record("a process that never started exited") }
            } catch {
                failure = error
            }
            pipe.close()
        }
        #expect(failure?.isNotFound == true)
        #expect(failure?.operation == "uv_spawn")
    }

    @Test func closedPipeRefusesToRead() throws {
        try withLoop { loop in
            let pipe = try PipeStream(loop: loop)
            pipe.close()
            #expect(throws: UVError.self) { try pipe.startReading(onData: { _ in }, onEnd: { _ in }) }
        }
    }
}

@Suite struct LoopInstantTests {
    @Test func instantsAdvanceInWholeMillisecondsRoundedUp() {
        let start = LoopInstant(milliseconds: 1_000)
        #expect(start.advanced(by: .milliseconds(250)).milliseconds == 1_250)
        #expect(start.advanced(by: .microseconds(1_500)).milliseconds == 1_002)
        #expect(start.advanced(by: .milliseconds(-400)).milliseconds == 600)
        #expect(start.duration(to: LoopInstant(milliseconds: 1_040)) == .milliseconds(40))
        #expect(start.duration(to: LoopInstant(milliseconds: 990)) == .milliseconds(-10))
        #expect(start < start.advanced(by: .nanoseconds(1)))
    }

    @Test func timerFiresNoEarlierThanItsDurationOnTheLoopClock() throws {
        var before: LoopInstant?
        var after: LoopInstant?
        try withLoop { loop in
            before = loop.now
            let timer = try Timer(loop: loop)
            try timer.start(after: .milliseconds(2)) {
                after = loop.now
                timer.close()
            }
        }
        let first = try #require(before), second = try #require(after)
        // libuv fires a timer only once its loop time reached the deadline.
        #expect(first.advanced(by: .milliseconds(2)) <= second)
    }
}
