import Testing
import RESP

private func parseAll(_ text: String, pieces: Int = 1) throws -> [RESPValue] {
    var parser = RESPParser()
    let bytes = Array(text.utf8)
    var out: [RESPValue] = []
    let step = max(1, (bytes.count + pieces - 1) / pieces)
    var i = 0
    while i < bytes.count {
        parser.append(bytes[i..<min(i + step, bytes.count)])
        i += step
        while let v = try parser.next() { out.append(v) }
    }
    return out
}

@Suite struct RESPTests {
    @Test func commandsAreArraysOfBulkStrings() {
        #expect(String(decoding: RESP.command(["SET", "k", "vé"]), as: UTF8.self) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nvé\r\n")
        #expect(String(decoding: RESP.command([]), as: UTF8.self) == "*0\r\n")
        #expect(String(decoding: RESP.command([""]), as: UTF8.self) == "*1\r\n$0\r\n\r\n")
    }

    @Test func everyReplyKind() throws {
        let text = "+OK\r\n-ERR no\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$-1\r\n$0\r\n\r\n*-1\r\n*0\r\n*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n"
        let expected: [RESPValue] = [
            .simple("OK"), .error("ERR no"), .integer(42), .integer(-7), .bulk(Array("hello".utf8)), .bulk(nil),
            .bulk([]), .array(nil), .array([]), .array([.integer(1), .array([.bulk([120])]), .bulk(nil)]),
        ]
        #expect(try parseAll(text) == expected)
        // The same bytes split at every size, down to one byte at a time.
        for pieces in [2, 3, 7, 16, text.utf8.count] {
            #expect(try parseAll(text, pieces: pieces) == expected, "in \(pieces) pieces")
        }
    }

    @Test func aBulkStringMayHoldCRLF() throws {
        #expect(try parseAll("$4\r\na\r\nb\r\n") == [.bulk(Array("a\r\nb".utf8))])
    }

    @Test func anIncompleteReplyWaits() throws {
        var p = RESPParser()
        p.append(Array("*2\r\n:1\r\n$3\r\nab".utf8))
        #expect(try p.next() == nil)
        p.append(Array("c\r\n".utf8))
        #expect(try p.next() == .array([.integer(1), .bulk(Array("abc".utf8))]))
        #expect(try p.next() == nil)
        #expect(p.pendingBytes == 0)
    }

    @Test(arguments: [
        "?what\r\n", ":12a\r\n", ":\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "*-5\r\n", "+ok\rx", "+ok\n",
        ":99999999999999999999\r\n", "$99999999999\r\n", "*99999999\r\n", String(repeating: "*1\r\n", count: 20) + ":1\r\n",
        "+" + String(repeating: "a", count: 5000),
    ])
    func garbageIsAnErrorNotACrash(_ text: String) {
        #expect(throws: RESPProtocolError.self) { _ = try parseAll(text) }
    }

    /// Random bytes never crash the parser: they are replies, an error, or not enough yet.
    @Test func randomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("+-:$*\r\n0123456789-abc".utf8)
        for _ in 0..<2000 {
            var p = RESPParser(maxBulkBytes: 64, maxArrayCount: 8, maxDepth: 3)
            p.append((0..<Int.random(in: 1...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            while (try? p.next()).flatMap({ $0 }) != nil {}
        }
    }
}
