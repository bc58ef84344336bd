// StreamPlayer: plays one compiled StreamPlan into one HTTPResponder.
//
// Per-stream state is the responder, a shared reference to the plan's steps and a cursor, so ten
// thousand concurrent streams cost little more than their sockets. Writes respect backpressure:
// a `write` that returns false parks the stream until `onWritable`; pauses go through the shared
// Pacer; a client that leaves stops the stream at once.

import EventLoop
import HTTPServer

/// Loop-confined.
final class StreamPlayer {
    private enum State { case running, waitingTimer, waitingWritable, finished }

    private let steps: [WireStep]
    private let ending: StreamEnding
    private let responder: HTTPResponder
    private let upstream: ScriptedUpstream
    private let remoteAddress: String
    private var cursor = 0
    private var state = State.running

    init(plan: StreamPlan, responder: HTTPResponder, remoteAddress: String, upstream: ScriptedUpstream) {
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
        ])
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
            responder.finish()
            end()
        case .cut:
            cutWhenFlushed()
        case .hang:
            // Stays open; `onClientGone` (client left or shutdown) ends it.
            state = .waitingTimer
        }
    }

    /// Shuts the socket down once libuv handed every queued byte to the kernel, so the client
    /// receives all chunks before the cut.
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
        if !ConnectionCutter.cut(localPort: upstream.port, remoteAddress: remoteAddress) {
            // No socket to cut (already gone): end the response as cleanly as we still can.
            responder.finish()
            end()
        }
        // Otherwise the server sees end-of-file and reports `onClientGone`, which ends us.
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
