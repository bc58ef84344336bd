// LoopHandle: the one lifetime protocol shared by every libuv handle wrapper.
//
// libuv `handle.rst`: handles do not move, `uv_close` must be called on each, and their memory may be
// released only in the close callback. Following uvloop's `handle.pyx`:
// - the `uv_*_t` is allocated apart from the wrapper; `data` holds an unretained pointer to the
//   wrapper while open (the owner keeps the wrapper alive);
// - `close()` is the one way to close: it guards double close, lets the subclass drop its callbacks
//   first (h2o #1249: no callback may run into a half-torn-down owner), retains the wrapper and calls
//   `uv_close`; the close callback releases the wrapper and frees the memory;
// - a wrapper dropped while still open closes its handle from `deinit` with `data` cleared, so every
//   C callback, which first checks `data`, ignores it.
//
// The kinds: Timer, SignalWatcher, AsyncWakeup, SocketPoll, TCPListener, the streams (LoopStream:
// TCPConnection, PipeStream) and SpawnedProcess. No other module allocates a libuv handle.

import CLibUV

/// Base of the handle wrappers. Loop-confined.
public class LoopHandle {
    public let loop: EventLoop
    let handle: UnsafeMutablePointer<uv_handle_t>
    private var initialized = false
    private(set) var closing = false
    /// Called once from the close callback, when the handle's memory is about to be freed.
    public var onClose: (() -> Void)?

    /// `memory` must come from `UnsafeMutablePointer<uv_xxx_t>.allocate(capacity: 1)`.
    init(loop: EventLoop, memory: UnsafeMutableRawPointer) {
        precondition(!loop.isClosed, "handle created on a closed loop")
        self.loop = loop
        self.handle = memory.bindMemory(to: uv_handle_t.self, capacity: 1)
    }

    /// Subclasses call this right after their `uv_xxx_init` succeeded.
    func didInitialize() {
        initialized = true
        handle.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    /// True once `close()` was called (or the handle never opened).
    public var isClosed: Bool { closing || !initialized }

    /// An unreferenced handle does not keep `EventLoop.run()` going on its own (`uv_unref`), e.g. a
    /// watchdog timer or a signal watcher that should not keep an otherwise finished program alive.
    public func unref() {
        guard !isClosed else { return }
        uv_unref(handle)
    }

    public func ref() {
        guard !isClosed else { return }
        uv_ref(handle)
    }

    /// Subclasses drop their user callbacks here.
    func willClose() {}

    /// Subclasses run completion work here (before `onClose`).
    func didClose() {}

    /// Closes the handle. Idempotent. Callbacks stop at once; `onClose` runs from the loop later.
    public func close() {
        guard initialized, !closing, uv_is_closing(handle) == 0 else { return }
        closing = true
        willClose()
        _ = Unmanaged.passRetained(self)
        uv_close(handle) { handle in
            guard let handle else { return }
            guard let data = handle.pointee.data else {
                UnsafeMutableRawPointer(handle).deallocate()
                return
            }
            handle.pointee.data = nil
            let wrapper = Unmanaged<LoopHandle>.fromOpaque(data).takeRetainedValue()
            wrapper.didClose()
            let callback = wrapper.onClose
            wrapper.onClose = nil
            callback?()
            UnsafeMutableRawPointer(handle).deallocate()
        }
    }

    deinit {
        if !initialized {
            UnsafeMutableRawPointer(handle).deallocate()
        } else if !closing {
            handle.pointee.data = nil
            uv_close(handle) { handle in
                if let handle { UnsafeMutableRawPointer(handle).deallocate() }
            }
        }
        // When closing, the close callback owns the memory.
    }

    /// Recovers the wrapper from a handle's `data`, or nil once closed.
    @inline(__always)
    static func wrapper<T: LoopHandle>(_ handle: UnsafeMutableRawPointer?, as _: T.Type) -> T? {
        guard let handle else { return nil }
        let h = handle.assumingMemoryBound(to: uv_handle_t.self)
        guard let data = h.pointee.data else { return nil }
        let wrapper = Unmanaged<T>.fromOpaque(data).takeUnretainedValue()
        return wrapper.closing ? nil : wrapper
    }
}

@available(*, unavailable)
extension LoopHandle: Sendable {}
