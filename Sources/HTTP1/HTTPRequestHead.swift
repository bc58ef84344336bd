// The values the request parser produces: a request's head, its body framing, the limits it
// enforces and the refusals it answers with.

/// Sizes the parser refuses to exceed. Every one bounds the memory a peer can make the server hold.
public struct HTTPRequestLimits: Sendable, Equatable {
    /// The request line with its CRLF; longer -> 414.
    public var maxRequestLineBytes = 16 * 1024
    /// The request line and every header line with their CRLFs; more -> 431. Trailers of a chunked
    /// body get the same budget again.
    public var maxHeaderBytes = 64 * 1024
    /// Header lines of one request (and trailer lines of one chunked body); more -> 431.
    public var maxHeaderCount = 128
    /// A declared Content-Length or the sum of a chunked body's chunks; more -> 413.
    public var maxBodyBytes = 32 << 20
    /// A chunk-size line with its extensions; longer -> 400 (extensions are ignored, so a long one
    /// is only a way to make us buffer).
    public var maxChunkLineBytes = 1024

    public init() {}

    /// Limits small enough for tests and the fuzzer to reach every one of them.
    public init(requestLine: Int, header: Int, headerCount: Int, body: Int, chunkLine: Int) {
        maxRequestLineBytes = requestLine
        maxHeaderBytes = header
        maxHeaderCount = headerCount
        maxBodyBytes = body
        maxChunkLineBytes = chunkLine
    }
}

/// Why a request was refused: the status and a sentence for the client.
public struct HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status) \(message)" }

    static func bad(_ message: String) -> HTTPParseError { HTTPParseError(status: 400, message: message) }
}

/// How the body of a request is delimited (RFC 9112 section 6.3).
public enum HTTPBodyFraming: Sendable, Equatable {
    case none
    case contentLength(Int)
    case chunked
}

/// A request line and its header section, checked.
public struct HTTPRequestHead: Sendable {
    public var method: String
    /// The request target exactly as sent.
    public var target: String
    /// 1 for HTTP/1.1, 0 for HTTP/1.0 (the only versions accepted).
    public var minorVersion: Int
    /// Header lines in arrival order, names as sent, values without surrounding whitespace.
    public var headers: [(name: String, value: String)]
    public var framing: HTTPBodyFraming
    /// Whether the client asked to keep the connection open afterwards. False for an upgrade or a
    /// CONNECT: what follows is not HTTP, so the connection ends after the answer.
    public var keepAlive: Bool
    /// `Expect: 100-continue` on an HTTP/1.1 request with a body.
    public var expectsContinue: Bool
    /// An upgrade request or a CONNECT: nothing after its body is parsed.
    public var endsParsing: Bool

    public init(method: String, target: String, minorVersion: Int, headers: [(name: String, value: String)],
                framing: HTTPBodyFraming, keepAlive: Bool, expectsContinue: Bool, endsParsing: Bool) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
        self.endsParsing = endsParsing
    }

    /// The first header with this name, compared ASCII case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { asciiEqualsIgnoringCase($0.name, name) }?.value
    }
}

/// ASCII case-insensitive comparison (header names and tokens are ASCII).
public func asciiEqualsIgnoringCase(_ a: String, _ b: String) -> Bool {
    // Header lookups call this for every header of every request: over the strings' UTF-8
    // directly (`withUTF8` also serves small strings, from the stack), not through iterators.
    guard a.utf8.count == b.utf8.count else { return false }
    // Most comparisons are of different names of one length: the first byte settles them.
    guard let x = a.utf8.first, let y = b.utf8.first else { return true }
    if x != y && asciiLower(x) != asciiLower(y) { return false }
    var a = a, b = b
    return a.withUTF8 { x in b.withUTF8 { y in asciiEqualsIgnoringCase(x, y) } }
}

private func asciiEqualsIgnoringCase(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
    guard x.count == y.count else { return false }
    for i in 0..<x.count where x[i] != y[i] && asciiLower(x[i]) != asciiLower(y[i]) {
        return false
    }
    return true
}

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 {
    byte >= 65 && byte <= 90 ? byte | 0x20 : byte
}
