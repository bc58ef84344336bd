// HTTPRequestParser: a strict, incremental HTTP/1.1 request parser (RFC 9112), pure.
//
// Bytes arrive in pieces of any size; `parse` consumes a prefix of what it is given and reports one
// event at a time, so the caller decides what happens between requests (pipelining: the next
// request's bytes are not touched until the caller asks again). Only the line being read is
// buffered; a body is reported as ranges of the caller's input, never copied here.
//
// Strictness, each refusal with its status (RFC 9112 unless said otherwise):
// - request line `method SP target SP HTTP/1.x`: exactly one space between parts (3); a
//   well-formed `HTTP/d.d` other than 1.0 and 1.1 -> 505, any other version text -> 400 (2.3)
// - lines end with CRLF (a bare LF is accepted, 2.2); a bare CR elsewhere -> 400 (2.2)
// - no whitespace between a field name and its colon -> 400 (5.1); no obs-fold -> 400 (5.2);
//   field values without control characters (RFC 9110 5.5)
// - Content-Length: digits only; copies (or list members) that disagree -> 400 (RFC 9110 8.6);
//   with Transfer-Encoding -> 400 (6.1); Transfer-Encoding in HTTP/1.0 -> 400 (6.1); a final
//   coding other than chunked -> 400, other codings before it -> 501 (6.1)
// - chunk sizes that overflow -> 400 at once; lengths are never converted with a trap
// - limits: request line (414), header bytes and header count (431), body (413)

/// Strict incremental request parser. A value: copy it to fork the parse (the fuzz tests do).
public struct HTTPRequestParser: Sendable {
    public enum Event {
        /// Everything given was consumed without completing anything.
        case needMore
        /// A request line and header section, checked.
        case head(HTTPRequestHead)
        /// Body bytes: this range of the input passed to `parse` (inside the consumed prefix).
        case body(Range<Int>)
        /// The request is complete; the next bytes belong to the next request.
        case end
        /// The request is refused; every later call returns the same error.
        case error(HTTPParseError)
    }

    private enum State: Sendable {
        /// Before a request line; blank lines between requests are skipped (2.2).
        case start
        case requestLine
        case headerLines
        case endPending
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// After a chunk's data: `sawCR` once its CR came.
        case chunkDataEnd(sawCR: Bool)
        case trailers
        /// After an upgrade or CONNECT: the bytes are not HTTP and are ignored.
        case ignoring
        case failed(HTTPParseError)
    }

    public let limits: HTTPRequestLimits
    private var state = State.start
    /// The line being read, without its LF.
    private var line: [UInt8] = []
    /// Bytes of the current header (or trailer) section so far, CRLFs included.
    private var sectionBytes = 0
    private var fieldCount = 0
    private var bodyBytes = 0
    // The head under construction.
    private var method = ""
    private var target = ""
    private var minorVersion = 1
    private var headers: [(name: String, value: String)] = []
    private var endsParsing = false
    // What the framing needs from the header section, gathered from the bytes as each line is
    // read rather than by a second walk over the headers' strings.
    private var contentLength: Int?
    /// The first Content-Length problem, reported once the section is complete (as a count or size
    /// limit met later on the same head is reported first, whatever the order of the lines).
    private var contentLengthProblem: HTTPParseError?
    private var transferCodings: [String]?
    private var connectionTokens = ConnectionTokens()
    private var hasUpgrade = false
    /// Whether the first `Expect` field was `100-continue`; nil without one.
    private var expectsContinueField: Bool?

    public init(limits: HTTPRequestLimits = HTTPRequestLimits()) {
        self.limits = limits
    }

    /// True once a request's first byte arrived, until its end was reported.
    public var isInsideMessage: Bool {
        switch state {
        case .start, .ignoring: false
        default: true
        }
    }

    /// True while the parser waits for body bytes (a head was reported, its end not yet).
    public var isReadingBody: Bool {
        switch state {
        case .body, .chunkSize, .chunkData, .chunkDataEnd, .trailers: true
        default: false
        }
    }

    /// Consumes a prefix of `input` and reports what it completed. Call again with the rest.
    public mutating func parse(_ input: UnsafeRawBufferPointer) -> (event: Event, consumed: Int) {
        var index = 0
        while true {
            switch state {
            case .failed(let error):
                return (.error(error), index)
            case .endPending:
                state = endsParsing ? .ignoring : .start
                return (.end, index)
            case .ignoring:
                return (.needMore, input.count)
            case .start:
                while index < input.count, input[index] == cr || input[index] == lf { index += 1 }
                guard index < input.count else { return (.needMore, index) }
                beginMessage()
                state = .requestLine
            case .requestLine, .headerLines, .trailers, .chunkSize:
                guard index < input.count else { return (.needMore, index) }
                let lineEnd = findLF(input, from: index)
                let stop = lineEnd ?? input.count
                if let error = checkLineLimits(adding: stop - index + (lineEnd == nil ? 0 : 1)) {
                    return fail(error, index)
                }
                // As typed bytes: the contiguous copy, not the generic element-by-element append.
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index..<stop]).bindMemory(to: UInt8.self))
                guard let lineEnd else { return (.needMore, input.count) }
                index = lineEnd + 1
                if let event = finishLine() { return (event, index) }
            case .body(let remaining):
                guard index < input.count else { return (.needMore, index) }
                let count = min(remaining, input.count - index)
                state = remaining == count ? .endPending : .body(remaining: remaining - count)
                return (.body(index..<index + count), index + count)
            case .chunkData(let remaining):
                guard index < input.count else { return (.needMore, index) }
                let count = min(remaining, input.count - index)
                state = remaining == count ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: remaining - count)
                return (.body(index..<index + count), index + count)
            case .chunkDataEnd(let sawCR):
                guard index < input.count else { return (.needMore, index) }
                let byte = input[index]
                index += 1
                if byte == lf {
                    line.removeAll(keepingCapacity: true)
                    state = .chunkSize
                } else if byte == cr && !sawCR {
                    state = .chunkDataEnd(sawCR: true)
                } else {
                    return fail(.bad("Malformed request: chunk data not followed by CRLF"), index)
                }
            }
        }
    }

    private mutating func fail(_ error: HTTPParseError, _ consumed: Int) -> (event: Event, consumed: Int) {
        state = .failed(error)
        line = []
        headers = []
        return (.error(error), consumed)
    }

    private mutating func beginMessage() {
        line.removeAll(keepingCapacity: true)
        sectionBytes = 0
        fieldCount = 0
        bodyBytes = 0
        headers = []
        method = ""
        target = ""
        endsParsing = false
        contentLength = nil
        contentLengthProblem = nil
        transferCodings = nil
        connectionTokens = ConnectionTokens()
        hasUpgrade = false
        expectsContinueField = nil
    }

    /// Checked before the bytes are buffered, so a line never grows past its limit.
    private mutating func checkLineLimits(adding count: Int) -> HTTPParseError? {
        switch state {
        case .chunkSize:
            if line.count + count > limits.maxChunkLineBytes {
                return .bad("Malformed request: chunk size line longer than \(limits.maxChunkLineBytes) bytes")
            }
            return nil
        case .requestLine:
            if line.count + count > limits.maxRequestLineBytes {
                return HTTPParseError(
                    status: 414, message: "Request line longer than \(limits.maxRequestLineBytes) bytes")
            }
        default:
            break
        }
        sectionBytes += count
        if sectionBytes > limits.maxHeaderBytes {
            return HTTPParseError(status: 431, message: "Request header fields too large")
        }
        return nil
    }

    /// A whole line is in `line` (its LF dropped). Returns an event when the line completed one.
    private mutating func finishLine() -> Event? {
        if line.last == cr { line.removeLast() }
        if findByte(cr, in: line) != nil { return failEvent(.bad("Malformed request: bare CR in a line")) }
        defer { line.removeAll(keepingCapacity: true) }
        switch state {
        case .requestLine:
            if let error = parseRequestLine() { return failEvent(error) }
            state = .headerLines
            return nil
        case .headerLines:
            if line.isEmpty { return finishHead() }
            if let error = parseFieldLine(keep: true) { return failEvent(error) }
            return nil
        case .trailers:
            if line.isEmpty {
                state = .endPending
                return nil
            }
            if let error = parseFieldLine(keep: false) { return failEvent(error) }
            return nil
        case .chunkSize:
            return parseChunkSize()
        default:
            return nil
        }
    }

    private mutating func failEvent(_ error: HTTPParseError) -> Event {
        _ = fail(error, 0)
        return .error(error)
    }

    // MARK: Request line

    private mutating func parseRequestLine() -> HTTPParseError? {
        guard let firstSpace = findByte(space, in: line) else {
            return .bad("Malformed request: the request line has no target and no HTTP version")
        }
        guard let secondSpace = findByte(space, in: line, from: firstSpace + 1) else {
            return .bad("Malformed request: the request line has no HTTP version (HTTP/0.9 is not supported)")
        }
        let methodBytes = line[..<firstSpace]
        let targetBytes = line[(firstSpace + 1)..<secondSpace]
        let versionBytes = line[(secondSpace + 1)...]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(isTokenByte) else {
            return .bad("Malformed request: invalid method")
        }
        guard !targetBytes.isEmpty, targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            return .bad("Malformed request: invalid request target")
        }
        let version = Array(versionBytes)
        guard version.count == 8, version[0..<5].elementsEqual("HTTP/".utf8), isDigit(version[5]),
              version[6] == UInt8(ascii: "."), isDigit(version[7])
        else {
            return .bad("Malformed request: invalid HTTP version")
        }
        guard version[5] == UInt8(ascii: "1"), version[7] == UInt8(ascii: "0") || version[7] == UInt8(ascii: "1") else {
            let text = String(decoding: version, as: UTF8.self)
            return HTTPParseError(status: 505, message: "\(text) is not supported: send HTTP/1.1")
        }
        method = String(decoding: methodBytes, as: UTF8.self)
        target = String(decoding: targetBytes, as: UTF8.self)
        minorVersion = Int(version[7] - UInt8(ascii: "0"))
        return nil
    }

    // MARK: Header and trailer lines

    private mutating func parseFieldLine(keep: Bool) -> HTTPParseError? {
        if line[0] == space || line[0] == tab {
            return .bad("Malformed request: obsolete line folding is not allowed")
        }
        guard let colon = findByte(UInt8(ascii: ":"), in: line) else {
            return .bad("Malformed request: header line without a colon")
        }
        let nameBytes = line[..<colon]
        if nameBytes.isEmpty { return .bad("Malformed request: empty header name") }
        for byte in nameBytes where !isTokenByte(byte) {
            let name = String(decoding: nameBytes, as: UTF8.self)
            if byte == space || byte == tab {
                return .bad("Malformed request: whitespace before the colon in header \(quoted(name))")
            }
            return .bad("Malformed request: invalid character in header name \(quoted(name))")
        }
        var start = colon + 1
        var end = line.count
        while start < end, line[start] == space || line[start] == tab { start += 1 }
        while end > start, line[end - 1] == space || line[end - 1] == tab { end -= 1 }
        let valueBytes = line[start..<end]
        for byte in valueBytes where (byte < 0x20 && byte != tab) || byte == 0x7f {
            let name = String(decoding: nameBytes, as: UTF8.self)
            return .bad("Malformed request: control character in the value of header \(quoted(name))")
        }
        fieldCount += 1
        if fieldCount > limits.maxHeaderCount {
            return HTTPParseError(status: 431, message: "More than \(limits.maxHeaderCount) header fields")
        }
        if keep {
            let value = String(decoding: valueBytes, as: UTF8.self)
            noteFraming(name: nameBytes, value: valueBytes, valueText: value)
            // Each head's array is handed over with it: one allocation for a usual head, not four.
            if headers.capacity == 0 { headers.reserveCapacity(16) }
            headers.append((String(decoding: nameBytes, as: UTF8.self), value))
        }
        return nil
    }

    /// Records what a header field means for the framing and the connection (RFC 9112 6, 9.6).
    private mutating func noteFraming(name: ArraySlice<UInt8>, value: ArraySlice<UInt8>, valueText: String) {
        switch name.count {
        case 14 where asciiLowercaseEquals(name, "content-length"):
            forEachListElement(value, keepEmpty: true) { element in
                guard contentLengthProblem == nil else { return }
                guard let length = parseDecimal(element) else {
                    contentLengthProblem = .bad("Malformed request: Content-Length is not a number")
                    return
                }
                if let contentLength, contentLength != length {
                    contentLengthProblem = .bad("Malformed request: conflicting Content-Length values")
                    return
                }
                contentLength = length
            }
        case 17 where asciiLowercaseEquals(name, "transfer-encoding"):
            var codings = transferCodings ?? []
            codings += listElements(valueText, keepEmpty: false).map { $0.lowercased() }
            transferCodings = codings
        case 10 where asciiLowercaseEquals(name, "connection"):
            forEachListElement(value, keepEmpty: false) { token in
                connectionTokens.note(token)
            }
        case 7 where asciiLowercaseEquals(name, "upgrade"):
            hasUpgrade = true
        case 6 where asciiLowercaseEquals(name, "expect"):
            if expectsContinueField == nil { expectsContinueField = asciiLowercaseEquals(value, "100-continue") }
        default:
            break
        }
    }

    // MARK: Framing

    private mutating func finishHead() -> Event {
        if let contentLengthProblem { return failEvent(contentLengthProblem) }
        var framing = HTTPBodyFraming.none
        if let transferCodings {
            if minorVersion == 0 {
                return failEvent(.bad("Malformed request: Transfer-Encoding in an HTTP/1.0 request"))
            }
            if contentLength != nil {
                return failEvent(.bad("Malformed request: both Content-Length and Transfer-Encoding"))
            }
            guard transferCodings.last == "chunked" else {
                return failEvent(.bad("Malformed request: the final transfer coding must be chunked"))
            }
            if transferCodings.count > 1 {
                return failEvent(HTTPParseError(
                    status: 501, message: "Transfer coding \(transferCodings[0]) is not supported"))
            }
            framing = .chunked
        } else if let contentLength {
            if contentLength > limits.maxBodyBytes {
                let size = contentLength == Int.max ? "more than \(Int.max)" : "\(contentLength)"
                return failEvent(HTTPParseError(
                    status: 413, message: "Request body of \(size) bytes exceeds the limit of \(limits.maxBodyBytes) bytes"))
            }
            if contentLength > 0 { framing = .contentLength(contentLength) }
        }

        endsParsing = method == "CONNECT" || (hasUpgrade && connectionTokens.upgrade)
        let keepAlive: Bool
        if minorVersion == 1 {
            keepAlive = !connectionTokens.close
        } else {
            keepAlive = connectionTokens.keepAlive && !connectionTokens.close
        }
        let head = HTTPRequestHead(
            method: method, target: target, minorVersion: minorVersion, headers: headers, framing: framing,
            keepAlive: keepAlive && !endsParsing,
            expectsContinue: minorVersion == 1 && framing != .none && expectsContinueField == true,
            endsParsing: endsParsing)
        headers = []
        switch framing {
        case .none: state = .endPending
        case .contentLength(let length): state = .body(remaining: length)
        case .chunked: state = .chunkSize
        }
        return .head(head)
    }

    private mutating func parseChunkSize() -> Event? {
        var size = 0
        var index = 0
        while index < line.count, let digit = hexValue(line[index]) {
            let (shifted, overflow) = size.multipliedReportingOverflow(by: 16)
            if overflow { return failEvent(.bad("Malformed request: chunk size overflows")) }
            size = shifted | digit
            index += 1
        }
        if index == 0 { return failEvent(.bad("Malformed request: invalid chunk size")) }
        while index < line.count, line[index] == space || line[index] == tab { index += 1 }
        if index < line.count, line[index] != UInt8(ascii: ";") {
            return failEvent(.bad("Malformed request: invalid chunk size"))
        }
        if line[index...].contains(where: { ($0 < 0x20 && $0 != tab) || $0 == 0x7f }) {
            return failEvent(.bad("Malformed request: control character in a chunk extension"))
        }
        if size == 0 {
            sectionBytes = 0
            fieldCount = 0
            state = .trailers
            return nil
        }
        if size > limits.maxBodyBytes - bodyBytes {
            return failEvent(HTTPParseError(
                status: 413, message: "Request body exceeds the limit of \(limits.maxBodyBytes) bytes"))
        }
        bodyBytes += size
        state = .chunkData(remaining: size)
        return nil
    }
}

// MARK: Bytes

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")
private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")

private func findLF(_ input: UnsafeRawBufferPointer, from start: Int) -> Int? {
    findByte(lf, in: input, from: start)
}

/// The first `byte` in `buffer` at or after `start`, eight bytes at a time: every line of every
/// request is searched for its end, its colon and stray CRs.
func findByte(_ byte: UInt8, in buffer: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
    let n = buffer.count
    var j = start
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    let pattern = ones &* UInt64(byte)
    while j + 8 <= n {
        let word = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: j, as: UInt64.self)) ^ pattern
        // The lowest byte flagged is exactly the first zero byte of `word` (a match).
        let found = (word &- ones) & ~word & highs
        if found != 0 { return j + found.trailingZeroBitCount / 8 }
        j += 8
    }
    while j < n {
        if buffer[j] == byte { return j }
        j += 1
    }
    return nil
}

/// `findByte` over an array's bytes.
private func findByte(_ byte: UInt8, in bytes: [UInt8], from start: Int = 0) -> Int? {
    bytes.withUnsafeBytes { findByte(byte, in: $0, from: start) }
}

/// tchar (RFC 9110 5.6.2).
@inline(__always)
func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
         UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
         UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        true
    default:
        false
    }
}

@inline(__always)
private func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

private func hexValue(_ byte: UInt8) -> Int? {
    switch byte {
    case 48...57: Int(byte - 48)
    case 65...70: Int(byte - 55)
    case 97...102: Int(byte - 87)
    default: nil
    }
}

/// The `Connection` options the server acts on (RFC 9112 9.6), compared ASCII case-insensitively.
private struct ConnectionTokens {
    var close = false
    var keepAlive = false
    var upgrade = false

    mutating func note(_ token: ArraySlice<UInt8>) {
        switch token.count {
        case 5 where asciiLowercaseEquals(token, "close"): close = true
        case 10 where asciiLowercaseEquals(token, "keep-alive"): keepAlive = true
        case 7 where asciiLowercaseEquals(token, "upgrade"): upgrade = true
        default: break
        }
    }
}

/// Whether `bytes` are `lowercase` with ASCII letters in any case.
private func asciiLowercaseEquals(_ bytes: ArraySlice<UInt8>, _ lowercase: StaticString) -> Bool {
    guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
    let expected = lowercase.utf8Start
    var i = 0
    for byte in bytes {
        guard asciiLower(byte) == expected[i] else { return false }
        i += 1
    }
    return true
}

/// `listElements` over bytes: each element of a comma-separated list, trimmed of spaces and tabs.
private func forEachListElement(_ value: ArraySlice<UInt8>, keepEmpty: Bool, _ body: (ArraySlice<UInt8>) -> Void) {
    var start = value.startIndex
    while true {
        let comma = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
        var first = start, last = comma
        while first < last, value[first] == space || value[first] == tab { first += 1 }
        while last > first, value[last - 1] == space || value[last - 1] == tab { last -= 1 }
        if first < last || keepEmpty { body(value[first..<last]) }
        if comma == value.endIndex { return }
        start = comma + 1
    }
}

/// 1*DIGIT, saturating at `Int.max` (such a length is refused by the body limit, not trapped on).
private func parseDecimal(_ bytes: ArraySlice<UInt8>) -> Int? {
    guard !bytes.isEmpty else { return nil }
    var value = 0
    for byte in bytes {
        guard isDigit(byte) else { return nil }
        let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = shifted.addingReportingOverflow(Int(byte - 48))
        value = overflow1 || overflow2 ? Int.max : sum
    }
    return value
}

/// The elements of a comma-separated list (RFC 9110 5.6.1), trimmed of spaces and tabs.
func listElements(_ value: String, keepEmpty: Bool) -> [Substring] {
    value.split(separator: ",", omittingEmptySubsequences: false).compactMap { element in
        var part = element[...]
        while let first = part.first, first == " " || first == "\t" { part = part.dropFirst() }
        while let last = part.last, last == " " || last == "\t" { part = part.dropLast() }
        if part.isEmpty && !keepEmpty { return nil }
        return part
    }
}

private func quoted(_ name: String) -> String {
    "\"" + String(name.prefix(64)) + "\""
}
