import EventLoop
import ProxyConfig
import RateLimit

/// One provider's rate limit as one loop sees it: the process-wide window and block
/// (`ProviderAdmission`), this loop's streams waiting for a slot in it, first come first served,
/// and the timer that asks again for the head. Each provider has its own, so OpenRouter's `:free`
/// limits never hold NIM's requests back, and the other way round.
///
/// Loop-confined.
final class RateLane {
    typealias Ticket = Int

    let provider: Provider
    /// The window and block shared with every loop; the 429 handling and `/health` read it.
    let limiter: ProviderAdmission
    private unowned let loop: EventLoop
    private let timer: Timer
    /// Streams waiting for a slot, by ticket, and their order.
    private(set) var waiting: [Ticket: UpstreamStream] = [:]
    private var order: [Ticket] = []
    private var orderHead = 0
    private var nextTicket = 0
    private var closed = false
    /// Sees each grant as it is made, at the instant the shared window counts it from.
    var grantObserver: ((LoopInstant) -> Void)?
    /// RATE_LIMIT_STORE=redis: the window shared by every instance, asked asynchronously.
    private let remote: RedisAdmission?
    /// A question to `remote` is under way (one at a time, for the head).
    private var asking = false

    init(provider: Provider, loop: EventLoop, admission: ProviderAdmission, remote: RedisAdmission? = nil) throws {
        self.provider = provider
        self.loop = loop
        limiter = admission
        self.remote = remote
        timer = try Timer(loop: loop)
    }

    /// Nil: granted now. Else the ticket the stream waits with; `rateSlotGranted` follows.
    func requestSlot(for s: UpstreamStream) -> Ticket? {
        nextTicket += 1
        let ticket = nextTicket
        if waiting.isEmpty, remote == nil {
            switch limiter.takeSlot(now: .monotonicNow) {
            case .granted(let at):
                grantObserver?(at)
                return nil
            case .notBefore(let instant):
                arm(for: instant)
            }
        }
        waiting[ticket] = s
        order.append(ticket)
        // Redis answers after a round trip: even a first request waits for it.
        if remote != nil, !timer.isActive { askRemote() }
        return ticket
    }

    func cancelSlot(_ ticket: Ticket) {
        guard waiting.removeValue(forKey: ticket) != nil else { return }
        if waiting.isEmpty {
            order.removeAll(keepingCapacity: true)
            orderHead = 0
            timer.stop()
        }
        // Otherwise the ticket stays in `order` and is skipped when it reaches the head.
    }

    func close() {
        closed = true
        waiting.removeAll()
        order.removeAll()
        timer.close()
    }

    private func arm(for instant: LoopInstant) {
        guard !closed else { return }
        // The loop's `now` never runs ahead of the shared clock, so the timer fires no earlier than
        // `instant`; the extra millisecond covers the clocks' rounding.
        try? timer.start(after: loop.now.duration(to: instant) + .milliseconds(1)) { [unowned self] in self.grantHead() }
    }

    /// Grants the head while the shared window allows, then waits for the next instant it names.
    private func grantHead() {
        if remote != nil {
            askRemote()
            return
        }
        while !closed, let ticket = head() {
            switch limiter.takeSlot(now: .monotonicNow) {
            case .granted(let at):
                popHead()
                grantObserver?(at)
                waiting.removeValue(forKey: ticket)?.rateSlotGranted()
            case .notBefore(let instant):
                arm(for: instant)
                return
            }
        }
    }

    /// Asks the instances' shared window for the head, then for the next head after each grant.
    private func askRemote() {
        guard let remote, !asking, !closed, head() != nil else { return }
        asking = true
        remote.takeSlot(provider: provider, local: limiter) { [weak self] decision in
            guard let self, !self.closed else { return }
            self.asking = false
            switch decision {
            case .granted(let at):
                // The head asked for may have left meanwhile; the slot goes to whoever is first now.
                guard let ticket = self.head() else { return }
                self.popHead()
                self.grantObserver?(at)
                self.waiting.removeValue(forKey: ticket)?.rateSlotGranted()
                self.askRemote()
            case .notBefore(let instant):
                self.arm(for: instant)
            }
        }
    }

    /// The first ticket still waiting; cancelled ones in front are dropped.
    private func head() -> Ticket? {
        while orderHead < order.count, waiting[order[orderHead]] == nil { orderHead += 1 }
        if orderHead == order.count {
            order.removeAll(keepingCapacity: true)
            orderHead = 0
            return nil
        }
        return order[orderHead]
    }

    private func popHead() {
        orderHead += 1
        if orderHead > 64, orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
    }
}

@available(*, unavailable)
extension RateLane: Sendable {}
