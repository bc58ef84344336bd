// ResponseSink: what the scripted upstream needs from one response, whichever protocol carries it.
//
// The request handler and the StreamPlayer are written once against this protocol; HTTP/1.1
// responses (HTTPResponder) and HTTP/2 streams (HTTP2Stream) both conform, so routing, scenario
// choice, pacing and backpressure behave the same over both.

import HTTPServer

/// One response in progress. Loop-confined.
protocol ResponseSink: AnyObject {
    /// Fires once after `write` returned false, when the sink can take more.
    var onWritable: (() -> Void)? { get set }
    /// Fires once if the client goes away (or the response is cut) before the response finished.
    var onClientGone: (() -> Void)? { get set }
    /// True once the response finished or the client went away: nothing more can be sent.
    var isClosed: Bool { get }
    /// Bytes written that would be lost if the response were cut now.
    var queuedBytes: Int { get }

    func respond(status: Int, headers: [(name: String, value: String)], body: [UInt8])
    func startStream(status: Int, headers: [(name: String, value: String)], firstBytes: [UInt8])
    /// Returns false when the caller should wait for `onWritable` before writing more.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool
    func finish(lastBytes: [UInt8])
    /// Breaks the response off the way a dying server would, so the client sees a failed
    /// transfer; `onClientGone` follows. Returns false when there was nothing left to break.
    func cut(listeningPort: Int, remoteAddress: String) -> Bool
}

extension HTTPResponder: ResponseSink {
    /// HTTP/1.1 has no way to fail one response but to drop its connection; the socket belongs
    /// to the HTTPServer, so it is found by its addresses and shut down under it.
    func cut(listeningPort: Int, remoteAddress: String) -> Bool {
        ConnectionCutter.cut(localPort: listeningPort, remoteAddress: remoteAddress)
    }
}
