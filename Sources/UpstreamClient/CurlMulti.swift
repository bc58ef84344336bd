import CCurl
import CLibUV

/// An HTTP request to send upstream.
public struct UpstreamRequest: Sendable {
    public var url: String
    public var method: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var connectTimeoutMs: Int
    /// The whole transfer, connect to last byte (the reference's client uses 300 s).
    public var totalTimeoutMs: Int
    /// No byte received for this long while not paused aborts the transfer.
    public var stallTimeoutMs: Int
    public var verifyTLS: Bool
    public var httpVersion: UpstreamHTTPVersion
    /// PEM file of trusted certificates; nil: the system's.
    public var caFile: String?

    public init(
        url: String, method: String = "POST", headers: [(name: String, value: String)] = [],
        body: [UInt8] = [], connectTimeoutMs: Int = 10_000, totalTimeoutMs: Int = 300_000,
        stallTimeoutMs: Int = 120_000, verifyTLS: Bool = true, httpVersion: UpstreamHTTPVersion = .auto,
        caFile: String? = nil
    ) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.connectTimeoutMs = connectTimeoutMs
        self.totalTimeoutMs = totalTimeoutMs
        self.stallTimeoutMs = stallTimeoutMs
        self.verifyTLS = verifyTLS
        self.httpVersion = httpVersion
        self.caFile = caFile
    }

    /// Whether the transfer may share a connection with others (HTTP/2).
    var mayMultiplex: Bool {
        httpVersion == .http2 || (httpVersion == .auto && url.lowercased().hasPrefix("https:"))
    }
}

/// The libcurl the process runs with, as major, minor and patch numbers.
public var libcurlVersion: (major: Int, minor: Int, patch: Int) {
    guard let info = curl_version_info(CURLVERSION_FIRST) else { return (0, 0, 0) }
    let n = Int(info.pointee.version_num)
    return (n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF)
}

/// Which HTTP the transfer speaks. With HTTP/2, concurrent transfers to one host share a
/// connection (curl multiplexes them), so ten thousand streams do not need ten thousand sockets.
public enum UpstreamHTTPVersion: String, Sendable {
    /// HTTP/2 when TLS negotiates it (ALPN), HTTP/1.1 otherwise.
    case auto
    case http1_1 = "1.1"
    /// HTTP/2 on any URL; over plain HTTP the server must speak it without an upgrade.
    case http2 = "2"
}

/// Why a transfer ended without a complete response.
public enum UpstreamFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Name resolution or TCP/TLS connect failed, or the connect timeout passed.
    case connect(String)
    /// The total timeout passed.
    case timeout(String)
    /// No byte arrived for the stall timeout.
    case stalled(milliseconds: Int)
    /// The connection broke or the response was malformed.
    case transport(String)

    public var description: String {
        switch self {
        case .connect(let m): return "could not connect upstream: \(m)"
        case .timeout(let m): return "upstream timed out: \(m)"
        case .stalled(let ms): return "upstream sent nothing for \(ms) ms"
        case .transport(let m): return "upstream connection failed: \(m)"
        }
    }
}

/// Receives one transfer's events, always on the loop thread and never from inside
/// a call the delegate made into the transfer.
public protocol UpstreamTransferDelegate: AnyObject {
    /// The final (non-1xx) status line and headers. Header names are lowercased.
    func transferDidReceiveHead(_ transfer: UpstreamTransfer, status: Int, headers: [(name: String, value: String)])
    /// Body bytes. The buffer is valid only during the call. To stop the flow (a slow
    /// client), call `transfer.pause()`; bytes already delivered are the delegate's.
    func transferDidReceiveBody(_ transfer: UpstreamTransfer, _ bytes: UnsafeRawBufferPointer)
    /// curl has handed over everything it read in one go: one or more `transferDidReceiveBody`
    /// calls came before this. curl calls back once per chunk of a chunked body, and an upstream
    /// that sends one SSE event per chunk would otherwise cost one client write per event;
    /// writing here costs one per read. Called outside curl, so the transfer may be paused or
    /// cancelled from here.
    func transferDidEndDelivery(_ transfer: UpstreamTransfer)
    /// The transfer ended: `failure` is nil when the whole response arrived. Not
    /// called after `cancel()`.
    func transferDidComplete(_ transfer: UpstreamTransfer, failure: UpstreamFailure?)
}

extension UpstreamTransferDelegate {
    public func transferDidEndDelivery(_ transfer: UpstreamTransfer) {}
}

/// One libcurl multi handle driven by a libuv loop: one `uv_poll_t` per socket that
/// curl asks us to watch and one `uv_timer_t` for curl's timeouts (the pattern of
/// curl's `docs/examples/multi-uv.c`). Connections are cached by the multi handle
/// and reused across transfers.
///
/// All methods are called from within the loop's thread.
public final class CurlMulti {
    private let loop: UnsafeMutablePointer<uv_loop_t>
    private var multi: UnsafeMutableRawPointer?
    private let timer: UnsafeMutablePointer<uv_timer_t>
    /// Runs deferred resumes: `curl_easy_pause` may deliver held data synchronously,
    /// so it is never called from inside a delegate's call.
    private let deferred: UnsafeMutablePointer<uv_timer_t>
    private var watches: [curl_socket_t: SocketWatch] = [:]
    private var transfers: [ObjectIdentifier: UpstreamTransfer] = [:]
    /// Work for the next loop turn (resumes, failures to start).
    private var deferredWork: [() -> Void] = []
    private var closed = false
    /// True while `curl_multi_socket_action` runs: curl refuses to be re-entered from its own
    /// callbacks, so `runDueWork` leaves the work to the timer then.
    private var acting = false
    private var connectionsCapped = false
    /// The cap on connections to one host once transfers may multiplex.
    public static let multiplexedHostConnections = 128
    /// Transfers that received body since curl last ran, in order of their first delivery.
    fileprivate var delivered: [UpstreamTransfer] = []

    /// Open transfers (for health reporting).
    public var activeTransferCount: Int { transfers.count }

    private static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    public init(loop: UnsafeMutablePointer<uv_loop_t>) throws(UpstreamSetupError) {
        guard Self.globalInit == CURLE_OK else { throw UpstreamSetupError("curl_global_init failed") }
        self.loop = loop
        guard let m = curl_multi_init() else { throw UpstreamSetupError("curl_multi_init failed") }
        multi = m
        timer = .allocate(capacity: 1)
        deferred = .allocate(capacity: 1)
        var rc = uv_timer_init(loop, timer)
        if rc == 0 { rc = uv_timer_init(loop, deferred) }
        guard rc == 0 else {
            curl_multi_cleanup(m)
            timer.deallocate()
            deferred.deallocate()
            throw UpstreamSetupError("uv_timer_init: \(String(cString: uv_err_name(rc)))")
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        timer.pointee.data = me
        deferred.pointee.data = me
        _ = ccurl_multi_setopt_socket_cb(m, curlSocketCallback)
        _ = ccurl_multi_setopt_ptr(m, CURLMOPT_SOCKETDATA, me)
        _ = ccurl_multi_setopt_timer_cb(m, curlTimerCallback)
        _ = ccurl_multi_setopt_ptr(m, CURLMOPT_TIMERDATA, me)
        // A burst of streams to one host should share connections (HTTP/2) or keep a
        // bounded pool instead of opening hundreds of sockets.
        _ = ccurl_multi_setopt_long(m, CURLMOPT_MAXCONNECTS, 256)
    }

    deinit {
        precondition(closed, "CurlMulti must be closed on its loop before release")
    }

    /// Starts a transfer. Failures to even start are reported through the delegate
    /// on a later loop turn, like any other failure.
    @discardableResult
    public func start(_ request: UpstreamRequest, delegate: UpstreamTransferDelegate) -> UpstreamTransfer {
        let transfer = UpstreamTransfer(owner: self, request: request, delegate: delegate)
        guard !closed, let multi, let easy = curl_easy_init() else {
            transfer.failBeforeStart(.transport("upstream client is closed"))
            return transfer
        }
        if request.mayMultiplex && !connectionsCapped {
            // curl 7.x waits for a connection to multiplex only while it is the first: once it is
            // full, every waiting transfer opens a connection of its own (a burst of 10,000 made
            // 670 TLS sessions). Capped, the rest wait for room; 128 connections of 100 streams.
            connectionsCapped = true
            _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, Self.multiplexedHostConnections)
        }
        transfer.configure(easy: easy, loop: loop)
        transfers[ObjectIdentifier(transfer)] = transfer
        add(transfer, easy, multi)
        return transfer
    }

    private func add(_ transfer: UpstreamTransfer, _ easy: UnsafeMutableRawPointer, _ multi: UnsafeMutableRawPointer) {
        let rc = curl_multi_add_handle(multi, easy)
        if rc == CURLM_RECURSIVE_API_CALL {
            // Started from inside one of curl's callbacks (say, a stream that finished there let
            // the next request of its connection begin): curl takes the handle once it returns.
            runLater { [self] in
                guard !closed, let multi = self.multi, !transfer.isDone else { return }
                add(transfer, easy, multi)
            }
            return
        }
        if rc != CURLM_OK {
            transfers[ObjectIdentifier(transfer)] = nil
            transfer.releaseEasy(multi: nil)
            transfer.failBeforeStart(.transport(String(cString: curl_multi_strerror(rc))))
        }
    }

    /// Cancels every transfer, releases the multi handle and closes the loop handles.
    /// Run the loop afterwards so the close callbacks free them.
    public func close() {
        guard !closed else { return }
        closed = true
        for t in Array(transfers.values) { t.cancel() }
        transfers.removeAll()
        deferredWork.removeAll()
        if let multi { curl_multi_cleanup(multi) }
        multi = nil
        for (_, w) in watches { w.close() }
        watches.removeAll()
        closeTimer(timer)
        closeTimer(deferred)
    }

    private func closeTimer(_ t: UnsafeMutablePointer<uv_timer_t>) {
        t.pointee.data = nil
        t.withMemoryRebound(to: uv_handle_t.self, capacity: 1) { h in
            uv_close(h) { h in h?.deallocate() }
        }
    }

    // MARK: curl callbacks

    fileprivate func socketEvent(_ s: curl_socket_t, _ what: Int32, _ socketp: UnsafeMutableRawPointer?) {
        if what == CURL_POLL_REMOVE {
            if let w = watches.removeValue(forKey: s) { w.close() }
            if let multi { curl_multi_assign(multi, s, nil) }
            return
        }
        let watch: SocketWatch
        if let existing = watches[s] {
            watch = existing
        } else {
            guard let w = SocketWatch(loop: loop, socket: s, owner: self) else { return }
            watches[s] = w
            if let multi { curl_multi_assign(multi, s, Unmanaged.passUnretained(w).toOpaque()) }
            watch = w
        }
        var events: Int32 = 0
        if what == CURL_POLL_IN || what == CURL_POLL_INOUT { events |= Int32(UV_READABLE.rawValue) }
        if what == CURL_POLL_OUT || what == CURL_POLL_INOUT { events |= Int32(UV_WRITABLE.rawValue) }
        watch.start(events: events)
    }

    fileprivate func timerRequested(_ timeoutMs: Int) {
        if timeoutMs < 0 {
            uv_timer_stop(timer)
        } else {
            // 0 means "as soon as possible": a libuv timer of 0 ms fires on the next loop
            // turn, never inside this curl callback (multi-uv.c rounds it up to 1 ms, which
            // adds a millisecond to every step of every new transfer).
            uv_timer_start(timer, { t in
                guard let data = t?.pointee.data else { return }
                Unmanaged<CurlMulti>.fromOpaque(data).takeUnretainedValue().timerFired()
            }, UInt64(timeoutMs), 0)
        }
    }

    private func timerFired() {
        guard let multi, !acting else { return }
        act(multi, ccurl_socket_timeout, 0)
        drainMessages()
    }

    /// Lets curl act now on transfers started since it last ran (connect, or send the request
    /// on a reused connection) instead of on the next loop turn. A burst of requests read in
    /// one turn then reaches the upstream one by one as each is decoded, not all after the
    /// last. Delegates may be called before this returns; call it once the caller has stored
    /// the transfer `start` returned.
    public func runDueWork() {
        guard !closed, let multi, !acting else { return }
        act(multi, ccurl_socket_timeout, 0)
        drainMessages()
    }

    private func act(_ multi: UnsafeMutableRawPointer, _ socket: curl_socket_t, _ flags: Int32) {
        acting = true
        var running: Int32 = 0
        curl_multi_socket_action(multi, socket, flags, &running)
        acting = false
        endDeliveries()
    }

    private func endDeliveries() {
        while !delivered.isEmpty {
            let batch = delivered
            delivered.removeAll()
            for t in batch { t.endDelivery() }
        }
    }

    fileprivate func socketReady(_ s: curl_socket_t, status: Int32, events: Int32) {
        guard let multi else { return }
        var flags: Int32 = 0
        if status < 0 {
            flags = Int32(CURL_CSELECT_ERR)
        } else {
            if events & Int32(UV_READABLE.rawValue) != 0 { flags |= Int32(CURL_CSELECT_IN) }
            if events & Int32(UV_WRITABLE.rawValue) != 0 { flags |= Int32(CURL_CSELECT_OUT) }
        }
        act(multi, s, flags)
        drainMessages()
    }

    /// Finished transfers are removed here, after `curl_multi_socket_action` has
    /// returned, never inside a curl callback.
    private func drainMessages() {
        guard let multi else { return }
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
            let result = msg.pointee.data.result
            var priv: UnsafeMutableRawPointer?
            _ = ccurl_easy_getinfo_ptr(easy, CURLINFO_PRIVATE, &priv)
            guard let priv else {
                curl_multi_remove_handle(multi, easy)
                curl_easy_cleanup(easy)
                continue
            }
            let transfer = Unmanaged<UpstreamTransfer>.fromOpaque(priv).takeUnretainedValue()
            transfers[ObjectIdentifier(transfer)] = nil
            transfer.finished(result: result, multi: multi)
        }
    }

    // MARK: transfer support

    fileprivate func remove(_ transfer: UpstreamTransfer) {
        transfers[ObjectIdentifier(transfer)] = nil
        transfer.releaseEasy(multi: multi)
    }

    /// Runs `work` on a later loop turn, never inside the caller's stack.
    fileprivate func runLater(_ work: @escaping () -> Void) {
        guard !closed else { return }
        deferredWork.append(work)
        guard deferredWork.count == 1 else { return }
        uv_timer_start(deferred, { t in
            guard let data = t?.pointee.data else { return }
            Unmanaged<CurlMulti>.fromOpaque(data).takeUnretainedValue().runDeferred()
        }, 0, 0)
    }

    private func runDeferred() {
        let batch = deferredWork
        deferredWork.removeAll()
        for work in batch { work() }
        endDeliveries()
        drainMessages()
    }
}

@available(*, unavailable)
extension CurlMulti: Sendable {}

public struct UpstreamSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// One upstream HTTP exchange. Loop-confined.
public final class UpstreamTransfer {
    private unowned(unsafe) let owner: CurlMulti
    /// The request as started, except `body` and `headers`, emptied once curl has its own copies
    /// (a long stream need not hold them twice; ten thousand streams feel every few hundred bytes).
    public private(set) var request: UpstreamRequest
    private weak var delegate: UpstreamTransferDelegate?
    private var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var bodyCopy: UnsafeMutableRawPointer?
    private var errorBuffer: UnsafeMutablePointer<CChar>?
    private var stallTimer: UnsafeMutablePointer<uv_timer_t>?

    private var status = 0
    private var headers: [(name: String, value: String)] = []
    private var headDelivered = false
    public private(set) var isPaused = false
    private var curlHoldsData = false
    public private(set) var isDone = false
    private var cancelled = false
    private var stalled = false
    /// True while curl is inside one of our callbacks: curl calls that would re-enter
    /// the multi handle are not allowed then.
    private var inCallback = false

    /// Set from a body delivery until `endDelivery`.
    private var awaitingDeliveryEnd = false
    /// Loop time of the last read (or resume), for the stall limit.
    private var lastActivityMs: UInt64 = 0

    /// Bytes of body delivered so far.
    public private(set) var bytesReceived = 0

    fileprivate init(owner: CurlMulti, request: UpstreamRequest, delegate: UpstreamTransferDelegate) {
        self.owner = owner
        self.request = request
        self.delegate = delegate
    }

    fileprivate func configure(easy: UnsafeMutableRawPointer, loop: UnsafeMutablePointer<uv_loop_t>) {
        self.easy = easy
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_easy_setopt_ptr(easy, CURLOPT_PRIVATE, me)
        _ = ccurl_easy_setopt_str(easy, CURLOPT_URL, request.url)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMs)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, request.totalTimeoutMs)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, request.verifyTLS ? 1 : 0)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, request.verifyTLS ? 2 : 0)
        if let caFile = request.caFile { _ = ccurl_easy_setopt_str(easy, CURLOPT_CAINFO, caFile) }
        // The request body is sent from curl's upload buffer over HTTP/2 (64 KB by default, one per
        // transfer); the smallest keeps ten thousand concurrent streams' heap smaller.
        _ = ccurl_easy_setopt_long(easy, CURLOPT_UPLOAD_BUFFERSIZE, 16 * 1024)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        let version: Int
        switch request.httpVersion {
        case .auto: version = CURL_HTTP_VERSION_2TLS
        case .http1_1: version = CURL_HTTP_VERSION_1_1
        case .http2: version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
        }
        _ = ccurl_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, version)
        // Where HTTP/2 is possible, a burst of transfers waits for the first connection to say
        // whether it multiplexes instead of each opening (and with TLS, handshaking) its own.
        // Not for plain HTTP/1.1, where waiting would only delay the burst. (The receive buffer
        // stays at curl's 16 KB: over HTTP/2, libcurl 7.88 stalls a transfer whose DATA frame is
        // larger than it.)
        if request.mayMultiplex { _ = ccurl_easy_setopt_long(easy, CURLOPT_PIPEWAIT, 1) }
        _ = ccurl_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        _ = ccurl_easy_setopt_str(easy, CURLOPT_ACCEPT_ENCODING, "")
        let errBuf = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        errBuf.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        errorBuffer = errBuf
        _ = ccurl_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errBuf)

        let hasBody = request.method == "POST" || !request.body.isEmpty
        if hasBody && request.mayMultiplex {
            // Over HTTP/2 curl reads the body through its upload buffer anyway; reading it from
            // here lets it go once the answer has begun (a Claude Code request is 50 KB or more,
            // held for a whole stream otherwise). Rewinding works until then, for curl's retry
            // of a request whose reused connection turned out dead.
            uploadBody = request.body
            _ = ccurl_easy_setopt_long(easy, CURLOPT_POST, 1)
            _ = ccurl_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            _ = ccurl_easy_setopt_read_cb(easy, curlReadCallback)
            _ = ccurl_easy_setopt_ptr(easy, CURLOPT_READDATA, me)
            _ = ccurl_easy_setopt_seek_cb(easy, curlSeekCallback)
            _ = ccurl_easy_setopt_ptr(easy, CURLOPT_SEEKDATA, me)
        } else if hasBody {
            let copy = UnsafeMutableRawPointer.allocate(byteCount: max(request.body.count, 1), alignment: 1)
            request.body.withUnsafeBytes { src in
                if let base = src.baseAddress { copy.copyMemory(from: base, byteCount: src.count) }
            }
            bodyCopy = copy
            _ = ccurl_easy_setopt_long(easy, CURLOPT_POST, 1)
            _ = ccurl_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            _ = ccurl_easy_setopt_ptr(easy, CURLOPT_POSTFIELDS, copy)
        }
        request.body = []
        if request.method != "POST" && request.method != "GET" {
            _ = ccurl_easy_setopt_str(easy, CURLOPT_CUSTOMREQUEST, request.method)
        }
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        // curl would otherwise send `Expect: 100-continue` for large bodies and wait.
        list = curl_slist_append(list, "Expect:")
        headerList = list
        _ = ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list)
        request.headers = []

        _ = ccurl_easy_setopt_write_cb(easy, curlWriteCallback)
        _ = ccurl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        _ = ccurl_easy_setopt_header_cb(easy, curlHeaderCallback)
        _ = ccurl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me)

        if request.stallTimeoutMs > 0 {
            let t = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
            if uv_timer_init(loop, t) == 0 {
                t.pointee.data = me
                stallTimer = t
                armStallTimer()
            } else {
                t.deallocate()
            }
        }
    }

    /// Stops body delivery until `resume()`; data curl has already read is kept by
    /// curl, and the socket is no longer read, so memory stays bounded.
    public func pause() {
        guard !isDone, !isPaused else { return }
        isPaused = true
        if let t = stallTimer { uv_timer_stop(t) }
    }

    /// Restarts body delivery on a later loop turn.
    public func resume() {
        guard !isDone, isPaused else { return }
        isPaused = false
        armStallTimer()
        if curlHoldsData {
            owner.runLater { [self] in performResume() }
        }
    }

    fileprivate func performResume() {
        guard !isDone, !isPaused, curlHoldsData, let easy else { return }
        curlHoldsData = false
        inCallback = true
        curl_easy_pause(easy, ccurl_pause_cont)
        inCallback = false
        if cancelled { owner.remove(self) }
    }

    /// Ends the transfer now and closes its connection; the delegate hears nothing more.
    public func cancel() {
        guard !isDone else { return }
        cancelled = true
        isDone = true
        delegate = nil
        if !inCallback {
            owner.remove(self)
        }
        // Inside a callback, the write callback's next return aborts the transfer and
        // the owner removes it when curl reports it done.
    }

    // MARK: curl callbacks

    fileprivate func headerLine(_ data: UnsafeRawBufferPointer) {
        // Worked on as bytes: String splitting and lowercasing cost more per line than the rest
        // of a short stream's setup. CR and LF are trimmed as bytes ("\r\n" is one Character).
        var end = data.count
        while end > 0, data[end - 1] == 10 || data[end - 1] == 13 { end -= 1 }
        if end == 0 {
            // End of one header block; a 1xx block is followed by the real one.
            if status >= 200 { deliverHead() }
            return
        }
        let line = UnsafeRawBufferPointer(rebasing: data[0..<end])
        if line.starts(with: "HTTP/".utf8) {
            status = parseStatus(line)
            headers.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return }
        var valueStart = colon + 1
        while valueStart < end, line[valueStart] == 32 || line[valueStart] == 9 { valueStart += 1 }
        let name = UnsafeRawBufferPointer(rebasing: line[0..<colon])
        let value = UnsafeRawBufferPointer(rebasing: line[valueStart..<end])
        guard let nameText = String(validating: name.lazy.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self),
            let valueText = String(validating: value, as: UTF8.self)
        else { return }
        headers.append((name: nameText, value: valueText))
    }

    /// The code of a status line ("HTTP/1.1 200 OK", "HTTP/2 429"), 0 when there is none.
    private func parseStatus(_ line: UnsafeRawBufferPointer) -> Int {
        guard var i = line.firstIndex(of: 32) else { return 0 }
        while i < line.count, line[i] == 32 { i += 1 }
        var code = 0
        var digits = 0
        while i < line.count, line[i] >= 48, line[i] <= 57, digits < 3 {
            code = code * 10 + Int(line[i] - 48)
            digits += 1
            i += 1
        }
        return digits == 3 && (i == line.count || line[i] == 32) ? code : 0
    }

    private func deliverHead() {
        guard !headDelivered else { return }
        headDelivered = true
        // The answer has begun: nothing will be sent or resent.
        uploadBody = nil
        inCallback = true
        delegate?.transferDidReceiveHead(self, status: status, headers: headers)
        inCallback = false
        headers = []
    }

    /// Body for curl's read callback, until the answer begins; nil after (or when not used).
    private var uploadBody: [UInt8]?
    private var uploadOffset = 0
    var holdsUploadBody: Bool { uploadBody != nil }

    fileprivate func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let body = uploadBody else { return 0 }
        let n = min(buffer.count, body.count - uploadOffset)
        body.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + uploadOffset, byteCount: n)
        }
        uploadOffset += n
        return n
    }

    fileprivate func seekBody(to offset: Int, origin: Int32) -> Int32 {
        guard let body = uploadBody, origin == SEEK_SET, offset >= 0, offset <= body.count else {
            return Int32(ccurl_seekfunc_cantseek)
        }
        uploadOffset = offset
        return Int32(ccurl_seekfunc_ok)
    }

    /// Returns the number of bytes taken, `CURL_WRITEFUNC_PAUSE`, or 0 to abort.
    fileprivate func body(_ data: UnsafeRawBufferPointer) -> Int {
        if cancelled || isDone { return 0 }
        if isPaused {
            curlHoldsData = true
            return Int(ccurl_writefunc_pause)
        }
        if !headDelivered { deliverHead() }
        if cancelled { return 0 }
        bytesReceived += data.count
        noteActivity()
        if detachedGraceMs != nil { return data.count }
        inCallback = true
        delegate?.transferDidReceiveBody(self, data)
        inCallback = false
        if !awaitingDeliveryEnd {
            awaitingDeliveryEnd = true
            owner.delivered.append(self)
        }
        return cancelled ? 0 : data.count
    }

    fileprivate func endDelivery() {
        awaitingDeliveryEnd = false
        guard !cancelled else { return }
        delegate?.transferDidEndDelivery(self)
    }

    /// The stall clock restarts at every read; the timer itself is moved only when it fires
    /// early (restarting a libuv timer per chunk costs more than the chunk's translation).
    private func noteActivity() {
        guard let t = stallTimer, !isPaused, !isDone else { return }
        lastActivityMs = uv_now(t.pointee.loop)
        if uv_is_active(UnsafeRawPointer(t).assumingMemoryBound(to: uv_handle_t.self)) == 0 { armStallTimer() }
    }

    private func armStallTimer() {
        guard let t = stallTimer, !isPaused, !isDone else { return }
        lastActivityMs = uv_now(t.pointee.loop)
        startStallTimer(t, afterMs: UInt64(stallLimitMs))
    }

    private var stallLimitMs: Int { detachedGraceMs ?? request.stallTimeoutMs }

    private func startStallTimer(_ t: UnsafeMutablePointer<uv_timer_t>, afterMs: UInt64) {
        uv_timer_start(t, { t in
            guard let data = t?.pointee.data else { return }
            Unmanaged<UpstreamTransfer>.fromOpaque(data).takeUnretainedValue().stallTimerFired()
        }, afterMs, 0)
    }

    /// Set by `detach`: the stall limit while the rest of the body is read and dropped.
    private var detachedGraceMs: Int?

    /// The caller has all it needs (e.g. the stream's `[DONE]`) but the body has not ended:
    /// read and drop the rest so the connection goes back to the pool instead of being closed
    /// (a cancel would close it, and the next request would pay a new connection, and with
    /// TLS a new handshake). The delegate hears nothing more. If nothing arrives for `graceMs`,
    /// the transfer is cancelled.
    public func detach(graceMs: Int = 5_000) {
        guard !isDone else { return }
        delegate = nil
        detachedGraceMs = graceMs
        if isPaused {
            resume()
        } else {
            armStallTimer()
        }
    }

    private func stallTimerFired() {
        guard !isDone, let t = stallTimer else { return }
        let quietMs = uv_now(t.pointee.loop) &- lastActivityMs
        if quietMs < UInt64(stallLimitMs) {
            startStallTimer(t, afterMs: UInt64(stallLimitMs) - quietMs)
            return
        }
        stalled = true
        let d = delegate
        isDone = true
        owner.remove(self)
        d?.transferDidComplete(self, failure: .stalled(milliseconds: request.stallTimeoutMs))
    }

    // MARK: completion

    fileprivate func finished(result: CURLcode, multi: UnsafeMutableRawPointer) {
        let wasCancelled = cancelled
        let d = delegate
        let detail = errorDetail(result)
        releaseEasy(multi: multi)
        guard !wasCancelled else { return }
        isDone = true
        let failure: UpstreamFailure?
        switch result {
        case CURLE_OK:
            failure = nil
            if !headDelivered { deliverHeadAfterEnd(d) }
        case CURLE_OPERATION_TIMEDOUT:
            failure = headDelivered || bytesReceived > 0 ? .timeout(detail) : .connect(detail)
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY,
            CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION:
            failure = .connect(detail)
        default:
            failure = .transport(detail)
        }
        d?.transferDidComplete(self, failure: failure)
    }

    private func deliverHeadAfterEnd(_ d: UpstreamTransferDelegate?) {
        headDelivered = true
        d?.transferDidReceiveHead(self, status: status, headers: headers)
    }

    private func errorDetail(_ result: CURLcode) -> String {
        if let buf = errorBuffer, buf.pointee != 0 { return String(cString: buf) }
        return String(cString: curl_easy_strerror(result))
    }

    fileprivate func failBeforeStart(_ failure: UpstreamFailure) {
        isDone = true
        let d = delegate
        // Delivered on a later turn so the caller of start() is never re-entered.
        owner.runLater { [self] in d?.transferDidComplete(self, failure: failure) }
    }

    fileprivate func releaseEasy(multi: UnsafeMutableRawPointer?) {
        isDone = true
        if let easy {
            if let multi { curl_multi_remove_handle(multi, easy) }
            curl_easy_cleanup(easy)
        }
        easy = nil
        if let l = headerList { curl_slist_free_all(l) }
        headerList = nil
        bodyCopy?.deallocate()
        bodyCopy = nil
        errorBuffer?.deallocate()
        errorBuffer = nil
        if let t = stallTimer {
            t.pointee.data = nil
            uv_timer_stop(t)
            t.withMemoryRebound(to: uv_handle_t.self, capacity: 1) { h in
                uv_close(h) { h in h?.deallocate() }
            }
        }
        stallTimer = nil
    }
}

@available(*, unavailable)
extension UpstreamTransfer: Sendable {}

/// A `uv_poll_t` watching one of curl's sockets.
private final class SocketWatch {
    let poll: UnsafeMutablePointer<uv_poll_t>
    let socket: curl_socket_t
    unowned(unsafe) let owner: CurlMulti
    private var closed = false

    init?(loop: UnsafeMutablePointer<uv_loop_t>, socket: curl_socket_t, owner: CurlMulti) {
        poll = .allocate(capacity: 1)
        self.socket = socket
        self.owner = owner
        guard uv_poll_init_socket(loop, poll, socket) == 0 else {
            poll.deallocate()
            return nil
        }
        poll.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    func start(events: Int32) {
        uv_poll_start(poll, events) { p, status, events in
            guard let data = p?.pointee.data else { return }
            let w = Unmanaged<SocketWatch>.fromOpaque(data).takeUnretainedValue()
            w.owner.socketReady(w.socket, status: status, events: events)
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        uv_poll_stop(poll)
        poll.pointee.data = nil
        poll.withMemoryRebound(to: uv_handle_t.self, capacity: 1) { h in
            uv_close(h) { h in h?.deallocate() }
        }
    }
}

private let curlSocketCallback: @convention(c) (UnsafeMutableRawPointer?, curl_socket_t, Int32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32 = { _, s, what, userp, socketp in
    guard let userp else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().socketEvent(s, what, socketp)
    return 0
}

private let curlTimerCallback: @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeMutableRawPointer?) -> Int32 = { _, timeoutMs, userp in
    guard let userp else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().timerRequested(timeoutMs)
    return 0
}

private let curlWriteCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { ptr, size, n, userp in
    guard let userp else { return 0 }
    let t = Unmanaged<UpstreamTransfer>.fromOpaque(userp).takeUnretainedValue()
    return t.body(UnsafeRawBufferPointer(start: ptr, count: size * n))
}

private let curlReadCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { ptr, size, n, userp in
    guard let userp, let ptr else { return 0 }
    let t = Unmanaged<UpstreamTransfer>.fromOpaque(userp).takeUnretainedValue()
    return t.readBody(into: UnsafeMutableRawBufferPointer(start: ptr, count: size * n))
}

private let curlSeekCallback: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, Int32) -> Int32 = { userp, offset, origin in
    guard let userp else { return Int32(ccurl_seekfunc_cantseek) }
    return Unmanaged<UpstreamTransfer>.fromOpaque(userp).takeUnretainedValue().seekBody(to: Int(offset), origin: origin)
}

private let curlHeaderCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { ptr, size, n, userp in
    guard let userp else { return 0 }
    let t = Unmanaged<UpstreamTransfer>.fromOpaque(userp).takeUnretainedValue()
    t.headerLine(UnsafeRawBufferPointer(start: ptr, count: size * n))
    return size * n
}
