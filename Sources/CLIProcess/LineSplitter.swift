// LineSplitter: cuts a byte stream into newline-terminated lines.
//
// The CLI's stream-json lines can be megabytes long (a tool result with a whole file), and a pipe read
// can end anywhere, including inside a UTF-8 sequence, so lines are assembled as bytes and only decoded
// once complete. There is no length limit, unlike asyncio's 64 KiB `readline`, which the reference
// avoids the same way (its own bytearray buffer).

/// Splits bytes on `\n`. The newline is not part of a returned line; a `\r` before it is kept
/// (the caller strips whitespace, as the reference does).
struct LineSplitter {
    private var pending: [UInt8] = []

    /// Appends `bytes` and returns every line completed by them, in order.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0x0A {
            if pending.isEmpty {
                lines.append(Array(bytes[start..<i]))
            } else {
                pending.append(contentsOf: bytes[start..<i])
                lines.append(pending)
                pending = []
            }
            start = i + 1
        }
        if start < bytes.count {
            pending.append(contentsOf: bytes[start..<bytes.count])
        }
        return lines
    }

    mutating func feed(_ bytes: [UInt8]) -> [[UInt8]] {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The unterminated tail at end of stream, if any; the splitter is empty afterwards.
    mutating func finish() -> [UInt8]? {
        defer { pending = [] }
        return pending.isEmpty ? nil : pending
    }
}
