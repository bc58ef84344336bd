// A bare HTTP/2 client on one TCP connection (nghttp2's client side), for what curl cannot show:
// many streams on a connection the test chooses, a stream reset while its neighbours go on,
// flow-control windows kept shut, a socket not read. Every stream's answer is kept whole.

import CNGHTTP2
import EventLoop

/// Loop-confined.
final class H2TestClient {
    struct Answer {
        var status: Int?
        var headers: [(name: String, value: String)] = []
        var body: [UInt8] = []
        /// Payload size of each DATA frame, in order.
        var frameSizes: [Int] = []
        /// The RST_STREAM / close error code once the stream closed (0: closed cleanly).
        var closeCode: UInt32?

        func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    }

    let connection: TCPConnection
    private var session: OpaquePointer?
    private(set) var answers: [Int32: Answer] = [:]
    private var requestBodies: [Int32: [UInt8]] = [:]
    /// Streams whose received bytes are not given back to the server's window.
    private var heldStreams: Set<Int32> = []
    private(set) var ended = false
    private(set) var goAwayReceived = false
    /// Runs after every event that changed an answer (and when the connection ends).
    var onUpdate: ((H2TestClient) -> Void)?

    /// Connects and sends the preface. `initialWindow` becomes SETTINGS_INITIAL_WINDOW_SIZE;
    /// with `manualWindow` the client only returns window for streams not held (see `hold`).
    static func connect(_ loop: EventLoop, port: Int, initialWindow: UInt32 = 65_535, connectionWindow: Int32 = 65_535,
                        manualWindow: Bool = false, _ done: @escaping (H2TestClient?) -> Void) {
        do {
            try TCPConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                guard case .success(let connection) = result else { done(nil); return }
                let client = H2TestClient(connection: connection, initialWindow: initialWindow,
                                          connectionWindow: connectionWindow, manualWindow: manualWindow)
                done(client)
            }
        } catch {
            done(nil)
        }
    }

    private init(connection: TCPConnection, initialWindow: UInt32, connectionWindow: Int32, manualWindow: Bool) {
        self.connection = connection
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        H2TestClient.install(callbacks!)
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        if manualWindow { nghttp2_option_set_no_auto_window_update(option, 1) }
        var session: OpaquePointer?
        nghttp2_session_client_new2(&session, callbacks, Unmanaged.passUnretained(self).toOpaque(), option)
        self.session = session
        let settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: initialWindow),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), settings, settings.count)
        if connectionWindow != 65_535 {
            nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, connectionWindow)
        }
        try? connection.startReading(onData: { [unowned self] bytes in
            guard let session = self.session else { return }
            if nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count) < 0 {
                self.end()
                return
            }
            self.flush()
            self.onUpdate?(self)
        }, onEnd: { [unowned self] _ in
            self.end()
        })
        flush()
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    /// Opens a stream; returns its id.
    @discardableResult
    func request(method: String = "POST", path: String = "/v1/chat/completions",
                 headers: [(String, String)] = [("content-type", "application/json")], body: [UInt8]) -> Int32 {
        guard let session else { return -1 }
        var fields: [(String, String)] = [(":method", method), (":scheme", "http"), (":authority", "127.0.0.1"), (":path", path)]
        fields += headers
        if !body.isEmpty { fields.append(("content-length", String(body.count))) }
        var storage: [UInt8] = []
        for (name, value) in fields { storage += Array(name.utf8) + Array(value.utf8) }
        let id: Int32 = storage.withUnsafeMutableBufferPointer { bytes in
            var nva: [nghttp2_nv] = []
            var offset = 0
            for (name, value) in fields {
                let n = name.utf8.count, v = value.utf8.count
                nva.append(nghttp2_nv(name: bytes.baseAddress! + offset, value: bytes.baseAddress! + offset + n,
                                      namelen: n, valuelen: v, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                offset += n + v
            }
            guard !body.isEmpty else { return nghttp2_submit_request(session, nil, nva, nva.count, nil, nil) }
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: { _, streamID, buffer, length, flags, _, user in
                Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue().fillBody(streamID, buffer!, length, flags!)
            })
            return nghttp2_submit_request(session, nil, nva, nva.count, &provider, nil)
        }
        if id > 0 {
            answers[id] = Answer()
            if !body.isEmpty { requestBodies[id] = body }
        }
        flush()
        return id
    }

    private func fillBody(_ streamID: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ length: Int,
                          _ flags: UnsafeMutablePointer<UInt32>) -> Int {
        let body = requestBodies[streamID] ?? []
        let count = min(length, body.count)
        body.withUnsafeBytes { UnsafeMutableRawPointer(buffer).copyMemory(from: $0.baseAddress!, byteCount: count) }
        requestBodies[streamID] = Array(body.dropFirst(count))
        if requestBodies[streamID]?.isEmpty ?? true {
            requestBodies[streamID] = nil
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        }
        return count
    }

    /// Resets a stream (CANCEL), as a client that gave up does.
    func reset(_ streamID: Int32) {
        guard let session else { return }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_CANCEL.rawValue)
        flush()
    }

    /// With `manualWindow`: bytes of this stream are not given back until `release`.
    func hold(_ streamID: Int32) { heldStreams.insert(streamID) }

    /// Gives back everything the stream received and opens its window wide.
    func release(_ streamID: Int32) {
        guard let session else { return }
        heldStreams.remove(streamID)
        let received = answers[streamID]?.body.count ?? 0
        nghttp2_session_consume(session, streamID, received)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, 1 << 30)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, 1 << 30)
        flush()
    }

    func close() {
        guard !ended else { return }
        end()
    }

    private func end() {
        guard !ended else { return }
        ended = true
        connection.close()
        if let session { nghttp2_session_del(session) }
        session = nil
        onUpdate?(self)
    }

    private func flush() {
        guard let session, !ended else { return }
        var out: [UInt8] = []
        while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            guard n > 0, let data else { break }
            out.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
        if !out.isEmpty { try? connection.write(out) }
    }

    // MARK: nghttp2 callbacks

    private static func install(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameCount, value, valueCount, _, user in
            let client = Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue()
            let id = frame!.pointee.hd.stream_id
            let name = String(decoding: UnsafeRawBufferPointer(start: name, count: nameCount), as: UTF8.self)
            let value = String(decoding: UnsafeRawBufferPointer(start: value, count: valueCount), as: UTF8.self)
            if name == ":status" {
                client.answers[id]?.status = Int(value)
            } else {
                client.answers[id]?.headers.append((name, value))
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { session, _, id, data, count, user in
            let client = Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue()
            client.answers[id]?.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: count))
            if !client.heldStreams.contains(id) { nghttp2_session_consume(session, id, count) }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            let client = Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue()
            let hd = frame!.pointee.hd
            if hd.type == UInt8(NGHTTP2_DATA.rawValue), hd.length > 0 {
                client.answers[hd.stream_id]?.frameSizes.append(hd.length)
            } else if hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) {
                client.goAwayReceived = true
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, code, user in
            let client = Unmanaged<H2TestClient>.fromOpaque(user!).takeUnretainedValue()
            client.answers[id]?.closeCode = code
            return 0
        }
    }
}
