// AsyncWakeup: the one door into the loop from other threads (`uv_async_send`, `async.rst`), and
// `runOnWorker`, which runs CPU work on libuv's thread pool and brings the result back to the loop.

import CLibUV
import Synchronization

/// A `uv_async_t`. The wakeup itself is loop-confined; only its `Sender` may cross threads.
///
/// libuv coalesces sends: several `send()` calls before the loop wakes produce one callback, so the
/// callback should drain whatever queue the senders fill.
public final class AsyncWakeup: LoopHandle {
    /// Thread-safe handle for other threads. Sending after the wakeup closed does nothing.
    public struct Sender: Sendable {
        let gate: Gate
        /// Wakes the loop; the wakeup's callback runs there soon after.
        public func send() { gate.send() }
    }

    /// Guards the handle pointer so a send racing with `close()` never touches freed memory.
    final class Gate: @unchecked Sendable {
        // @unchecked: `handle` is only dereferenced by `uv_async_send` under `open`'s lock.
        private let open = Mutex(true)
        private let handle: UnsafeMutablePointer<uv_async_t>
        init(_ handle: UnsafeMutablePointer<uv_async_t>) { self.handle = handle }
        func send() {
            open.withLock { isOpen in
                if isOpen { _ = uv_async_send(handle) }
            }
        }
        func shut() { open.withLock { $0 = false } }
    }

    private var callback: (() -> Void)?
    private let gate: Gate

    /// `callback` runs on the loop after one or more `send()` calls.
    public init(loop: EventLoop, _ callback: @escaping () -> Void) throws(UVError) {
        let memory = UnsafeMutablePointer<uv_async_t>.allocate(capacity: 1)
        gate = Gate(memory)
        self.callback = callback
        super.init(loop: loop, memory: UnsafeMutableRawPointer(memory))
        try UVError.check(uv_async_init(loop.raw, memory, { handle in
            LoopHandle.wrapper(UnsafeMutableRawPointer(handle), as: AsyncWakeup.self)?.fire()
        }), "uv_async_init")
        didInitialize()
    }

    public var sender: Sender { Sender(gate: gate) }

    private func fire() { callback?() }

    override func willClose() {
        gate.shut()
        callback = nil
    }

    deinit {
        gate.shut()
    }
}

/// One `uv_queue_work` job, type-erased so the C callbacks need no generic parameter.
private class WorkJob: @unchecked Sendable {
    // @unchecked: `runOnPool` runs on a pool thread and writes only the result, which libuv orders
    // before the after-work callback; everything else is touched on the loop only.
    let request = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
    deinit { request.deallocate() }
    func runOnPool() {}
    func finish(cancelled: Bool) {}
}

private final class TypedWorkJob<T: Sendable>: WorkJob, @unchecked Sendable {
    let work: @Sendable () -> T
    var result: T?
    var completion: ((T) -> Void)?

    init(work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) {
        self.work = work
        self.completion = completion
    }

    override func runOnPool() { result = work() }

    override func finish(cancelled: Bool) {
        let completion = self.completion
        self.completion = nil
        if !cancelled, let result { completion?(result) }
    }
}

extension EventLoop {
    /// Runs `work` on libuv's thread pool and then `completion` with its result on the loop.
    ///
    /// Meant for CPU work that can take milliseconds (a tokenizer pass, a file save). The loop
    /// stays alive until the completion ran.
    public func runOnWorker<T: Sendable>(_ work: @escaping @Sendable () -> T,
                                         completion: @escaping (T) -> Void) throws(UVError) {
        let job: WorkJob = TypedWorkJob(work: work, completion: completion)
        let opaque = Unmanaged.passRetained(job).toOpaque()
        job.request.pointee.data = opaque
        let rc = uv_queue_work(raw, job.request, { request in
            guard let data = request?.pointee.data else { return }
            Unmanaged<WorkJob>.fromOpaque(data).takeUnretainedValue().runOnPool()
        }, { request, status in
            guard let data = request?.pointee.data else { return }
            let job = Unmanaged<WorkJob>.fromOpaque(data).takeRetainedValue()
            job.finish(cancelled: status == UV_ECANCELED.rawValue)
        })
        if rc < 0 {
            Unmanaged<WorkJob>.fromOpaque(opaque).release()
            throw UVError(code: rc, operation: "uv_queue_work")
        }
    }
}
