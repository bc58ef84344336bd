import ProxyConfig
import Testing

@Suite struct RateLimitStoreTests {
    @Test(arguments: [
        ("", RateLimitStore.memory), ("memory", .memory),
        ("redis://127.0.0.1", .redis(host: "127.0.0.1", port: 6379, database: 0)),
        ("redis://cache:6380", .redis(host: "cache", port: 6380, database: 0)),
        ("REDIS://cache.internal:7000/3", .redis(host: "cache.internal", port: 7000, database: 3)),
        ("redis://h/", .redis(host: "h", port: 6379, database: 0)),
    ])
    func accepted(_ text: String, _ store: RateLimitStore) {
        #expect(RateLimitStore(parsing: text) == store)
    }

    @Test(arguments: ["redis", "redis://", "redis://:6379", "redis://h:0", "redis://h:70000", "redis://h:x", "redis://h/db",
                      "redis://h/-1", "redis://user:pw@h", "rediss://h", "http://h:6379", "redis://h h"])
    func refused(_ text: String) {
        #expect(RateLimitStore(parsing: text) == nil)
    }

    @Test func aBadValueIsAStartupProblem() {
        #expect(throws: ConfigError.self) {
            _ = try Settings.load(environment: ["RATE_LIMIT_STORE": "redis://h:99999"], dotEnv: nil)
        }
    }
}
