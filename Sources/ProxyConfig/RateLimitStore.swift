import Text

/// Where the providers' rate windows and concurrency places are kept (`RATE_LIMIT_STORE`).
public enum RateLimitStore: Sendable, Equatable {
    /// In this process only (the default).
    case memory
    /// In a Redis server shared by every instance using the same key.
    case redis(host: String, port: Int, database: Int)

    /// `redis://HOST[:PORT][/DB]`, HOST a name or an IPv4 address (no user or password); empty or
    /// `memory` for the in-process store.
    public init?(parsing text: String) {
        let t = text.trimmingUnicodeWhitespace()
        if t.isEmpty || t == "memory" {
            self = .memory
            return
        }
        guard t.lowercased().hasPrefix("redis://") else { return nil }
        var rest = t.dropFirst("redis://".count)
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0, n <= 1_000_000 else { return nil }
                database = n
            }
        }
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            rest = rest[..<colon]
        }
        let host = String(rest)
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else { return nil }
        self = .redis(host: host, port: port, database: database)
    }

    public var description: String {
        switch self {
        case .memory: "memory"
        case .redis(let host, let port, let database): "redis://\(host):\(port)/\(database)"
        }
    }
}

extension SettingKind where Value == RateLimitStore {
    public static var rateLimitStore: Self {
        Self(allowed: "`memory` or `redis://HOST[:PORT][/DB]`", describe: { "`\($0.description)`" }) { text in
            RateLimitStore(parsing: text).map { .success($0) }
                ?? .failure(SettingProblem("is not a rate-limit store: use memory or redis://HOST[:PORT][/DB]"))
        }
    }
}
