// Credentials: the two tokens the server accepts. `PROXY_AUTH_TOKEN` (the operator's) opens every
// endpoint; a token made at each start is handed to the Claude Code CLIs the server runs, so they can
// call the Anthropic endpoints back, and opens nothing else: a prompt-injected CLI cannot drive the
// CLI and store endpoints, nor learn the operator's token from its environment.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HTTPServer

/// Which of the server's tokens a request carries.
public enum PresentedCredential: Equatable, Sendable {
    case operatorToken
    case cliToken
    case none
}

public struct Credentials: Sendable {
    /// `PROXY_AUTH_TOKEN`; nil when unset or empty.
    public let operatorToken: String?
    /// Given to the CLIs the server runs; valid for the Anthropic endpoints only.
    public let cliToken: String

    public init(operatorToken: String?, cliToken: String) {
        self.operatorToken = (operatorToken ?? "").isEmpty ? nil : operatorToken
        self.cliToken = cliToken
    }

    /// The strongest credential the request carries in `x-api-key` or `Authorization: Bearer`.
    public func presented(by request: HTTPRequest) -> PresentedCredential {
        var isOperator = false, isCLI = false
        // Every candidate is compared with both tokens in full, so the time taken does not depend on
        // which one matched.
        for candidate in Credentials.presentedTokens(request) {
            if let operatorToken, Credentials.constantTimeEquals(candidate, operatorToken) { isOperator = true }
            if Credentials.constantTimeEquals(candidate, cliToken) { isCLI = true }
        }
        return isOperator ? .operatorToken : isCLI ? .cliToken : .none
    }

    /// The tokens a request presents: `x-api-key`, and the credentials of `Authorization: Bearer`.
    public static func presentedTokens(_ request: HTTPRequest) -> [String] {
        var tokens: [String] = []
        if let key = request.header("x-api-key") { tokens.append(key) }
        if let authorization = request.header("authorization") {
            let trimmed = authorization.drop { $0 == " " }
            if trimmed.count > 7, asciiCaseInsensitiveEqual(String(trimmed.prefix(7)), "bearer ") {
                tokens.append(String(trimmed.dropFirst(7).drop { $0 == " " }))
            }
        }
        return tokens
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

    /// A fresh CLI token: 32 bytes from the kernel's random source (`getentropy`, which is the
    /// `getrandom` system call), in hex. Nil when the kernel gives none; the server then refuses to
    /// start rather than use a guessable token.
    public static func makeCLIToken() -> String? {
        var bytes = [UInt8](repeating: 0, count: 32)
        guard bytes.withUnsafeMutableBytes({ getentropy($0.baseAddress, $0.count) }) == 0 else { return nil }
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array("nimproxy-cli-".utf8)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
