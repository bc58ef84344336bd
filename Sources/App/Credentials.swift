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
        // which one matched. (Every request asks, twice: the candidates are read where they lie.)
        func compare(_ candidate: Substring.UTF8View) {
            if let operatorToken, Credentials.constantTimeEquals(candidate, operatorToken.utf8) { isOperator = true }
            if Credentials.constantTimeEquals(candidate, cliToken.utf8) { isCLI = true }
        }
        if let key = request.header(.apiKey) { compare(key[...].utf8) }
        if let authorization = request.header(.authorization), let token = Credentials.bearerToken(authorization) {
            compare(token)
        }
        return isOperator ? .operatorToken : isCLI ? .cliToken : .none
    }

    /// The tokens a request presents: the first `x-api-key`, and the credentials of the first
    /// `Authorization: Bearer`.
    public static func presentedTokens(_ request: HTTPRequest) -> [String] {
        var tokens: [String] = []
        if let key = request.header(.apiKey) { tokens.append(key) }
        if let authorization = request.header(.authorization), let token = bearerToken(authorization) {
            tokens.append(String(Substring(token)))
        }
        return tokens
    }

    /// The credentials of an `Authorization: Bearer` value (scheme in any case, spaces around it
    /// skipped), or nil for another scheme or none.
    static func bearerToken(_ authorization: String) -> Substring.UTF8View? {
        var value = authorization[...].utf8
        while value.first == 0x20 { value = value.dropFirst() }
        guard value.count > 7, value.prefix(7).elementsEqual("bearer ".utf8, by: { ($0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0) == $1 })
        else { return nil }
        value = value.dropFirst(7)
        while value.first == 0x20 { value = value.dropFirst() }
        return value
    }

    /// Compares without an early exit, so the time depends only on the lengths, not on where the
    /// first difference is (a timing side channel would let a caller guess the token byte by byte).
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        constantTimeEquals(a[...].utf8, b.utf8)
    }

    static func constantTimeEquals(_ a: Substring.UTF8View, _ b: String.UTF8View) -> Bool {
        var x = a.makeIterator(), y = b.makeIterator()
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for _ in 0..<max(a.count, b.count) {
            difference |= (x.next() ?? 0) ^ (y.next() ?? 0)
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
