// CurlMulti: one libcurl multi handle driven by the loop (curl's `docs/examples/multi-uv.c`): one
// `Timer` for curl's timeouts and one `SocketPoll` per socket curl asks to watch (CurlSockets.swift).

import CCurl
import EventLoop

/// One libcurl multi handle driven by a libuv loop. Connections are cached by the multi handle and
/// reused across transfers.
///
/// All methods are called from within the loop's thread.
public final class CurlMulti {
    let loop: EventLoop
    private(set) var multi: UnsafeMutableRawPointer?
    /// curl's timeout (`CURLMOPT_TIMERFUNCTION`).
    private let timer: Timer
    var polls: [curl_socket_t: SocketPoll] = [:]
    private var transfers: [ObjectIdentifier: UpstreamTransfer] = [:]
    /// Work for the next loop turn (resumes, failures to start), run in order by one `onNextTurn`.
    private var deferredWork: [() -> Void] = []
    private(set) var closed = false
    /// True while `curl_multi_socket_action` runs: curl refuses to be re-entered from its own
    /// callbacks, so `runDueWork` leaves the work to the timer then.
    private var acting = false
    private var connectionsCapped = false
    /// The cap on connections to one host once transfers may multiplex.
    public static let multiplexedHostConnections = 128
    /// Transfers that received body since curl last ran, in order of their first delivery.
    var delivered: [UpstreamTransfer] = []
    /// Easy handles of transfers that ended cleanly, kept for the next ones (most recent last).
    private var spareEasies: [CurlEasy] = []
    /// Stall timers of ended transfers, stopped, kept for the next ones.
    private var spareTimers: [Timer] = []
    /// Header lists for the header sets transfers send (one per upstream endpoint and key), made
    /// once and kept until `close`, shared by every transfer sending that set.
    private var headerLists: [(headers: [(name: String, value: String)], list: UnsafeMutablePointer<curl_slist>)] = []
    /// Idle handles and timers kept at most: a burst's worth after it would only hold memory
    /// (a used handle keeps curl's 16 KB receive buffer).
    static let spareLimit = 32
    /// Header sets kept at most; a process talks to a few endpoints with one key each.
    static let headerListLimit = 16
    /// Easy handles made so far (the rest of the transfers reused one).
    private(set) var easyHandlesMade = 0
    var spareEasyCount: Int { spareEasies.count }
    var sharedHeaderListCount: Int { headerLists.count }

    /// Open transfers (for health reporting).
    public var activeTransferCount: Int { transfers.count }

    private static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    public init(loop: EventLoop) throws(UpstreamSetupError) {
        guard Self.globalInit == CURLE_OK else { throw UpstreamSetupError("curl_global_init failed") }
        self.loop = loop
        do {
            timer = try Timer(loop: loop)
        } catch {
            throw UpstreamSetupError("\(error)")
        }
        guard let m = curl_multi_init() else {
            timer.close()
            throw UpstreamSetupError("curl_multi_init failed")
        }
        multi = m
        let me = Unmanaged.passUnretained(self).toOpaque()
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
        guard !closed, let multi, let easy = takeEasy(caFile: request.caFile) else {
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
        transfer.attach(easy, headerList: headerList(for: request.headers))
        transfers[ObjectIdentifier(transfer)] = transfer
        add(transfer, easy.handle, multi)
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
            transfer.releaseEasy()
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
        for (_, poll) in polls { poll.close() }
        polls.removeAll()
        timer.close()
        for easy in spareEasies { easy.release(from: nil) }
        spareEasies.removeAll()
        for t in spareTimers { t.close() }
        spareTimers.removeAll()
        // After every handle that pointed at them is gone.
        for entry in headerLists { curl_slist_free_all(entry.list) }
        headerLists.removeAll()
    }

    // MARK: what transfers reuse

    /// A spare handle for a request naming `caFile`, or a new one; nil when curl cannot make one.
    private func takeEasy(caFile: String?) -> CurlEasy? {
        if let i = spareEasies.lastIndex(where: { $0.caFile == caFile }) { return spareEasies.remove(at: i) }
        easyHandlesMade += 1
        return CurlEasy()
    }

    /// Takes back a transfer's handle. `reusable` when curl finished the transfer itself: a handle
    /// removed mid-transfer (cancelled, paused, failed in a callback) is freed rather than trusted.
    func giveBack(_ easy: CurlEasy, reusable: Bool) {
        guard let multi, reusable, spareEasies.count < Self.spareLimit else {
            easy.release(from: multi)
            return
        }
        var easy = easy
        easy.detachForReuse(from: multi)
        spareEasies.append(easy)
    }

    /// A stopped timer for a transfer's stall watch; nil when libuv cannot make one.
    func takeTimer() -> Timer? {
        if let t = spareTimers.popLast() { return t }
        return try? Timer(loop: loop)
    }

    func giveBack(_ timer: Timer) {
        guard !closed, spareTimers.count < Self.spareLimit else {
            timer.close()
            return
        }
        timer.stop()
        spareTimers.append(timer)
    }

    /// The shared list for `headers`, made on first use; nil when the cache is full (the
    /// transfer's handle then makes its own).
    private func headerList(for headers: [(name: String, value: String)]) -> UnsafeMutablePointer<curl_slist>? {
        for entry in headerLists where Self.same(entry.headers, headers) { return entry.list }
        guard headerLists.count < Self.headerListLimit, let list = CurlEasy.headerList(headers) else { return nil }
        headerLists.append((headers, list))
        return list
    }

    private static func same(_ a: [(name: String, value: String)], _ b: [(name: String, value: String)]) -> Bool {
        guard a.count == b.count else { return false }
        for i in a.indices where a[i].name != b[i].name || a[i].value != b[i].value { return false }
        return true
    }

    // MARK: driving curl

    func timerRequested(_ timeoutMs: Int) {
        if timeoutMs < 0 {
            timer.stop()
        } else {
            // 0 means "as soon as possible": a libuv timer of 0 ms fires on the next loop
            // turn, never inside this curl callback (multi-uv.c rounds it up to 1 ms, which
            // adds a millisecond to every step of every new transfer).
            try? timer.start(after: .milliseconds(timeoutMs)) { [unowned self] in timerFired() }
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

    func act(_ multi: UnsafeMutableRawPointer, _ socket: curl_socket_t, _ flags: Int32) {
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

    /// Finished transfers are removed here, after `curl_multi_socket_action` has
    /// returned, never inside a curl callback.
    func drainMessages() {
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
            transfer.finished(result: result)
        }
    }

    // MARK: transfer support

    func remove(_ transfer: UpstreamTransfer) {
        transfers[ObjectIdentifier(transfer)] = nil
        transfer.releaseEasy()
    }

    /// Runs `work` on a later loop turn, never inside the caller's stack; work queued in one turn
    /// runs together, and curl's deliveries and finished transfers are handled after it.
    func runLater(_ work: @escaping () -> Void) {
        guard !closed else { return }
        deferredWork.append(work)
        guard deferredWork.count == 1 else { return }
        loop.onNextTurn { [weak self] in self?.runDeferred() }
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
