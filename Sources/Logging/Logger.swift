#if canImport(Glibc)
import Glibc
#endif
import JSON
import Synchronization

/// Structured logging: one JSON object per line on standard error, e.g.
/// `{"ts":"2026-11-25T12:00:00.123Z","level":"info","msg":"listening","port":8082}`.
/// Called from every event loop's thread (and libuv's pool): a line is one `write(2)` when the
/// descriptor takes it whole, and the writes of one line are made under a lock for the process, so
/// a long line that the kernel takes in parts is never cut by another thread's line.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }
        /// `LOG_LEVEL` values: debug, info, warning (or warn), error.
        public init?(name: String) {
            switch name.lowercased() {
            case "debug": self = .debug
            case "info": self = .info
            case "warning", "warn": self = .warning
            case "error": self = .error
            default: return nil
            }
        }
    }

    public var minimum: Level
    private let fd: Int32

    public init(minimum: Level = .info, fileDescriptor: Int32 = 2) {
        self.minimum = minimum
        self.fd = fileDescriptor
    }

    /// A logger that drops everything (tests).
    public static let silent = Logger(minimum: .error, fileDescriptor: -1)

    @inline(__always)
    public func isEnabled(_ level: Level) -> Bool { level >= minimum && fd >= 0 }

    public func debug(_ msg: String, _ fields: @autoclosure () -> [(String, JSONValue)] = []) {
        if isEnabled(.debug) { emit(.debug, msg, fields()) }
    }
    public func info(_ msg: String, _ fields: @autoclosure () -> [(String, JSONValue)] = []) {
        if isEnabled(.info) { emit(.info, msg, fields()) }
    }
    public func warning(_ msg: String, _ fields: @autoclosure () -> [(String, JSONValue)] = []) {
        if isEnabled(.warning) { emit(.warning, msg, fields()) }
    }
    public func error(_ msg: String, _ fields: @autoclosure () -> [(String, JSONValue)] = []) {
        if isEnabled(.error) { emit(.error, msg, fields()) }
    }

    private func emit(_ level: Level, _ msg: String, _ fields: [(String, JSONValue)]) {
        var object = JSONObject()
        object.appendUnchecked(key: "ts", value: .string(Logger.timestamp()))
        object.appendUnchecked(key: "level", value: .string(level.name))
        object.appendUnchecked(key: "msg", value: .string(msg))
        for (k, v) in fields { object[k] = v }
        var bytes = JSONValue.object(object).compactBytes()
        bytes.append(UInt8(ascii: "\n"))
        Logger.writing.withLock { _ in
            writeWhole(bytes)
        }
    }

    /// One for the process: loops log from their own threads.
    private static let writing = Mutex(())

    private func writeWhole(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = write(fd, buf.baseAddress! + offset, buf.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }

    /// UTC time with milliseconds, ISO 8601.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return timestamp(secondsSinceEpoch: ts.tv_sec, nanoseconds: ts.tv_nsec)
    }

    /// The `ts` field for a given wall-clock time (split out so tests can fix the time).
    static func timestamp(secondsSinceEpoch: Int, nanoseconds: Int) -> String {
        var seconds = secondsSinceEpoch
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(nanoseconds / 1_000_000), 3))Z"
    }
}
