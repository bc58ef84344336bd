// HTTPServer: a generic HTTP/1.1 server on the EventLoop (knows nothing of the application).
//
// Usage:
//     let server = HTTPServer(loop: loop, config: config) { request, responder in
//         responder.respond(status: 200, headers: [("Content-Type", "text/plain")], body: Array("ok".utf8))
//     }
//     let port = try server.start()
//     ...
//     server.beginShutdown(timeout: .seconds(5)) { /* every connection closed */ }
//
// The handler runs on the loop for each complete request (body included) and must eventually
// respond through the responder (or see `onClientGone`). Routing, 404 and 405 are the handler's.
// The server itself answers only protocol errors (400 malformed, 408 too slow, 413 body too large,
// 414 request line too long, 431 header section too large, 501 unknown transfer coding, 505 HTTP
// version) and 503 to a connection over `maxConnections`, each followed by closing the connection.

import EventLoop
import Synchronization

/// Loop-confined. A started server keeps itself alive (its listener and connections hold it) until
/// `beginShutdown` completed, so the owner may drop it after calling `beginShutdown`.
public final class HTTPServer {
    public let loop: EventLoop
    public let config: HTTPServerConfig
    let handler: (HTTPRequest, HTTPResponder) -> Void

    private var listener: TCPListener?
    private var connections: [UInt64: HTTPConnection] = [:]
    private var lastConnectionID: UInt64 = 0
    private var lastRequestID: UInt64 = 0
    private var idStep: UInt64 = 1
    private(set) public var isShuttingDown = false
    private var shutdownTimer: Timer?
    private var shutdownCompletion: (() -> Void)?
    private var listenerClosed = false
    /// Every connection formats its writes here: the socket copies what it cannot send at once,
    /// so the bytes are dead after each write, and one buffer for the loop costs nothing per
    /// connection (a buffer kept per connection was ~1 KB resident for each open stream).
    var outBuffer: [UInt8] = []

    /// Connections currently open.
    public var openConnections: Int { connections.count }
    /// Connections accepted or adopted since start (those handed to another loop not counted).
    private(set) public var totalConnections: UInt64 = 0
    /// What `maxConnections` is checked against: this server's own count, or one shared by every
    /// loop's server so the limit holds for the process. Set before `start()` / the first `adopt`.
    public var connectionCount = ConnectionCount()
    /// Offered each connection the listener accepts (already counted, with whether it was over
    /// the limit) before this server takes it; returning true means it took the connection
    /// elsewhere (another loop's `adopt`), and this server forgets it.
    public var handOff: ((TCPConnection, _ overLimit: Bool) -> Bool)?
    /// Requests handed to the handler whose response has not finished.
    private(set) public var inFlightRequests = 0
    /// Requests handed to the handler since start.
    private(set) public var totalRequests: UInt64 = 0
    /// Connections answered 503 because `maxConnections` were open.
    private(set) public var refusedConnections: UInt64 = 0
    /// The most recent accept error (e.g. EMFILE), for diagnostics.
    private(set) public var lastAcceptError: UVError?

    public init(loop: EventLoop, config: HTTPServerConfig = HTTPServerConfig(),
                handler: @escaping (HTTPRequest, HTTPResponder) -> Void) {
        self.loop = loop
        self.config = config
        self.handler = handler
    }

    /// Binds and listens; returns the bound port (useful with port 0).
    @discardableResult
    public func start() throws(UVError) -> Int {
        precondition(listener == nil, "HTTPServer.start called twice")
        let (listener, boundPort) = try TCPListener.open(
            loop: loop, host: config.host, port: config.port, backlog: config.backlog,
            onAcceptError: { error in self.lastAcceptError = error },
            onConnection: { socket in self.accepted(socket) })
        self.listener = listener
        return boundPort
    }

    /// Numbers connections and requests `first`, `first + step`, ... instead of 1, 2, ...: the
    /// servers of a process's loops each take another `first` below a common `step`, so a request
    /// number in the log names one request of the process. Call before the first connection.
    public func numberConnectionsAndRequests(from first: UInt64, step: UInt64) {
        precondition(first >= 1 && step >= 1 && totalConnections == 0, "numbering set after the first connection")
        idStep = step
        lastConnectionID = first &- step
        lastRequestID = first &- step
    }

    /// Serves a connection another loop accepted, as if this server's listener had. The accepting
    /// server counted it in the shared `connectionCount` then, and `overLimit` is what that count
    /// said (so the limit follows the order connections arrived in, whichever loop serves them).
    public func adopt(_ handed: HandedSocket, overLimit: Bool) {
        if isShuttingDown {
            connectionCount.leave()
            handed.discard()
            return
        }
        do {
            accept(try TCPConnection.adopt(handed, loop: loop), overLimit: overLimit)
        } catch {
            connectionCount.leave()
            lastAcceptError = error
        }
    }

    private func accepted(_ socket: TCPConnection) {
        if isShuttingDown {
            socket.close()
            return
        }
        // Counted before this one joins: connections still lingering after a refusal count too, so
        // a flood of connections stays refused until they are gone.
        let overLimit = connectionCount.join() >= config.maxConnections
        if let handOff, handOff(socket, overLimit) { return }
        accept(socket, overLimit: overLimit)
    }

    /// Serves a connection already counted in `connectionCount`.
    private func accept(_ socket: TCPConnection, overLimit: Bool) {
        if isShuttingDown {
            connectionCount.leave()
            socket.close()
            return
        }
        lastConnectionID &+= idStep
        totalConnections += 1
        let id = lastConnectionID
        do {
            let connection = try HTTPConnection(id: id, server: self, socket: socket, config: config)
            connections[id] = connection
            let count = connectionCount
            socket.onClose = {
                count.leave()
                self.connectionClosed(id)
            }
            try connection.start()
            if overLimit {
                refusedConnections += 1
                connection.refuse(503, message: "Too many connections: the server allows \(config.maxConnections) at once")
            }
        } catch {
            lastAcceptError = error
            if let connection = connections[id] {
                connection.closeNow()
            } else {
                connectionCount.leave()
                socket.close()
            }
        }
    }

    private func connectionClosed(_ id: UInt64) {
        connections[id] = nil
        checkShutdownDone()
    }

    func nextRequestID() -> UInt64 {
        lastRequestID &+= idStep
        return lastRequestID
    }

    func requestStarted() {
        inFlightRequests += 1
        totalRequests += 1
    }

    func requestFinished() {
        inFlightRequests -= 1
    }

    /// Stops accepting, closes idle connections, lets responses in progress finish (their
    /// connections then close), and after `timeout` closes whatever is left (their responders see
    /// `onClientGone`). `completion` runs on the loop once the listener and every connection closed.
    public func beginShutdown(timeout: Duration, completion: @escaping () -> Void) {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        shutdownCompletion = completion
        if let timer = try? Timer(loop: loop) {
            shutdownTimer = timer
            try? timer.start(after: timeout) { self.forceCloseAll() }
        }
        if let listener {
            listener.onClose = {
                self.listenerClosed = true
                self.checkShutdownDone()
            }
            listener.close()
            self.listener = nil
        } else {
            listenerClosed = true
            // Never complete synchronously: let the loop call back. With connections open (a
            // worker loop's server has no listener) their closing completes, and the timer keeps
            // its force-close.
            if connections.isEmpty {
                try? shutdownTimer?.start(after: .zero) { self.checkShutdownDone() }
            }
        }
        for connection in Array(connections.values) { connection.beginGracefulClose() }
    }

    private func forceCloseAll() {
        for connection in Array(connections.values) { connection.closeNow() }
    }

    private func checkShutdownDone() {
        guard isShuttingDown, listenerClosed, connections.isEmpty, let completion = shutdownCompletion else { return }
        shutdownCompletion = nil
        shutdownTimer?.close()
        shutdownTimer = nil
        completion()
    }
}

@available(*, unavailable)
extension HTTPServer: Sendable {}

/// Open connections, counted by every server that shares this object (one per loop), so that
/// `maxConnections` is one limit for the process. A relaxed atomic: it only has to be right
/// once each loop's increments and decrements landed, and no other memory depends on it.
public final class ConnectionCount: Sendable {
    private let open = Atomic<Int>(0)

    public init() {}

    /// Connections open now, on every loop sharing the count.
    public var current: Int { open.load(ordering: .relaxed) }

    /// Counts one more; returns how many were open before it.
    func join() -> Int { open.add(1, ordering: .relaxed).oldValue }

    func leave() { open.subtract(1, ordering: .relaxed) }
}
