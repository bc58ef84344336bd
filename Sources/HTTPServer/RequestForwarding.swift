// Answering a request on another loop: the loop holding the connection sends the request there
// and writes what comes back. Used for what must stay on one loop of the process (the CLI
// sessions and their store) and for figures gathered from every loop.
//
// Each side keeps its half of an exchange in a table under a key both know (the forwarding
// side's object and its number for the request), so the messages between the loops carry only
// plain values and the loop-bound owners of the tables, never a responder.

import EventLoop

/// A part of a forwarded request's answer, in the order the handler made it.
enum RelayedPart: Sendable {
    case complete(status: Int, headers: [(name: String, value: String)], body: [UInt8])
    case head(status: Int, headers: [(name: String, value: String)], firstBytes: [UInt8])
    case body([UInt8])
    case end(lastBytes: [UInt8])
}

/// One forwarded request, as both loops name it.
struct ExchangeKey: Hashable, Sendable {
    let forwarder: ObjectIdentifier
    let number: UInt64
}

/// A handler on another loop that requests can be forwarded to.
public struct ForwardingTarget: Sendable {
    let mailbox: MailboxAddress
    let answerer: LoopBound<ForwardedRequestAnswerer>
}

/// The answering loop's side: runs forwarded requests through `handler` with responders whose
/// answers go back to the loop each request came from. Loop-confined.
public final class ForwardedRequestAnswerer {
    private let handler: (HTTPRequest, HTTPResponder) -> Void
    private let mailbox: MailboxAddress
    private var open: [ExchangeKey: Relay] = [:]

    /// `mailbox` is this loop's.
    public init(mailbox: MailboxAddress, handler: @escaping (HTTPRequest, HTTPResponder) -> Void) {
        self.mailbox = mailbox
        self.handler = handler
    }

    /// What other loops forward to; made on this loop.
    public var target: ForwardingTarget {
        ForwardingTarget(mailbox: mailbox, answerer: LoopBound(self))
    }

    /// Forwarded requests whose answer has not ended.
    public var openExchanges: Int { open.count }

    fileprivate func receive(_ request: HTTPRequest, key: ExchangeKey, origin: ForwarderAddress) {
        let relay = Relay(key: key, origin: origin, answerer: self)
        let responder = HTTPResponder(relay: relay)
        relay.responder = responder
        open[key] = relay
        handler(request, responder)
    }

    fileprivate func ended(_ key: ExchangeKey) { open[key] = nil }

    fileprivate func clientGone(_ key: ExchangeKey) {
        guard let relay = open.removeValue(forKey: key) else { return }
        relay.responder?.relayClientGone()
    }

    fileprivate func blocked(_ key: ExchangeKey, _ isBlocked: Bool) {
        guard let relay = open[key] else { return }
        relay.isWritable = !isBlocked
        if !isBlocked { relay.responder?.relayWritable() }
    }

    /// Sends a handler's answer to the loop holding the connection.
    private final class Relay: ResponseRelay {
        let key: ExchangeKey
        let origin: ForwarderAddress
        unowned let answerer: ForwardedRequestAnswerer
        weak var responder: HTTPResponder?
        var isWritable = true

        init(key: ExchangeKey, origin: ForwarderAddress, answerer: ForwardedRequestAnswerer) {
            self.key = key
            self.origin = origin
            self.answerer = answerer
        }

        private func send(_ part: RelayedPart) {
            let origin = origin.forwarder, number = key.number
            // A loop that stopped taking jobs has closed its connections: nothing is waiting.
            self.origin.mailbox.post { origin.value.deliver(number, part) }
        }

        func complete(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
            send(.complete(status: status, headers: headers, body: body))
            answerer.ended(key)
        }

        func head(status: Int, headers: [(name: String, value: String)], firstBytes: [UInt8]) {
            send(.head(status: status, headers: headers, firstBytes: firstBytes))
        }

        func body(_ bytes: [UInt8]) { send(.body(bytes)) }

        func end(lastBytes: [UInt8]) {
            send(.end(lastBytes: lastBytes))
            answerer.ended(key)
        }
    }
}

@available(*, unavailable)
extension ForwardedRequestAnswerer: Sendable {}

struct ForwarderAddress: Sendable {
    let mailbox: MailboxAddress
    let forwarder: LoopBound<RequestForwarder>
}

/// The side holding the connections: sends requests to a `ForwardedRequestAnswerer` on another
/// loop and writes its answers. Backpressure crosses too: when this side's connection is full the
/// far responder's `isWritable` turns false until it drained. Loop-confined.
public final class RequestForwarder {
    private let target: ForwardingTarget
    private let home: MailboxAddress
    private var lastNumber: UInt64 = 0
    private var open: [UInt64: Exchange] = [:]

    private final class Exchange {
        let responder: HTTPResponder
        var blocked = false
        init(_ responder: HTTPResponder) { self.responder = responder }
    }

    /// `home` is this loop's mailbox, where the answers arrive.
    public init(home: MailboxAddress, target: ForwardingTarget) {
        self.home = home
        self.target = target
    }

    /// Forwarded requests whose answer has not ended.
    public var openExchanges: Int { open.count }

    /// Sends `request` to the target's loop; `responder` gets its answer there (503 when that
    /// loop no longer takes requests).
    public func forward(_ request: HTTPRequest, _ responder: HTTPResponder) {
        lastNumber += 1
        let number = lastNumber
        let key = ExchangeKey(forwarder: ObjectIdentifier(self), number: number)
        let origin = ForwarderAddress(mailbox: home, forwarder: LoopBound(self))
        let answerer = target.answerer
        guard target.mailbox.post({ answerer.value.receive(request, key: key, origin: origin) }) else {
            responder.respond(status: 503, headers: [("Content-Type", "application/json")],
                              body: Array(#"{"type":"error","error":{"type":"api_error","message":"The server is shutting down."}}"#.utf8))
            return
        }
        let exchange = Exchange(responder)
        open[number] = exchange
        responder.onClientGone = { [unowned self] in
            open[number] = nil
            tell { $0.clientGone(key) }
        }
        responder.onWritable = { [unowned self, unowned exchange] in
            guard exchange.blocked else { return }
            exchange.blocked = false
            tell { $0.blocked(key, false) }
        }
    }

    private func tell(_ message: @escaping @Sendable (ForwardedRequestAnswerer) -> Void) {
        let answerer = target.answerer
        target.mailbox.post { message(answerer.value) }
    }

    fileprivate func deliver(_ number: UInt64, _ part: RelayedPart) {
        guard let exchange = open[number] else { return }
        let responder = exchange.responder
        switch part {
        case .complete(let status, let headers, let body):
            open[number] = nil
            responder.respond(status: status, headers: headers, body: body)
        case .head(let status, let headers, let firstBytes):
            responder.startStream(status: status, headers: headers, firstBytes: firstBytes)
            noteWritable(exchange, number)
        case .body(let bytes):
            responder.write(bytes)
            noteWritable(exchange, number)
        case .end(let lastBytes):
            open[number] = nil
            responder.finish(lastBytes: lastBytes)
        }
    }

    private func noteWritable(_ exchange: Exchange, _ number: UInt64) {
        guard !exchange.blocked, !exchange.responder.isWritable, !exchange.responder.isClosed else { return }
        exchange.blocked = true
        let key = ExchangeKey(forwarder: ObjectIdentifier(self), number: number)
        tell { $0.blocked(key, true) }
    }
}

@available(*, unavailable)
extension RequestForwarder: Sendable {}
