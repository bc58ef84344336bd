import Testing
@testable import Metrics

@Suite struct RenderingTests {
    @Test func counterWithLabelsSortedByValues() {
        let registry = MetricsRegistry()
        let counter = registry.counter("http_requests_total", help: "Requests.", labels: ["route", "status"])
        counter.increment(["/v1/messages", "200"])
        counter.increment(["/health", "200"], by: 3)
        counter.increment(["/v1/messages", "200"])
        counter.increment(["/v1/messages", "429"])
        #expect(registry.render() == """
            # HELP http_requests_total Requests.
            # TYPE http_requests_total counter
            http_requests_total{route="/health",status="200"} 3
            http_requests_total{route="/v1/messages",status="200"} 2
            http_requests_total{route="/v1/messages",status="429"} 1

            """)
        #expect(counter.value(["/v1/messages", "200"]) == 2)
        #expect(counter.value(["/nope", "200"]) == 0)
    }

    @Test func unlabelledCounterStartsAtZeroAndLabelledOneWithNoSeries() {
        let registry = MetricsRegistry()
        let plain = registry.counter("a_total", help: "A.")
        _ = registry.counter("b_total", help: "B.", labels: ["x"])
        #expect(registry.render() == """
            # HELP a_total A.
            # TYPE a_total counter
            a_total 0
            # HELP b_total B.
            # TYPE b_total counter

            """)
        plain.increment()
        #expect(registry.render().contains("\na_total 1\n"))
    }

    @Test func gaugesSetAndRead() {
        let registry = MetricsRegistry()
        let set = registry.gauge("queue_depth", help: "Depth.")
        var source = 7
        _ = registry.gauge("open_things", help: "Open.") { Double(source) }
        set.set(2.5)
        #expect(registry.render() == """
            # HELP queue_depth Depth.
            # TYPE queue_depth gauge
            queue_depth 2.5
            # HELP open_things Open.
            # TYPE open_things gauge
            open_things 7

            """)
        source = 9
        #expect(registry.render().hasSuffix("open_things 9\n"))
    }

    @Test func histogramBucketsAreCumulativeWithInfSumAndCount() {
        let registry = MetricsRegistry()
        let histogram = registry.histogram("wait_seconds", help: "Waits.", buckets: [0.5, 1, 2.5])
        #expect(registry.render() == """
            # HELP wait_seconds Waits.
            # TYPE wait_seconds histogram
            wait_seconds_bucket{le="0.5"} 0
            wait_seconds_bucket{le="1"} 0
            wait_seconds_bucket{le="2.5"} 0
            wait_seconds_bucket{le="+Inf"} 0
            wait_seconds_sum 0
            wait_seconds_count 0

            """)
        // A bound is inclusive: 1 goes in le="1".
        for value in [0.25, 1, 1, 2, 10, .nan] { histogram.observe(value) }
        #expect(registry.render() == """
            # HELP wait_seconds Waits.
            # TYPE wait_seconds histogram
            wait_seconds_bucket{le="0.5"} 1
            wait_seconds_bucket{le="1"} 3
            wait_seconds_bucket{le="2.5"} 4
            wait_seconds_bucket{le="+Inf"} 5
            wait_seconds_sum 14.25
            wait_seconds_count 5

            """)
        #expect(histogram.count() == 5)
        #expect(histogram.sum() == 14.25)
    }

    @Test func labelledHistogramPutsLeLast() {
        let registry = MetricsRegistry()
        let histogram = registry.histogram("t_seconds", help: "T.", buckets: [1], labels: ["model"])
        histogram.observe(0.5, ["m"])
        #expect(registry.render() == """
            # HELP t_seconds T.
            # TYPE t_seconds histogram
            t_seconds_bucket{model="m",le="1"} 1
            t_seconds_bucket{model="m",le="+Inf"} 1
            t_seconds_sum{model="m"} 0.5
            t_seconds_count{model="m"} 1

            """)
    }

    @Test func escaping() {
        let registry = MetricsRegistry()
        let counter = registry.counter("c_total", help: "Back\\slash and\nnewline \"quoted\".", labels: ["v"])
        counter.increment(["a\"b\\c\nd"])
        #expect(registry.render() == """
            # HELP c_total Back\\\\slash and\\nnewline "quoted".
            # TYPE c_total counter
            c_total{v="a\\"b\\\\c\\nd"} 1

            """)
        #expect(Exposition.escapeLabelValue("plain/text:é") == "plain/text:é")
    }

    @Test func numbers() {
        #expect(Exposition.number(0) == "0")
        #expect(Exposition.number(3) == "3")
        #expect(Exposition.number(-2) == "-2")
        #expect(Exposition.number(0.005) == "0.005")
        #expect(Exposition.number(2.5) == "2.5")
        #expect(Exposition.number(1e-5) == "1e-05")
        #expect(Exposition.number(1e20) == "1e+20")
        #expect(Exposition.number(.infinity) == "+Inf")
        #expect(Exposition.number(-.infinity) == "-Inf")
        #expect(Exposition.number(.nan) == "NaN")
    }

    @Test func labelSetsPastTheCapFoldIntoOther() {
        let registry = MetricsRegistry()
        let counter = registry.counter("u_total", help: "U.", labels: ["model", "outcome"], foldedLabels: ["model"], maxSeries: 2)
        counter.increment(["a", "success"])
        counter.increment(["b", "success"])
        // Full: new models fold, the bounded outcome is kept; existing series still count.
        counter.increment(["c", "success"])
        counter.increment(["d", "timeout"])
        counter.increment(["e", "timeout"])
        counter.increment(["a", "success"])
        #expect(registry.render() == """
            # HELP u_total U.
            # TYPE u_total counter
            u_total{model="a",outcome="success"} 2
            u_total{model="b",outcome="success"} 1
            u_total{model="other",outcome="success"} 1
            u_total{model="other",outcome="timeout"} 2

            """)
        // A label set past the cap reads as what it was folded into.
        #expect(counter.value(["z", "timeout"]) == 2)
    }

    @Test func nameRules() {
        #expect(MetricName.isValidMetricName("nim_proxy:x_total"))
        #expect(!MetricName.isValidMetricName("1abc"))
        #expect(!MetricName.isValidMetricName("a-b"))
        #expect(!MetricName.isValidMetricName(""))
        #expect(MetricName.isValidLabelName("route"))
        #expect(!MetricName.isValidLabelName("__name"))
        #expect(!MetricName.isValidLabelName("a:b"))
    }
}

@Suite struct ProxyMetricsTests {
    @Test func everyMetricTheIssueNamesIsRendered() {
        let metrics = ProxyMetrics()
        var open = 3
        metrics.readOpenStreams { open }
        metrics.request(route: "/v1/messages", status: 200)
        metrics.request(route: nil, status: 404)
        metrics.request(route: "/v1/messages", status: nil)
        metrics.upstreamRequest(model: "moonshotai/kimi-k2-thinking", outcome: .overloaded)
        metrics.upstreamRequest(model: "deepseek-ai/deepseek-v3.1", outcome: .success)
        metrics.fallback(from: "moonshotai/kimi-k2-thinking", to: "deepseek-ai/deepseek-v3.1")
        metrics.retry(.connection)
        metrics.rateLimitWait(seconds: 0)
        metrics.rateLimitWait(seconds: 1.5)
        metrics.firstContent(seconds: 0.75)
        open = 4
        let text = metrics.render()
        #expect(text == """
            # HELP nim_proxy_requests_total HTTP requests answered, by route pattern and status.
            # TYPE nim_proxy_requests_total counter
            nim_proxy_requests_total{route="/v1/messages",status="200"} 1
            nim_proxy_requests_total{route="/v1/messages",status="499"} 1
            nim_proxy_requests_total{route="unmatched",status="404"} 1
            # HELP nim_proxy_upstream_requests_total Requests sent to the upstream (each retry and fallback attempt once), by provider, model and outcome.
            # TYPE nim_proxy_upstream_requests_total counter
            nim_proxy_upstream_requests_total{provider="nvidia_nim",model="deepseek-ai/deepseek-v3.1",outcome="success"} 1
            nim_proxy_upstream_requests_total{provider="nvidia_nim",model="moonshotai/kimi-k2-thinking",outcome="overloaded"} 1
            # HELP nim_proxy_fallbacks_total Requests passed on to a fallback model, by the model that failed and the one tried next.
            # TYPE nim_proxy_fallbacks_total counter
            nim_proxy_fallbacks_total{from="moonshotai/kimi-k2-thinking",to="deepseek-ai/deepseek-v3.1"} 1
            # HELP nim_proxy_retries_total Upstream requests sent again to the same model, by reason.
            # TYPE nim_proxy_retries_total counter
            nim_proxy_retries_total{reason="completion_budget"} 0
            nim_proxy_retries_total{reason="connection"} 1
            nim_proxy_retries_total{reason="rate_limit"} 0
            # HELP nim_proxy_rate_limit_wait_seconds Time each upstream attempt waited for a rate-limit or concurrency slot.
            # TYPE nim_proxy_rate_limit_wait_seconds histogram
            nim_proxy_rate_limit_wait_seconds_bucket{le="0.01"} 1
            nim_proxy_rate_limit_wait_seconds_bucket{le="0.1"} 1
            nim_proxy_rate_limit_wait_seconds_bucket{le="0.5"} 1
            nim_proxy_rate_limit_wait_seconds_bucket{le="1"} 1
            nim_proxy_rate_limit_wait_seconds_bucket{le="2.5"} 2
            nim_proxy_rate_limit_wait_seconds_bucket{le="5"} 2
            nim_proxy_rate_limit_wait_seconds_bucket{le="10"} 2
            nim_proxy_rate_limit_wait_seconds_bucket{le="30"} 2
            nim_proxy_rate_limit_wait_seconds_bucket{le="60"} 2
            nim_proxy_rate_limit_wait_seconds_bucket{le="120"} 2
            nim_proxy_rate_limit_wait_seconds_bucket{le="300"} 2
            nim_proxy_rate_limit_wait_seconds_bucket{le="+Inf"} 2
            nim_proxy_rate_limit_wait_seconds_sum 1.5
            nim_proxy_rate_limit_wait_seconds_count 2
            # HELP nim_proxy_first_content_seconds Time from a request's arrival to the first content sent to its client.
            # TYPE nim_proxy_first_content_seconds histogram
            nim_proxy_first_content_seconds_bucket{le="0.1"} 0
            nim_proxy_first_content_seconds_bucket{le="0.25"} 0
            nim_proxy_first_content_seconds_bucket{le="0.5"} 0
            nim_proxy_first_content_seconds_bucket{le="1"} 1
            nim_proxy_first_content_seconds_bucket{le="2"} 1
            nim_proxy_first_content_seconds_bucket{le="4"} 1
            nim_proxy_first_content_seconds_bucket{le="8"} 1
            nim_proxy_first_content_seconds_bucket{le="15"} 1
            nim_proxy_first_content_seconds_bucket{le="30"} 1
            nim_proxy_first_content_seconds_bucket{le="60"} 1
            nim_proxy_first_content_seconds_bucket{le="120"} 1
            nim_proxy_first_content_seconds_bucket{le="300"} 1
            nim_proxy_first_content_seconds_bucket{le="+Inf"} 1
            nim_proxy_first_content_seconds_sum 0.75
            nim_proxy_first_content_seconds_count 1
            # HELP nim_proxy_open_streams Upstream streams open now (waiting for a slot or receiving).
            # TYPE nim_proxy_open_streams gauge
            nim_proxy_open_streams 4

            """)
        #expect(metrics.requestCount(route: "/v1/messages", status: nil) == 1)
        #expect(metrics.upstreamRequestCount(model: "deepseek-ai/deepseek-v3.1", outcome: .success) == 1)
        #expect(metrics.fallbackCount(from: "moonshotai/kimi-k2-thinking", to: "deepseek-ai/deepseek-v3.1") == 1)
        #expect(metrics.retryCount(.connection) == 1 && metrics.retryCount(.rateLimit) == 0)
        #expect(metrics.rateLimitWaitCount == 2 && metrics.firstContentCount == 1)
    }

    @Test func requestsAreCountedPerRouteAndStatusWhateverTheirOrder() {
        let metrics = ProxyMetrics()
        for (route, status) in [("/a", 200), ("/a", 200), ("/b", 200), ("/a", 200), ("/a", 404), ("/a", 404)] as [(String, Int)] {
            metrics.request(route: route, status: status)
        }
        metrics.request(route: nil, status: nil)
        #expect(metrics.requestCount(route: "/a", status: 200) == 3)
        #expect(metrics.requestCount(route: "/a", status: 404) == 2)
        #expect(metrics.requestCount(route: "/b", status: 200) == 1)
        #expect(metrics.requestCount(route: nil, status: nil) == 1)
        // Counted after a read too, in the scrape as well.
        metrics.request(route: "/a", status: 200)
        metrics.request(route: "/a", status: 200)
        #expect(metrics.render().contains(#"route="/a",status="200"} 5"#))
        #expect(metrics.requestCount(route: "/a", status: 200) == 5)
    }

    @Test func modelsFromRequestsCannotGrowTheScrapeWithoutBound() {
        let metrics = ProxyMetrics(maxSeriesPerMetric: 10)
        for i in 0..<5000 { metrics.upstreamRequest(model: "model-\(i)", outcome: .clientError) }
        let lines = metrics.render().split(separator: "\n").filter { $0.hasPrefix("nim_proxy_upstream_requests_total{") }
        #expect(lines.count == 11)
        #expect(metrics.upstreamRequestCount(model: "other", outcome: .clientError) == 4990)
    }
}
