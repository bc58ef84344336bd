// Plain values of the HTTP server: configuration, the parsed request, status reason phrases.

import EventLoop
import HTTP1
import Text

/// Settings of an HTTPServer. Sizes are bytes; times are `Duration`s, counted in whole milliseconds.
public struct HTTPServerConfig {
    public var host = "127.0.0.1"
    /// 0 lets the kernel pick a free port (read it from `HTTPServer.start()`).
    public var port = 8082
    /// Request line plus header lines; more -> 431 and the connection closes.
    public var maxHeaderBytes = 64 * 1024
    /// Header lines of one request; more -> 431 and the connection closes.
    public var maxHeaderCount = 128
    /// The request line; longer -> 414 and the connection closes.
    public var maxRequestLineBytes = 16 * 1024
    /// Declared Content-Length or accumulated chunked body; more -> 413 and the connection closes.
    public var maxBodyBytes = 32 << 20
    /// Open connections; one more is answered 503 and closed.
    public var maxConnections = 16384
    /// Unsent response bytes of one connection above which its next pipelined request waits (the
    /// connection stops reading) until the client took them.
    public var maxQueuedResponseBytes = 1 << 20
    /// From the end of a request's headers to the end of its body, in all; then 408 and close.
    public var bodyTimeout: Duration = .seconds(120)
    /// From a request's first byte until its header section is complete; then 408 and close.
    public var headerTimeout: Duration = .seconds(30)
    /// Silence allowed on a keep-alive (or fresh) connection between requests (then a silent close),
    /// and between reads of a request body (then 408). Longer than common client keep-alive times
    /// (undici's 4 s) so a client never reuses a connection we are just closing.
    public var idleTimeout: Duration = .seconds(75)
    /// After an error response or a `Connection: close` response, how long unread request bytes are
    /// drained before the socket closes, so the client sees the response instead of a reset.
    public var lingerTimeout: Duration = .seconds(2)
    /// Write queue size at which `HTTPResponder.isWritable` turns false.
    public var writeHighWaterBytes = 256 * 1024
    /// Write queue size at which `HTTPResponder.onWritable` fires again.
    public var writeLowWaterBytes = 64 * 1024
    public var backlog: Int32 = 511
    /// Body of the error responses the server itself generates (400, 408, 413, 414, 431,
    /// 501, 503 over the connection limit, 505).
    public var errorBody: (_ status: Int, _ message: String) -> (contentType: String, body: [UInt8]) = HTTPServerConfig.defaultErrorBody

    public init() {}

    var machineConfiguration: HTTPConnectionStateMachine<LoopInstant>.Configuration {
        var limits = HTTPRequestLimits()
        limits.maxHeaderBytes = maxHeaderBytes
        limits.maxHeaderCount = maxHeaderCount
        limits.maxRequestLineBytes = maxRequestLineBytes
        limits.maxBodyBytes = maxBodyBytes
        var configuration = HTTPConnectionStateMachine<LoopInstant>.Configuration()
        configuration.limits = limits
        configuration.headerTimeout = headerTimeout
        configuration.idleTimeout = idleTimeout
        configuration.bodyTimeout = bodyTimeout
        configuration.lingerTimeout = lingerTimeout
        configuration.maxQueuedResponseBytes = maxQueuedResponseBytes
        // A pipelined request's head fits, with a read's worth of bytes to spare.
        configuration.maxPendingBytes = maxHeaderBytes + 64 * 1024
        return configuration
    }

    /// `{"error":{"status":N,"message":"..."}}`.
    public static func defaultErrorBody(status: Int, message: String) -> (contentType: String, body: [UInt8]) {
        var json = "{\"error\":{\"status\":\(status),\"message\":\""
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            default:
                if scalar.value < 0x20 {
                    json += "\\u" + zeroPaddedHex(scalar.value, width: 4)
                } else {
                    json.unicodeScalars.append(scalar)
                }
            }
        }
        json += "\"}}"
        return ("application/json", Array(json.utf8))
    }
}

public struct HTTPVersion: Sendable, Equatable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// One parsed request with its complete body.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target exactly as sent, including any query.
    public var target: String
    /// The target's path (origin-form; for an absolute-form target, the part after the authority).
    public var path: String
    /// The text after the first "?", or nil when there is none.
    public var query: String?
    /// Header lines in arrival order, names as sent.
    public var headers: [(name: String, value: String)] {
        didSet { known = KnownHeaderIndex(headers) }
    }
    /// Where the fields every request is checked for lie in `headers`, found in one pass.
    var known: KnownHeaderIndex
    public var body: [UInt8]
    public var version: HTTPVersion
    /// Whether the client asked to keep the connection open afterwards.
    public var keepAlive: Bool
    /// Unique per server, counting from 1.
    public var requestID: UInt64
    /// Unique per server, counting from 1; equal for requests on the same connection.
    public var connectionID: UInt64
    /// "host:port" of the client.
    public var remoteAddress: String

    public init(method: String, target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                version: HTTPVersion = HTTPVersion(major: 1, minor: 1), keepAlive: Bool = true,
                requestID: UInt64 = 0, connectionID: UInt64 = 0, remoteAddress: String = "") {
        self.method = method
        self.target = target
        (self.path, self.query) = HTTPRequest.splitTarget(target)
        self.headers = headers
        self.known = KnownHeaderIndex(headers)
        self.body = body
        self.version = version
        self.keepAlive = keepAlive
        self.requestID = requestID
        self.connectionID = connectionID
        self.remoteAddress = remoteAddress
    }

    /// The first header with this name, compared ASCII case-insensitively.
    public func header(_ name: String) -> String? {
        for header in headers where asciiCaseInsensitiveEqual(header.name, name) {
            return header.value
        }
        return nil
    }

    /// The first field of a name every request is checked for, without a search.
    public func header(_ name: KnownHeader) -> String? {
        let at = known.first(name)
        return at < 0 ? nil : headers[at].value
    }

    /// The first field of a name every request is checked for whose value satisfies `predicate`,
    /// in arrival order.
    public func firstHeader(_ name: KnownHeader, where predicate: (String) -> Bool) -> String? {
        let first = known.first(name)
        if first < 0 { return nil }
        if !known.isRepeated(name) { return predicate(headers[first].value) ? headers[first].value : nil }
        for header in headers[first...] where KnownHeader(name: header.name) == name && predicate(header.value) {
            return header.value
        }
        return nil
    }

    static func splitTarget(_ target: String) -> (path: String, query: String?) {
        // On UTF-8 bytes: every request splits its target, and a walk over Characters cost more
        // than routing the request. The separators are ASCII, so the cuts fall between scalars.
        let bytes = target.utf8
        var pathEnd = bytes.endIndex
        var query: String?
        if let mark = bytes.firstIndex(of: UInt8(ascii: "?")) {
            query = String(decoding: bytes[bytes.index(after: mark)...], as: UTF8.self)
            pathEnd = mark
        }
        var pathStart = bytes.startIndex
        // Absolute-form (RFC 9112 section 3.2.2): drop scheme and authority.
        if bytes.first != UInt8(ascii: "/"), let colon = bytes[..<pathEnd].firstIndex(of: UInt8(ascii: ":")),
           bytes[colon..<pathEnd].starts(with: "://".utf8) {
            let authority = bytes.index(colon, offsetBy: 3)
            guard let slash = bytes[authority..<pathEnd].firstIndex(of: UInt8(ascii: "/")) else { return ("/", query) }
            pathStart = slash
        }
        if pathStart == bytes.startIndex && pathEnd == bytes.endIndex { return (target, query) }
        return (String(decoding: bytes[pathStart..<pathEnd], as: UTF8.self), query)
    }
}

/// The header fields the server's own checks read on every request: found once, when the request
/// is made, instead of by a case-insensitive search per check.
public enum KnownHeader: Int, CaseIterable, Sendable {
    case host, origin, contentType, apiKey, authorization

    /// The field's name in lowercase.
    public var name: StaticString {
        switch self {
        case .host: "host"
        case .origin: "origin"
        case .contentType: "content-type"
        case .apiKey: "x-api-key"
        case .authorization: "authorization"
        }
    }

    /// The known field a name (in any case) names, or nil.
    init?(name: String) {
        let candidate: KnownHeader
        switch name.utf8.count {
        case 4: candidate = .host
        case 6: candidate = .origin
        case 12: candidate = .contentType
        case 9: candidate = .apiKey
        case 13: candidate = .authorization
        default: return nil
        }
        var name = name
        let expected = candidate.name
        let matches = name.withUTF8 { bytes in
            for i in 0..<bytes.count {
                let byte = bytes[i] >= 65 && bytes[i] <= 90 ? bytes[i] | 0x20 : bytes[i]
                if byte != expected.utf8Start[i] { return false }
            }
            return true
        }
        guard matches else { return nil }
        self = candidate
    }
}

/// For each `KnownHeader`, the position of its first field (-1 for none) and whether it repeats.
struct KnownHeaderIndex: Sendable {
    private var host = -1, origin = -1, contentType = -1, apiKey = -1, authorization = -1
    /// Bit `rawValue` set: the field appears more than once.
    private var repeatedBits: UInt8 = 0

    init(_ headers: [(name: String, value: String)]) {
        for (i, header) in headers.enumerated() {
            guard let known = KnownHeader(name: header.name) else { continue }
            if first(known) < 0 {
                setFirst(known, i)
            } else {
                repeatedBits |= 1 << known.rawValue
            }
        }
    }

    func first(_ name: KnownHeader) -> Int {
        switch name {
        case .host: host
        case .origin: origin
        case .contentType: contentType
        case .apiKey: apiKey
        case .authorization: authorization
        }
    }

    func isRepeated(_ name: KnownHeader) -> Bool { repeatedBits & (1 << name.rawValue) != 0 }

    private mutating func setFirst(_ name: KnownHeader, _ index: Int) {
        switch name {
        case .host: host = index
        case .origin: origin = index
        case .contentType: contentType = index
        case .apiKey: apiKey = index
        case .authorization: authorization = index
        }
    }
}

/// Header names and other protocol tokens compare ASCII case-insensitively, without the
/// allocation `lowercased()` makes (this runs for every header of every request).
@inline(__always)
public func asciiCaseInsensitiveEqual(_ a: String, _ b: String) -> Bool {
    asciiEqualsIgnoringCase(a, b)
}

/// Reason phrases for the status line (RFC 9110 section 15).
func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 100: "Continue"
    case 101: "Switching Protocols"
    case 200: "OK"
    case 201: "Created"
    case 202: "Accepted"
    case 204: "No Content"
    case 206: "Partial Content"
    case 301: "Moved Permanently"
    case 302: "Found"
    case 304: "Not Modified"
    case 307: "Temporary Redirect"
    case 308: "Permanent Redirect"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 408: "Request Timeout"
    case 409: "Conflict"
    case 411: "Length Required"
    case 413: "Content Too Large"
    case 414: "URI Too Long"
    case 415: "Unsupported Media Type"
    case 422: "Unprocessable Content"
    case 429: "Too Many Requests"
    case 431: "Request Header Fields Too Large"
    case 500: "Internal Server Error"
    case 501: "Not Implemented"
    case 502: "Bad Gateway"
    case 503: "Service Unavailable"
    case 504: "Gateway Timeout"
    case 505: "HTTP Version Not Supported"
    case 529: "Site Overloaded"
    default: "Status"
    }
}
