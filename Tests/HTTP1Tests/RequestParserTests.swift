import HTTP1
import Testing

/// What a parse reported, body ranges reduced to their bytes.
enum Step: Equatable, CustomStringConvertible {
    case head(String)
    case body(String)
    case end
    case error(Int)

    var description: String {
        switch self {
        case .head(let text): "head(\(text))"
        case .body(let text): "body(\(text))"
        case .end: "end"
        case .error(let status): "error(\(status))"
        }
    }
}

func testLimits() -> HTTPRequestLimits {
    HTTPRequestLimits(requestLine: 100, header: 300, headerCount: 8, body: 1000, chunkLine: 32)
}

/// Parses `bytes` in pieces of `piece` bytes (nil: at once); consecutive body bytes are merged.
func steps(_ bytes: [UInt8], piece: Int? = nil, limits: HTTPRequestLimits = testLimits(),
           heads: ((HTTPRequestHead) -> Void)? = nil, lastError: ((HTTPParseError) -> Void)? = nil) -> [Step] {
    var parser = HTTPRequestParser(limits: limits)
    var result: [Step] = []
    let size = max(1, piece ?? bytes.count)
    var start = 0
    outer: while start < bytes.count {
        let chunk = Array(bytes[start..<min(bytes.count, start + size)])
        start += chunk.count
        var offset = 0
        while true {
            let (event, consumed) = chunk.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            let base = offset
            offset += consumed
            switch event {
            case .needMore:
                #expect(offset == chunk.count)
                continue outer
            case .head(let head):
                heads?(head)
                result.append(.head("\(head.method) \(head.target) 1.\(head.minorVersion)"))
            case .body(let range):
                let text = String(decoding: chunk[(base + range.lowerBound)..<(base + range.upperBound)], as: UTF8.self)
                if case .body(let before)? = result.last {
                    result[result.count - 1] = .body(before + text)
                } else {
                    result.append(.body(text))
                }
            case .end:
                result.append(.end)
            case .error(let error):
                lastError?(error)
                result.append(.error(error.status))
                break outer
            }
        }
    }
    return result
}

func steps(_ text: String, piece: Int? = nil, limits: HTTPRequestLimits = testLimits()) -> [Step] {
    steps(Array(text.utf8), piece: piece, limits: limits)
}

/// The refusal of `text`: status and message.
func refusalOf(_ text: String, limits: HTTPRequestLimits = testLimits()) -> HTTPParseError? {
    var found: HTTPParseError?
    _ = steps(Array(text.utf8), limits: limits, lastError: { found = $0 })
    return found
}

func head(_ text: String) -> HTTPRequestHead? {
    var found: HTTPRequestHead?
    _ = steps(Array(text.utf8), heads: { found = $0 })
    return found
}

@Suite struct RequestParserTests {
    @Test func simpleRequest() {
        #expect(steps("GET /health HTTP/1.1\r\nHost: x\r\n\r\n") == [.head("GET /health 1.1"), .end])
        let parsed = head("GET /a?b=1 HTTP/1.1\r\nHost:  x  \r\nX-Empty:\r\n\r\n")
        #expect(parsed?.headers.map { "\($0.name)=\($0.value)" } == ["Host=x", "X-Empty="])
        #expect(parsed?.framing == HTTPBodyFraming.none)
    }

    @Test func contentLengthBody() {
        #expect(steps("POST /m HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
            == [.head("POST /m 1.1"), .body("hello"), .end])
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() {
        let text = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6 \r\n world\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n"
        #expect(steps(text) == [.head("POST /c 1.1"), .body("hello world0123456789"), .end])
        #expect(head(text)?.framing == .chunked)
    }

    static let pipelined =
        "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        + "\r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        + "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
        + "GET /d HTTP/1.1\n\n"
    static let pipelinedSteps: [Step] = [
        .head("POST /a 1.1"), .body("abc"), .end, .head("GET /b 1.0"), .end,
        .head("POST /c 1.1"), .body("xy"), .end, .head("GET /d 1.1"), .end,
    ]

    @Test func pipelinedRequestsComeOneAfterAnother() {
        #expect(steps(Self.pipelined) == Self.pipelinedSteps)
    }

    @Test func everySplitPointGivesTheSameEvents() {
        let bytes = Array(Self.pipelined.utf8)
        for split in 0...bytes.count {
            var parser = HTTPRequestParser(limits: testLimits())
            var result: [Step] = []
            for part in [Array(bytes[..<split]), Array(bytes[split...])] {
                var offset = 0
                parse: while true {
                    let (event, consumed) = part.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                    let base = offset
                    offset += consumed
                    switch event {
                    case .needMore: break parse
                    case .head(let h): result.append(.head("\(h.method) \(h.target) 1.\(h.minorVersion)"))
                    case .body(let r):
                        let text = String(decoding: part[(base + r.lowerBound)..<(base + r.upperBound)], as: UTF8.self)
                        if case .body(let before)? = result.last { result[result.count - 1] = .body(before + text) } else { result.append(.body(text)) }
                    case .end: result.append(.end)
                    case .error(let e): result.append(.error(e.status)); break parse
                    }
                }
            }
            #expect(result == Self.pipelinedSteps, "split at \(split)")
        }
    }

    @Test func byteByByteAndOddPieces() {
        for piece in [1, 2, 3, 7, 64] {
            #expect(steps(Self.pipelined, piece: piece) == Self.pipelinedSteps, "pieces of \(piece)")
        }
    }

    @Test func everyRefusalIsTheSameWhateverTheSplit() {
        for (text, _, _) in Self.refusals {
            let whole = steps(text)
            for piece in [1, 2, 5] {
                #expect(steps(text, piece: piece) == whole, "\(text.debugDescription) in pieces of \(piece)")
            }
        }
    }

    @Test func blankLinesBeforeARequestAreSkipped() {
        #expect(steps("\r\n\r\n\nGET / HTTP/1.1\r\n\r\n") == [.head("GET / 1.1"), .end])
    }

    @Test func bareLFEndsLinesButABareCRIsRefused() {
        #expect(steps("GET / HTTP/1.1\nHost: x\n\n") == [.head("GET / 1.1"), .end])
        #expect(refusalOf("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n")?.status == 400)
        #expect(refusalOf("GET / HTTP/1.1\rX: a\r\n\r\n")?.status == 400)
    }

    /// (request, status, words of the message)
    static let refusals: [(String, Int, String)] = [
        ("GET /health\r\n\r\n", 400, "no HTTP version"),
        ("GET\r\n\r\n", 400, "no target"),
        ("GET /health HTTP/9.9\r\n\r\n", 505, "HTTP/9.9 is not supported"),
        ("GET /health HTTP/2.0\r\n\r\n", 505, "HTTP/2.0"),
        ("GET /health HTTP/1.2\r\n\r\n", 505, "HTTP/1.2"),
        ("GET /health HTXP/1.1\r\n\r\n", 400, "invalid HTTP version"),
        ("GET /health http/1.1\r\n\r\n", 400, "invalid HTTP version"),
        ("GET /health HTTP/1.10\r\n\r\n", 400, "invalid HTTP version"),
        ("GET /health HTTP/1.1 \r\n\r\n", 400, "invalid HTTP version"),
        ("GET  /health HTTP/1.1\r\n\r\n", 400, "invalid request target"),
        ("GET /a b HTTP/1.1\r\n\r\n", 400, "invalid HTTP version"),
        ("G(T / HTTP/1.1\r\n\r\n", 400, "invalid method"),
        (" GET / HTTP/1.1\r\n\r\n", 400, "invalid method"),
        ("GET /\u{7f} HTTP/1.1\r\n\r\n", 400, "invalid request target"),
        ("GET /é HTTP/1.1\r\n\r\n", 400, "invalid request target"),
        ("GET / HTTP/1.1\r\nX-Space : v\r\n\r\n", 400, "whitespace before the colon in header \"X-Space \""),
        ("GET / HTTP/1.1\r\nX-Tab\t: v\r\n\r\n", 400, "whitespace before the colon"),
        ("GET / HTTP/1.1\r\nX-Fold: a\r\n b\r\n\r\n", 400, "obsolete line folding"),
        ("GET / HTTP/1.1\r\n\tX: a\r\n\r\n", 400, "obsolete line folding"),
        ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "without a colon"),
        ("GET / HTTP/1.1\r\n: v\r\n\r\n", 400, "empty header name"),
        ("GET / HTTP/1.1\r\nX(y): v\r\n\r\n", 400, "invalid character in header name"),
        ("GET / HTTP/1.1\r\nX: a\u{0}b\r\n\r\n", 400, "control character"),
        ("GET / HTTP/1.1\r\nX: a\u{7f}\r\n\r\n", 400, "control character"),
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, "both"),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "final transfer coding must be chunked"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, "final transfer coding"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400, "final transfer coding"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "gzip is not supported"),
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "conflicting Content-Length"),
        ("POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd", 400, "conflicting Content-Length"),
        ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "not a number"),
        ("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n", 400, "not a number"),
        ("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, "not a number"),
        ("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "not a number"),
        ("POST / HTTP/1.1\r\nContent-Length: 3,\r\n\r\n", 400, "not a number"),
        ("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413, "1001 bytes exceeds the limit of 1000"),
        ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999999\r\n\r\n", 413, "exceeds the limit"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n", 400, "chunk size overflows"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3E9\r\n", 413, "exceeds the limit of 1000"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid chunk size"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400, "invalid chunk size"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\n", 400, "invalid chunk size"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", 400, "invalid chunk size"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400, "not followed by CRLF"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;" + String(repeating: "e", count: 40) + "\r\n", 400, "chunk size line longer"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;\u{1}\r\n", 400, "control character in a chunk extension"),
        ("GET /" + String(repeating: "a", count: 120) + " HTTP/1.1\r\n\r\n", 414, "Request line longer than 100 bytes"),
        ("GET / HTTP/1.1\r\nX: " + String(repeating: "v", count: 400) + "\r\n\r\n", 431, "too large"),
        ("GET / HTTP/1.1\r\n" + String(repeating: "A: b\r\n", count: 9) + "\r\n", 431, "More than 8 header fields"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + String(repeating: "t", count: 400) + "\r\n\r\n", 431, "too large"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT : t\r\n\r\n", 400, "whitespace before the colon"),
    ]

    @Test(arguments: Self.refusals.indices) func eachRefusal(_ index: Int) {
        let (text, status, words) = Self.refusals[index]
        let error = refusalOf(text)
        #expect(error?.status == status, "\(text.debugDescription)")
        #expect(error?.message.contains(words) == true, "\(String(describing: error)) for \(text.debugDescription)")
    }

    @Test func chunksAccumulatingOverTheLimitAreRefused() {
        let chunk = "1F4\r\n" + String(repeating: "c", count: 500) + "\r\n"
        let result = steps("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk + chunk)
        #expect(result.last == .error(413))
        #expect(result.first == .head("POST / 1.1"))
    }

    @Test func aBodyExactlyAtTheLimitIsAccepted() {
        let body = String(repeating: "b", count: 1000)
        #expect(steps("POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + body) == [.head("POST / 1.1"), .body(body), .end])
    }

    @Test func aHeaderLineThatNeverEndsIsRefusedWithoutBufferingIt() {
        var parser = HTTPRequestParser(limits: testLimits())
        let start = Array("GET / HTTP/1.1\r\nX: ".utf8)
        _ = start.withUnsafeBytes { parser.parse($0) }
        var status = 0
        var fed = start.count
        let filler = [UInt8](repeating: 0x76, count: 50)
        while status == 0 && fed < 10_000 {
            let (event, _) = filler.withUnsafeBytes { parser.parse($0) }
            fed += filler.count
            if case .error(let error) = event { status = error.status }
        }
        #expect(status == 431)
        #expect(fed <= 300 + filler.count)
    }

    @Test func agreeingContentLengthsAreAccepted() {
        #expect(steps("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok") == [.head("POST / 1.1"), .body("ok"), .end])
        #expect(steps("POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nok") == [.head("POST / 1.1"), .body("ok"), .end])
        #expect(steps("POST / HTTP/1.1\r\nContent-Length: 002\r\n\r\nok") == [.head("POST / 1.1"), .body("ok"), .end])
        #expect(steps("POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n")
            == [.head("POST / 1.1"), .end, .head("GET / 1.1"), .end])
    }

    @Test func transferCodingNamesIgnoreCase() {
        #expect(steps("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n") == [.head("POST / 1.1"), .body("z"), .end])
    }

    @Test func errorsAreSticky() {
        var parser = HTTPRequestParser(limits: testLimits())
        let bad = Array("GET / HTTP/9.9\r\n\r\nGET / HTTP/1.1\r\n\r\n".utf8)
        let first = bad.withUnsafeBytes { parser.parse($0) }
        guard case .error(let error) = first.event else { Issue.record("no error"); return }
        #expect(error.status == 505)
        let again = bad.withUnsafeBytes { parser.parse($0) }
        guard case .error(let same) = again.event else { Issue.record("error not kept"); return }
        #expect(same == error)
    }

    @Test func keepAliveFollowsVersionAndConnection() {
        #expect(head("GET / HTTP/1.1\r\n\r\n")?.keepAlive == true)
        #expect(head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")?.keepAlive == false)
        #expect(head("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n")?.keepAlive == false)
        #expect(head("GET / HTTP/1.0\r\n\r\n")?.keepAlive == false)
        #expect(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")?.keepAlive == true)
        // Options are whole list elements: a token that only contains one is another option.
        #expect(head("GET / HTTP/1.1\r\nConnection: closed, not-close\r\n\r\n")?.keepAlive == true)
        #expect(head("GET / HTTP/1.0\r\nConnection: ,\t KEEP-ALIVE\t,\r\n\r\n")?.keepAlive == true)
        #expect(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")?.keepAlive == false)
        // An upgrade needs both the Upgrade field and the option, in any case and list position.
        #expect(head("GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: HTTP2-Settings, UpGrade\r\n\r\n")?.endsParsing == true)
    }

    @Test func framingFieldsAreReadAsListsOfAnyCase() {
        #expect(head("POST / HTTP/1.1\r\ncOnTeNt-LeNgTh: 2, 2\r\ncontent-length: 2\r\n\r\n")?.framing == .contentLength(2))
        #expect(head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")?.framing == HTTPBodyFraming.none)
        #expect(head("POST / HTTP/1.1\r\nTRANSFER-ENCODING: Chunked\r\n\r\n")?.framing == .chunked)
        // Only the first Expect field counts.
        #expect(head("POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: x\r\nExpect: 100-continue\r\n\r\n")?.expectsContinue == false)
        // A name that merely starts like a framing field is an ordinary header.
        #expect(head("POST / HTTP/1.1\r\nContent-Lengths: x\r\nConnections: close\r\n\r\n")?.keepAlive == true)
    }

    @Test func expectContinueOnlyForHTTP11WithABody() {
        #expect(head("POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-Continue\r\n\r\n")?.expectsContinue == true)
        #expect(head("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n")?.expectsContinue == false)
        #expect(head("POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")?.expectsContinue == false)
    }

    @Test func bytesAfterAnUpgradeAreIgnored() {
        let text = "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\u{1}\u{2}GET / HTTP/1.1\r\n\r\n"
        #expect(steps(text) == [.head("GET /ws 1.1"), .end])
        #expect(head(text)?.keepAlive == false)
        #expect(head(text)?.endsParsing == true)
        // An Upgrade header the Connection header does not name is only a header.
        #expect(head("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")?.endsParsing == false)
        #expect(head("CONNECT example.com:443 HTTP/1.1\r\n\r\n")?.endsParsing == true)
    }

    @Test func insideMessageAndBodyFlags() {
        var parser = HTTPRequestParser(limits: testLimits())
        #expect(!parser.isInsideMessage)
        _ = Array("\r\n".utf8).withUnsafeBytes { parser.parse($0) }
        #expect(!parser.isInsideMessage)
        _ = Array("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n".utf8).withUnsafeBytes { parser.parse($0) }
        #expect(parser.isInsideMessage)
        #expect(parser.isReadingBody)
    }
}
