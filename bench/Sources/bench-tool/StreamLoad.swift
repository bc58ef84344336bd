// stream-load: N streams over M concurrent connections, one request per connection
// (`Connection: close`, like a Claude Code stream that holds its connection for the whole answer),
// or with `--keep-alive 1` each connection reused for the next stream (the cost of a stream alone,
// without a connection's set-up and teardown).
// Per stream: time to first response byte, time to the first content marker, time to last byte,
// bytes, SSE events and errors. The run is bounded by the stream count and by --timeout-s.

import EventLoop
import Histogram
#if canImport(Glibc)
import Glibc
#endif

struct StreamLoadConfig {
    var host = "127.0.0.1"
    var port = 0
    var method = "POST"
    var path = "/v1/messages"
    var headers: [String] = []
    var body: [UInt8] = []
    var streams = 100
    var concurrency = 10
    /// Connects in flight at once: a burst of 10,000 SYNs overflows a listen backlog of 511.
    var connectBurst = 200
    var timeoutSeconds = 120.0
    var contentMarker = "lorem"
    var keepAlive = false

    init(flags: Flags) {
        host = flags.string("host", host)
        port = flags.int("port", 0)
        guard port > 0 else { fail("streams needs --port") }
        method = flags.string("method", method)
        path = flags.string("path", path)
        headers = flags.all("header")
        if let file = flags.optional("body-file") {
            body = readFileOrFail(file)
        } else if method == "POST" {
            body = Array(#"{"model":"claude-3-5-haiku-20241022","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Say something."}]}"#.utf8)
        }
        streams = flags.int("streams", streams)
        concurrency = max(1, flags.int("concurrency", concurrency))
        connectBurst = max(1, flags.int("connect-burst", connectBurst))
        timeoutSeconds = flags.double("timeout-s", timeoutSeconds)
        contentMarker = flags.string("marker", contentMarker)
        keepAlive = flags.int("keep-alive", 0) != 0
    }

    var requestBytes: [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n" + (keepAlive ? "" : "Connection: close\r\n")
        for header in headers { head += header + "\r\n" }
        if !body.isEmpty || method == "POST" {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + body
    }
}

/// Results of one run; latencies in microseconds.
struct StreamLoadTotals {
    // Up to 10 minutes at 3 significant digits.
    var firstByte = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    var firstContent = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    var lastByte = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    var completed = 0
    var errors: [String: Int] = [:]
    var bytes: UInt64 = 0
    var events: UInt64 = 0
    var markers: UInt64 = 0
    var peakActive = 0

    var errorCount: Int { errors.values.reduce(0, +) }

    mutating func fail(_ kind: String) { errors[kind, default: 0] += 1 }
}

/// Drives the run on one loop. Loop-confined.
final class StreamLoad {
    let loop: EventLoop
    let config: StreamLoadConfig
    let request: [UInt8]
    var totals = StreamLoadTotals()
    private var launched = 0
    private var connecting = 0
    private var active: Set<ObjectIdentifier> = []
    private var streams: [ObjectIdentifier: LoadStream] = [:]
    private var deadline: Timer?
    private(set) var startedAt: UInt64 = 0
    private(set) var endedAt: UInt64 = 0
    private var timedOut = false
    /// Connections whose last response is complete, for the next stream (`--keep-alive 1`).
    private var idle: [TCPConnection] = []

    init(loop: EventLoop, config: StreamLoadConfig) {
        self.loop = loop
        self.config = config
        self.request = config.requestBytes
    }

    func start() {
        startedAt = monotonicMicros()
        do {
            let timer = try Timer(loop: loop)
            try timer.start(after: .milliseconds(UInt64(config.timeoutSeconds * 1000))) { [unowned self] in self.timeOut() }
            deadline = timer
        } catch {
            fail("cannot arm the deadline: \(error)")
        }
        launchMore()
    }

    private func launchMore() {
        while !timedOut && launched < config.streams && streams.count < config.concurrency
            && connecting < config.connectBurst {
            launched += 1
            let stream = LoadStream(owner: self)
            streams[ObjectIdentifier(stream)] = stream
            connecting += 1
            stream.begin()
        }
        totals.peakActive = max(totals.peakActive, streams.count)
        if streams.isEmpty && (launched >= config.streams || timedOut) { finish() }
    }

    func takeIdleConnection() -> TCPConnection? { idle.popLast() }

    func keep(_ connection: TCPConnection) {
        connection.stopReading()
        idle.append(connection)
    }

    /// A stream took an idle connection instead of connecting (no `launchMore` from inside it).
    func reusing() { connecting -= 1 }

    func connected(_ stream: LoadStream) {
        connecting -= 1
        launchMore()
    }

    func ended(_ stream: LoadStream, error: String?) {
        if stream.isConnecting { connecting -= 1 }
        streams[ObjectIdentifier(stream)] = nil
        totals.bytes += UInt64(stream.bytes)
        totals.events += UInt64(stream.events.count)
        totals.markers += UInt64(stream.markers.count)
        if let error {
            totals.fail(error)
        } else {
            totals.completed += 1
            _ = totals.firstByte.record(stream.firstByteAt - stream.startedAt)
            _ = totals.firstContent.record((stream.firstContentAt ?? stream.lastByteAt) - stream.startedAt)
            _ = totals.lastByte.record(stream.lastByteAt - stream.startedAt)
        }
        launchMore()
    }

    private func timeOut() {
        timedOut = true
        for stream in Array(streams.values) { stream.abort("timeout") }
        launchMore()
    }

    private func finish() {
        guard endedAt == 0 else { return }
        endedAt = monotonicMicros()
        for connection in idle { connection.close() }
        idle.removeAll()
        deadline?.close()
        deadline = nil
    }

    var report: String {
        let seconds = Double(max(endedAt, startedAt + 1) - startedAt) / 1e6
        var line = JSONLine()
        line.add("streams", config.streams)
        line.add("concurrency", config.concurrency)
        line.add("completed", totals.completed)
        line.add("errors", totals.errorCount)
        line.add("error_kinds", totals.errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        line.add("not_started", config.streams - launched)
        line.add("peak_active", totals.peakActive)
        line.add("wall_s", seconds)
        line.add("streams_per_s", Double(totals.completed) / seconds)
        line.add("bytes", totals.bytes)
        line.add("events", totals.events)
        line.add("markers", totals.markers)
        for (name, histogram) in [("ttfb", totals.firstByte), ("ttfc", totals.firstContent), ("ttlb", totals.lastByte)] {
            let empty = histogram.totalCount == 0
            line.add("\(name)_p50_us", empty ? 0 : histogram.valueAtPercentile(50))
            line.add("\(name)_p90_us", empty ? 0 : histogram.valueAtPercentile(90))
            line.add("\(name)_p99_us", empty ? 0 : histogram.valueAtPercentile(99))
            line.add("\(name)_p999_us", empty ? 0 : histogram.valueAtPercentile(99.9))
            line.add("\(name)_max_us", empty ? 0 : histogram.max)
        }
        return line.text
    }
}

/// One request on its own connection. Loop-confined.
final class LoadStream {
    unowned let owner: StreamLoad
    private var connection: TCPConnection?
    private var reader = ResponseReader()
    var events = MarkerCounter("data:")
    var markers: MarkerCounter
    let startedAt = monotonicMicros()
    var firstByteAt: UInt64 = 0
    var firstContentAt: UInt64?
    var lastByteAt: UInt64 = 0
    var bytes = 0
    private(set) var isConnecting = true
    private var done = false

    init(owner: StreamLoad) {
        self.owner = owner
        self.markers = MarkerCounter(owner.config.contentMarker)
    }

    func begin() {
        if let reused = owner.takeIdleConnection() {
            isConnecting = false
            owner.reusing()
            start(on: reused)
            return
        }
        do {
            try TCPConnection.connect(loop: owner.loop, host: owner.config.host, port: owner.config.port) { [self] result in
                switch result {
                case .success(let connection): self.didConnect(connection)
                case .failure(let error): self.end(error: "connect \(error.name)")
                }
            }
        } catch {
            // Reported through the loop so `launchMore` is never re-entered from itself.
            deferEnd("connect \(error.name)")
        }
    }

    private func deferEnd(_ error: String) {
        guard let timer = try? Timer(loop: owner.loop) else { fail("cannot create a timer") }
        try? timer.start(after: .zero) { [self] in
            timer.close()
            self.end(error: error)
        }
    }

    private func didConnect(_ connection: TCPConnection) {
        if done {
            connection.close()
            return
        }
        isConnecting = false
        owner.connected(self)
        try? connection.setNoDelay(true)
        start(on: connection)
    }

    private func start(on connection: TCPConnection) {
        self.connection = connection
        do {
            try connection.startReading(onData: { [unowned self] bytes in self.didRead(bytes) },
                                        onEnd: { [unowned self] error in self.didEnd(error) })
            try connection.write(owner.request)
        } catch {
            end(error: "write \(error.name)")
        }
    }

    private func didRead(_ bytes: UnsafeRawBufferPointer) {
        let now = monotonicMicros()
        if firstByteAt == 0 { firstByteAt = now }
        bytes.count > 0 ? (lastByteAt = now) : ()
        self.bytes += bytes.count
        let outcome = reader.feed(bytes) { body in
            _ = events.scan(body)
            if markers.scan(body) && firstContentAt == nil { firstContentAt = now }
        }
        switch outcome {
        case .needMore: break
        case .complete:
            if reader.status == 200, owner.config.keepAlive, let connection {
                self.connection = nil
                owner.keep(connection)
            }
            end(error: reader.status == 200 ? nil : "status \(reader.status)")
        case .malformed(let why): end(error: why)
        }
    }

    private func didEnd(_ error: UVError?) {
        if let error {
            end(error: "read \(error.name)")
        } else if reader.finishAtEOF() {
            end(error: reader.status == 200 ? nil : "status \(reader.status)")
        } else {
            end(error: reader.headersDone ? "cut mid-body" : "closed before response")
        }
    }

    func abort(_ why: String) { end(error: why) }

    private func end(error: String?) {
        guard !done else { return }
        done = true
        connection?.close()
        connection = nil
        owner.ended(self, error: error)
        isConnecting = false
    }
}

func runStreamLoad(_ flags: Flags) {
    let config = StreamLoadConfig(flags: flags)
    let loop: EventLoop
    do { loop = try EventLoop() } catch { fail("\(error)") }
    let load = StreamLoad(loop: loop, config: config)
    load.start()
    loop.run()
    writeAll(load.report + "\n", to: 1)
    if flags.optional("quiet") == nil {
        let t = load.totals
        writeAll("streams: \(t.completed)/\(config.streams) completed, \(t.errorCount) errors \(t.errors)\n", to: 2)
    }
}
