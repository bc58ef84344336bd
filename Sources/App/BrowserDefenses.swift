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
        // Bytes in place, not Characters: this runs for every request, and grapheme breaking
        // costs more than the rest of the check.
        var value = value
        return value.withUTF8 { bytes in
            var nameEnd = bytes.count
            if bytes.first == UInt8(ascii: "[") {
                guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return false }
                nameEnd = close + 1
            } else if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
                nameEnd = colon
            }
            // `:` then digits only (RFC 3986 allows an empty port).
            if nameEnd < bytes.count {
                guard bytes[nameEnd] == UInt8(ascii: ":") else { return false }
                for byte in bytes[(nameEnd + 1)...] where byte < 48 || byte > 57 { return false }
            }
            let name = UnsafeBufferPointer(rebasing: bytes[..<nameEnd])
            return asciiMatches(name, "127.0.0.1", ignoringCase: false) || asciiMatches(name, "[::1]", ignoringCase: false)
                || asciiMatches(name, "localhost", ignoringCase: true)
        }
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
        if let host = request.firstHeader(.host, where: { !isLoopbackHostHeader($0) }) {
            return .permission(
                "Host '\(host)' is not this server: on loopback it answers only to localhost, "
                    + "127.0.0.1 and [::1] (a foreign Host is how DNS rebinding reaches a local server).")
        }
        if carriesToken { return nil }
        if let origin = request.firstHeader(.origin, where: { !isOwnOrigin($0, port: port) }) {
            return .permission(
                "Cross-origin request refused: Origin '\(origin)' is not this server "
                    + "(http://127.0.0.1:\(port)); send PROXY_AUTH_TOKEN to call it from elsewhere.")
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
        var value = value
        return value.withUTF8 { bytes in
            var start = 0, end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
            while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
            while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
            let type = UnsafeBufferPointer(rebasing: bytes[start..<end])
            let prefix = "application/".utf8.count
            guard type.count >= prefix + 4,
                  asciiMatches(UnsafeBufferPointer(rebasing: type[..<prefix]), "application/", ignoringCase: true)
            else { return false }
            let subtype = UnsafeBufferPointer(rebasing: type[prefix...])
            return asciiMatches(subtype, "json", ignoringCase: true)
                || (subtype.count >= 5
                    && asciiMatches(UnsafeBufferPointer(rebasing: subtype[(subtype.count - 5)...]), "+json", ignoringCase: true))
        }
    }

    /// The refusal for a request that declares a body other than JSON (every endpoint that takes a
    /// body takes JSON), or nil. A request without `Content-Type` is accepted, as before.
    public static func contentTypeRefusal(_ request: HTTPRequest) -> APIError? {
        if request.method == "GET" || request.method == "HEAD" { return nil }
        if let type = request.firstHeader(.contentType, where: { !isJSONContentType($0) }) {
            return APIError(
                status: 415, type: "invalid_request_error",
                message: "Unsupported Content-Type '\(type)': send the body as JSON with "
                    + "Content-Type: application/json.")
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

/// Whether `bytes` are `text`, or with `ignoringCase` `text` (lowercase) with ASCII letters in any case.
private func asciiMatches(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString, ignoringCase: Bool) -> Bool {
    guard bytes.count == text.utf8CodeUnitCount else { return false }
    let expected = text.utf8Start
    for i in 0..<bytes.count {
        let byte = ignoringCase && bytes[i] >= 65 && bytes[i] <= 90 ? bytes[i] | 0x20 : bytes[i]
        if byte != expected[i] { return false }
    }
    return true
}
