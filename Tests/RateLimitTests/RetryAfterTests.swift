import Testing
import TestSupport
@testable import RateLimit

private typealias Limiter = RateLimiter<TestInstant>

/// A century in seconds, the most `RetryPolicy.retryAfter(seconds:)` keeps.
private let century = 100.0 * 365 * 86_400

@Suite struct RetryAfterParsing {
    @Test(arguments: [
        ("7", 7.0), (" 2.5 ", 2.5), ("0", 0), ("+5", 5), ("1000000000", 1e9), ("1e300", 1e300),
        ("99999999999999999999999999", 1e26),
    ])
    func seconds(text: String, expected: Double) {
        #expect(parseRetryAfter(text, now: 0) == expected)
    }

    /// Negative, non-numeric and non-decimal values are not a delay (the caller falls back to
    /// its own schedule); none of them traps.
    @Test(arguments: [
        "", " ", "-1", "-0.5", "soon", "inf", "Infinity", "nan", "0x10", "1e999", "1 2", "\u{0}",
        "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 8:49 GMT", "Sun, 06 Nov 1994 08:49:37:00 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 06 Nov -1994 08:49:37 GMT", "Sun, +6 Nov 1994 08:49:37 GMT",
        "Sun, 99999999999999999999 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 99999999999999999999:00:00 GMT",
        "Sun, 06 Nov 1994 -1:00:00 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT", "Sunday, 06-Nov-9 08:49:37 GMT",
        "Sun Nov  6 08:49:37 94",
    ])
    func refused(text: String) {
        #expect(parseRetryAfter(text, now: 784_111_767) == nil)
    }

    @Test func imfFixdate() {
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        #expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_767) == 10)
        #expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_800) == 0)
        #expect(parseRetryAfter("Thu, 29 Feb 2024 00:00:00 GMT", now: 1_709_164_790) == 10)
        #expect(parseRetryAfter("Sat, 01 Jan 2000 00:00:00 GMT", now: 946_684_790) == 10)
        #expect(parseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now: 253_402_300_789) == 10)
        // The day-of-week name is not checked, as `timegm` never did.
        #expect(parseRetryAfter("Xyz, 06 Nov 1994 08:49:37 GMT", now: 784_111_767) == 10)
    }

    @Test func obsoleteForms() {
        #expect(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now: 784_111_767) == 10)
        #expect(parseRetryAfter("Sun Nov  6 08:49:37 1994", now: 784_111_767) == 10)
        // In 2026 (1780000000), "30" is 2030 and "94" (2094 is more than 50 years ahead) is 1994.
        #expect(parseRetryAfter("Wednesday, 06-Nov-30 08:49:37 GMT", now: 1_780_000_000) == Double(1_920_185_377 - 1_780_000_000))
        #expect(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now: 1_780_000_000) == 0)
    }

    /// The year 99999999999 once trapped (`Int32(year - 1900)`): a year beyond any date type
    /// reads as a delay of thousands of centuries, finite and positive.
    @Test(arguments: [
        "Sun, 06 Nov 99999999999 08:49:37 GMT", "Sun, 06 Nov 999999 08:49:37 GMT",
        "Sun, 06 Nov \(String(repeating: "9", count: 500)) 08:49:37 GMT", "Sun Nov  6 08:49:37 99999999999",
    ])
    func absurdYearsSaturate(text: String) throws {
        let seconds = try #require(parseRetryAfter(text, now: 1_780_000_000))
        #expect(seconds.isFinite && seconds > 1000 * century)
        #expect(RetryPolicy.retryAfter(seconds: seconds) == .seconds(century))
    }
}

@Suite struct RetryAfterLimit {
    /// `Retry-After: 1000000000` once blocked every later request for 31 years.
    @Test(arguments: [1e9, 1e300, 61])
    func beyondTheLimitIsNotRetriedAndBlocksOnlyForTheLimit(seconds: Double) throws {
        var limiter = try Limiter(limit: 40, window: .seconds(60))
        let asked = try #require(RetryPolicy.retryAfter(seconds: seconds))
        #expect(limiter.on429(attempt: 0, retryAfter: asked, random: 0, now: 0) == .retryAfterTooLong(asked))
        #expect(limiter.blockRemaining(now: 0) == .seconds(60))
        #expect(limiter.request(1, now: 1) == .wait(until: 60))
        #expect(limiter.grantReady(now: 60) == [1])
    }

    @Test func atTheLimitIsWaitedFor() throws {
        var limiter = try Limiter(limit: 40, window: .seconds(60))
        #expect(limiter.on429(attempt: 0, retryAfter: .seconds(60), random: 0, now: 0) == .retry(after: .seconds(60)))
    }

    @Test func theLimitIsTheRetryPolicys() throws {
        var limiter = try Limiter(limit: 40, window: .seconds(60), retry: RetryPolicy(maxRetryAfter: .seconds(5)))
        #expect(limiter.on429(attempt: 0, retryAfter: .seconds(6), random: 0, now: 0) == .retryAfterTooLong(.seconds(6)))
        #expect(limiter.blockRemaining(now: 0) == .seconds(5))
        // The backoff, the exhausted cool-down and the error mapper's 60 s are capped too.
        var other = try Limiter(limit: 40, window: .seconds(60), retry: RetryPolicy(maxRetryAfter: .seconds(3)))
        #expect(other.on429(attempt: 2, retryAfter: nil, random: 0, now: 0) == .retry(after: .seconds(3)))
        #expect(other.on429(attempt: 3, retryAfter: nil, random: 0, now: 0) == .giveUp)
        #expect(other.blockRemaining(now: 0) == .seconds(3))
        other.blocked(for: .seconds(60), now: 10)
        #expect(other.blockRemaining(now: 10) == .seconds(3))
    }

    /// A limit of zero waits on nothing: any positive Retry-After ends the request, and the
    /// limiter is never blocked.
    @Test func zeroLimit() throws {
        var limiter = try Limiter(limit: 40, window: .seconds(60), retry: RetryPolicy(maxRetryAfter: .zero))
        #expect(limiter.on429(attempt: 0, retryAfter: .milliseconds(1), random: 0, now: 0) == .retryAfterTooLong(.milliseconds(1)))
        #expect(!limiter.isBlocked(now: 0))
        #expect(limiter.request(1, now: 0) == .granted)
    }
}

/// An instant like the event loop's: unsigned milliseconds since boot, wrapping arithmetic.
private struct BootInstant: InstantProtocol {
    var milliseconds: UInt64

    func advanced(by duration: Duration) -> BootInstant {
        let (seconds, attoseconds) = duration.components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return BootInstant(milliseconds: ms >= 0 ? milliseconds &+ UInt64(ms) : milliseconds &- UInt64(-ms))
    }

    func duration(to other: BootInstant) -> Duration { .milliseconds(Int64(bitPattern: other.milliseconds &- milliseconds)) }

    static func < (a: BootInstant, b: BootInstant) -> Bool { a.milliseconds < b.milliseconds }
}

@Suite struct LongWindows {
    /// A window longer than the time since boot (`NVIDIA_NIM_RATE_WINDOW` up to 10^9 s): the
    /// window's start is before the clock's zero, and grants still count.
    @Test func aWindowLongerThanTheClocksReadingStillLimits() throws {
        var limiter = try RateLimiter<BootInstant>(limit: 2, window: .seconds(1_000_000_000))
        let boot = BootInstant(milliseconds: 5_000)
        #expect(limiter.request(1, now: boot) == .granted)
        #expect(limiter.request(2, now: boot) == .granted)
        #expect(limiter.usedSlots(now: boot) == 2)
        #expect(limiter.request(3, now: BootInstant(milliseconds: 6_000)) == .wait(until: boot.advanced(by: .seconds(1_000_000_000))))
        #expect(limiter.grantReady(now: BootInstant(milliseconds: 7_000)) == [])
    }
}
