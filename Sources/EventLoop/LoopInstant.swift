// LoopInstant: the loop's clock as an `InstantProtocol`, and `Duration` as libuv's milliseconds.
//
// Every interval in the loop modules is a `Duration`; libuv counts whole milliseconds (`uv_now`,
// `uv_timer_start`), and the conversion happens here only.

import CLibUV

/// Loop time (`uv_now`: milliseconds, cached at the start of each loop iteration) as an
/// `InstantProtocol`, so a pure policy generic over the clock (a debouncer, a rate limiter) reads
/// the same clock as the timer that wakes it: a timer armed for `deadline` fires when `uv_now` has
/// reached it, and the policy, asked with that same reading, agrees it is due. (With a wall clock
/// the cached loop time can lag, the timer fires a few ms "early" and the policy ignores it.)
public struct LoopInstant: InstantProtocol, Hashable, Sendable {
    public var milliseconds: UInt64

    public init(milliseconds: UInt64) { self.milliseconds = milliseconds }

    public func advanced(by duration: Duration) -> LoopInstant {
        let ms = duration.roundedUpMilliseconds
        return LoopInstant(milliseconds: ms >= 0 ? milliseconds &+ UInt64(ms) : milliseconds &- UInt64(-ms))
    }

    public func duration(to other: LoopInstant) -> Duration {
        .milliseconds(Int64(bitPattern: other.milliseconds &- milliseconds))
    }

    public static func < (a: LoopInstant, b: LoopInstant) -> Bool { a.milliseconds < b.milliseconds }
}

extension EventLoop {
    /// The loop's clock, cached at the start of the iteration (`uv_now`).
    public var now: LoopInstant { LoopInstant(milliseconds: uv_now(raw)) }
}

// The project's one set of conversions from `Duration` to the units its C libraries and its
// JSON fields count in.
extension Duration {
    /// Whole milliseconds, rounded up so a deadline or a timer is never earlier than asked.
    public var roundedUpMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let perMs: Int64 = 1_000_000_000_000_000
        var ms = seconds * 1000 + attoseconds / perMs
        if attoseconds % perMs > 0 { ms += 1 }
        return ms
    }

    /// Whole milliseconds, rounded down (curl's options and log messages count in milliseconds).
    public var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }

    /// A libuv timeout: whole milliseconds, rounded up, and zero for a negative duration.
    public var uvMilliseconds: UInt64 { UInt64(max(0, roundedUpMilliseconds)) }

    /// Whole seconds, a part second counting as one (an HTTP `retry-after`).
    public var roundedUpSeconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) + (attoseconds > 0 ? 1 : 0)
    }

    /// Seconds as a `Double`, for health fields and log lines.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
