// AccessControl: who may call the server. The reference has no authentication at all and binds
// 0.0.0.0, so anyone on the network could drive Claude Code subprocesses that run with
// --dangerously-skip-permissions; here a token guards every endpoint when configured, and the
// CLI/store endpoints refuse to serve a non-loopback bind without one.

import AnthropicAPI
import HTTPServer
import App

public enum AccessControl {
    /// Whether `host` (a bind address) only accepts connections from this machine.
    public static func isLoopback(host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// The CLI and store endpoints serve only when this is true.
    public static func botEndpointsAllowed(host: String, token: String?) -> Bool {
        isLoopback(host: host) || !(token ?? "").isEmpty
    }

    /// A line for the start-up log when the configuration deserves one, nil otherwise.
    public static func startupWarning(host: String, token: String?) -> String? {
        let hasToken = !(token ?? "").isEmpty
        if isLoopback(host: host) { return nil }
        if hasToken {
            return "Listening on \(host) (not loopback): every request must carry PROXY_AUTH_TOKEN as "
                + "x-api-key or Authorization: Bearer; use TLS in front of it outside a trusted network."
        }
        return "Listening on \(host) (not loopback) without PROXY_AUTH_TOKEN: the Anthropic endpoints are "
            + "open to the network, and the CLI and session-store endpoints are disabled (they answer 403). "
            + "Set PROXY_AUTH_TOKEN or bind 127.0.0.1."
    }

    /// The 403 the CLI and store endpoints answer when `botEndpointsAllowed` is false.
    public static let unprotectedBindError = APIError.permission(
        "The CLI and session-store endpoints are disabled: the server listens on a non-loopback address "
            + "without PROXY_AUTH_TOKEN. Set PROXY_AUTH_TOKEN (and send it as x-api-key or "
            + "Authorization: Bearer) or bind 127.0.0.1.")

    /// The token a request presents: `x-api-key`, else the credentials of `Authorization: Bearer`.
    public static func presentedTokens(_ request: HTTPRequest) -> [String] {
        var tokens: [String] = []
        if let key = request.header("x-api-key") { tokens.append(key) }
        if let authorization = request.header("authorization") {
            let trimmed = authorization.drop { $0 == " " }
            if trimmed.count > 7, trimmed.prefix(7).lowercased() == "bearer " {
                tokens.append(String(trimmed.dropFirst(7).drop { $0 == " " }))
            }
        }
        return tokens
    }

    /// Whether the request carries `token` (in either header).
    public static func isAuthorized(_ request: HTTPRequest, token: String) -> Bool {
        var ok = false
        // Both candidates are compared in full so the time taken does not depend on which matched.
        for candidate in presentedTokens(request) {
            if constantTimeEquals(candidate, token) { ok = true }
        }
        return ok
    }

    /// Compares without an early exit, so the time depends only on the lengths, not on where the
    /// first difference is (a timing side channel would let a caller guess the token byte by byte).
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        let n = max(x.count, y.count)
        for i in 0..<n {
            let p = i < x.count ? x[i] : 0
            let q = i < y.count ? y[i] : 0
            difference |= p ^ q
        }
        return difference == 0
    }

    /// The first middleware step: with a token configured, a request without it gets 401 whatever
    /// its path (unknown paths too, so they reveal nothing); without one, everything passes.
    public static func tokenCheck(_ token: String?) -> Middleware {
        Middleware("access control") { request in
            guard let token, !token.isEmpty, !isAuthorized(request, token: token) else { return .pass }
            return .refuse(missingTokenError)
        }
    }

    static let missingTokenError = APIError.authentication(
        "Missing or invalid API key: send PROXY_AUTH_TOKEN as x-api-key or Authorization: Bearer.")
}
