import Testing
@testable import Metrics

/// Each loop keeps its own registry; a scrape of the process is their sum.
@Suite struct MergeTests {
    @Test func samplesOfTheSameSeriesAreAdded() {
        func loop(messages: Int, health: Int?, waitSeconds: Double) -> String {
            let registry = MetricsRegistry()
            let counter = registry.counter("requests_total", help: "Requests.", labels: ["route"])
            counter.increment(["/v1/messages"], by: messages)
            if let health { counter.increment(["/health"], by: health) }
            let histogram = registry.histogram("wait_seconds", help: "Waits.", buckets: [0.5, 1])
            histogram.observe(waitSeconds)
            _ = registry.gauge("open_streams", help: "Open.") { Double(messages) }
            return registry.render()
        }
        let merged = Exposition.merge([loop(messages: 2, health: nil, waitSeconds: 0.25), loop(messages: 3, health: 1, waitSeconds: 0.75)])
        #expect(merged == """
            # HELP requests_total Requests.
            # TYPE requests_total counter
            requests_total{route="/v1/messages"} 5
            requests_total{route="/health"} 1
            # HELP wait_seconds Waits.
            # TYPE wait_seconds histogram
            wait_seconds_bucket{le="0.5"} 1
            wait_seconds_bucket{le="1"} 2
            wait_seconds_bucket{le="+Inf"} 2
            wait_seconds_sum 1
            wait_seconds_count 2
            # HELP open_streams Open.
            # TYPE open_streams gauge
            open_streams 5

            """)
    }

    @Test func oneScrapeIsKeptAsItIs() {
        let text = "# HELP a A.\n# TYPE a counter\na 1.5\n"
        #expect(Exposition.merge([text]) == text)
    }

    /// The value is what follows the last space: a label value may hold spaces.
    @Test func labelValuesWithSpaces() {
        let one = "# TYPE m counter\nm{model=\"a b\"} 1\n"
        #expect(Exposition.merge([one, one]) == "# TYPE m counter\nm{model=\"a b\"} 2\n")
    }
}
