// TCPConnection: a connected `uv_tcp_t` stream (accepted by a TCPListener or made by `connect`).
//
// Reading is `LoopStream`'s. Writes copy into pooled write requests, after trying `uv_try_write` first when nothing is
// queued, so a small response on an idle socket costs one syscall and no allocation.
//
// Backpressure: `writeQueueBytes` is libuv's count of bytes accepted but not yet written to the
// socket. Once it reaches `writeHighWaterBytes`, `isWritable` turns false and `onWritable` fires (from
// a write completion, never synchronously) when the queue falls to `writeLowWaterBytes`.

import CLibUV

/// A connected TCP stream. Loop-confined.
public final class TCPConnection: LoopStream {
    /// Fires when the write queue drains to `writeLowWaterBytes` after reaching the high-water mark.
    public var onWritable: (() -> Void)?
    public var writeHighWaterBytes = 256 * 1024
    public var writeLowWaterBytes = 64 * 1024
    private var waitingForDrain = false
    private var freeWrites: [WriteRequest] = []
    private(set) var isConnected = false

    init(loop: EventLoop) throws(UVError) {
        super.init(loop: loop, memory: UnsafeMutableRawPointer(UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)))
        try UVError.check(uv_tcp_init(loop.raw, tcp), "uv_tcp_init")
        didInitialize()
    }

    var tcp: UnsafeMutablePointer<uv_tcp_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_tcp_t.self)
    }

    func markConnected() { isConnected = true }

    // MARK: Connecting

    /// Connects to a numeric host and port. `completion` runs on the loop with the connection (owned
    /// by the caller, who must close it) or the error (the half-made handle is closed for you).
    public static func connect(loop: EventLoop, host: String, port: Int,
                               completion: @escaping (Result<TCPConnection, UVError>) -> Void) throws(UVError) {
        let address = try SocketAddress(host: host, port: port)
        let connection = try TCPConnection(loop: loop)
        let pending = PendingConnect(connection: connection, completion: completion)
        pending.request.pointee.data = Unmanaged.passRetained(pending).toOpaque()
        let rc = address.withSockaddr { sockaddr in
            uv_tcp_connect(pending.request, connection.tcp, sockaddr) { request, status in
                guard let data = request?.pointee.data else { return }
                Unmanaged<PendingConnect>.fromOpaque(data).takeRetainedValue().finish(status: status)
            }
        }
        if rc < 0 {
            Unmanaged.passUnretained(pending).release()
            connection.close()
            throw UVError(code: rc, operation: "uv_tcp_connect \(address)")
        }
    }

    private final class PendingConnect {
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        let connection: TCPConnection
        let completion: (Result<TCPConnection, UVError>) -> Void
        init(connection: TCPConnection, completion: @escaping (Result<TCPConnection, UVError>) -> Void) {
            self.connection = connection
            self.completion = completion
        }
        deinit { request.deallocate() }
        func finish(status: Int32) {
            if status < 0 {
                connection.close()
                completion(.failure(UVError(code: status, operation: "uv_tcp_connect")))
            } else {
                connection.markConnected()
                completion(.success(connection))
            }
        }
    }

    // MARK: Options and addresses

    /// Disables Nagle's algorithm so small responses leave at once.
    public func setNoDelay(_ enabled: Bool) throws(UVError) {
        guard !isClosed else { return }
        try UVError.check(uv_tcp_nodelay(tcp, enabled ? 1 : 0), "uv_tcp_nodelay")
    }

    public var peerAddress: SocketAddress? {
        guard !isClosed else { return nil }
        return try? SocketAddress.read("uv_tcp_getpeername") { uv_tcp_getpeername(tcp, $0, $1) }
    }

    public var localAddress: SocketAddress? {
        guard !isClosed else { return nil }
        return try? SocketAddress.read("uv_tcp_getsockname") { uv_tcp_getsockname(tcp, $0, $1) }
    }

    // MARK: Writing

    /// Bytes accepted by `write` that the kernel has not taken yet.
    public var writeQueueBytes: Int {
        isClosed ? 0 : uv_stream_get_write_queue_size(stream)
    }

    /// False while the write queue is at or above `writeHighWaterBytes`.
    public var isWritable: Bool { writeQueueBytes < writeHighWaterBytes }

    /// Queues `bytes` after earlier writes. `completion` (optional) runs on the loop once the bytes
    /// reached the kernel, or with an error (ECANCELED when the connection closed first). A thrown
    /// error means nothing was queued and `completion` will not run.
    public func write(_ bytes: UnsafeRawBufferPointer, completion: ((UVError?) -> Void)? = nil) throws(UVError) {
        guard !isClosed else { throw UVError(code: UV_EPIPE.rawValue, operation: "uv_write", detail: "connection closed") }
        if bytes.isEmpty {
            if let completion { try writeQueued(bytes, completion: completion) }
            return
        }
        var remaining = bytes
        if completion == nil && uv_stream_get_write_queue_size(stream) == 0 {
            var buffer = uv_buf_init(UnsafeMutableRawPointer(mutating: bytes.baseAddress)?.assumingMemoryBound(to: CChar.self),
                                     UInt32(bytes.count))
            let written = uv_try_write(stream, &buffer, 1)
            if written == Int32(bytes.count) { return }
            if written > 0 {
                remaining = UnsafeRawBufferPointer(rebasing: bytes[Int(written)...])
            } else if written != UV_EAGAIN.rawValue {
                throw UVError(code: written, operation: "uv_try_write")
            }
        }
        try writeQueued(remaining, completion: completion)
    }

    public func write(_ bytes: [UInt8], completion: ((UVError?) -> Void)? = nil) throws(UVError) {
        let failure: UVError? = bytes.withUnsafeBytes { buffer in
            do throws(UVError) {
                try write(buffer, completion: completion)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    private func writeQueued(_ bytes: UnsafeRawBufferPointer, completion: ((UVError?) -> Void)?) throws(UVError) {
        let request = freeWrites.popLast() ?? WriteRequest()
        request.load(bytes)
        request.connection = self
        request.completion = completion
        request.request.pointee.data = Unmanaged.passRetained(request).toOpaque()
        var buffer = uv_buf_init(request.storage?.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
        let rc = uv_write(request.request, stream, &buffer, 1) { request, status in
            guard let data = request?.pointee.data else { return }
            Unmanaged<WriteRequest>.fromOpaque(data).takeRetainedValue().finish(status: status)
        }
        if rc < 0 {
            Unmanaged.passUnretained(request).release()
            request.reset()
            throw UVError(code: rc, operation: "uv_write")
        }
        if uv_stream_get_write_queue_size(stream) >= writeHighWaterBytes { waitingForDrain = true }
    }

    fileprivate func writeFinished(_ request: WriteRequest, error: UVError?) {
        let completion = request.completion
        request.reset()
        if !isClosed && freeWrites.count < 4 { freeWrites.append(request) }
        completion?(error)
        if waitingForDrain && !isClosed && writeQueueBytes <= writeLowWaterBytes {
            waitingForDrain = false
            onWritable?()
        }
    }

    /// Sends FIN after every queued write; `completion` runs on the loop. Reading may continue.
    public func shutdown(completion: ((UVError?) -> Void)? = nil) throws(UVError) {
        guard !isClosed else { throw UVError(code: UV_EPIPE.rawValue, operation: "uv_shutdown", detail: "connection closed") }
        let pending = PendingShutdown(connection: self, completion: completion)
        pending.request.pointee.data = Unmanaged.passRetained(pending).toOpaque()
        let rc = uv_shutdown(pending.request, stream) { request, status in
            guard let data = request?.pointee.data else { return }
            Unmanaged<PendingShutdown>.fromOpaque(data).takeRetainedValue().finish(status: status)
        }
        if rc < 0 {
            Unmanaged.passUnretained(pending).release()
            throw UVError(code: rc, operation: "uv_shutdown")
        }
    }

    private final class PendingShutdown {
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        let connection: TCPConnection
        let completion: ((UVError?) -> Void)?
        init(connection: TCPConnection, completion: ((UVError?) -> Void)?) {
            self.connection = connection
            self.completion = completion
        }
        deinit { request.deallocate() }
        func finish(status: Int32) {
            completion?(status < 0 ? UVError(code: status, operation: "uv_shutdown") : nil)
        }
    }

    override func willClose() {
        super.willClose()
        onWritable = nil
    }

    override func didClose() {
        freeWrites.removeAll()
    }
}

/// A reusable `uv_write_t` with its own copy of the bytes (libuv needs them until the callback).
private final class WriteRequest {
    let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
    var storage: UnsafeMutableRawPointer?
    var capacity = 0
    var connection: TCPConnection?
    var completion: ((UVError?) -> Void)?

    /// Buffers above this are freed after use rather than pooled.
    static let pooledCapacity = 64 * 1024

    func load(_ bytes: UnsafeRawBufferPointer) {
        if capacity < bytes.count {
            storage?.deallocate()
            capacity = max(bytes.count, 4096)
            storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        }
        if let source = bytes.baseAddress, let storage {
            storage.copyMemory(from: source, byteCount: bytes.count)
        }
    }

    func reset() {
        connection = nil
        completion = nil
        if capacity > Self.pooledCapacity {
            storage?.deallocate()
            storage = nil
            capacity = 0
        }
    }

    func finish(status: Int32) {
        let error = status < 0 ? UVError(code: status, operation: "uv_write") : nil
        guard let connection else { return }
        connection.writeFinished(self, error: error)
    }

    deinit {
        storage?.deallocate()
        request.deallocate()
    }
}
