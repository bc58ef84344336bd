// Moving an accepted connection from the loop that accepted it to another loop.
//
// A libuv handle belongs to its loop, so the socket crosses as a file descriptor: the accepting
// loop duplicates the handle's descriptor and closes its handle (the duplicate keeps the
// connection open; libuv's close shuts nothing down), and the receiving loop wraps the descriptor
// in a handle of its own with `uv_tcp_open`.

import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// A connected TCP socket that no loop owns yet. Whoever holds it adopts it or discards it.
public struct HandedSocket: Sendable {
    public let descriptor: Int32

    /// Closes the descriptor (the handing over failed).
    public func discard() { _ = Glibc.close(descriptor) }
}

extension TCPConnection {
    /// Takes the connection off this loop: the returned descriptor is a duplicate and this handle
    /// is closed. On failure the handle stays open and the caller still owns it.
    public func handOff() throws(UVError) -> HandedSocket {
        var fd = uv_os_fd_t()
        try UVError.check(uv_fileno(handle, &fd), "uv_fileno")
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        if copy < 0 { throw UVError(code: -errno, operation: "fcntl F_DUPFD_CLOEXEC") }
        close()
        return HandedSocket(descriptor: copy)
    }

    /// A connection on `loop` over a socket handed from another loop, connected and not yet
    /// reading, like one a `TCPListener` accepted. The descriptor is closed if this fails.
    public static func adopt(_ socket: HandedSocket, loop: EventLoop) throws(UVError) -> TCPConnection {
        let connection: TCPConnection
        do {
            connection = try TCPConnection(loop: loop)
        } catch {
            socket.discard()
            throw error
        }
        let rc = uv_tcp_open(connection.tcp, socket.descriptor)
        if rc < 0 {
            connection.close()
            socket.discard()
            throw UVError(code: rc, operation: "uv_tcp_open")
        }
        connection.markConnected()
        return connection
    }
}
