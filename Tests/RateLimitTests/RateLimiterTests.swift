import Testing
import TestSupport
@testable import RateLimit

private typealias Limiter = RateLimiter<TestInstant>

/// Drives the limiter the way the event loop will: requests arrive at given times,
/// a single timer fires at `nextWakeup`, and every grant is recorded with its time.
private struct Simulation {
    var limiter: Limiter
    var grants: [(ticket: Int, time: TestInstant)] = []

    init(limit: Int, window: Duration) throws {
        limiter = try Limiter(limit: limit, window: window)
    }

    /// `arrivals` must be sorted by time.
    mutating func run(arrivals: [(ticket: Int, time: TestInstant)]) {
        var next = 0
        var clock = arrivals.first?.time ?? 0
        while true {
            let wake = limiter.nextWakeup(now: clock)
            let arrival = arrivals.indices.contains(next) ? arrivals[next].time : nil
            if let a = arrival, wake == nil || a <= wake! {
                clock = a
                if case .granted = limiter.request(arrivals[next].ticket, now: a) {
                    grants.append((arrivals[next].ticket, a))
                }
                next += 1
            } else if let w = wake {
                clock = w
                for t in limiter.grantReady(now: w) { grants.append((t, w)) }
            } else {
                break
            }
        }
    }

    /// True when no half-open window of length `window` holds more than `limit` grants.
    func windowRespected(limit: Int, window: Duration) -> Bool {
        let times = grants.map(\.time).sorted()
        guard times.count > limit else { return true }
        for i in 0..<(times.count - limit) where times[i].duration(to: times[i + limit]) < window { return false }
        return true
    }
}

@Suite struct ProactiveWindow {
    @Test func sequentialRequestsAreSpacedByTheWindow() throws {
        // Reference test_proactive_throttling: 1 request per 0.25 s, 5 requests take >= 1 s.
        var limiter = try Limiter(limit: 1, window: .milliseconds(250))
        var now: TestInstant = 0
        var grantTimes: [TestInstant] = []
        for ticket in 0..<5 {
            switch limiter.request(ticket, now: now) {
            case .granted: grantTimes.append(now)
            case .wait(let until):
                now = until
                #expect(limiter.grantReady(now: now) == [ticket])
                grantTimes.append(now)
            }
        }
        #expect(grantTimes == [0, 0.25, 0.5, 0.75, 1.0])
    }

    @Test func highLimitNeverThrottles() throws {
        var limiter = try Limiter(limit: 10000, window: .seconds(60))
        for ticket in 0..<20 { #expect(limiter.request(ticket, now: 1) == .granted) }
        #expect(limiter.usedSlots(now: 1) == 20)
    }

    @Test func strictRollingWindowForFiveConcurrent() throws {
        // Reference test_proactive_strict_rolling_window: limit 2, window 0.5, 5 at once.
        var sim = try Simulation(limit: 2, window: .milliseconds(500))
        sim.run(arrivals: (0..<5).map { ($0, 0) })
        #expect(sim.grants.map(\.time) == [0, 0, 0.5, 0.5, 1.0])
        #expect(sim.windowRespected(limit: 2, window: .milliseconds(500)))
    }

    @Test(arguments: [(40, 60.0), (1, 0.25), (7, 3.0), (100, 1.0)])
    func burstOfThousandNeverExceedsTheWindow(limit: Int, windowSeconds: Double) throws {
        let window = Duration.seconds(windowSeconds)
        var sim = try Simulation(limit: limit, window: window)
        sim.run(arrivals: (0..<1000).map { ($0, 0) })
        #expect(sim.grants.count == 1000)
        #expect(sim.windowRespected(limit: limit, window: window))
        // Strict FIFO: grants come out in arrival order.
        #expect(sim.grants.map(\.ticket) == Array(0..<1000))
        // And no slower than the window allows: the last grant is at (1000/limit - 1) windows.
        #expect(sim.grants.last!.time == TestInstant(0).advanced(by: window * ((1000 - 1) / limit)))
    }

    @Test func staggeredArrivalsKeepFIFOAndTheWindow() throws {
        var sim = try Simulation(limit: 3, window: .seconds(10))
        // Deterministic pseudo-random arrival times.
        var state: UInt64 = 12345
        var t = 0.0
        var arrivals: [(Int, TestInstant)] = []
        for ticket in 0..<1000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            t += Double(state >> 54) / 100  // 0..10 s gaps
            arrivals.append((ticket, TestInstant(seconds: t)))
        }
        sim.run(arrivals: arrivals)
        #expect(sim.grants.count == 1000)
        #expect(sim.windowRespected(limit: 3, window: .seconds(10)))
        #expect(sim.grants.map(\.ticket) == Array(0..<1000))
        for g in sim.grants { #expect(g.time >= arrivals[g.ticket].1) }
    }

    @Test func grantAgesOutExactlyAtTheWindowEdge() throws {
        // The reference drops a grant whose time is <= now - window.
        var limiter = try Limiter(limit: 1, window: .seconds(5))
        #expect(limiter.request(1, now: 10) == .granted)
        #expect(limiter.request(2, now: 14.999) == .wait(until: 15))
        #expect(limiter.grantReady(now: 14.999) == [])
        #expect(limiter.grantReady(now: 15) == [2])
        #expect(limiter.usedSlots(now: 15) == 1)
        #expect(limiter.usedSlots(now: 20) == 0)
    }

    @Test func newcomerWaitsBehindQueuedTicketsEvenWhenASlotIsFree() throws {
        var limiter = try Limiter(limit: 1, window: .seconds(1))
        #expect(limiter.request(1, now: 0) == .granted)
        #expect(limiter.request(2, now: 0.5) == .wait(until: 1))
        // The timer is late: a newcomer at 1.2 must not overtake ticket 2.
        #expect(limiter.request(3, now: 1.2) == .wait(until: 1.2))
        #expect(limiter.waitingTickets == [2, 3])
        #expect(limiter.grantReady(now: 1.2) == [2])
        #expect(limiter.nextWakeup(now: 1.2) == 2.2)
        // Asking again for a queued ticket keeps its place and grants it when at the head.
        #expect(limiter.request(3, now: 2.2) == .granted)
        #expect(limiter.nextWakeup(now: 2.2) == nil)
    }

    @Test func cancelledTicketIsSkipped() throws {
        var limiter = try Limiter(limit: 1, window: .seconds(1))
        _ = limiter.request(1, now: 0)
        _ = limiter.request(2, now: 0)
        _ = limiter.request(3, now: 0)
        let first = limiter.cancel(2)
        let again = limiter.cancel(2)
        let unknown = limiter.cancel(99)
        #expect(first && !again && !unknown)
        #expect(limiter.grantReady(now: 1) == [3])
        #expect(limiter.waitingCount == 0)
    }

    @Test func invalidConfigurationIsRefused() {
        #expect(throws: Limiter.ConfigurationError.limitNotPositive(0)) { try Limiter(limit: 0, window: .seconds(60)) }
        #expect(throws: Limiter.ConfigurationError.windowNotPositive(.zero)) { try Limiter(limit: 1, window: .zero) }
        #expect(throws: Limiter.ConfigurationError.windowNotPositive(.seconds(-1))) { try Limiter(limit: 1, window: .seconds(-1)) }
    }
}

@Suite struct ReactiveBlock {
    @Test func blockHoldsEveryRequestUntilItEnds() throws {
        // Reference test_reactive_blocking: block 1.5 s, two concurrent calls both wait.
        var limiter = try Limiter(limit: 40, window: .seconds(60))
        limiter.blocked(for: .seconds(1.5), now: 100)
        #expect(limiter.isBlocked(now: 100))
        #expect(limiter.request(1, now: 100) == .wait(until: 101.5))
        #expect(limiter.request(2, now: 100) == .wait(until: 101.5))
        #expect(limiter.grantReady(now: 101.4) == [])
        #expect(limiter.grantReady(now: 101.5) == [1, 2])
        #expect(!limiter.isBlocked(now: 101.5))
    }

    @Test func zeroBlockDoesNotBlock() throws {
        var limiter = try Limiter(limit: 100, window: .seconds(60))
        limiter.blocked(for: .seconds(0), now: 5)
        #expect(!limiter.isBlocked(now: 5.01))
        #expect(limiter.blockRemaining(now: 5.01) == .zero)
        #expect(limiter.request(1, now: 5.01) == .granted)
    }

    @Test func remainingWaitIsZeroWhenNotBlockedAndDecreases() throws {
        var limiter = try Limiter(limit: 100, window: .seconds(60))
        #expect(!limiter.isBlocked(now: 0))
        #expect(limiter.blockRemaining(now: 0) == .zero)
        limiter.blocked(for: .seconds(2), now: 0)
        let wait1 = limiter.blockRemaining(now: 0)
        #expect(wait1 > .seconds(1.5))
        #expect(limiter.blockRemaining(now: 0.5) < wait1)
        #expect(limiter.blockRemaining(now: 0.5) == .seconds(1.5))
    }

    @Test func shorterBlockDoesNotShortenALongerOne() throws {
        var limiter = try Limiter(limit: 1, window: .seconds(1))
        limiter.blocked(for: .seconds(60), now: 0)
        limiter.blocked(for: .seconds(2), now: 1)
        #expect(limiter.blockRemaining(now: 1) == .seconds(59))
    }

    @Test func blockAndWindowCombine() throws {
        var limiter = try Limiter(limit: 1, window: .seconds(10))
        #expect(limiter.request(1, now: 0) == .granted)
        limiter.blocked(for: .seconds(3), now: 0)
        // The block ends at 3 but the window frees only at 10.
        #expect(limiter.request(2, now: 1) == .wait(until: 10))
    }
}

@Suite struct RetrySchedule {
    @Test func retryAfterSecondsBecomeADelay() {
        #expect(RetryPolicy.retryAfter(seconds: 17) == .seconds(17))
        #expect(RetryPolicy.retryAfter(seconds: 0.25) == .milliseconds(250))
        #expect(RetryPolicy.retryAfter(seconds: -1) == nil)
        #expect(RetryPolicy.retryAfter(seconds: .nan) == nil)
        #expect(RetryPolicy.retryAfter(seconds: .infinity) == nil)
        #expect(RetryPolicy.retryAfter(seconds: 1e300) == .seconds(100 * 365 * 86_400))
    }

    @Test func aLateAttemptStaysAtTheCap() {
        #expect(RetryPolicy(maxRetries: 10_000).delay(attempt: 9_999, random: 0) == .seconds(60))
    }

    @Test func exponentialBackoffWithoutJitter() {
        let p = RetryPolicy()
        #expect(p.delay(attempt: 0, random: 0) == .seconds(2))
        #expect(p.delay(attempt: 1, random: 0) == .seconds(4))
        #expect(p.delay(attempt: 2, random: 0) == .seconds(8))
        #expect(p.delay(attempt: 3, random: 0) == nil)
        #expect(p.delay(attempt: -1, random: 0) == nil)
    }

    @Test func jitterIsBoundedByOneSecond() {
        let p = RetryPolicy()
        for attempt in 0..<3 {
            let base = Duration.seconds([2, 4, 8][attempt])
            for r in stride(from: 0.0, through: 1.0, by: 0.125) {
                let d = p.delay(attempt: attempt, random: r)!
                #expect(d >= base && d <= base + .seconds(1))
            }
            #expect(p.delay(attempt: attempt, random: 7)! == base + .seconds(1))
            #expect(p.delay(attempt: attempt, random: -3)! == base)
        }
    }

    @Test func delayIsCappedAtSixtySeconds() {
        let p = RetryPolicy(maxRetries: 10)
        #expect(p.delay(attempt: 4, random: 0) == .seconds(32))
        #expect(p.delay(attempt: 5, random: 0) == .seconds(60))
        #expect(p.delay(attempt: 9, random: 0.5) == .seconds(60.5))
    }

    @Test func on429RetriesThreeTimesThenBlocksForSixty() throws {
        var limiter = try Limiter(limit: 40, window: .seconds(60))
        #expect(limiter.on429(attempt: 0, retryAfter: nil, random: 0.5, now: 0) == .retry(after: .seconds(2.5)))
        #expect(limiter.blockRemaining(now: 0) == .seconds(2.5))
        #expect(limiter.on429(attempt: 1, retryAfter: nil, random: 0, now: 10) == .retry(after: .seconds(4)))
        #expect(limiter.on429(attempt: 2, retryAfter: nil, random: 1, now: 20) == .retry(after: .seconds(9)))
        #expect(limiter.on429(attempt: 3, retryAfter: nil, random: 0, now: 30) == .giveUp)
        #expect(limiter.blockRemaining(now: 30) == .seconds(60))
    }

    @Test func retryAfterSetsTheBlockInstead() throws {
        var limiter = try Limiter(limit: 40, window: .seconds(60))
        #expect(limiter.on429(attempt: 0, retryAfter: .seconds(17), random: 0.9, now: 0) == .retry(after: .seconds(17)))
        #expect(limiter.blockRemaining(now: 0) == .seconds(17))
        #expect(limiter.request(1, now: 1) == .wait(until: 17))
        var other = try Limiter(limit: 40, window: .seconds(60))
        #expect(other.on429(attempt: 3, retryAfter: .seconds(5), random: 0, now: 0) == .giveUp)
        #expect(other.blockRemaining(now: 0) == .seconds(5))
        // A nonsense Retry-After falls back to the schedule.
        #expect(other.on429(attempt: 0, retryAfter: .seconds(-4), random: 0, now: 100) == .retry(after: .seconds(2)))
    }
}
