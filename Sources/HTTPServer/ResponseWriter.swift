// Serialising response heads and chunk frames into one reusable byte buffer, so a response costs
// one write call and, in steady state, no allocation.

enum BodyFraming {
    case contentLength(Int)
    case chunked
    /// HTTP/1.0 streaming: the body ends when the connection closes.
    case untilClose
    /// 1xx, 204, 304: no body and no length header (RFC 9110 section 8.6).
    case none
}

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendASCII(_ text: String) {
        var text = text
        text.withUTF8 { append(contentsOf: $0) }
    }

    mutating func appendDecimal(_ value: Int) {
        precondition(value >= 0)
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            append(UInt8(48 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    mutating func appendHex(_ value: Int) {
        let digits: StaticString = "0123456789abcdef"
        var shift = (Int.bitWidth - value.leadingZeroBitCount + 3) / 4 * 4
        if shift == 0 { append(48); return }
        while shift > 0 {
            shift -= 4
            append(digits.utf8Start[(value >> shift) & 0xf])
        }
    }

    mutating func appendCRLF() {
        append(13)
        append(10)
    }
}

/// Appends a status line and headers. Framing headers (Content-Length, Transfer-Encoding,
/// Connection) are the server's: the caller's copies are skipped.
func appendResponseHead(to buffer: inout [UInt8], status: Int, headers: [(name: String, value: String)],
                        framing: BodyFraming, keepAlive: Bool, clientVersion: HTTPVersion) {
    buffer.appendASCII("HTTP/1.1 ")
    buffer.appendDecimal(status)
    buffer.append(32)
    buffer.appendASCII(reasonPhrase(status))
    buffer.appendCRLF()
    for header in headers {
        if isFramingHeader(header.name) { continue }
        buffer.appendASCII(header.name)
        buffer.append(58)
        buffer.append(32)
        buffer.appendASCII(header.value)
        buffer.appendCRLF()
    }
    switch framing {
    case .contentLength(let length):
        buffer.appendASCII("Content-Length: ")
        buffer.appendDecimal(length)
        buffer.appendCRLF()
    case .chunked:
        buffer.appendASCII("Transfer-Encoding: chunked\r\n")
    case .untilClose, .none:
        break
    }
    if !keepAlive {
        buffer.appendASCII("Connection: close\r\n")
    } else if clientVersion.major == 1 && clientVersion.minor == 0 {
        // HTTP/1.0 closes by default; say that we keep it (RFC 9112 section 9.3).
        buffer.appendASCII("Connection: keep-alive\r\n")
    }
    buffer.appendCRLF()
}

func isFramingHeader(_ name: String) -> Bool {
    // Every header of every response is asked: the length rules out most names at once.
    switch name.utf8.count {
    case 14: asciiCaseInsensitiveEqual(name, "content-length")
    case 17: asciiCaseInsensitiveEqual(name, "transfer-encoding")
    case 10: asciiCaseInsensitiveEqual(name, "connection")
    default: false
    }
}

func statusHasNoBody(_ status: Int) -> Bool {
    (100..<200).contains(status) || status == 204 || status == 304
}
