#if canImport(Glibc)
import Glibc
#endif
import Foundation
import JSON
import Testing
@testable import Logging

/// Runs `body` with a logger writing into a pipe and returns what it wrote, line by line.
private func capture(minimum: Logger.Level, _ body: (Logger) -> Void) -> [String] {
    var fds: [Int32] = [0, 0]
    precondition(pipe(&fds) == 0)
    body(Logger(minimum: minimum, fileDescriptor: fds[1]))
    close(fds[1])
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    close(fds[0])
    #expect(bytes.last == UInt8(ascii: "\n"))
    return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
}

/// The line without its `ts` member, which holds the wall clock.
private func withoutTimestamp(_ line: String) throws -> (ts: String, rest: String) {
    let prefix = "{\"ts\":\""
    try #require(line.hasPrefix(prefix))
    let afterPrefix = line.dropFirst(prefix.count)
    let end = try #require(afterPrefix.firstIndex(of: "\""))
    return (String(afterPrefix[..<end]), "{" + afterPrefix[afterPrefix.index(end, offsetBy: 2)...])
}

@Suite struct LoggerTests {
    @Test func eachCallIsOneJSONLineWithTimeLevelMessageThenFields() throws {
        let lines = capture(minimum: .debug) { log in
            log.info("listening", [("port", .int(8082)), ("host", .string("127.0.0.1"))])
            log.error("upstream \"down\"")
        }
        try #require(lines.count == 2)
        let first = try withoutTimestamp(lines[0])
        #expect(first.rest == #"{"level":"info","msg":"listening","port":8082,"host":"127.0.0.1"}"#)
        #expect(first.ts.count == "2026-11-25T12:00:00.123Z".count && first.ts.hasSuffix("Z"))
        #expect(try withoutTimestamp(lines[1]).rest == #"{"level":"error","msg":"upstream \"down\""}"#)
        // Every line is valid JSON on its own.
        for line in lines { _ = try JSONValue.parse(line) }
    }

    @Test func levelsBelowTheMinimumAreDroppedWithoutBuildingTheirFields() throws {
        var built = 0
        func field() -> [(String, JSONValue)] {
            built += 1
            return [("n", .int(built))]
        }
        let lines = capture(minimum: .warning) { log in
            log.debug("d", field())
            log.info("i", field())
            log.warning("w", field())
            log.error("e", field())
        }
        #expect(built == 2)
        #expect(try lines.map { try withoutTimestamp($0).rest } == [
            #"{"level":"warning","msg":"w","n":1}"#,
            #"{"level":"error","msg":"e","n":2}"#,
        ])
    }

    @Test func silentLoggerWritesNothing() {
        let log = Logger.silent
        #expect(!log.isEnabled(.error))
        #expect(!log.isEnabled(.debug))
        log.error("never")
    }

    @Test func levelNamesOfLogLevel() {
        #expect(Logger.Level(name: "DEBUG") == .debug)
        #expect(Logger.Level(name: "info") == .info)
        #expect(Logger.Level(name: "warn") == .warning)
        #expect(Logger.Level(name: "Warning") == .warning)
        #expect(Logger.Level(name: "error") == .error)
        #expect(Logger.Level(name: "critical") == nil)
        #expect(Logger.Level.debug < .info && Logger.Level.warning < .error)
    }

    @Test func timestampIsUTCWithMilliseconds() {
        #expect(Logger.timestamp(secondsSinceEpoch: 0, nanoseconds: 5_999_999) == "1970-01-01T00:00:00.005Z")
        #expect(Logger.timestamp(secondsSinceEpoch: 1_795_608_000, nanoseconds: 123_000_000) == "2026-11-25T12:00:00.123Z")
        #expect(Logger.timestamp(secondsSinceEpoch: 951_868_799, nanoseconds: 999_999_999) == "2000-02-29T23:59:59.999Z")
    }
}

/// Every event loop logs from its own thread. Lines longer than a pipe holds reach the kernel in
/// several writes; another thread's line must never land between them.
@Test func linesFromSeveralThreadsNeverInterleave() throws {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    let logger = Logger(minimum: .info, fileDescriptor: fds[1])
    final class Collected: @unchecked Sendable {
        // Written only by the reading thread before it signals `done`, read after that.
        var bytes: [UInt8] = []
        let done = DispatchSemaphore(value: 0)
    }
    let collected = Collected()
    let readFD = fds[0]
    Thread {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            collected.bytes += chunk[0..<n]
        }
        collected.done.signal()
    }.start()
    let threads = 4, linesEach = 8
    let long = String(repeating: "x", count: 200_000)
    let written = DispatchSemaphore(value: 0)
    for index in 0..<threads {
        Thread {
            for line in 0..<linesEach {
                logger.info("long", [("thread", .int(index)), ("line", .int(line)), ("text", .string(long))])
            }
            written.signal()
        }.start()
    }
    for _ in 0..<threads { written.wait() }
    close(fds[1])
    collected.done.wait()
    close(fds[0])
    let lines = collected.bytes.split(separator: UInt8(ascii: "\n"))
    #expect(lines.count == threads * linesEach)
    var seen: Set<String> = []
    for line in lines {
        let object = try JSONValue.parse(String(decoding: line, as: UTF8.self))
        #expect(object["text"]?.stringValue?.utf8.count == long.utf8.count)
        seen.insert("\(object["thread"]?.intValue ?? -1)/\(object["line"]?.intValue ?? -1)")
    }
    #expect(seen.count == threads * linesEach)
}
