// AccessControl: who may call what. The reference has no authentication at all and binds 0.0.0.0,
// so anyone who could reach it drove Claude Code subprocesses that run with
// --dangerously-skip-permissions. Here:
// - the CLI, store and `/stop` endpoints (the bot API) are closed unless PROXY_AUTH_TOKEN is set,
//   and then need it;
// - the Anthropic endpoints stay open on loopback without a token (Claude Code users), and need
//   one (the operator's, or the CLI token of `Credentials`) when PROXY_AUTH_TOKEN is set;
// - `/metrics` is open like them on loopback without a token, and needs the operator's token when
//   one is set: the CLIs have no use for it;
// - the CLI token never opens the bot API;
// - a non-loopback bind without a token is refused at startup.

import AnthropicAPI
import HTTPServer
import App

public enum AccessControl {
    /// The first path segments of the bot API. Every route `BotAPI` adds starts with one of them
    /// (a test holds it to that), and so does every path under them, served or not.
    public static let botPathRoots: Set<Substring> = ["stop", "cli", "store"]

    /// Whether `path` is under the bot API (`/stop`, `/cli/...`, `/store/...`).
    public static func isBotPath(_ path: String) -> Bool {
        // Bytes: every request asks, and the roots are ASCII.
        let bytes = path.utf8
        guard bytes.first == UInt8(ascii: "/") else { return false }
        let first = bytes.dropFirst().prefix { $0 != UInt8(ascii: "/") }
        return botPathRoots.contains { $0.utf8.elementsEqual(first) }
    }

    /// The refusal for a request to `path` carrying `presented`, or nil to let it through.
    public static func refusal(path: String, presented: PresentedCredential, operatorTokenSet: Bool) -> APIError? {
        if presented == .operatorToken { return nil }
        if isBotPath(path) {
            if !operatorTokenSet { return botAPIClosed }
            return presented == .cliToken ? cliTokenRefused : missingToken
        }
        if !operatorTokenSet { return nil }
        if operatorOnlyPaths.contains(path) { return presented == .cliToken ? cliTokenRefusedForOperatorPath : missingToken }
        return presented == .cliToken ? nil : missingToken
    }

    /// Outside the bot API, the paths the CLI token does not open.
    public static let operatorOnlyPaths: Set<String> = [ProxyApp.metricsPath]

    /// The token step of the middleware: with a token configured, a request without one gets 401
    /// whatever its path (unknown paths too, so they reveal nothing).
    public static func tokenCheck(_ credentials: Credentials) -> Middleware {
        Middleware("access control") { request in
            let presented = credentials.presented(by: request)
            if let error = refusal(path: request.path, presented: presented,
                                   operatorTokenSet: credentials.operatorToken != nil) {
                return .refuse(error)
            }
            return .pass
        }
    }

    /// Why the server must not start with this bind address and token, or nil.
    public static func startupProblem(host: String, token: String?) -> String? {
        if ListeningAddress.isLoopback(host: host) || !(token ?? "").isEmpty { return nil }
        return "refusing to listen on \(host) without PROXY_AUTH_TOKEN: anyone who can reach a "
            + "non-loopback address could use the NIM key and the Anthropic endpoints. Set PROXY_AUTH_TOKEN "
            + "(clients send it as x-api-key or Authorization: Bearer) or listen on 127.0.0.1."
    }

    /// A line for the start-up log when the configuration deserves one, nil otherwise.
    public static func startupWarning(host: String, token: String?) -> String? {
        if ListeningAddress.isLoopback(host: host) || (token ?? "").isEmpty { return nil }
        return "Listening on \(host) (not loopback): every request must carry PROXY_AUTH_TOKEN as "
            + "x-api-key or Authorization: Bearer; use TLS in front of it outside a trusted network."
    }

    /// Without PROXY_AUTH_TOKEN the bot API does not serve at all, even on loopback: any local
    /// process or web page could otherwise start CLIs that run whatever they are told.
    public static let botAPIClosed = APIError.permission(
        "The CLI, session-store and /stop endpoints are closed: they run Claude Code with "
            + "--dangerously-skip-permissions, so they need a token. Set PROXY_AUTH_TOKEN on the server and "
            + "send it as x-api-key or Authorization: Bearer.")

    /// The CLI token opens the Anthropic endpoints only.
    public static let cliTokenRefused = APIError.permission(
        "The token given to Claude Code CLI sessions is valid for the Anthropic endpoints only; the CLI, "
            + "session-store and /stop endpoints need PROXY_AUTH_TOKEN.")

    public static let cliTokenRefusedForOperatorPath = APIError.permission(
        "The token given to Claude Code CLI sessions is valid for the Anthropic endpoints only; this endpoint "
            + "needs PROXY_AUTH_TOKEN.")

    public static let missingToken = APIError.authentication(
        "Missing or invalid API key: send PROXY_AUTH_TOKEN as x-api-key or Authorization: Bearer.")
}
