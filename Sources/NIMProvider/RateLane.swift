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

    init(provider: Provider, loop: EventLoop, admission: ProviderAdmission) throws {
        self.provider = provider
        self.loop = loop
        limiter = admission
        timer = try Timer(loop: loop)
    }

    /// Nil: granted now. Else the ticket the stream waits with; `rateSlotGranted` follows.
    func requestSlot(for s: UpstreamStream) -> Ticket? {
        nextTicket += 1
        let ticket = nextTicket
        if waiting.isEmpty {
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
