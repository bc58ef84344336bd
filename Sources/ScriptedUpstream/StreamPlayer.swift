// StreamPlayer: plays one compiled StreamPlan into one response (an HTTP/1.1 responder or an
// HTTP/2 stream).
//
// Per-stream state is the sink, a shared reference to the plan's steps and a cursor, so ten
// thousand concurrent streams cost little more than their sockets. Writes respect backpressure:
// a `write` that returns false parks the stream until `onWritable`; pauses go through the shared
// Pacer; a client that leaves stops the stream at once.

import EventLoop

/// Loop-confined.
final class StreamPlayer {
    private enum State { case running, waitingTimer, waitingWritable, finished }

    private let steps: [WireStep]
    private let ending: StreamEnding
    private let responder: any ResponseSink
    private let upstream: ScriptedUpstream
    private let remoteAddress: String
    private var cursor = 0
    private var state = State.running

    init(plan: StreamPlan, responder: any ResponseSink, remoteAddress: String, upstream: ScriptedUpstream) {
        self.steps = plan.steps
        self.ending = plan.ending
        self.responder = responder
        self.remoteAddress = remoteAddress
        self.upstream = upstream
    }

    func start() {
        // The responder's callbacks keep the player alive; `end()` drops them.
        responder.onClientGone = { self.end() }
        responder.onWritable = {
            guard self.state == .waitingWritable else { return }
            self.upstream.blockedStreams -= 1
            self.state = .running
            self.play()
        }
        responder.startStream(status: 200, headers: [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
        ], firstBytes: [])
        play()
    }

    private func play() {
        while state == .running, cursor < steps.count {
            let step = steps[cursor]
            cursor += 1
            switch step {
            case .write(let bytes):
                if !responder.write(bytes) {
                    if responder.isClosed { end(); return }
                    state = .waitingWritable
                    upstream.blockedStreams += 1
                    return
                }
            case .pause(let ms):
                state = .waitingTimer
                upstream.pacer.schedule(afterMs: ms) { [self] in
                    guard state == .waitingTimer else { return }
                    state = .running
                    play()
                }
                return
            }
        }
        guard state == .running else { return }
        switch ending {
        case .done:
            responder.finish(lastBytes: [])
            end()
        case .cut:
            cutWhenFlushed()
        case .hang:
            // Stays open; `onClientGone` (client left or shutdown) ends it.
            state = .waitingTimer
        }
    }

    /// Cuts once every byte written is on its way (HTTP/1.1: handed to the kernel; HTTP/2: framed
    /// ahead of the reset), so the client receives all chunks before the cut.
    private func cutWhenFlushed() {
        guard state == .running || state == .waitingTimer else { return }
        if responder.isClosed { end(); return }
        if responder.queuedBytes > 0 {
            state = .waitingTimer
            upstream.pacer.schedule(afterMs: 1) { [self] in
                guard state == .waitingTimer else { return }
                state = .running
                cutWhenFlushed()
            }
            return
        }
        state = .waitingTimer
        if !responder.cut(listeningPort: upstream.port, remoteAddress: remoteAddress) {
            // Nothing to cut (already gone): end the response as cleanly as we still can.
            responder.finish(lastBytes: [])
            end()
        }
        // Otherwise the server reports `onClientGone` (end-of-file on HTTP/1.1, the stream's
        // reset on HTTP/2), which ends us.
    }

    private func end() {
        guard state != .finished else { return }
        if state == .waitingWritable { upstream.blockedStreams -= 1 }
        state = .finished
        responder.onWritable = nil
        responder.onClientGone = nil
        upstream.streamEnded()
    }
}

@available(*, unavailable)
extension StreamPlayer: Sendable {}
