// The upstream client's vocabulary: the request, the HTTP version, how a transfer can fail, and
// the delegate that hears a transfer's events.

import CCurl
import EventLoop

/// An HTTP request to send upstream.
public struct UpstreamRequest: Sendable {
    public var url: String
    public var method: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var connectTimeout: Duration
    /// The whole transfer, connect to last byte (the reference's client uses 300 s).
    public var totalTimeout: Duration
    /// No byte received for this long while not paused aborts the transfer; zero: never.
    public var stallTimeout: Duration
    /// While the body is sent through the read callback (HTTP/2, or a large body): no progress for
    /// this long ends the transfer. Nil: not watched. (A smaller body over HTTP/1.1 goes with the
    /// head, into the socket's buffer at once.)
    public var sendTimeout: Duration?
    public var verifyTLS: Bool
    public var httpVersion: UpstreamHTTPVersion
    /// PEM file of trusted certificates; nil: the system's.
    public var caFile: String?
    /// Open a new connection and do not pool it: the retry after a connection broke, which a
    /// pooled sibling of the broken one may share.
    public var freshConnection = false

    public init(
        url: String, method: String = "POST", headers: [(name: String, value: String)] = [],
        body: [UInt8] = [], connectTimeout: Duration = .seconds(10), totalTimeout: Duration = .seconds(300),
        stallTimeout: Duration = .seconds(120), verifyTLS: Bool = true, httpVersion: UpstreamHTTPVersion = .auto,
        caFile: String? = nil
    ) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.stallTimeout = stallTimeout
        self.verifyTLS = verifyTLS
        self.httpVersion = httpVersion
        self.caFile = caFile
    }

    /// Whether the transfer may share a connection with others (HTTP/2).
    var mayMultiplex: Bool {
        httpVersion == .http2 || (httpVersion == .auto && Self.isHTTPS(url))
    }

    /// Whether `url`'s scheme is https, in any case. (Lowercasing the whole URL to find out cost
    /// more than the rest of a transfer's options.)
    static func isHTTPS(_ url: String) -> Bool {
        var scheme = "https:".utf8.makeIterator()
        for byte in url.utf8 {
            guard let expected = scheme.next() else { return true }
            let lowered = byte >= 65 && byte <= 90 ? byte + 32 : byte
            if lowered != expected { return false }
        }
        return scheme.next() == nil
    }
}

/// The libcurl the process runs with, as major, minor and patch numbers.
public var libcurlVersion: (major: Int, minor: Int, patch: Int) {
    guard let info = curl_version_info(CURLVERSION_FIRST) else { return (0, 0, 0) }
    let n = Int(info.pointee.version_num)
    return (n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF)
}

/// Which HTTP the transfer speaks. With HTTP/2, concurrent transfers to one host share a
/// connection (curl multiplexes them), so ten thousand streams do not need ten thousand sockets.
public enum UpstreamHTTPVersion: String, Sendable {
    /// HTTP/2 when TLS negotiates it (ALPN), HTTP/1.1 otherwise.
    case auto
    case http1_1 = "1.1"
    /// HTTP/2 on any URL; over plain HTTP the server must speak it without an upgrade.
    case http2 = "2"
}

/// Why a transfer ended without a complete response.
public enum UpstreamFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Name resolution or TCP/TLS connect failed, or the connect timeout passed.
    case connect(String)
    /// The total timeout passed.
    case timeout(String)
    /// No byte arrived for the stall timeout.
    case stalled(Duration)
    /// The connection broke or the response was malformed.
    case transport(String)

    public var description: String {
        switch self {
        case .connect(let m): return "could not connect upstream: \(m)"
        case .timeout(let m): return "upstream timed out: \(m)"
        case .stalled(let quiet): return "upstream sent nothing for \(quiet.wholeMilliseconds) ms"
        case .transport(let m): return "upstream connection failed: \(m)"
        }
    }
}

/// Receives one transfer's events, always on the loop thread and never from inside
/// a call the delegate made into the transfer.
public protocol UpstreamTransferDelegate: AnyObject {
    /// The final (non-1xx) status line and headers. Header names are lowercased.
    func transferDidReceiveHead(_ transfer: UpstreamTransfer, status: Int, headers: [(name: String, value: String)])
    /// Body bytes. The buffer is valid only during the call. To stop the flow (a slow
    /// client), call `transfer.pause()`; bytes already delivered are the delegate's.
    func transferDidReceiveBody(_ transfer: UpstreamTransfer, _ bytes: UnsafeRawBufferPointer)
    /// curl has handed over everything it read in one go: one or more `transferDidReceiveBody`
    /// calls came before this. curl calls back once per chunk of a chunked body, and an upstream
    /// that sends one SSE event per chunk would otherwise cost one client write per event;
    /// writing here costs one per read. Called outside curl, so the transfer may be paused or
    /// cancelled from here.
    func transferDidEndDelivery(_ transfer: UpstreamTransfer)
    /// The transfer ended: `failure` is nil when the whole response arrived. Not
    /// called after `cancel()`.
    func transferDidComplete(_ transfer: UpstreamTransfer, failure: UpstreamFailure?)
}

extension UpstreamTransferDelegate {
    public func transferDidEndDelivery(_ transfer: UpstreamTransfer) {}
}

public struct UpstreamSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
