// ProxyMetrics: the proxy's metrics, declared in one place. Callers record through typed methods,
// so a label name cannot be misspelt and a label value that must come from a fixed set (an
// outcome, a retry reason) is an enum.

/// What one upstream attempt (one HTTP request to the upstream) came to.
public enum UpstreamOutcome: String, CaseIterable, Sendable {
    /// The stream ran to its end.
    case success
    /// 429, after which the request was retried, fell back or failed.
    case rateLimited = "rate_limited"
    /// 503, 529 or an answer saying the model is overloaded or at capacity.
    case overloaded
    /// Any other 5xx.
    case serverError = "server_error"
    /// A 400 refusing the prompt (or the prompt plus `max_tokens`) as longer than the context.
    case contextLength = "context_length"
    /// Any other 4xx.
    case clientError = "client_error"
    /// No answer, or silence, for longer than a timeout allows (connect, stall, total).
    case timeout
    /// The connection failed or was reset before the answer ended.
    case connectionError = "connection_error"
    /// A 2xx that is not an event stream (an HTML page, a JSON body) or a malformed stream.
    case invalidResponse = "invalid_response"
    /// Content arrived, then the stream ended without its end (`[DONE]` or a finish reason).
    case cut
    /// The client left, or the server shut down, before the answer ended.
    case cancelled
}

/// Why an upstream request was sent again to the same model.
public enum RetryReason: String, CaseIterable, Sendable {
    /// A 429 the rate limiter retries after its back-off or the upstream's `Retry-After`.
    case rateLimit = "rate_limit"
    /// A connection failure or reset before any content: one retry on a new connection.
    case connection
    /// A refusal of input plus `max_tokens` while the input alone fits: sent again at once with
    /// a smaller `max_tokens`.
    case completionBudget = "completion_budget"
}

/// The metrics `GET /metrics` shows. Loop-confined, like the registry it fills.
public final class ProxyMetrics {
    public let registry: MetricsRegistry
    /// The `provider` label of upstream requests.
    public let provider: String

    /// The `route` label of a request that matched no route.
    public static let unmatchedRoute = "unmatched"
    /// The `status` label of a request whose client left before any response was sent (nginx's
    /// "client closed request").
    public static let clientClosedStatus = 499

    private let requests: Counter
    private let upstreamRequests: Counter
    private let fallbacks: Counter
    private let retries: Counter
    private let rateLimitWaits: Histogram
    private let firstContentDelays: Histogram
    private var openStreamsSource: (() -> Int)?
    /// Responses counted since the last flush into `requests`: every request of the fast paths
    /// passes here, and a small dictionary of (route, status) costs less than making the label
    /// strings and hashing them into the family each time. Read at each scrape.
    private var pendingRequests: [RouteAndStatus: Int] = [:]
    /// The key of the latest responses, counted apart until another key comes or the figures are read.
    private var lastRequestKey: RouteAndStatus?
    private var lastRequestCount = 0

    private struct RouteAndStatus: Hashable {
        var route: String?
        var status: Int?
    }

    /// Upper bounds of `nim_proxy_rate_limit_wait_seconds`: from a free slot (0) to the longest
    /// waits a 40-per-minute window or a `Retry-After` can impose.
    public static let rateLimitWaitBuckets: [Double] = [0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
    /// Upper bounds of `nim_proxy_first_content_seconds`: NIM's first token takes from under a
    /// second to minutes on a busy free tier.
    public static let firstContentBuckets: [Double] = [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300]

    /// `maxSeriesPerMetric` bounds each labelled metric: past it, model names (and routes) are
    /// folded into `other`.
    public init(provider: String = "nvidia_nim", maxSeriesPerMetric: Int = 1000) {
        let registry = MetricsRegistry()
        self.registry = registry
        self.provider = provider
        requests = registry.counter(
            "nim_proxy_requests_total", help: "HTTP requests answered, by route pattern and status.",
            labels: ["route", "status"], maxSeries: maxSeriesPerMetric)
        upstreamRequests = registry.counter(
            "nim_proxy_upstream_requests_total",
            help: "Requests sent to the upstream (each retry and fallback attempt once), by provider, model and outcome.",
            labels: ["provider", "model", "outcome"], foldedLabels: ["model"], maxSeries: maxSeriesPerMetric)
        fallbacks = registry.counter(
            "nim_proxy_fallbacks_total", help: "Requests passed on to a fallback model, by the model that failed and the one tried next.",
            labels: ["from", "to"], maxSeries: maxSeriesPerMetric)
        retries = registry.counter(
            "nim_proxy_retries_total", help: "Upstream requests sent again to the same model, by reason.",
            labels: ["reason"], foldedLabels: [])
        rateLimitWaits = registry.histogram(
            "nim_proxy_rate_limit_wait_seconds",
            help: "Time each upstream attempt waited for a rate-limit or concurrency slot.",
            buckets: Self.rateLimitWaitBuckets)
        firstContentDelays = registry.histogram(
            "nim_proxy_first_content_seconds",
            help: "Time from a request's arrival to the first content sent to its client.",
            buckets: Self.firstContentBuckets)
        _ = registry.gauge("nim_proxy_open_streams", help: "Upstream streams open now (waiting for a slot or receiving).") {
            [unowned self] in Double(openStreamsSource?() ?? 0)
        }
        // Every reason shows from the start, at 0, so a rate over each is defined before the first.
        for reason in RetryReason.allCases { retries.increment([reason.rawValue], by: 0) }
    }

    /// One response: `route` is the router's pattern (`/v1/models/{id}`), nil when no route
    /// matched; `status` is nil when the client left before any response.
    public func request(route: String?, status: Int?) {
        let key = RouteAndStatus(route: route, status: status)
        // Most responses repeat the one before: counted without hashing the route.
        if key == lastRequestKey {
            lastRequestCount += 1
            return
        }
        flushLastRequest()
        lastRequestKey = key
        lastRequestCount = 1
    }

    private func flushLastRequest() {
        guard let key = lastRequestKey, lastRequestCount > 0 else { return }
        pendingRequests[key, default: 0] += lastRequestCount
        lastRequestCount = 0
    }

    private func flushRequests() {
        flushLastRequest()
        guard !pendingRequests.isEmpty else { return }
        for (key, count) in pendingRequests {
            requests.increment([key.route ?? Self.unmatchedRoute, String(key.status ?? Self.clientClosedStatus)], by: count)
        }
        pendingRequests.removeAll(keepingCapacity: true)
    }

    /// One upstream attempt and how it ended.
    public func upstreamRequest(model: String, outcome: UpstreamOutcome, provider: String? = nil) {
        upstreamRequests.increment([provider ?? self.provider, model, outcome.rawValue])
    }

    /// A request passed from the model `from` to the fallback model `to`.
    public func fallback(from: String, to: String) {
        fallbacks.increment([from, to])
    }

    /// An upstream request sent again to the same model.
    public func retry(_ reason: RetryReason) {
        retries.increment([reason.rawValue])
    }

    /// The wait of one upstream attempt for its slot (0 when one was free at once).
    public func rateLimitWait(seconds: Double) {
        rateLimitWaits.observe(max(0, seconds))
    }

    /// From a request's arrival to the first content its client was sent.
    public func firstContent(seconds: Double) {
        firstContentDelays.observe(max(0, seconds))
    }

    /// Where `nim_proxy_open_streams` is read at each scrape.
    public func readOpenStreams(_ read: @escaping () -> Int) {
        openStreamsSource = read
    }

    // Reading back, for tests and `/health`.

    public func requestCount(route: String?, status: Int?) -> Int {
        flushRequests()
        return requests.value([route ?? Self.unmatchedRoute, String(status ?? Self.clientClosedStatus)])
    }

    public func upstreamRequestCount(model: String, outcome: UpstreamOutcome, provider: String? = nil) -> Int {
        upstreamRequests.value([provider ?? self.provider, model, outcome.rawValue])
    }

    public func fallbackCount(from: String, to: String) -> Int {
        fallbacks.value([from, to])
    }

    public func retryCount(_ reason: RetryReason) -> Int {
        retries.value([reason.rawValue])
    }

    public var rateLimitWaitCount: Int { rateLimitWaits.count() }
    public var firstContentCount: Int { firstContentDelays.count() }

    /// The text a scrape answers.
    public func render() -> String {
        flushRequests()
        return registry.render()
    }
}

@available(*, unavailable)
extension ProxyMetrics: Sendable {}
