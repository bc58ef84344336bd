// LoopThread: a thread of its own for one more event loop. The process runs its worker loops on
// these; libuv's own thread pool is for short jobs and must not be blocked by a loop.

#if canImport(Glibc)
import Glibc
#endif

/// A started thread running `body` once; `join()` waits for it to return.
public final class LoopThread: Sendable {
    // `pthread_t` is an integer on Linux; only `join` (once, from the starting thread) reads it.
    private let thread: pthread_t

    /// Starts `body` on a new thread. Throws the `pthread_create` error number.
    public init(_ body: @escaping @Sendable () -> Void) throws(UVError) {
        final class Start {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Start(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            Unmanaged<Start>.fromOpaque(context).takeRetainedValue().body()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Start>.fromOpaque(context).release()
            throw UVError(code: -rc, operation: "pthread_create")
        }
        self.thread = thread
    }

    /// Waits for the thread to end. Call once.
    public func join() {
        _ = pthread_join(thread, nil)
    }
}
