import EventLoop
import RESP
import RedisClient
import TestSupport
import Testing

/// A loopback server that reads commands (arrays of bulk strings) and answers each with `reply`;
/// nil: no answer at all.
private final class FakeRedis {
    let listener: TCPListener
    let port: Int
    var commands: [[String]] = []
    var connections: [TCPConnection] = []

    init(loop: EventLoop, reply: @escaping ([String]) -> [UInt8]?) throws {
        var parser = RESPParser()
        var received: [[String]] = []
        var made: (TCPListener, port: Int)!
        var accepted: [TCPConnection] = []
        made = try TCPListener.open(loop: loop, host: "127.0.0.1", port: 0, backlog: 8) { c in
            accepted.append(c)
            try? c.startReading(onData: { bytes in
                parser.append(bytes)
                var answer: [UInt8] = []
                while case .array(let items?)? = try? parser.next() {
                    let command = items.compactMap(\.text)
                    received.append(command)
                    if let r = reply(command) { answer += r }
                }
                // Split in two writes, so the client sees a reply cut across reads.
                if !answer.isEmpty {
                    let half = answer.count / 2
                    try? c.write(Array(answer[..<half]))
                    try? c.write(Array(answer[half...]))
                }
            }, onEnd: { _ in c.close() })
        }
        listener = made.0
        port = made.port
        getCommands = { received }
        closeAll = { for c in accepted { c.close() } }
    }

    var getCommands: () -> [[String]] = { [] }
    var closeAll: () -> Void = {}

    func close() {
        closeAll()
        listener.close()
    }
}

@Suite struct RedisConnectionTests {
    @Test func repliesComeInOrderAndSelectGoesFirst() throws {
        var replies: [RedisConnection.Reply] = []
        var commands: [[String]] = []
        var states: [RedisConnection.State] = []
        try withLoop { loop in
            let server = try FakeRedis(loop: loop) { command in
                switch command.first {
                case "PING": Array("+PONG\r\n".utf8)
                case "ECHO": RESP.command([command[1]]).dropFirst(4).map { $0 }
                case "SELECT": Array("+OK\r\n".utf8)
                default: Array("-ERR unknown\r\n".utf8)
                }
            }
            let redis = RedisConnection(loop: loop, host: "127.0.0.1", port: server.port, database: 3)
            redis.onStateChange = { states.append($0) }
            redis.send(["PING"]) { replies.append($0) }
            redis.send(["ECHO", "hello"]) { replies.append($0) }
            redis.send(["NOPE"]) { r in
                replies.append(r)
                commands = server.getCommands()
                redis.close()
                server.close()
            }
        }
        #expect(replies == [.success(.simple("PONG")), .success(.bulk(Array("hello".utf8))), .success(.error("ERR unknown"))])
        #expect(commands == [["SELECT", "3"], ["PING"], ["ECHO", "hello"], ["NOPE"]])
        #expect(states == [.connecting, .connected, .idle])
    }

    @Test func noReplyWithinTheDeadlineFailsAndDropsTheConnection() throws {
        var reply: RedisConnection.Reply?
        var state: RedisConnection.State?
        try withLoop { loop in
            let server = try FakeRedis(loop: loop) { _ in nil }
            let redis = RedisConnection(loop: loop, host: "127.0.0.1", port: server.port, timeout: .milliseconds(50))
            redis.send(["PING"]) { r in
                reply = r
                state = redis.state
                redis.close()
                server.close()
            }
        }
        #expect(reply == .failure(.timedOut))
        #expect(state == .down(.timedOut))
    }

    /// Nobody listens: the command fails as unreachable, and the next one within the backoff fails
    /// at once without a new attempt.
    @Test func anUnreachableServerFailsAndBacksOff() throws {
        var first: RedisConnection.Reply?
        var second: RedisConnection.Reply?
        var statesAfter: [RedisConnection.State] = []
        try withLoop { loop in
            let (listener, port) = try TCPListener.open(loop: loop, host: "127.0.0.1", port: 0, backlog: 1) { $0.close() }
            listener.close()
            let redis = RedisConnection(loop: loop, host: "127.0.0.1", port: port, minBackoff: .seconds(30))
            var states: [RedisConnection.State] = []
            redis.onStateChange = { states.append($0) }
            redis.send(["PING"]) { r in
                first = r
                redis.send(["PING"]) { r in
                    second = r
                    statesAfter = states
                    redis.close()
                }
            }
        }
        guard case .failure(.unreachable)? = first else {
            Issue.record("expected unreachable, got \(String(describing: first))")
            return
        }
        #expect(second == first)
        #expect(statesAfter.count == 2, "one attempt only: \(statesAfter)")
    }

    /// The server drops the first connection: that command fails, and one sent after the backoff
    /// reconnects and is answered.
    @Test func aLostConnectionIsMadeAgainAfterTheBackoff() throws {
        var first: RedisConnection.Reply?
        var second: RedisConnection.Reply?
        var states: [RedisConnection.State] = []
        try withLoop { loop in
            var dropNext = true
            var server: FakeRedis!
            server = try FakeRedis(loop: loop) { _ in
                if dropNext {
                    dropNext = false
                    server.closeAll()
                    return nil
                }
                return Array("+PONG\r\n".utf8)
            }
            let redis = RedisConnection(loop: loop, host: "127.0.0.1", port: server.port, minBackoff: .milliseconds(20))
            redis.onStateChange = { states.append($0) }
            redis.send(["PING"]) { r in
                first = r
                let t = try! Timer(loop: loop)
                try! t.start(after: .milliseconds(40)) {
                    t.close()
                    redis.send(["PING"]) { r in
                        second = r
                        redis.close()
                        server.close()
                    }
                }
            }
        }
        guard case .failure(.connectionLost)? = first else {
            Issue.record("expected a lost connection, got \(String(describing: first))")
            return
        }
        #expect(second == .success(.simple("PONG")))
        #expect(states.filter { $0 == .connected }.count == 2, "\(states)")
    }

    @Test func garbageFromTheServerIsALostConnection() throws {
        var reply: RedisConnection.Reply?
        try withLoop { loop in
            let server = try FakeRedis(loop: loop) { _ in Array("?garbage\r\n".utf8) }
            let redis = RedisConnection(loop: loop, host: "127.0.0.1", port: server.port)
            redis.send(["PING"]) { r in
                reply = r
                redis.close()
                server.close()
            }
        }
        guard case .failure(.connectionLost)? = reply else {
            Issue.record("expected a lost connection, got \(String(describing: reply))")
            return
        }
    }
}
