#if canImport(Glibc)
import Glibc
#endif
import EventLoop
import ProxyConfig
import RateLimit

/// One provider's rate window, 429 block and concurrency cap for the whole process, on the loops'
/// clock.
public typealias ProviderAdmission = SharedAdmission<LoopInstant>

/// Every provider's admission: made once per process and handed to each loop's `NIMProvider`, so
/// every loop counts against the same limits. Thread-safe.
public final class ProviderAdmissions: Sendable {
    private let byProvider: [Provider: ProviderAdmission]

    /// NIM's limits come from its settings (`NVIDIA_NIM_RATE_*` winning), the others' from
    /// `PROVIDER_RATE_LIMIT` and `PROVIDER_RATE_WINDOW`; each has `PROVIDER_MAX_CONCURRENCY` places.
    /// `retry` is the 429 schedule (its `maxRetryAfter` is always the setting). Throws for a limit
    /// NIM's limiter cannot have; another provider with one falls back to NIM's admission (the
    /// settings were checked at start).
    public static func makeAll(settings: Settings, retry: RetryPolicy = RetryPolicy()) throws -> ProviderAdmissions {
        var retry = retry
        retry.maxRetryAfter = settings.upstream.maxRetryAfter
        func make(_ p: Provider) throws(RateLimitConfigurationError) -> ProviderAdmission {
            let limits = settings.provider(p)
            return try ProviderAdmission(
                limit: limits.rateLimit, window: limits.rateWindow, retry: retry, cap: limits.maxConcurrency)
        }
        let nim = try make(.nvidiaNim)
        var all: [Provider: ProviderAdmission] = [.nvidiaNim: nim]
        for p in Provider.allCases where p != .nvidiaNim { all[p] = (try? make(p)) ?? nim }
        return ProviderAdmissions(byProvider: all)
    }

    private init(byProvider: [Provider: ProviderAdmission]) { self.byProvider = byProvider }

    public subscript(provider: Provider) -> ProviderAdmission { byProvider[provider]! }
}

extension LoopInstant {
    /// The monotonic clock every loop's `now` is cached from (libuv reads CLOCK_MONOTONIC, or its
    /// coarse variant of the same clock, in milliseconds), read now. Shared decisions use it: a
    /// loop's cached time lags by up to a loop turn, which would let two loops' grants sit closer
    /// than the window. A timer armed from a loop's own `now` for an instant of this clock fires no
    /// earlier than that instant, because the loop's time never runs ahead of this clock.
    static var monotonicNow: LoopInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return LoopInstant(milliseconds: UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000)
    }
}
