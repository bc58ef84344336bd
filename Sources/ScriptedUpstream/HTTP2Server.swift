// HTTP2Server: HTTP/2 over cleartext TCP for clients that know in advance (RFC 9113 section 3.3:
// the client opens with the connection preface; no Upgrade, no TLS). The proxy reaches NVIDIA's
// API with HTTP/2, where concurrent transfers share a few connections; this lets loopback tests and
// benchmarks run the same way.
//
// nghttp2 does the framing, HPACK and flow control; this file feeds it socket bytes
// (`nghttp2_session_mem_recv`) and drains its output (`nghttp2_session_mem_send`) into the socket.
// Rules that keep it safe and cheap:
// - Nothing is handed to the application from inside an nghttp2 callback: finished requests and
//   broken-off streams are collected and handled once nghttp2 returned, so handlers and players
//   may call back into the session freely.
// - Output stops while the socket's write queue is above its high-water mark; frames not yet
//   produced stay inside nghttp2 (DATA is pulled from the streams only as it is sent), and the
//   socket's `onWritable` resumes it. Streams that buffered too much park and are woken when
//   their buffer drained, so per-connection memory stays bounded.
// - Writes from many streams of one connection in the same loop turn (paced streams firing
//   together) leave in one socket write: streams mark their connection, and one zero-delay timer
//   per server flushes the marked ones.

import CNGHTTP2
import EventLoop
import HTTPServer

/// Loop-confined. Started by ScriptedUpstream, which owns it until its shutdown completed.
final class HTTP2Server {
    let loop: EventLoop
    let handler: (HTTPRequest, HTTP2Stream) -> Void
    /// Advertised as SETTINGS_MAX_CONCURRENT_STREAMS: how many transfers a client puts on one connection.
    let maxConcurrentStreams: UInt32

    private var listener: TCPListener?
    private var connections: [UInt64: HTTP2Connection] = [:]
    private var lastConnectionID: UInt64 = 0
    private var lastRequestID: UInt64 = 0
    private(set) var connectionsAccepted = 0
    private(set) var lastAcceptError: UVError?

    /// One output buffer for the whole server: a flush copies nghttp2's frames here and hands
    /// them to the socket (which copies what it cannot send at once), so none is kept per connection.
    var outBuffer: [UInt8] = []
    private var flushTimer: Timer?
    private var flushArmed = false
    private var dirty: [HTTP2Connection] = []

    private var isShuttingDown = false
    private var isShutDown = false
    private var listenerClosed = false
    private var graceTimer: Timer?
    private var shutdownCompletion: (() -> Void)?

    let callbacks: OpaquePointer
    let options: OpaquePointer

    init(loop: EventLoop, maxConcurrentStreams: UInt32, handler: @escaping (HTTPRequest, HTTP2Stream) -> Void) {
        self.loop = loop
        self.maxConcurrentStreams = maxConcurrentStreams
        self.handler = handler
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        HTTP2Connection.install(callbacks: callbacks!)
        self.callbacks = callbacks!
        var options: OpaquePointer?
        nghttp2_option_new(&options)
        // Closed streams are kept only to serve priority hints, which this server does not honour;
        // with ten thousand short-lived streams they would be memory for nothing.
        nghttp2_option_set_no_closed_streams(options, 1)
        self.options = options!
    }

    deinit {
        nghttp2_session_callbacks_del(callbacks)
        nghttp2_option_del(options)
    }

    var openConnections: Int { connections.count }

    /// Binds and listens; returns the bound port.
    func start(host: String, port: Int, backlog: Int32) throws(UVError) -> Int {
        precondition(listener == nil, "HTTP2Server.start called twice")
        let (listener, boundPort) = try TCPListener.open(
            loop: loop, host: host, port: port, backlog: backlog,
            onAcceptError: { error in self.lastAcceptError = error },
            onConnection: { socket in self.accept(socket) })
        self.listener = listener
        return boundPort
    }

    private func accept(_ socket: TCPConnection) {
        if isShuttingDown {
            socket.close()
            return
        }
        connectionsAccepted += 1
        lastConnectionID += 1
        let id = lastConnectionID
        guard let connection = HTTP2Connection(id: id, server: self, socket: socket) else {
            socket.close()
            return
        }
        connections[id] = connection
        socket.onClose = { self.connectionClosed(id) }
        do {
            try connection.start()
        } catch {
            lastAcceptError = error
            connection.close()
        }
    }

    private func connectionClosed(_ id: UInt64) {
        connections[id] = nil
        checkShutdownDone()
    }

    func nextRequestID() -> UInt64 {
        lastRequestID += 1
        return lastRequestID
    }

    // MARK: Batched flushing

    /// Flushes `connection` on the next timer pass, together with every other marked one.
    func flushSoon(_ connection: HTTP2Connection) {
        // A timer made after shutdown would outlive the server and keep the loop open.
        guard !isShutDown else { return }
        dirty.append(connection)
        guard !flushArmed else { return }
        if flushTimer == nil { flushTimer = try? Timer(loop: loop) }
        do throws(UVError) {
            guard let flushTimer else { throw UVError(code: -1, operation: "uv_timer_init") }
            try flushTimer.start(after: .zero) { [unowned self] in self.flushDirty() }
            flushArmed = true
        } catch {
            // No timer: flush at once rather than never.
            flushDirty()
        }
    }

    private func flushDirty() {
        flushArmed = false
        let batch = dirty
        dirty.removeAll(keepingCapacity: true)
        for connection in batch { connection.flushFromTimer() }
    }

    // MARK: Shutdown

    /// Stops accepting and asks every client to go (GOAWAY); streams in progress get `graceMs` to
    /// finish, then their connections close and their players learn the client is gone.
    /// `completion` runs on the loop once everything is closed.
    func beginShutdown(graceMs: UInt64, completion: @escaping () -> Void) {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        shutdownCompletion = completion
        if let timer = try? Timer(loop: loop) {
            graceTimer = timer
            try? timer.start(after: .milliseconds(graceMs)) { [unowned self] in self.forceCloseAll() }
        }
        if let listener {
            listener.onClose = {
                self.listenerClosed = true
                self.checkShutdownDone()
            }
            listener.close()
            self.listener = nil
        } else {
            listenerClosed = true
            // Never complete synchronously: let the loop call back.
            try? graceTimer?.start(after: .zero) { [unowned self] in self.checkShutdownDone() }
        }
        for connection in Array(connections.values) { connection.goAway() }
    }

    private func forceCloseAll() {
        for connection in Array(connections.values) { connection.close() }
    }

    private func checkShutdownDone() {
        guard isShuttingDown, listenerClosed, connections.isEmpty, let completion = shutdownCompletion else { return }
        shutdownCompletion = nil
        isShutDown = true
        graceTimer?.close()
        graceTimer = nil
        flushTimer?.close()
        flushTimer = nil
        dirty.removeAll()
        completion()
    }
}

@available(*, unavailable)
extension HTTP2Server: Sendable {}

/// One accepted connection and its nghttp2 server session. Loop-confined.
final class HTTP2Connection {
    let id: UInt64
    unowned let server: HTTP2Server
    let socket: TCPConnection
    let remoteAddress: String
    private var session: OpaquePointer?
    private var streams: [Int32: HTTP2Stream] = [:]
    /// Streams whose request completed during the current nghttp2 call.
    private var completed: [HTTP2Stream] = []
    /// Streams broken off during the current nghttp2 call.
    private var brokenOff: [HTTP2Stream] = []
    /// Streams waiting for room (their own buffer, or the socket's queue).
    private var parked: [Int32: HTTP2Stream] = [:]
    private var flushing = false
    private var flushAgain = false
    private var flushQueued = false
    /// Ending politely: reading stopped, the socket shuts down once its queue drained, then closes.
    private var ending = false
    private(set) var isClosed = false

    /// Bytes nghttp2 may produce per socket write.
    private static let batchBytes = 64 * 1024

    init?(id: UInt64, server: HTTP2Server, socket: TCPConnection) {
        self.id = id
        self.server = server
        self.socket = socket
        self.remoteAddress = socket.peerAddress?.description ?? ""
        var session: OpaquePointer?
        let rc = nghttp2_session_server_new2(&session, server.callbacks, Unmanaged.passUnretained(self).toOpaque(),
                                             server.options)
        guard rc == 0, let session else { return nil }
        self.session = session
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    func start() throws(UVError) {
        guard let session else { return }
        var settings = [nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                                               value: server.maxConcurrentStreams)]
        _ = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        try? socket.setNoDelay(true)
        socket.onWritable = { [unowned self] in self.flush() }
        try socket.startReading(onData: { [unowned self] bytes in self.received(bytes) },
                                onEnd: { [unowned self] _ in self.close() })
        flush()
    }

    // MARK: Input

    private func received(_ bytes: UnsafeRawBufferPointer) {
        guard let session, !ending else { return }
        let rc = nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        deliverEvents()
        if rc < 0 {
            // Not HTTP/2, or a protocol error: nghttp2 has queued a GOAWAY when it could; send it and go.
            flush()
            end()
            return
        }
        flush()
    }

    /// Hands finished requests to the handler and tells players of broken-off streams, outside nghttp2.
    private func deliverEvents() {
        while !completed.isEmpty || !brokenOff.isEmpty {
            let gone = brokenOff
            brokenOff.removeAll()
            for stream in gone { stream.clientGone() }
            let ready = completed
            completed.removeAll()
            for stream in ready where stream.awaitsAnswer {
                let request = stream.takeRequest(requestID: server.nextRequestID(), connectionID: id,
                                                 remoteAddress: remoteAddress)
                server.handler(request, stream)
            }
        }
    }

    // MARK: Output

    /// False while the socket's queue is at its high-water mark: streams then park until it drains.
    var canTakeMore: Bool { !isClosed && socket.isWritable }

    func submitResponse(_ stream: HTTP2Stream, status: Int, headers: [(name: String, value: String)], withBody: Bool) {
        guard let session else { return }
        // HTTP/2 field names are lowercase, and connection-specific fields are forbidden (RFC 9113
        // section 8.2.2): a client treats either as a malformed response.
        var fields: [(name: String, value: String)] = [(":status", String(status))]
        for (name, value) in headers {
            let lower = name.lowercased()
            if Self.connectionSpecific.contains(lower) { continue }
            fields.append((lower, value))
        }
        var storage: [UInt8] = []
        for (name, value) in fields {
            storage.append(contentsOf: name.utf8)
            storage.append(contentsOf: value.utf8)
        }
        storage.withUnsafeMutableBufferPointer { bytes in
            var nva: [nghttp2_nv] = []
            nva.reserveCapacity(fields.count)
            var offset = 0
            for (name, value) in fields {
                let nameCount = name.utf8.count, valueCount = value.utf8.count
                nva.append(nghttp2_nv(name: bytes.baseAddress! + offset, value: bytes.baseAddress! + offset + nameCount,
                                      namelen: nameCount, valuelen: valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                offset += nameCount + valueCount
            }
            if withBody {
                var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: { session, streamID, buffer, length, flags, _, user in
                    guard let user, let buffer, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
                    return Unmanaged<HTTP2Connection>.fromOpaque(user).takeUnretainedValue()
                        .fill(streamID, buffer, length, flags)
                })
                _ = nghttp2_submit_response(session, stream.id, nva, nva.count, &provider)
            } else {
                _ = nghttp2_submit_response(session, stream.id, nva, nva.count, nil)
            }
        }
        markDirty()
    }

    private static let connectionSpecific: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
    ]

    private func fill(_ streamID: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ length: Int,
                      _ flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[streamID] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        return stream.fill(buffer, capacity: length, flags: flags)
    }

    /// The stream has more body (or its end): wake its data source if it was waiting.
    func bodyGrew(_ stream: HTTP2Stream) {
        guard let session else { return }
        if stream.isDeferred {
            stream.isDeferred = false
            _ = nghttp2_session_resume_data(session, stream.id)
        }
        markDirty()
    }

    /// Resets the stream with INTERNAL_ERROR, as a server failing mid-response does.
    func reset(_ stream: HTTP2Stream) -> Bool {
        guard let session else { return false }
        let rc = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id,
                                           NGHTTP2_INTERNAL_ERROR.rawValue)
        markDirty()
        return rc == 0
    }

    func park(_ stream: HTTP2Stream) {
        guard !stream.isParked else { return }
        stream.isParked = true
        parked[stream.id] = stream
    }

    private func markDirty() {
        if flushing {
            flushAgain = true
        } else if !flushQueued {
            flushQueued = true
            server.flushSoon(self)
        }
    }

    func flushFromTimer() {
        flushQueued = false
        flush()
    }

    /// Sends what nghttp2 has while the socket takes it, then wakes parked streams that have room,
    /// and repeats while they wrote more.
    private func flush() {
        guard !isClosed, session != nil else { return }
        if flushing {
            flushAgain = true
            return
        }
        flushing = true
        repeat {
            flushAgain = false
            let sent = sendFrames()
            deliverEvents()
            if !sent {
                flushing = false
                close()
                return
            }
            wakeParked()
        } while flushAgain && !isClosed
        flushing = false
        guard let session, !isClosed else { return }
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 { end() }
    }

    /// Returns false when the session or the socket failed.
    private func sendFrames() -> Bool {
        guard let session else { return false }
        while socket.isWritable {
            server.outBuffer.removeAll(keepingCapacity: true)
            while server.outBuffer.count < Self.batchBytes {
                var data: UnsafePointer<UInt8>?
                let count = nghttp2_session_mem_send(session, &data)
                if count < 0 { return false }
                guard count > 0, let data else { break }
                server.outBuffer.append(contentsOf: UnsafeBufferPointer(start: data, count: count))
            }
            if server.outBuffer.isEmpty { break }
            let full = server.outBuffer.count >= Self.batchBytes
            do {
                try socket.write(server.outBuffer)
            } catch {
                return false
            }
            if !full { break }
        }
        return true
    }

    private func wakeParked() {
        guard !parked.isEmpty, socket.isWritable else { return }
        var woken: [HTTP2Stream] = []
        for stream in parked.values where stream.pendingBytes <= HTTP2Stream.lowWaterBytes {
            woken.append(stream)
        }
        for stream in woken {
            parked[stream.id] = nil
            stream.isParked = false
        }
        for stream in woken { stream.becameWritable() }
    }

    // MARK: nghttp2 callbacks

    fileprivate func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) {
        guard frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
              frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return }
        let id = frame.pointee.hd.stream_id
        streams[id] = HTTP2Stream(id: id, connection: self)
    }

    fileprivate func header(_ frame: UnsafePointer<nghttp2_frame>, name: UnsafeRawBufferPointer,
                            value: UnsafeRawBufferPointer) {
        guard frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
              frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST,
              let stream = streams[frame.pointee.hd.stream_id] else { return }
        stream.addHeader(name: name, value: value)
    }

    fileprivate func dataChunk(_ streamID: Int32, _ bytes: UnsafeRawBufferPointer) {
        streams[streamID]?.addBody(bytes)
    }

    fileprivate func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) {
        let type = frame.pointee.hd.type
        guard type == UInt8(NGHTTP2_HEADERS.rawValue) || type == UInt8(NGHTTP2_DATA.rawValue),
              frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
              let stream = streams[frame.pointee.hd.stream_id] else { return }
        if stream.requestEnded() { completed.append(stream) }
    }

    fileprivate func streamClosed(_ streamID: Int32) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        if stream.isParked {
            stream.isParked = false
            parked[streamID] = nil
        }
        if stream.closed() { brokenOff.append(stream) }
    }

    static func install(callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            guard let frame, let user else { return 0 }
            connection(user).beginHeaders(frame)
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameCount, value, valueCount, _, user in
            guard let frame, let user else { return 0 }
            connection(user).header(frame, name: UnsafeRawBufferPointer(start: name, count: nameCount),
                                    value: UnsafeRawBufferPointer(start: value, count: valueCount))
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, count, user in
            guard let user else { return 0 }
            connection(user).dataChunk(streamID, UnsafeRawBufferPointer(start: data, count: count))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            guard let frame, let user else { return 0 }
            connection(user).frameReceived(frame)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, _, user in
            guard let user else { return 0 }
            connection(user).streamClosed(streamID)
            return 0
        }
    }

    // MARK: Ending

    /// Shutdown: no new streams (GOAWAY); the connection ends by itself once its streams did.
    func goAway() {
        guard let session, !isClosed else { return }
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                                  nghttp2_session_get_last_proc_stream_id(session), NGHTTP2_NO_ERROR.rawValue, nil, 0)
        flush()
    }

    /// Lets queued bytes (a GOAWAY, the last frames) reach the client, then closes.
    private func end() {
        guard !ending, !isClosed else { return }
        ending = true
        socket.stopReading()
        do {
            try socket.shutdown { [weak self] _ in self?.close() }
        } catch {
            close()
        }
    }

    /// Closes at once; streams still answering learn that their client is gone.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        socket.close()
        if let session { nghttp2_session_del(session) }
        session = nil
        let open = streams.values
        streams.removeAll()
        parked.removeAll()
        completed.removeAll()
        var gone = brokenOff
        brokenOff.removeAll()
        for stream in open where stream.closed() { gone.append(stream) }
        for stream in gone { stream.clientGone() }
    }
}

@inline(__always)
private func connection(_ user: UnsafeMutableRawPointer) -> HTTP2Connection {
    Unmanaged<HTTP2Connection>.fromOpaque(user).takeUnretainedValue()
}

@available(*, unavailable)
extension HTTP2Connection: Sendable {}
