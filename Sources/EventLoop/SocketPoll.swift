// SocketPoll: a `uv_poll_t` watching a socket someone else reads and writes (curl's, in this
// project). libuv `poll.rst`: one poll handle per socket, and the socket must stay open until the
// handle is closed.

import CLibUV

/// Readiness of a watched socket. Loop-confined.
public final class SocketPoll: LoopHandle {
    public struct Events: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: Int32(UV_READABLE.rawValue))
        public static let writable = Events(rawValue: Int32(UV_WRITABLE.rawValue))
    }

    private var callback: ((Result<Events, UVError>) -> Void)?

    /// `callback` runs on the loop with the events that are ready, or with the error libuv saw on the
    /// socket (the watch then stopped).
    public init(loop: EventLoop, socket: Int32, _ callback: @escaping (Result<Events, UVError>) -> Void) throws(UVError) {
        let memory = UnsafeMutablePointer<uv_poll_t>.allocate(capacity: 1)
        self.callback = callback
        super.init(loop: loop, memory: UnsafeMutableRawPointer(memory))
        try UVError.check(uv_poll_init_socket(loop.raw, memory, socket), "uv_poll_init_socket")
        didInitialize()
    }

    private var poll: UnsafeMutablePointer<uv_poll_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_poll_t.self)
    }

    /// Watches for `events`, replacing what was watched before.
    public func start(_ events: Events) throws(UVError) {
        guard !isClosed else { throw UVError(code: UV_EINVAL.rawValue, operation: "uv_poll_start", detail: "poll closed") }
        try UVError.check(uv_poll_start(poll, events.rawValue) { handle, status, events in
            LoopHandle.wrapper(UnsafeMutableRawPointer(handle), as: SocketPoll.self)?.fire(status: status, events: events)
        }, "uv_poll_start")
    }

    public func stop() {
        guard !isClosed else { return }
        uv_poll_stop(poll)
    }

    private func fire(status: Int32, events: Int32) {
        if status < 0 {
            callback?(.failure(UVError(code: status, operation: "uv_poll")))
        } else {
            callback?(.success(Events(rawValue: events)))
        }
    }

    override func willClose() {
        callback = nil
    }
}
