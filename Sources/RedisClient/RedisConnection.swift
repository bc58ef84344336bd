import EventLoop
import RESP

/// Why a command got no reply.
public enum RedisFailure: Error, Sendable, Equatable {
    /// No connection: connecting failed, or the server is in its backoff after failing.
    case unreachable(String)
    /// The connection ended or the server sent bytes that are not RESP.
    case connectionLost(String)
    /// No reply within the deadline; the connection is dropped (later replies would be misread).
    case timedOut
}

/// One connection to a Redis server, made on first use and made again after a failure, no sooner
/// than a backoff (doubling up to `maxBackoff`). Replies come in the order commands were sent
/// (RESP has no request ids), each within `timeout` of its sending; a failure ends every command
/// waiting and drops the connection.
///
/// Loop-confined.
public final class RedisConnection {
    public typealias Reply = Result<RESPValue, RedisFailure>

    /// How the server is reached now.
    public enum State: Equatable, Sendable {
        case idle, connecting, connected
        /// Failed; no new attempt before the backoff ends.
        case down(RedisFailure)
    }

    public let host: String
    public let port: Int
    public let database: Int
    public let timeout: Duration
    public let minBackoff: Duration
    public let maxBackoff: Duration
    /// Hears every change of `state` (the owner logs them and reports them in `/health`).
    public var onStateChange: ((State) -> Void)?

    public private(set) var state = State.idle {
        didSet { if state != oldValue { onStateChange?(state) } }
    }

    private let loop: EventLoop
    private var connection: TCPConnection?
    private var parser = RESPParser()
    /// Sent (or waiting to be, while connecting), oldest first, with their deadlines.
    private var pending: [(bytes: [UInt8], deadline: LoopInstant, answer: (Reply) -> Void)] = []
    private var written = 0
    private var timer: Timer?
    private var backoff: Duration
    private var retryAt: LoopInstant?
    private var closed = false

    public init(loop: EventLoop, host: String, port: Int, database: Int = 0, timeout: Duration = .milliseconds(250),
                minBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(5)) {
        self.loop = loop
        self.host = host
        self.port = port
        self.database = database
        self.timeout = timeout
        self.minBackoff = minBackoff
        self.maxBackoff = maxBackoff
        backoff = minBackoff
    }

    /// Sends a command; `answer` runs on the loop with its reply (a Redis error reply is a
    /// `.error` value, not a failure), never inside this call.
    public func send(_ parts: [String], _ answer: @escaping (Reply) -> Void) {
        if closed {
            loop.onNextTurn { answer(.failure(.connectionLost("closed"))) }
            return
        }
        if case .down(let why) = state, let retryAt, loop.now < retryAt {
            loop.onNextTurn { answer(.failure(why)) }
            return
        }
        pending.append((RESP.command(parts), loop.now.advanced(by: timeout), answer))
        switch state {
        case .connected: flush()
        case .connecting: break
        case .idle, .down: connect()
        }
        armTimer()
    }

    public func close() {
        guard !closed else { return }
        closed = true
        fail(.connectionLost("closed"), down: false)
        timer?.close()
        timer = nil
    }

    private func connect() {
        state = .connecting
        do {
            try TCPConnection.connect(loop: loop, host: host, port: port) { [weak self] result in
                guard let self else {
                    if case .success(let c) = result { c.close() }
                    return
                }
                switch result {
                case .failure(let error):
                    self.fail(.unreachable("\(error)"), down: true)
                case .success(let c):
                    // Closed meanwhile, or an earlier attempt that outlived its deadline won the race.
                    if self.closed || self.connection != nil {
                        c.close()
                        return
                    }
                    self.connected(c)
                }
            }
        } catch {
            // Fail the waiting commands on a later turn, like every other answer.
            loop.onNextTurn { [weak self] in self?.fail(.unreachable("\(error)"), down: true) }
        }
    }

    private func connected(_ c: TCPConnection) {
        connection = c
        parser = RESPParser()
        written = 0
        try? c.setNoDelay(true)
        do {
            try c.startReading(onData: { [weak self] bytes in self?.received(bytes) },
                               onEnd: { [weak self] error in self?.fail(.connectionLost(error.map { "\($0)" } ?? "closed by the server"), down: true) })
        } catch {
            fail(.connectionLost("\(error)"), down: true)
            return
        }
        if database != 0 {
            // Answered first, before any command queued while connecting.
            pending.insert((RESP.command(["SELECT", String(database)]), loop.now.advanced(by: timeout), { _ in }), at: 0)
        }
        state = .connected
        backoff = minBackoff
        flush()
    }

    private func flush() {
        guard let c = connection else { return }
        while written < pending.count {
            do {
                try c.write(pending[written].bytes)
            } catch {
                fail(.connectionLost("\(error)"), down: true)
                return
            }
            written += 1
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        parser.append(bytes)
        while true {
            let reply: RESPValue?
            do {
                reply = try parser.next()
            } catch {
                fail(.connectionLost("protocol error: \(error.reason)"), down: true)
                return
            }
            guard let reply else { break }
            guard written > 0, !pending.isEmpty else {
                fail(.connectionLost("a reply nobody asked for"), down: true)
                return
            }
            let first = pending.removeFirst()
            written -= 1
            first.answer(.success(reply))
            if closed { return }
        }
        armTimer()
    }

    /// Ends every waiting command with `failure` and drops the connection; `down`: wait a backoff
    /// before the next attempt.
    private func fail(_ failure: RedisFailure, down: Bool) {
        connection?.close()
        connection = nil
        let answers = pending.map(\.answer)
        pending.removeAll()
        written = 0
        if down {
            retryAt = loop.now.advanced(by: backoff)
            backoff = min(backoff * 2, maxBackoff)
            state = .down(failure)
        } else {
            state = .idle
        }
        timer?.stop()
        for answer in answers { answer(.failure(failure)) }
    }

    private func armTimer() {
        guard !closed, let first = pending.first else {
            timer?.stop()
            return
        }
        if timer == nil { timer = try? Timer(loop: loop) }
        guard let timer else { return }
        // The deadline watch alone must not keep a loop running.
        timer.unref()
        try? timer.start(after: loop.now.duration(to: first.deadline)) { [weak self] in self?.deadlinePassed() }
    }

    private func deadlinePassed() {
        guard let first = pending.first else { return }
        if loop.now < first.deadline {
            armTimer()
            return
        }
        fail(.timedOut, down: true)
    }
}

@available(*, unavailable)
extension RedisConnection: Sendable {}
