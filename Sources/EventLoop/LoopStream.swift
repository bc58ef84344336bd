// LoopStream: reading from a `uv_stream_t` (a TCP connection or a pipe), shared by their wrappers.
//
// Reads are zero-copy: the bytes come from the loop's shared read buffer and are valid only inside
// `onData` (libuv calls alloc and read back to back on the loop thread, `stream.rst`).

import CLibUV

/// Base of the stream wrappers: the read side. Loop-confined.
public class LoopStream: LoopHandle {
    private var onData: ((UnsafeRawBufferPointer) -> Void)?
    private var onEnd: ((UVError?) -> Void)?
    private(set) public var isReading = false

    var stream: UnsafeMutablePointer<uv_stream_t> { asStream(handle) }

    /// Starts delivering bytes. `onData`'s buffer is valid only during the call. `onEnd` runs once when
    /// the peer closes (nil) or reading fails; reading has stopped by then.
    public func startReading(onData: @escaping (UnsafeRawBufferPointer) -> Void,
                             onEnd: @escaping (UVError?) -> Void) throws(UVError) {
        self.onData = onData
        self.onEnd = onEnd
        try resumeReading()
    }

    /// Starts reading again with the callbacks given to `startReading`.
    public func resumeReading() throws(UVError) {
        guard !isClosed else { throw UVError(code: UV_EINVAL.rawValue, operation: "uv_read_start", detail: "stream closed") }
        if isReading { return }
        let rc = uv_read_start(stream, { handle, _, buffer in
            guard let buffer else { return }
            guard let stream = LoopHandle.wrapper(UnsafeMutableRawPointer(handle), as: LoopStream.self) else {
                buffer.pointee = uv_buf_init(nil, 0)
                return
            }
            let shared = stream.loop.readBuffer
            buffer.pointee = uv_buf_init(shared.baseAddress?.assumingMemoryBound(to: CChar.self), UInt32(shared.count))
        }, { stream, count, buffer in
            guard let stream = LoopHandle.wrapper(UnsafeMutableRawPointer(stream), as: LoopStream.self) else { return }
            stream.didRead(count: count, base: buffer?.pointee.base)
        })
        try UVError.check(rc, "uv_read_start")
        isReading = true
    }

    /// Stops delivering bytes (they stay in the kernel, which pushes back on the peer).
    public func stopReading() {
        guard !isClosed, isReading else { return }
        uv_read_stop(stream)
        isReading = false
    }

    private func didRead(count: Int, base: UnsafeMutablePointer<CChar>?) {
        if count > 0, let base {
            onData?(UnsafeRawBufferPointer(start: UnsafeRawPointer(base), count: count))
        } else if count < 0 {
            stopReading()
            let callback = onEnd
            onEnd = nil
            callback?(count == Int(UV_EOF.rawValue) ? nil : UVError(code: Int32(count), operation: "read"))
        }
        // count == 0 is EAGAIN: nothing to do.
    }

    override func willClose() {
        onData = nil
        onEnd = nil
        isReading = false
    }
}

/// A `uv_pipe_t`, e.g. a child's stdout or stderr (`pipe.rst`). Loop-confined.
public final class PipeStream: LoopStream {
    public init(loop: EventLoop) throws(UVError) {
        let memory = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
        super.init(loop: loop, memory: UnsafeMutableRawPointer(memory))
        try UVError.check(uv_pipe_init(loop.raw, memory, 0), "uv_pipe_init")
        didInitialize()
    }
}
