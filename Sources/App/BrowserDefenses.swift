// BrowserDefenses: what keeps a web page in the user's browser from using a server on loopback.
// - DNS rebinding: a page's own host name made to resolve to 127.0.0.1 makes it same-origin with the
//   server, but its requests still name that host in `Host`; only loopback names are answered.
// - Cross-site requests: a page may send "simple" requests (text/plain or form bodies) anywhere
//   without asking first; the browser names the page in `Origin`, and the body cannot be JSON
//   without a preflight, which this server never grants. So a foreign `Origin` and a declared
//   non-JSON body are both refused.

import AnthropicAPI
import HTTPServer

/// Where the server listens; the port is known once it is bound (`PORT=0` picks one).
///
/// All methods are called from within the EventLoop.
public final class ListeningAddress {
    /// The configured bind address.
    public let host: String
    /// The bound port; 0 until the server is started.
    public var port: Int

    /// Whether only this machine can connect (decided once: every request asks).
    public let isLoopback: Bool

    public init(host: String, port: Int = 0) {
        self.host = host
        self.port = port
        isLoopback = ListeningAddress.isLoopback(host: host)
    }

    /// The URL a process on this machine reaches the server at: a wildcard bind is reached over
    /// loopback, an IPv6 literal goes in brackets.
    public var localURL: String {
        var h = host
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        switch h.lowercased() {
        case "0.0.0.0", "localhost", "": h = "127.0.0.1"
        case "::", "0:0:0:0:0:0:0:0": h = "[::1]"
        default: if h.contains(":") { h = "[" + h + "]" }
        }
        return "http://\(h):\(port)"
    }

    /// Whether `host` (a bind address) only accepts connections from this machine.
    public static func isLoopback(host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

@available(*, unavailable)
extension ListeningAddress: Sendable {}

public enum BrowserDefenses {
    /// Whether a `Host` header names this machine by a loopback name: `localhost`, `127.0.0.1` or
    /// `[::1]`, with any port or none.
    public static func isLoopbackHostHeader(_ value: String) -> Bool {
        // Bytes, not Characters: this runs for every request, and grapheme breaking costs more
        // than the rest of the check.
        let bytes = value.utf8
        var nameEnd = bytes.endIndex
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return false }
            nameEnd = bytes.index(after: close)
        } else if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            nameEnd = colon
        }
        // `:` then digits only (RFC 3986 allows an empty port).
        let port = bytes[nameEnd...]
        if !port.isEmpty {
            guard port.first == UInt8(ascii: ":"), port.dropFirst().allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        }
        let name = bytes[..<nameEnd]
        return name.elementsEqual("127.0.0.1".utf8) || name.elementsEqual("[::1]".utf8)
            || (name.count == 9 && zip(name, "localhost".utf8).allSatisfy { $0 | 0x20 == $1 })
    }

    /// Whether an `Origin` is a page served by this very server (as browsers serialize it: scheme,
    /// host, and the port unless it is the scheme's default).
    public static func isOwnOrigin(_ origin: String, port: Int) -> Bool {
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            if origin == "http://\(host):\(port)" { return true }
            if port == 80 && origin == "http://\(host)" { return true }
        }
        return false
    }

    /// The refusal for a request to a server on loopback, or nil. `Host` must be a loopback name
    /// whatever the request carries; a foreign `Origin` (`null` included) is let through only with
    /// one of the server's tokens, which no page can know.
    public static func loopbackRefusal(_ request: HTTPRequest, port: Int, carriesToken: Bool) -> APIError? {
        for header in request.headers where asciiCaseInsensitiveEqual(header.name, "host") {
            if !isLoopbackHostHeader(header.value) {
                return .permission(
                    "Host '\(header.value)' is not this server: on loopback it answers only to localhost, "
                        + "127.0.0.1 and [::1] (a foreign Host is how DNS rebinding reaches a local server).")
            }
        }
        if carriesToken { return nil }
        for header in request.headers where asciiCaseInsensitiveEqual(header.name, "origin") {
            if !isOwnOrigin(header.value, port: port) {
                return .permission(
                    "Cross-origin request refused: Origin '\(header.value)' is not this server "
                        + "(http://127.0.0.1:\(port)); send PROXY_AUTH_TOKEN to call it from elsewhere.")
            }
        }
        return nil
    }

    /// The `Host` and `Origin` step, active while the server listens on loopback (elsewhere the
    /// operator's token, required there, already keeps pages out).
    public static func hostAndOrigin(listening: ListeningAddress, credentials: Credentials) -> Middleware {
        Middleware("host and origin") { request in
            guard listening.isLoopback else { return .pass }
            let carriesToken = credentials.presented(by: request) != .none
            if let error = loopbackRefusal(request, port: listening.port, carriesToken: carriesToken) {
                return .refuse(error)
            }
            return .pass
        }
    }

    /// Whether a declared `Content-Type` is JSON: `application/json` or `application/<x>+json`,
    /// parameters (`; charset=utf-8`) allowed.
    public static func isJSONContentType(_ value: String) -> Bool {
        // Read in place: every request with a body asks.
        var type = value.utf8.prefix { $0 != UInt8(ascii: ";") }
        while let first = type.first, first == 0x20 || first == 0x09 { type = type.dropFirst() }
        while let last = type.last, last == 0x20 || last == 0x09 { type = type.dropLast() }
        let lower = { (byte: UInt8) in byte >= 65 && byte <= 90 ? byte | 0x20 : byte }
        let application = "application/".utf8, suffix = "+json".utf8
        guard type.count >= application.count + 4,
              type.prefix(application.count).elementsEqual(application, by: { lower($0) == $1 })
        else { return false }
        let subtype = type.dropFirst(application.count)
        return subtype.elementsEqual("json".utf8, by: { lower($0) == $1 })
            || (subtype.count >= suffix.count && subtype.suffix(suffix.count).elementsEqual(suffix, by: { lower($0) == $1 }))
    }

    /// The refusal for a request that declares a body other than JSON (every endpoint that takes a
    /// body takes JSON), or nil. A request without `Content-Type` is accepted, as before.
    public static func contentTypeRefusal(_ request: HTTPRequest) -> APIError? {
        if request.method == "GET" || request.method == "HEAD" { return nil }
        for header in request.headers where asciiCaseInsensitiveEqual(header.name, "content-type") {
            if !isJSONContentType(header.value) {
                return APIError(
                    status: 415, type: "invalid_request_error",
                    message: "Unsupported Content-Type '\(header.value)': send the body as JSON with "
                        + "Content-Type: application/json.")
            }
        }
        return nil
    }

    /// The `Content-Type` step.
    public static func jsonBodies() -> Middleware {
        Middleware("JSON bodies") { request in
            if let error = contentTypeRefusal(request) { return .refuse(error) }
            return .pass
        }
    }
}
