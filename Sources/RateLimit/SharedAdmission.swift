import Synchronization

/// One provider's admission for a whole process: its rate window, its reactive 429 block and its
/// concurrency cap, shared by every event loop that sends to the provider. With several loops
/// each counting its own window, the provider would see the limit once per loop.
///
/// Thread-safe. Only the decisions take the lock (a slot, a place, a 429), never the bytes of a
/// stream. Each loop keeps its own waiting streams in order (they are loop-confined) and asks here
/// for its head:
/// - rate slots: `takeSlot(now:)` answers granted or not before an instant; the window frees only
///   with time, so the loop arms its own timer for that instant and asks again. Across loops the
///   first to ask wins.
/// - concurrency places: `takePlace(for:)` takes one or queues a ticket in one process-wide line,
///   first come first served whatever the loop. A place given back goes to the head ticket at once
///   (counted as open, so no other loop can take it in between) and that ticket's loop is woken by
///   the waker it registered; the loop then collects it with `claimPlaces(for:)`.
///
/// Every `now` must come from one monotonic clock for every caller. A loop's cached time lags the
/// clock by up to one loop turn, so callers pass a fresh reading of the clock their timers run on.
public final class SharedAdmission<Instant: InstantProtocol & Sendable>: Sendable where Instant.Duration == Duration {
    public enum SlotDecision: Sendable, Equatable {
        /// Granted; the grant counts against the window from this instant.
        case granted(at: Instant)
        /// Nothing can be granted before this instant (the window is full or a 429 block runs).
        case notBefore(Instant)
    }

    /// A concurrency ticket, unique in this admission.
    public typealias PlaceTicket = UInt64

    public enum PlaceDecision: Sendable, Equatable {
        case taken
        /// In line; the place comes through the waiter's waker and `claimPlaces(for:)`.
        case queued(PlaceTicket)
    }

    /// A loop that may wait for places: its tickets and its waker.
    public struct Waiter: Hashable, Sendable {
        let id: UInt64
    }

    public let limit: Int
    public let window: Duration
    public let retry: RetryPolicy
    /// Places open at once; zero or less: no cap (places are still counted).
    public let cap: Int

    private struct State {
        var limiter: RateLimiter<Instant>
        var open = 0
        var mostOpen = 0
        /// Tickets waiting for a place, head first.
        var line = FIFOLine<(ticket: PlaceTicket, waiter: Waiter)>()
        /// Places given to a waiter's tickets that its loop has not claimed yet.
        var handed: [Waiter: [PlaceTicket]] = [:]
        var wakers: [Waiter: @Sendable () -> Void] = [:]
        var nextTicket: PlaceTicket = 0
        var nextWaiter: UInt64 = 0

        var waitingCount: Int { line.count }

        /// One place freed: it goes to the head ticket if any. Returns the waker to call.
        mutating func placeFreed() -> (@Sendable () -> Void)? {
            open -= 1
            guard let next = line.popFirst() else { return nil }
            open += 1
            mostOpen = max(mostOpen, open)
            handed[next.waiter, default: []].append(next.ticket)
            return wakers[next.waiter]
        }
    }

    private let state: Mutex<State>

    public init(limit: Int, window: Duration, retry: RetryPolicy = RetryPolicy(), cap: Int = 0) throws(RateLimitConfigurationError) {
        let limiter = try RateLimiter<Instant>(limit: limit, window: window, retry: retry)
        self.limit = limit
        self.window = window
        self.retry = retry
        self.cap = cap
        state = Mutex(State(limiter: limiter))
    }

    // MARK: Rate window and 429 block

    /// A slot now, or the earliest instant one may be free.
    public func takeSlot(now: Instant) -> SlotDecision {
        state.withLock { s in
            // The limiter's own line stays empty: each loop keeps its waiters and asks for its head.
            switch s.limiter.request(0, now: now) {
            case .granted:
                return .granted(at: now)
            case .wait(let until):
                s.limiter.cancel(0)
                return .notBefore(until)
            }
        }
    }

    /// The limiter's answer to an upstream 429 (`RateLimiter.on429`); the block it sets holds every loop.
    public func on429(attempt: Int, retryAfter: Duration?, random: Double, now: Instant) -> RateLimiter<Instant>.RetryDecision {
        state.withLock { $0.limiter.on429(attempt: attempt, retryAfter: retryAfter, random: random, now: now) }
    }

    /// Blocks every grant for `duration` (never shortening a longer block).
    public func blocked(for duration: Duration, now: Instant) {
        state.withLock { $0.limiter.blocked(for: duration, now: now) }
    }

    public func blockRemaining(now: Instant) -> Duration {
        state.withLock { $0.limiter.blockRemaining(now: now) }
    }

    /// Grants still counting against the window at `now`, from every loop.
    public func usedSlots(now: Instant) -> Int {
        state.withLock { $0.limiter.usedSlots(now: now) }
    }

    // MARK: Concurrency places

    /// Registers a loop that may wait for places. `wake` is called from whichever thread gives a
    /// place to one of its tickets, outside the lock; it must only signal the loop (an async send).
    public func register(wake: @escaping @Sendable () -> Void) -> Waiter {
        state.withLock { s in
            s.nextWaiter += 1
            let waiter = Waiter(id: s.nextWaiter)
            s.wakers[waiter] = wake
            return waiter
        }
    }

    /// A loop leaves (its shutdown): its tickets leave the line and places handed to it and not
    /// claimed go to the next in line. Places it claimed are given back one by one by its streams.
    public func unregister(_ waiter: Waiter) {
        let wakes: [@Sendable () -> Void] = state.withLock { s in
            s.wakers[waiter] = nil
            s.line.removeAll { $0.waiter == waiter }
            var wakes: [@Sendable () -> Void] = []
            for _ in s.handed.removeValue(forKey: waiter) ?? [] {
                if let wake = s.placeFreed() { wakes.append(wake) }
            }
            return wakes
        }
        for wake in wakes { wake() }
    }

    /// A place now, or a ticket in the process-wide line. Someone already in line goes first, so a
    /// loop with no waiters cannot overtake another loop's.
    public func takePlace(for waiter: Waiter) -> PlaceDecision {
        state.withLock { s in
            if cap <= 0 || (s.open < cap && s.waitingCount == 0) {
                s.open += 1
                s.mostOpen = max(s.mostOpen, s.open)
                return .taken
            }
            s.nextTicket += 1
            s.line.append((s.nextTicket, waiter))
            return .queued(s.nextTicket)
        }
    }

    /// A place even beyond the cap, for a caller that has no way to be woken (it must never be
    /// refused for that); given back like any other.
    public func takePlaceWithoutWaiting() {
        state.withLock { s in
            s.open += 1
            s.mostOpen = max(s.mostOpen, s.open)
        }
    }

    /// A queued ticket leaves (its client went away). If its place was already handed over and not
    /// yet claimed, the place goes to the next in line.
    public func leaveLine(_ ticket: PlaceTicket, waiter: Waiter) {
        let wake: (@Sendable () -> Void)? = state.withLock { s in
            if s.line.removeFirst(where: { $0.ticket == ticket }) != nil { return nil }
            guard let i = s.handed[waiter]?.firstIndex(of: ticket) else { return nil }
            s.handed[waiter]!.remove(at: i)
            return s.placeFreed()
        }
        wake?()
    }

    /// A stream that held a place ended.
    public func givePlaceBack() {
        let wake = state.withLock { $0.placeFreed() }
        wake?()
    }

    /// The tickets of `waiter` that were given places since it last asked, in line order. Each is
    /// the claimer's to use or give back.
    public func claimPlaces(for waiter: Waiter) -> [PlaceTicket] {
        state.withLock { $0.handed.removeValue(forKey: waiter) ?? [] }
    }

    /// Places taken now, by every loop (handed but unclaimed ones included).
    public var placesTaken: Int { state.withLock { $0.open } }
    /// The most places taken at once since the start; with a cap, never above it.
    public var mostPlacesTaken: Int { state.withLock { $0.mostOpen } }
    /// Tickets waiting for a place, from every loop.
    public var waitingForPlace: Int { state.withLock { $0.waitingCount } }
}
