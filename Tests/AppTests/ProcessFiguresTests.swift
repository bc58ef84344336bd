import App
import JSON
import Testing

/// `/health` of several loops: what each loop holds is added, limits and the main loop's own
/// parts (the CLI, the store) appear once.
@Suite struct ProcessFiguresTests {
    @Test func countsAreAddedAndSettingsTakenOnce() {
        let main: [(String, JSONValue)] = [
            ("http", ["open_connections": 3, "in_flight_requests": 1]),
            ("provider", ["rate_limit": 40, "open_streams": 2, "max_client_write_queue_bytes": 10, "blocked_seconds_remaining": 0.0]),
            ("cli", ["managers": 1]),
        ]
        let worker: [(String, JSONValue)] = [
            ("http", ["open_connections": 4, "in_flight_requests": 0]),
            ("provider", ["rate_limit": 40, "open_streams": 5, "max_client_write_queue_bytes": 7, "blocked_seconds_remaining": 1.5]),
        ]
        let merged = JSONValue.object(JSONObject(ProcessFigures.mergeHealth([main, worker])))
        #expect(merged["http"]?["open_connections"] == 7)
        #expect(merged["http"]?["in_flight_requests"] == 1)
        #expect(merged["provider"]?["rate_limit"] == 40)
        #expect(merged["provider"]?["open_streams"] == 7)
        #expect(merged["provider"]?["max_client_write_queue_bytes"] == 10)
        #expect(merged["provider"]?["blocked_seconds_remaining"] == 1.5)
        #expect(merged["cli"]?["managers"] == 1)
        // Keys keep the first loop's order.
        if case .object(let object) = merged { #expect(object.keys == ["http", "provider", "cli"]) }
    }

    @Test func oneLoopIsItself() {
        let only: [(String, JSONValue)] = [("http", ["open_connections": 3])]
        #expect(JSONValue.object(JSONObject(ProcessFigures.mergeHealth([only]))) == .object(JSONObject(only)))
    }
}
