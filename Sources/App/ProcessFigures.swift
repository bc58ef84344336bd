// `/health` for a process of several event loops: each loop reports its own fields and the
// answering loop adds them up.

import JSON

public enum ProcessFigures {
    /// Fields that count what one loop holds (its connections, its streams, its transfers and
    /// the requests waiting on it): the process's figure is their sum. The rate window's use and
    /// block belong to the provider's one admission for the process: every loop reports the same
    /// figure, taken once.
    public static let summedHealthFields: Set<String> = [
        "open_connections", "in_flight_requests", "open_streams", "upstream_transfers", "upstream_pauses",
        "waiting_for_slot", "waiting_for_concurrency", "concurrent_streams",
    ]

    /// Fields where the process's figure is the largest loop's.
    public static let largestHealthFields: Set<String> = ["max_client_write_queue_bytes", "blocked_seconds_remaining"]

    /// The loops' `/health` fields as one: objects merged key by key, the counts in
    /// `summedHealthFields` added, those in `largestHealthFields` the largest, anything else
    /// (settings, limits, the CLI and store, which one loop holds) from the first loop that has it.
    public static func mergeHealth(_ loops: [[(String, JSONValue)]]) -> [(String, JSONValue)] {
        guard var merged = loops.first.map({ JSONObject($0) }) else { return [] }
        for loop in loops.dropFirst() { merge(into: &merged, JSONObject(loop)) }
        return merged.map { ($0.key, $0.value) }
    }

    private static func merge(into base: inout JSONObject, _ other: JSONObject) {
        for entry in other {
            guard let existing = base[entry.key] else {
                base[entry.key] = entry.value
                continue
            }
            switch (existing, entry.value) {
            case (.object(var inner), .object(let otherInner)):
                merge(into: &inner, otherInner)
                base[entry.key] = .object(inner)
            case (.int(let a), .int(let b)) where summedHealthFields.contains(entry.key):
                base[entry.key] = .int(a + b)
            case (.int(let a), .int(let b)) where largestHealthFields.contains(entry.key):
                base[entry.key] = .int(max(a, b))
            case (.double(let a), .double(let b)) where largestHealthFields.contains(entry.key):
                base[entry.key] = .double(max(a, b))
            default:
                break
            }
        }
    }
}
