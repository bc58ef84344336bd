// ResponseReader: just enough HTTP/1.1 response parsing to know when a response ends and whether it
// succeeded, without copying the body: the load generator must cost far less per byte than the
// servers it measures.

/// Feeds on raw response bytes; says when the response is complete.
struct ResponseReader {
    enum Framing {
        case contentLength(Int)
        case chunked
        case untilClose
    }

    enum ChunkState {
        case size(Int, sawDigit: Bool, inExtension: Bool)
        case data(Int)
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerLine
        case finalLF
    }

    enum Outcome: Equatable {
        case needMore
        case complete
        case malformed(String)
    }

    private(set) var status = 0
    private var headerBytes: [UInt8] = []
    private var framing: Framing?
    private var chunkState = ChunkState.size(0, sawDigit: false, inExtension: false)
    private(set) var bodyBytes = 0
    private(set) var isComplete = false

    /// Header bytes beyond this mean the peer is not speaking HTTP as expected.
    static let maxHeaderBytes = 64 * 1024

    var headersDone: Bool { framing != nil }

    /// Consumes `bytes`; `onBody` sees each run of body bytes (chunk framing included, which only
    /// matters for the marker counts and is a few bytes per chunk).
    mutating func feed(_ bytes: UnsafeRawBufferPointer, onBody: (UnsafeRawBufferPointer) -> Void) -> Outcome {
        var start = 0
        if framing == nil {
            let before = headerBytes.count
            headerBytes.append(contentsOf: bytes)
            guard let end = Self.headerEnd(headerBytes) else {
                if headerBytes.count > Self.maxHeaderBytes { return .malformed("header too large") }
                return .needMore
            }
            switch parseHead(headerBytes[0..<end]) {
            case .malformed(let why): return .malformed(why)
            default: break
            }
            start = end + 4 - before
            headerBytes = []
            if case .contentLength(0) = framing! {
                isComplete = true
                return .complete
            }
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[start...])
        if body.isEmpty { return .needMore }
        onBody(body)
        bodyBytes += body.count
        switch framing! {
        case .contentLength(let length):
            if bodyBytes >= length { isComplete = true }
        case .untilClose:
            break
        case .chunked:
            for byte in body {
                if stepChunked(byte) == false { return .malformed("bad chunked framing") }
                if isComplete { break }
            }
        }
        return isComplete ? .complete : .needMore
    }

    /// At EOF: an until-close body is complete, any other unfinished one is cut short.
    mutating func finishAtEOF() -> Bool {
        if let framing, case .untilClose = framing { isComplete = true }
        return isComplete
    }

    private static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    private mutating func parseHead(_ head: ArraySlice<UInt8>) -> Outcome {
        let text = String(decoding: head, as: UTF8.self)
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard let statusLine = lines.first else { return .malformed("no status line") }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
            return .malformed("bad status line")
        }
        status = code
        var chosen = Framing.untilClose
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingSpaces.lowercased()
            if name == "transfer-encoding" && value.contains("chunked") {
                chosen = .chunked
            } else if name == "content-length", case .untilClose = chosen, let length = Int(value) {
                chosen = .contentLength(length)
            }
        }
        framing = chosen
        return .needMore
    }

    /// One byte of chunked framing; false on a framing error.
    private mutating func stepChunked(_ byte: UInt8) -> Bool {
        switch chunkState {
        case .size(let size, let sawDigit, let inExtension):
            if byte == 10 {
                guard sawDigit else { return false }
                chunkState = size == 0 ? .trailerLineStart : .data(size)
            } else if inExtension || byte == 13 {
                chunkState = .size(size, sawDigit: sawDigit, inExtension: true)
            } else if byte == 59 { // ';' starts a chunk extension
                chunkState = .size(size, sawDigit: sawDigit, inExtension: true)
            } else if let digit = Self.hexValue(byte) {
                guard size < (1 << 40) else { return false }
                chunkState = .size(size * 16 + digit, sawDigit: true, inExtension: false)
            } else {
                return false
            }
        case .data(let remaining):
            chunkState = remaining > 1 ? .data(remaining - 1) : .dataCR
        case .dataCR:
            guard byte == 13 else { return false }
            chunkState = .dataLF
        case .dataLF:
            guard byte == 10 else { return false }
            chunkState = .size(0, sawDigit: false, inExtension: false)
        case .trailerLineStart:
            chunkState = byte == 13 ? .finalLF : .trailerLine
        case .trailerLine:
            if byte == 10 { chunkState = .trailerLineStart }
        case .finalLF:
            guard byte == 10 else { return false }
            isComplete = true
        }
        return true
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 48...57: Int(byte - 48)
        case 65...70: Int(byte - 55)
        case 97...102: Int(byte - 87)
        default: nil
        }
    }
}

/// Counts occurrences of a byte pattern across arbitrary splits of the input.
///
/// Patterns used here ("data:", the synthetic text's first word) have no proper prefix that is also
/// a suffix, so restarting at the mismatching byte cannot miss an occurrence.
struct MarkerCounter {
    let pattern: [UInt8]
    private var matched = 0
    private(set) var count = 0

    init(_ pattern: String) { self.pattern = Array(pattern.utf8) }

    /// Returns whether the first occurrence ended inside `bytes`.
    mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !pattern.isEmpty else { return false }
        let before = count
        for byte in bytes {
            if byte == pattern[matched] {
                matched += 1
            } else {
                matched = byte == pattern[0] ? 1 : 0
            }
            if matched == pattern.count {
                count += 1
                matched = 0
            }
        }
        return before == 0 && count > 0
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
