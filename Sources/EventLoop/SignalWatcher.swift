// SignalWatcher: a `uv_signal_t` (libuv turns the signal into a loop callback, so the handler may
// touch loop state freely; `signal.rst`).

import CLibUV

/// Watches one signal (e.g. `SIGINT`, `SIGTERM`). Loop-confined.
public final class SignalWatcher: LoopHandle {
    private var callback: ((Int32) -> Void)?

    public init(loop: EventLoop) throws(UVError) {
        super.init(loop: loop, memory: UnsafeMutableRawPointer(UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)))
        try UVError.check(uv_signal_init(loop.raw, signalHandle), "uv_signal_init")
        didInitialize()
    }

    private var signalHandle: UnsafeMutablePointer<uv_signal_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_signal_t.self)
    }

    /// Starts watching `signal`; the callback receives the signal number on the loop.
    public func start(signal: Int32, _ callback: @escaping (Int32) -> Void) throws(UVError) {
        guard !isClosed else { throw UVError(code: UV_EINVAL.rawValue, operation: "uv_signal_start", detail: "watcher closed") }
        self.callback = callback
        try UVError.check(uv_signal_start(signalHandle, { handle, signum in
            LoopHandle.wrapper(UnsafeMutableRawPointer(handle), as: SignalWatcher.self)?.fire(signum)
        }, signal), "uv_signal_start")
    }

    public func stop() {
        guard !isClosed else { return }
        uv_signal_stop(signalHandle)
    }

    private func fire(_ signum: Int32) {
        callback?(signum)
    }

    override func willClose() {
        callback = nil
    }
}
