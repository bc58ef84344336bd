import EventLoop
import Testing
import TestSupport

/// The one way between loops: jobs posted from another thread run on the mailbox's loop, in the
/// order posted; a closed mailbox refuses jobs and runs those already queued.
@Suite struct MailboxTests {
    @Test func jobsFromAnotherThreadRunOnTheLoopInOrder() throws {
        var received: [Int] = []
        var mailbox: LoopMailbox?
        var thread: LoopThread?
        try withLoop { loop in
            let box = try LoopMailbox(loop: loop)
            mailbox = box
            let address = box.address
            let home = LoopBound(Recorder { value in
                received.append(value)
                if received.count == 100 { box.close() }
            })
            thread = try LoopThread {
                for value in 0..<100 { address.post { home.value.record(value) } }
            }
        }
        thread?.join()
        #expect(received == Array(0..<100))
        #expect(mailbox?.address.post {} == false)
    }

    @Test func closingRunsWhatWasQueued() throws {
        var ran = 0
        try withLoop { loop in
            let box = try LoopMailbox(loop: loop)
            let counter = LoopBound(Recorder { _ in ran += 1 })
            #expect(box.address.post { counter.value.record(0) })
            #expect(box.address.post { counter.value.record(1) })
            box.close()
            #expect(ran == 2)
            #expect(!box.address.post { counter.value.record(2) })
        }
        #expect(ran == 2)
    }

    /// A socket taken off its handle and adopted by a new one (as a worker loop adopts what
    /// the accepting loop hands it) keeps the connection: the client's bytes reach the new handle
    /// and its answer comes back; closing the first handle did not end the connection.
    @Test func aHandedConnectionKeepsWorking() throws {
        var answer = ""
        try withLoop { loop in
            var listener: TCPListener?
            let (opened, port) = try TCPListener.open(loop: loop, host: "127.0.0.1", port: 0, backlog: 8) { socket in
                listener?.close()
                guard let handed = try? socket.handOff() else { Issue.record("handOff failed"); return }
                #expect(socket.isClosed)
                guard let adopted = try? TCPConnection.adopt(handed, loop: loop) else { Issue.record("adopt failed"); return }
                try? adopted.startReading(onData: { bytes in
                    try? adopted.write(Array(String(decoding: bytes, as: UTF8.self).uppercased().utf8))
                    adopted.close()
                }, onEnd: { _ in adopted.close() })
            }
            listener = opened
            try LoopHTTPClient.connectOrRecordIssue(loop, port: port) { client in
                client.onEnd = { c in answer = c.text }
                client.send("hello")
            }
        }
        #expect(answer == "HELLO")
    }
}

/// A loop-confined callback carried through jobs.
final class Recorder {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
    func record(_ value: Int) { body(value) }
}
