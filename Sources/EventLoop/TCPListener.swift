// TCPListener: a listening `uv_tcp_t` that hands each accepted socket over as a TCPConnection.

import CLibUV

/// A listening TCP socket. Loop-confined.
public final class TCPListener: LoopHandle {
    private var onConnection: ((TCPConnection) -> Void)?
    private var onAcceptError: ((UVError) -> Void)?

    public init(loop: EventLoop) throws(UVError) {
        super.init(loop: loop, memory: UnsafeMutableRawPointer(UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)))
        try UVError.check(uv_tcp_init(loop.raw, tcp), "uv_tcp_init")
        didInitialize()
    }

    var tcp: UnsafeMutablePointer<uv_tcp_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_tcp_t.self)
    }

    /// Binds to a numeric host and port; port 0 picks a free port (read it from `localAddress`).
    /// libuv sets SO_REUSEADDR on Unix, so a restarted server can rebind at once.
    public func bind(host: String, port: Int) throws(UVError) {
        let address = try SocketAddress(host: host, port: port)
        let rc = address.withSockaddr { uv_tcp_bind(tcp, $0, 0) }
        try UVError.check(rc, "uv_tcp_bind \(address)")
    }

    /// Starts listening. `onConnection` receives each accepted socket, not yet reading; the receiver
    /// owns it and must close it. `onAcceptError` hears about failed accepts (e.g. EMFILE).
    public func listen(backlog: Int32 = 511,
                       onAcceptError: ((UVError) -> Void)? = nil,
                       onConnection: @escaping (TCPConnection) -> Void) throws(UVError) {
        guard !isClosed else { throw UVError(code: UV_EINVAL.rawValue, operation: "uv_listen", detail: "listener closed") }
        self.onConnection = onConnection
        self.onAcceptError = onAcceptError
        let rc = UnsafeMutableRawPointer(tcp).withMemoryRebound(to: uv_stream_t.self, capacity: 1) { stream in
            uv_listen(stream, backlog) { server, status in
                LoopHandle.wrapper(UnsafeMutableRawPointer(server), as: TCPListener.self)?.accept(status: status)
            }
        }
        try UVError.check(rc, "uv_listen")
    }

    /// A listener bound and listening, with the port it got (the kernel's choice for port 0);
    /// closed again if either step fails.
    public static func open(
        loop: EventLoop, host: String, port: Int, backlog: Int32,
        onAcceptError: ((UVError) -> Void)? = nil, onConnection: @escaping (TCPConnection) -> Void
    ) throws(UVError) -> (TCPListener, port: Int) {
        let listener = try TCPListener(loop: loop)
        do throws(UVError) {
            try listener.bind(host: host, port: port)
            try listener.listen(backlog: backlog, onAcceptError: onAcceptError, onConnection: onConnection)
            return (listener, try listener.localAddress.port)
        } catch {
            listener.close()
            throw error
        }
    }

    /// The bound address; after binding port 0 this holds the port the kernel chose.
    public var localAddress: SocketAddress {
        get throws(UVError) {
            try SocketAddress.read("uv_tcp_getsockname") { uv_tcp_getsockname(tcp, $0, $1) }
        }
    }

    private func accept(status: Int32) {
        if status < 0 {
            onAcceptError?(UVError(code: status, operation: "uv_listen callback"))
            return
        }
        let connection: TCPConnection
        do {
            connection = try TCPConnection(loop: loop)
        } catch {
            onAcceptError?(error)
            return
        }
        let rc = uv_accept(asStream(handle), connection.stream)
        if rc < 0 {
            connection.close()
            onAcceptError?(UVError(code: rc, operation: "uv_accept"))
            return
        }
        connection.markConnected()
        onConnection?(connection)
    }

    override func willClose() {
        onConnection = nil
        onAcceptError = nil
    }
}

@inline(__always)
func asStream(_ handle: UnsafeMutablePointer<uv_handle_t>) -> UnsafeMutablePointer<uv_stream_t> {
    UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self)
}
