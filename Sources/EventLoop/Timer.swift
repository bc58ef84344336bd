// Timer: a `uv_timer_t`, one-shot or repeating.

import CLibUV

/// A libuv timer. Loop-confined.
///
/// The callback runs from the loop; `start` never calls it synchronously, even with a zero delay,
/// which makes a zero-delay timer the way to deliver a completion "later" without re-entering
/// the caller.
public final class Timer: LoopHandle {
    private var callback: (() -> Void)?
    private var delay: Duration = .zero
    private var interval: Duration?

    public init(loop: EventLoop) throws(UVError) {
        super.init(loop: loop, memory: UnsafeMutableRawPointer(UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)))
        try UVError.check(uv_timer_init(loop.raw, timer), "uv_timer_init")
        didInitialize()
    }

    private var timer: UnsafeMutablePointer<uv_timer_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_timer_t.self)
    }

    /// Arms the timer: first fire after `delay`, then every `interval` when given. Replaces any
    /// previous schedule and callback. libuv counts whole milliseconds: both are rounded up, and an
    /// interval that rounds to zero means no repeat.
    public func start(after delay: Duration, repeating interval: Duration? = nil,
                      _ callback: @escaping () -> Void) throws(UVError) {
        guard !isClosed else { throw UVError(code: UV_EINVAL.rawValue, operation: "uv_timer_start", detail: "timer closed") }
        self.callback = callback
        self.delay = delay
        self.interval = interval
        try UVError.check(uv_timer_start(timer, { handle in
            LoopHandle.wrapper(UnsafeMutableRawPointer(handle), as: Timer.self)?.fire()
        }, delay.uvMilliseconds, interval?.uvMilliseconds ?? 0), "uv_timer_start")
    }

    /// Re-arms with the last schedule and callback, counting from now.
    public func restart() throws(UVError) {
        guard let callback else { throw UVError(code: UV_EINVAL.rawValue, operation: "uv_timer_start", detail: "timer never started") }
        try start(after: delay, repeating: interval, callback)
    }

    /// Disarms the timer; it can be started again.
    public func stop() {
        guard !isClosed else { return }
        uv_timer_stop(timer)
    }

    /// Whether the timer is armed.
    public var isActive: Bool { !isClosed && uv_is_active(handle) != 0 }

    private func fire() {
        callback?()
    }

    override func willClose() {
        callback = nil
    }
}
