/// Upstream rate-limit policy for NVIDIA NIM, as a state machine over an injected
/// clock: every method takes `now` (an instant of the owner's monotonic clock) and
/// returns what the caller should do, so the event loop owns timers and this type
/// owns only arithmetic.
///
/// Two limits combine, as in the reference limiter:
/// - proactive: a strict sliding window, at most `limit` grants in any `window`
///   (a grant at `t` stops counting at `t + window`);
/// - reactive: after an upstream 429 every request waits until the block ends.
///
/// Waiters are served first come, first served: a ticket is granted only when no
/// earlier ticket is still waiting, so a burst cannot starve an early request.
public struct RateLimiter<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public typealias Ticket = Int

    public enum Decision: Sendable, Equatable {
        case granted
        /// Queued; nothing can be granted before `until`. The caller arms a timer
        /// and then calls `grantReady(now:)`.
        case wait(until: Instant)
    }

    public typealias ConfigurationError = RateLimitConfigurationError

    public let limit: Int
    public let window: Duration
    public let retry: RetryPolicy

    /// Grant times still inside the window, oldest first (ring buffer via `grantHead`).
    private var grantTimes: [Instant] = []
    private var grantHead = 0
    /// The end of the reactive block; nil when none was ever set.
    private var blockedUntil: Instant?
    private var waiting = FIFOLine<Ticket>()
    private var waitingSet: Set<Ticket> = []

    /// The reference refuses a non-positive limit or window at construction.
    public init(limit: Int, window: Duration, retry: RetryPolicy = RetryPolicy()) throws(RateLimitConfigurationError) {
        guard limit > 0 else { throw .limitNotPositive(limit) }
        guard window > .zero else { throw .windowNotPositive(window) }
        self.limit = limit
        self.window = window
        self.retry = retry
    }

    // MARK: Granting

    /// Asks for a slot for `ticket`. Granted at once only when nobody is queued
    /// ahead, no reactive block is active and the window has room; otherwise the
    /// ticket joins the queue (asking again for a queued ticket keeps its place).
    public mutating func request(_ ticket: Ticket, now: Instant) -> Decision {
        if !waitingSet.contains(ticket) {
            if waitingCount == 0, canGrant(now: now) {
                recordGrant(at: now)
                return .granted
            }
            waiting.append(ticket)
            waitingSet.insert(ticket)
        } else if waiting.first == ticket, canGrant(now: now) {
            popHead()
            recordGrant(at: now)
            return .granted
        }
        return .wait(until: earliestGrantTime(now: now))
    }

    /// Grants queued tickets from the head, in order, while the policy allows.
    /// Call it when the timer armed for `nextWakeup` fires.
    public mutating func grantReady(now: Instant) -> [Ticket] {
        var granted: [Ticket] = []
        while waitingCount > 0, canGrant(now: now) {
            granted.append(popHead())
            recordGrant(at: now)
        }
        return granted
    }

    /// When the head of the queue can next be granted; nil when nobody waits.
    public func nextWakeup(now: Instant) -> Instant? {
        waitingCount == 0 ? nil : earliestGrantTime(now: now)
    }

    /// Removes a waiting ticket (its client went away). Returns whether it was queued.
    /// A granted slot is never given back: the upstream call happened, so it
    /// counts against the window until it ages out.
    @discardableResult
    public mutating func cancel(_ ticket: Ticket) -> Bool {
        guard waitingSet.remove(ticket) != nil else { return false }
        waiting.removeFirst { $0 == ticket }
        return true
    }

    // MARK: Reactive block

    /// Blocks every grant for `duration` from `now`, but never longer than
    /// `retry.maxRetryAfter`: a peer's number cannot hold every later request for years.
    /// A shorter block never cuts an existing longer one short (the reference overwrites;
    /// see the report).
    public mutating func blocked(for duration: Duration, now: Instant) {
        let end = now.advanced(by: min(max(.zero, duration), retry.maxRetryAfter))
        blockedUntil = blockedUntil.map { max($0, end) } ?? end
    }

    public func isBlocked(now: Instant) -> Bool { blockedUntil.map { now < $0 } ?? false }

    /// Time until the reactive block ends; zero when not blocked.
    public func blockRemaining(now: Instant) -> Duration {
        blockedUntil.map { max(.zero, now.duration(to: $0)) } ?? .zero
    }

    // MARK: Stats

    /// Grants that still count against the window at `now`.
    public func usedSlots(now: Instant) -> Int {
        grantTimes.count - firstLiveGrant(at: now)
    }

    /// Index of the first recorded grant still inside the window at `now`. Grant times are
    /// recorded in order, so this is a binary search: a high limit (thousands of grants in
    /// the window) costs nothing per request. Measured as a distance from `now` rather than
    /// against `now - window`: a clock counting from boot cannot go back a long window
    /// (an unsigned instant would wrap and every grant would look expired).
    private func firstLiveGrant(at now: Instant) -> Int {
        var lo = grantHead, hi = grantTimes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if isLive(grantTimes[mid], at: now) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    private func isLive(_ grant: Instant, at now: Instant) -> Bool { grant.duration(to: now) < window }

    public var waitingCount: Int { waiting.count }

    /// Queued tickets, head first.
    public var waitingTickets: [Ticket] { Array(waiting.elements) }

    // MARK: 429 handling before the stream starts

    public enum RetryDecision: Sendable, Equatable {
        /// Retry after this long; the limiter is already blocked for it, so the
        /// retry simply asks for a slot again.
        case retry(after: Duration)
        /// Retries exhausted: surface the 429 to the client. The limiter is blocked
        /// for the reference's cool-down (or the server's Retry-After).
        case giveUp
        /// The upstream's Retry-After (carried here) is longer than `maxRetryAfter`: end the
        /// request now rather than hold its client that long. The limiter is blocked for
        /// `maxRetryAfter` only.
        case retryAfterTooLong(Duration)
    }

    /// What to do after the upstream answered 429 to attempt `attempt` (0 for the
    /// first call). `retryAfter` is the parsed Retry-After header, if any (see
    /// `RetryPolicy.retryAfter(seconds:)`); `random` is a uniform draw from 0...1 for the jitter.
    public mutating func on429(attempt: Int, retryAfter: Duration?, random: Double, now: Instant) -> RetryDecision {
        let serverDelay = retryAfter.flatMap { $0 >= .zero ? $0 : nil }
        if let serverDelay, serverDelay > retry.maxRetryAfter {
            blocked(for: serverDelay, now: now)
            return .retryAfterTooLong(serverDelay)
        }
        if let backoff = retry.delay(attempt: attempt, random: random) {
            let delay = min(serverDelay ?? backoff, retry.maxRetryAfter)
            blocked(for: delay, now: now)
            return .retry(after: delay)
        }
        blocked(for: serverDelay ?? retry.exhaustedBlock, now: now)
        return .giveUp
    }

    // MARK: Internals

    private func canGrant(now: Instant) -> Bool {
        !isBlocked(now: now) && usedSlots(now: now) < limit
    }

    /// Earliest time both the block has ended and a window slot has freed.
    private func earliestGrantTime(now: Instant) -> Instant {
        var t = blockedUntil.map { max(now, $0) } ?? now
        let live = grantTimes.count - firstLiveGrant(at: t)
        if live >= limit {
            // The slot frees when the grant `limit` places from the end expires.
            t = max(t, grantTimes[grantTimes.count - limit].advanced(by: window))
        }
        return t
    }

    private mutating func recordGrant(at now: Instant) {
        while grantHead < grantTimes.count, !isLive(grantTimes[grantHead], at: now) { grantHead += 1 }
        if grantHead > 64, grantHead * 2 > grantTimes.count {
            grantTimes.removeFirst(grantHead)
            grantHead = 0
        }
        // Kept in order even if a caller's clock stepped back, so the searches above hold.
        grantTimes.append(max(now, grantTimes.last ?? now))
    }

    /// Takes the head ticket; only called with someone waiting.
    @discardableResult
    private mutating func popHead() -> Ticket {
        let t = waiting.popFirst()!
        waitingSet.remove(t)
        return t
    }
}

/// Why a limiter cannot be made; the reference refuses these at construction too.
public enum RateLimitConfigurationError: Error, Sendable, Equatable {
    case limitNotPositive(Int)
    case windowNotPositive(Duration)
}

/// The reference's retry schedule for a 429 received before the stream starts:
/// up to `maxRetries` retries, delay `min(baseDelay * 2^attempt, maxDelay)` plus a
/// uniform jitter in `0...jitter`; after the last one the limiter blocks for
/// `exhaustedBlock` (the reference's fixed 60 s cool-down). No wait, block or retry delay
/// lasts longer than `maxRetryAfter` (`UPSTREAM_MAX_RETRY_AFTER`).
public struct RetryPolicy: Sendable, Equatable {
    public var maxRetries: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    public var jitter: Duration
    public var exhaustedBlock: Duration
    /// The longest the server waits on the upstream's word: a longer Retry-After ends the
    /// request at once, and no block of the limiter lasts longer.
    public var maxRetryAfter: Duration

    public init(maxRetries: Int = 3, baseDelay: Duration = .seconds(2), maxDelay: Duration = .seconds(60),
                jitter: Duration = .seconds(1), exhaustedBlock: Duration = .seconds(60),
                maxRetryAfter: Duration = .seconds(60)) {
        self.maxRetries = maxRetries
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.exhaustedBlock = exhaustedBlock
        self.maxRetryAfter = maxRetryAfter
    }

    /// Delay before retry number `attempt + 1`, or nil when no retry is left.
    /// `random` in 0...1 (clamped) scales the jitter.
    public func delay(attempt: Int, random: Double) -> Duration? {
        guard attempt >= 0, attempt < maxRetries else { return nil }
        // Doubling stops at the cap, so a large attempt cannot overflow the Duration.
        var exponential = baseDelay
        for _ in 0..<attempt where exponential < maxDelay { exponential = exponential * 2 }
        let r = random.isFinite ? min(max(random, 0), 1) : 0
        return min(exponential, maxDelay) + jitter * r
    }

    /// A Retry-After header's seconds as a delay: nil for a value that is negative or not a
    /// number; beyond a century it is a century (a Duration cannot hold every Double).
    public static func retryAfter(seconds: Double) -> Duration? {
        guard seconds.isFinite, seconds >= 0 else { return nil }
        return .seconds(min(seconds, 100 * 365 * 86_400))
    }
}
