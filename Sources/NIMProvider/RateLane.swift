import EventLoop
import ProxyConfig
import RateLimit

/// One provider's rate limit: its sliding window and reactive block, the streams waiting for a
/// slot in it, and the timer that grants them. Each provider has its own, so OpenRouter's `:free`
/// limits never hold NIM's requests back, and the other way round.
///
/// Loop-confined.
final class RateLane {
    typealias Limiter = RateLimiter<LoopInstant>

    let provider: Provider
    var limiter: Limiter
    private unowned let loop: EventLoop
    private let timer: Timer
    private var timerDeadline: LoopInstant?
    /// Streams waiting for a slot, by ticket.
    private(set) var waiting: [Limiter.Ticket: UpstreamStream] = [:]
    private var nextTicket = 0
    private var closed = false
    /// Sees each grant as it is made.
    var grantObserver: ((LoopInstant) -> Void)?

    init(provider: Provider, loop: EventLoop, limit: Int, window: Duration, retry: RetryPolicy) throws {
        self.provider = provider
        self.loop = loop
        limiter = try Limiter(limit: limit, window: window, retry: retry)
        timer = try Timer(loop: loop)
    }

    private var now: LoopInstant { loop.now }

    /// Nil: granted now. Else the ticket the stream waits with; `rateSlotGranted` follows.
    func requestSlot(for s: UpstreamStream) -> Limiter.Ticket? {
        nextTicket += 1
        let ticket = nextTicket
        switch limiter.request(ticket, now: now) {
        case .granted:
            grantObserver?(now)
            return nil
        case .wait:
            waiting[ticket] = s
            armTimer()
            return ticket
        }
    }

    func cancelSlot(_ ticket: Limiter.Ticket) {
        waiting[ticket] = nil
        limiter.cancel(ticket)
        armTimer()
    }

    func close() {
        closed = true
        waiting.removeAll()
        timer.close()
    }

    private func armTimer() {
        guard !closed else { return }
        guard let wake = limiter.nextWakeup(now: now) else {
            timer.stop()
            timerDeadline = nil
            return
        }
        if let d = timerDeadline, d == wake, timer.isActive { return }
        timerDeadline = wake
        try? timer.start(after: now.duration(to: wake) + .milliseconds(1)) { [unowned self] in self.timerFired() }
    }

    private func timerFired() {
        timerDeadline = nil
        for ticket in limiter.grantReady(now: now) {
            grantObserver?(now)
            if let s = waiting.removeValue(forKey: ticket) { s.rateSlotGranted() }
        }
        armTimer()
    }
}

@available(*, unavailable)
extension RateLane: Sendable {}
