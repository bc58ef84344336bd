// MetricsRegistry: counters, gauges and histograms, rendered in Prometheus's text exposition format
// 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Pure: the registry holds numbers and writes text; the server decides when to scrape it. Every
// family is declared once with its label names, so a sample can never carry a misspelt or missing
// label. Labels whose values come from outside (model names) are bounded: past `maxSeries` label
// sets a family folds the new ones into `other`, so a client naming a million models cannot make
// the registry, or the scrape, grow without end.

/// The metrics of one process. Loop-confined: families are updated and rendered on one thread, so
/// there are no locks.
public final class MetricsRegistry {
    private var families: [any MetricFamily] = []
    private var names: Set<String> = []

    public init() {}

    /// A counter family. `foldedLabels` are the labels whose values come from outside and are
    /// replaced by `other` once the family holds `maxSeries` label sets; the rest are bounded by
    /// the caller (an enum's cases) and kept.
    public func counter(_ name: String, help: String, labels: [String] = [], foldedLabels: Set<String>? = nil,
                        maxSeries: Int = 1000) -> Counter {
        let family = Counter(name: name, help: help,
                             series: SeriesTable(labels: labels, foldedLabels: foldedLabels ?? Set(labels), maxSeries: maxSeries))
        add(family)
        return family
    }

    /// A gauge holding the value last set.
    public func gauge(_ name: String, help: String) -> Gauge {
        let family = Gauge(name: name, help: help, read: nil)
        add(family)
        return family
    }

    /// A gauge whose value is read at each scrape (a count some other object keeps already).
    public func gauge(_ name: String, help: String, read: @escaping () -> Double) -> Gauge {
        let family = Gauge(name: name, help: help, read: read)
        add(family)
        return family
    }

    /// A histogram with fixed upper bounds, in increasing order; `+Inf` is added.
    public func histogram(_ name: String, help: String, buckets: [Double], labels: [String] = [],
                          foldedLabels: Set<String>? = nil, maxSeries: Int = 1000) -> Histogram {
        let family = Histogram(name: name, help: help, bounds: buckets,
                               series: SeriesTable(labels: labels, foldedLabels: foldedLabels ?? Set(labels), maxSeries: maxSeries))
        add(family)
        return family
    }

    private func add(_ family: any MetricFamily) {
        precondition(MetricName.isValidMetricName(family.name), "not a Prometheus metric name: \(family.name)")
        precondition(names.insert(family.name).inserted, "metric \(family.name) registered twice")
        families.append(family)
    }

    /// Every family in the order registered, each with `# HELP` and `# TYPE` lines, its series
    /// sorted by label values: the same state always renders the same text.
    public func render() -> String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(Exposition.escapeHelp(family.help))\n"
            out += "# TYPE \(family.name) \(family.typeName)\n"
            family.appendSamples(to: &out)
        }
        return out
    }
}

@available(*, unavailable)
extension MetricsRegistry: Sendable {}

protocol MetricFamily: AnyObject {
    var name: String { get }
    var help: String { get }
    var typeName: String { get }
    func appendSamples(to out: inout String)
}

/// A monotonically increasing count per label set. Loop-confined.
public final class Counter: MetricFamily {
    public let name: String
    let help: String
    var typeName: String { "counter" }
    private var series: SeriesTable<Int>

    init(name: String, help: String, series: SeriesTable<Int>) {
        self.name = name
        self.help = help
        self.series = series
    }

    /// Adds `amount` (not negative: a counter only grows) to the series of `labelValues`, given in
    /// the order the family declared its labels.
    public func increment(_ labelValues: [String] = [], by amount: Int = 1) {
        precondition(amount >= 0, "a counter only grows")
        series.update(labelValues, initial: 0) { $0 += amount }
    }

    /// The current count of a label set (after folding), 0 when it was never counted.
    public func value(_ labelValues: [String] = []) -> Int {
        series.value(labelValues) ?? 0
    }

    func appendSamples(to out: inout String) {
        // An unlabelled counter exists from the start, at 0, so a rate over it is defined at once.
        if series.labels.isEmpty && series.isEmpty {
            out += "\(name) 0\n"
            return
        }
        for (labels, value) in series.sorted() {
            out += name + Exposition.labelText(series.labels, labels) + " \(value)\n"
        }
    }
}

@available(*, unavailable)
extension Counter: Sendable {}

/// One value that goes up and down, set or read at scrape time. Loop-confined.
public final class Gauge: MetricFamily {
    public let name: String
    let help: String
    var typeName: String { "gauge" }
    private let read: (() -> Double)?
    private var stored = 0.0

    init(name: String, help: String, read: (() -> Double)?) {
        self.name = name
        self.help = help
        self.read = read
    }

    /// The value a scrape would show now.
    public var value: Double { read?() ?? stored }

    /// Sets the value; a gauge that reads its value at scrape time ignores this.
    public func set(_ value: Double) { stored = value }

    func appendSamples(to out: inout String) {
        out += "\(name) \(Exposition.number(value))\n"
    }
}

@available(*, unavailable)
extension Gauge: Sendable {}

/// Observations counted into fixed buckets, with their sum and count. Loop-confined.
public final class Histogram: MetricFamily {
    public let name: String
    let help: String
    var typeName: String { "histogram" }
    /// The finite upper bounds, increasing; the `+Inf` bucket is implied.
    public let bounds: [Double]
    private var series: SeriesTable<Buckets>

    struct Buckets {
        /// Observations per bucket, not cumulative (index `bounds.count` is above every bound).
        var counts: [Int]
        var sum = 0.0
    }

    init(name: String, help: String, bounds: [Double], series: SeriesTable<Buckets>) {
        precondition(!bounds.isEmpty && zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 },
                     "histogram \(name) needs increasing bucket bounds")
        precondition(bounds.allSatisfy(\.isFinite), "histogram \(name): +Inf is implied")
        precondition(!series.labels.contains("le"), "histogram \(name): `le` is the bucket label")
        self.name = name
        self.help = help
        self.bounds = bounds
        self.series = series
    }

    /// Counts one observation (NaN is ignored: it has no bucket and would poison the sum).
    public func observe(_ value: Double, _ labelValues: [String] = []) {
        guard !value.isNaN else { return }
        // The first bound the value does not exceed (`le` is inclusive).
        var index = bounds.count
        for (i, bound) in bounds.enumerated() where value <= bound {
            index = i
            break
        }
        let buckets = bounds.count + 1
        series.update(labelValues, initial: Buckets(counts: Array(repeating: 0, count: buckets))) {
            $0.counts[index] += 1
            $0.sum += value
        }
    }

    /// Observations of a label set so far.
    public func count(_ labelValues: [String] = []) -> Int {
        series.value(labelValues)?.counts.reduce(0, +) ?? 0
    }

    /// The sum of the observations of a label set so far.
    public func sum(_ labelValues: [String] = []) -> Double {
        series.value(labelValues)?.sum ?? 0
    }

    func appendSamples(to out: inout String) {
        var rows = series.sorted()
        if series.labels.isEmpty && rows.isEmpty {
            rows = [([], Buckets(counts: Array(repeating: 0, count: bounds.count + 1)))]
        }
        for (labels, buckets) in rows {
            var cumulative = 0
            for (i, count) in buckets.counts.enumerated() {
                cumulative += count
                let le = i < bounds.count ? Exposition.number(bounds[i]) : "+Inf"
                out += name + "_bucket" + Exposition.labelText(series.labels + ["le"], labels + [le]) + " \(cumulative)\n"
            }
            let plain = Exposition.labelText(series.labels, labels)
            out += name + "_sum" + plain + " \(Exposition.number(buckets.sum))\n"
            out += name + "_count" + plain + " \(cumulative)\n"
        }
    }
}

@available(*, unavailable)
extension Histogram: Sendable {}

/// The series of one family by label values, with the bound on how many there may be.
struct SeriesTable<Value> {
    let labels: [String]
    /// Positions in `labels` of the labels folded into `other` when the table is full.
    private let folded: [Int]
    let maxSeries: Int
    private var values: [[String]: Value] = [:]

    static var overflowValue: String { "other" }

    init(labels: [String], foldedLabels: Set<String>, maxSeries: Int) {
        precondition(Set(labels).count == labels.count, "a label is declared twice: \(labels)")
        for label in labels {
            precondition(MetricName.isValidLabelName(label), "not a Prometheus label name: \(label)")
        }
        precondition(foldedLabels.isSubset(of: labels), "folded labels \(foldedLabels) are not all among \(labels)")
        precondition(maxSeries >= 1, "a family holds at least one series")
        self.labels = labels
        folded = labels.indices.filter { foldedLabels.contains(labels[$0]) }
        self.maxSeries = maxSeries
    }

    var isEmpty: Bool { values.isEmpty }
    var count: Int { values.count }

    /// The key a label set is counted under: itself while there is room (or it exists already),
    /// else with its folded labels set to `other`. The folded series may go past `maxSeries`,
    /// by at most the number of combinations of the bounded labels.
    private func key(_ labelValues: [String]) -> [String] {
        precondition(labelValues.count == labels.count,
                     "\(labelValues.count) label values for the labels \(labels)")
        if values.count < maxSeries || values[labelValues] != nil { return labelValues }
        var key = labelValues
        for i in folded { key[i] = Self.overflowValue }
        return key
    }

    mutating func update(_ labelValues: [String], initial: Value, _ change: (inout Value) -> Void) {
        let key = key(labelValues)
        change(&values[key, default: initial])
    }

    func value(_ labelValues: [String]) -> Value? {
        values[key(labelValues)]
    }

    func sorted() -> [(labels: [String], value: Value)] {
        values.map { ($0.key, $0.value) }.sorted { $0.labels.lexicographicallyPrecedes($1.labels) }
    }
}

/// The name rules of the text format.
enum MetricName {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    static func isValidMetricName(_ name: String) -> Bool {
        isName(name, allowsColon: true)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, and not starting with `__` (reserved for Prometheus itself).
    static func isValidLabelName(_ name: String) -> Bool {
        isName(name, allowsColon: false) && !name.hasPrefix("__")
    }

    private static func isName(_ name: String, allowsColon: Bool) -> Bool {
        guard let first = name.utf8.first else { return false }
        func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A || c == 0x5F || (allowsColon && c == 0x3A) }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        return isLetter(first) && name.utf8.dropFirst().allSatisfy { isLetter($0) || isDigit($0) }
    }
}

/// How values and labels are written in the text format.
public enum Exposition {
    /// The `Content-Type` of a scrape answer.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// A sample value: integral values without a fraction (`3`, not `3.0`), others in Swift's
    /// shortest round-tripping form (`0.25`, `1e-05`), and `+Inf`, `-Inf`, `NaN` as the format
    /// spells them.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// `{a="x",b="y"}`, or nothing without labels.
    static func labelText(_ names: [String], _ values: [String]) -> String {
        guard !names.isEmpty else { return "" }
        var out = "{"
        for (i, (name, value)) in zip(names, values).enumerated() {
            if i > 0 { out += "," }
            out += name + "=\"" + escapeLabelValue(value) + "\""
        }
        return out + "}"
    }

    /// A label value escapes backslash, double quote and line feed.
    public static func escapeLabelValue(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return value }
        var out = ""
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// HELP text escapes backslash and line feed only.
    public static func escapeHelp(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
