// RESP2, the Redis serialization protocol (redis.io/docs/reference/protocol-spec): commands go out
// as arrays of bulk strings; replies come back as simple strings, errors, integers, bulk strings
// and arrays, any of them nil. Pure: bytes in, values out.

/// One reply.
public enum RESPValue: Sendable, Equatable {
    case simple(String)
    case error(String)
    case integer(Int64)
    /// nil: the null bulk string (`$-1`).
    case bulk([UInt8]?)
    /// nil: the null array (`*-1`).
    case array([RESPValue]?)

    /// A bulk or simple string's text.
    public var text: String? {
        switch self {
        case .simple(let s): s
        case .bulk(let b?): String(decoding: b, as: UTF8.self)
        default: nil
        }
    }
}

public enum RESP {
    /// A command as RESP2 sends it: an array of bulk strings.
    public static func command(_ parts: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + parts.reduce(0) { $0 + $1.utf8.count + 16 })
        out.append(UInt8(ascii: "*"))
        out += Array(String(parts.count).utf8)
        out += [13, 10]
        for part in parts {
            out.append(UInt8(ascii: "$"))
            out += Array(String(part.utf8.count).utf8)
            out += [13, 10]
            out += Array(part.utf8)
            out += [13, 10]
        }
        return out
    }
}

/// Why the reply stream cannot be read further; the connection must be dropped.
public struct RESPProtocolError: Error, Sendable, Equatable {
    public let reason: String
}

/// Reads replies from bytes that arrive in pieces of any size. A reply is returned once whole;
/// bytes that cannot be a reply (or that exceed the limits) are an error, never a crash.
public struct RESPParser: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    /// The longest bulk string and the most elements in one array accepted.
    public let maxBulkBytes: Int
    public let maxArrayCount: Int
    public let maxDepth: Int

    public init(maxBulkBytes: Int = 1 << 20, maxArrayCount: Int = 1 << 16, maxDepth: Int = 8) {
        self.maxBulkBytes = maxBulkBytes
        self.maxArrayCount = maxArrayCount
        self.maxDepth = maxDepth
    }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0, start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole reply, or nil until more bytes arrive.
    public mutating func next() throws(RESPProtocolError) -> RESPValue? {
        var i = start
        guard let value = try parse(at: &i, depth: 0) else { return nil }
        start = i
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return value
    }

    /// Bytes received and not yet part of a whole reply.
    public var pendingBytes: Int { buffer.count - start }

    private func line(at i: inout Int) throws(RESPProtocolError) -> ArraySlice<UInt8>? {
        var j = i
        while j < buffer.count {
            if buffer[j] == 13 {
                guard j + 1 < buffer.count else { return nil }
                guard buffer[j + 1] == 10 else { throw RESPProtocolError(reason: "CR without LF") }
                let l = buffer[i..<j]
                i = j + 2
                return l
            }
            if buffer[j] == 10 { throw RESPProtocolError(reason: "LF without CR") }
            j += 1
        }
        // A header line is short; a long one without CRLF is not RESP.
        if buffer.count - i > 4096 { throw RESPProtocolError(reason: "line too long") }
        return nil
    }

    private func integer(_ digits: ArraySlice<UInt8>) throws(RESPProtocolError) -> Int64 {
        var d = digits[...]
        var negative = false
        if d.first == UInt8(ascii: "-") {
            negative = true
            d = d.dropFirst()
        }
        guard !d.isEmpty, d.count <= 19 else { throw RESPProtocolError(reason: "bad integer") }
        var value: Int64 = 0
        for c in d {
            guard c >= 48, c <= 57 else { throw RESPProtocolError(reason: "bad integer") }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - 48))
            guard !o1, !o2 else { throw RESPProtocolError(reason: "integer overflow") }
            value = a
        }
        return negative ? -value : value
    }

    private func parse(at i: inout Int, depth: Int) throws(RESPProtocolError) -> RESPValue? {
        guard i < buffer.count else { return nil }
        guard depth <= maxDepth else { throw RESPProtocolError(reason: "nested too deep") }
        let kind = buffer[i]
        var j = i + 1
        guard let head = try line(at: &j) else { return nil }
        switch kind {
        case UInt8(ascii: "+"):
            i = j
            return .simple(String(decoding: head, as: UTF8.self))
        case UInt8(ascii: "-"):
            i = j
            return .error(String(decoding: head, as: UTF8.self))
        case UInt8(ascii: ":"):
            let n = try integer(head)
            i = j
            return .integer(n)
        case UInt8(ascii: "$"):
            let n = try integer(head)
            if n == -1 {
                i = j
                return .bulk(nil)
            }
            guard n >= 0, n <= maxBulkBytes else { throw RESPProtocolError(reason: "bad bulk length \(n)") }
            let end = j + Int(n)
            guard end + 2 <= buffer.count else { return nil }
            guard buffer[end] == 13, buffer[end + 1] == 10 else { throw RESPProtocolError(reason: "bulk not ended by CRLF") }
            i = end + 2
            return .bulk(Array(buffer[j..<end]))
        case UInt8(ascii: "*"):
            let n = try integer(head)
            if n == -1 {
                i = j
                return .array(nil)
            }
            guard n >= 0, n <= maxArrayCount else { throw RESPProtocolError(reason: "bad array length \(n)") }
            var items: [RESPValue] = []
            items.reserveCapacity(Int(min(n, 64)))
            for _ in 0..<n {
                guard let item = try parse(at: &j, depth: depth + 1) else { return nil }
                items.append(item)
            }
            i = j
            return .array(items)
        default:
            throw RESPProtocolError(reason: "unknown reply type \(kind)")
        }
    }
}
