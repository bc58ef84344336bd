// Small shared pieces: a monotonic clock in microseconds, flag parsing, JSON-ish output.

#if canImport(Glibc)
import Glibc
#endif
import EventLoop

/// Monotonic time in microseconds; the loop's own clock (`uv_now`) only has millisecond steps,
/// too coarse for the sub-millisecond latencies these runs are about.
func monotonicMicros() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
}

func fail(_ message: String) -> Never {
    writeAll("bench-tool: \(message)\n", to: 2)
    exit(2)
}

func writeAll(_ text: String, to fd: Int32) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { return }
        offset += n
    }
}

/// `--flag value` pairs; a flag may repeat (headers). Anything after `--` is kept as `rest`.
struct Flags {
    private var values: [String: [String]] = [:]
    private(set) var rest: [String] = []

    init(_ arguments: ArraySlice<String>) {
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let flag = arguments[index]
            if flag == "--" {
                rest = Array(arguments[(index + 1)...])
                return
            }
            guard flag.hasPrefix("--"), index + 1 < arguments.endIndex else { fail("bad argument \(flag)") }
            values[String(flag.dropFirst(2)), default: []].append(arguments[index + 1])
            index += 2
        }
    }

    func string(_ name: String, _ fallback: String) -> String { values[name]?.last ?? fallback }
    func optional(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }

    func int(_ name: String, _ fallback: Int) -> Int {
        guard let text = values[name]?.last else { return fallback }
        guard let n = Int(text) else { fail("--\(name) wants an integer, got \(text)") }
        return n
    }

    func double(_ name: String, _ fallback: Double) -> Double {
        guard let text = values[name]?.last else { return fallback }
        guard let n = Double(text) else { fail("--\(name) wants a number, got \(text)") }
        return n
    }
}

/// One flat JSON object, printed as one line so shell scripts can pick fields with python or jq.
struct JSONLine {
    private var fields: [String] = []

    mutating func add(_ key: String, _ value: Int) { fields.append("\"\(key)\":\(value)") }
    mutating func add(_ key: String, _ value: UInt64) { fields.append("\"\(key)\":\(value)") }
    mutating func add(_ key: String, _ value: Double) {
        fields.append("\"\(key)\":" + (value.isFinite ? "\(value)" : "null"))
    }
    mutating func add(_ key: String, _ value: String) {
        var escaped = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            default:
                if scalar.value < 0x20 { escaped += "?" } else { escaped.unicodeScalars.append(scalar) }
            }
        }
        fields.append("\"\(key)\":\"\(escaped)\"")
    }

    var text: String { "{" + fields.joined(separator: ",") + "}" }
}

func readFileOrFail(_ path: String) -> [UInt8] {
    switch readWholeFile(path) {
    case .success(let bytes): return bytes
    case .failure(let error): fail("\(error)")
    }
}
