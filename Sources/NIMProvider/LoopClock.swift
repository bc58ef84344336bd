import EventLoop

/// The loop's clock (`uv_now`, whole milliseconds) as an instant for the rate limiter, so the
/// limiter and the timer that wakes it read the same clock. Exact: an offset, not a float.
struct LoopClockInstant: InstantProtocol {
    var offset: Duration

    init(_ loop: EventLoop) { offset = .milliseconds(loop.nowMs) }

    private init(offset: Duration) { self.offset = offset }

    func advanced(by duration: Duration) -> LoopClockInstant { LoopClockInstant(offset: offset + duration) }
    func duration(to other: LoopClockInstant) -> Duration { other.offset - offset }
    static func < (a: LoopClockInstant, b: LoopClockInstant) -> Bool { a.offset < b.offset }
}

extension Duration {
    /// Seconds as a Double, for health fields and log lines.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Whole milliseconds, rounded up, for a timer that must not fire before a deadline.
    var roundedUpMilliseconds: UInt64 {
        let perMs: Int64 = 1_000_000_000_000_000
        let (seconds, attoseconds) = max(.zero, self).components
        return UInt64(seconds * 1000 + (attoseconds + perMs - 1) / perMs)
    }

    /// Whole milliseconds, truncated, for a loop timer.
    var truncatedMilliseconds: UInt64 {
        UInt64(max(0, components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000))
    }
}
