// One listener for several loops. libuv 1.44 has no SO_REUSEPORT for TCP (`UV_TCP_REUSEPORT`
// came in 1.49), and setting it by hand would let a second server bind the same port and quietly
// take half the traffic. So one loop owns the listening socket (a second server still fails to
// bind, and port 0 still means one port) and passes what it accepts to the others in turn.

import EventLoop

/// A server on another loop, as the accepting loop hands it connections.
public typealias ServerAddress = LoopObjectAddress<HTTPServer>

/// Deals the connections one server accepts round-robin between that server and the servers of
/// other loops added to it. Loop-confined to the accepting server's loop.
public final class ConnectionDistributor {
    private unowned let home: HTTPServer
    /// The rotation; nil is the accepting server's own turn.
    private var turns: [ServerAddress?] = [nil]
    private var next = 0
    /// Connections passed to other loops since start.
    private(set) public var handedOff: UInt64 = 0

    /// Takes over `server.handOff`. The server keeps the distributor alive.
    public init(server: HTTPServer) {
        home = server
        server.handOff = { socket, overLimit in self.take(socket, overLimit: overLimit) }
    }

    /// Adds a server of another loop to the rotation.
    public func add(_ server: ServerAddress) {
        turns.append(server)
    }

    /// Loops taking connections, the accepting one included.
    public var loopCount: Int { turns.count }

    private func take(_ socket: TCPConnection, overLimit: Bool) -> Bool {
        let turn = turns[next]
        next = next + 1 == turns.count ? 0 : next + 1
        guard let target = turn else { return false }
        let handed: HandedSocket
        do {
            handed = try socket.handOff()
        } catch {
            return false
        }
        if target.mailbox.post({ target.object.value.adopt(handed, overLimit: overLimit) }) {
            handedOff += 1
        } else {
            // That loop is shutting down and takes no more jobs: serve the connection here.
            home.adopt(handed, overLimit: overLimit)
        }
        return true
    }
}

@available(*, unavailable)
extension ConnectionDistributor: Sendable {}
