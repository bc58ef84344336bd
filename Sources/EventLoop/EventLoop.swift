// EventLoop: owner of one `uv_loop_t`.
//
// libuv `design.rst`: a loop belongs to one thread and is not thread safe; only `uv_async_send`
// (see AsyncWakeup) may be called from elsewhere. Every wrapper in this module is therefore
// loop-confined and not Sendable.
//
// Closing follows libuv's own test discipline (`test/task.h`, MAKE_VALGRIND_HAPPY): `close()` refuses
// while any handle is still open, drains pending close callbacks, then `uv_loop_close` must succeed.

import CLibUV
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One libuv event loop.
///
/// All methods must be called from the thread that runs the loop (loop-confined).
public final class EventLoop {
    let raw: UnsafeMutablePointer<uv_loop_t>
    /// One read buffer for every stream on this loop: libuv calls alloc and then read back to back on
    /// the loop thread, and readers consume (or copy) the bytes inside their read callback, so a
    /// single buffer is never shared by two live reads.
    let readBuffer: UnsafeMutableRawBufferPointer
    private(set) public var isClosed = false

    public static let readBufferSize = 64 * 1024

    private static let ignoreSIGPIPE: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()

    public init() throws(UVError) {
        // A write to a socket the peer already reset raises SIGPIPE, whose default action kills the
        // process; libuv leaves that to the application. Every libuv program wants it ignored (the
        // write then fails with EPIPE, which we report), so the first loop does it once.
        _ = EventLoop.ignoreSIGPIPE
        raw = UnsafeMutablePointer<uv_loop_t>.allocate(capacity: 1)
        let rc = uv_loop_init(raw)
        if rc < 0 {
            raw.deallocate()
            throw UVError(code: rc, operation: "uv_loop_init")
        }
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readBufferSize, alignment: 16)
        raw.pointee.data = nil
    }

    deinit {
        if !isClosed {
            // A loop with open handles cannot be freed safely; leaking it is the lesser evil.
            if (try? close()) == nil { return }
        }
    }

    /// Runs until there are no more active handles or requests, or `stop()` is called.
    public func run() {
        precondition(!isClosed, "EventLoop.run after close")
        uv_run(raw, UV_RUN_DEFAULT)
    }

    /// Runs one iteration. With `wait`, blocks for I/O when there is nothing pending.
    /// Returns whether there are still active handles or requests.
    @discardableResult
    public func runOnce(wait: Bool = true) -> Bool {
        precondition(!isClosed, "EventLoop.runOnce after close")
        return uv_run(raw, wait ? UV_RUN_ONCE : UV_RUN_NOWAIT) != 0
    }

    /// Makes `run()` return after the current iteration.
    public func stop() {
        uv_stop(raw)
    }

    /// Whether the loop has active handles, active requests or closing handles.
    public var isAlive: Bool { uv_loop_alive(raw) != 0 }

    /// Type names of handles that are open and not closing; empty when the loop can close.
    public var openHandleDescriptions: [String] {
        final class Collector { var names: [String] = [] }
        let collector = Collector()
        withExtendedLifetime(collector) {
            uv_walk(raw, { handle, arg in
                guard let handle, let arg else { return }
                if uv_is_closing(handle) != 0 { return }
                let collector = Unmanaged<Collector>.fromOpaque(arg).takeUnretainedValue()
                collector.names.append(String(cString: uv_handle_type_name(uv_handle_get_type(handle))))
            }, Unmanaged.passUnretained(collector).toOpaque())
        }
        return collector.names
    }

    /// Drains pending close callbacks and closes the loop.
    ///
    /// Throws `EBUSY` (with the open handle types in `detail`) when a handle was never closed or a
    /// request is still pending; the loop then stays usable.
    public func close() throws(UVError) {
        if isClosed { return }
        let open = openHandleDescriptions
        if !open.isEmpty {
            throw UVError(code: UV_EBUSY.rawValue, operation: "uv_loop_close",
                          detail: "open handles: \(open.joined(separator: ", "))")
        }
        // Only closing handles (and requests they cancel) remain: running them cannot call user code
        // other than close and cancellation callbacks. Bounded so a pending work item cannot hang us.
        var spins = 0
        while uv_loop_alive(raw) != 0 && spins < 1000 {
            uv_run(raw, UV_RUN_NOWAIT)
            spins += 1
        }
        let rc = uv_loop_close(raw)
        if rc < 0 {
            throw UVError(code: rc, operation: "uv_loop_close", detail: "requests still pending")
        }
        isClosed = true
        raw.deallocate()
        readBuffer.deallocate()
    }
}

@available(*, unavailable)
extension EventLoop: Sendable {}
