// CurlEasy: one curl easy handle and the memory curl reads from it (header list, body copy, error
// buffer), set up option group by option group for an `UpstreamRequest`. A handle whose transfer
// ended cleanly is kept by its `CurlMulti` for the next transfer (`EasyPool`): making and freeing
// a handle, and setting the options every transfer shares, cost more than a short stream's
// relaying.

import CCurl
import EventLoop

/// An easy handle and what it points at, freed together. Loop-confined.
struct CurlEasy {
    let handle: UnsafeMutableRawPointer
    /// The request's header list when this handle made it (the multi's shared lists are not its).
    private var ownedHeaderList: UnsafeMutablePointer<curl_slist>?
    private var bodyCopy: UnsafeMutableRawPointer?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    /// The CA file the handle was given. curl has no way back to its built-in default once one is
    /// set, so a handle is reused only for requests naming the same file (`EasyPool`).
    private(set) var caFile: String?
    /// A method other than GET and POST was set, to be cleared for the next request.
    private var customMethod = false

    /// nil when curl cannot make a handle.
    init?() {
        guard let easy = curl_easy_init() else { return nil }
        handle = easy
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        setInvariantOptions()
    }

    /// The options every transfer of the process sets alike: set once per handle, kept while the
    /// handle is reused.
    private func setInvariantOptions() {
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        // Timeouts are the loop's business; curl must never raise SIGALRM for DNS.
        _ = ccurl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        // The request body is sent from curl's upload buffer over HTTP/2 (64 KB by default, one per
        // transfer); the smallest keeps ten thousand concurrent streams' heap smaller.
        _ = ccurl_easy_setopt_long(handle, CURLOPT_UPLOAD_BUFFERSIZE, 16 * 1024)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        _ = ccurl_easy_setopt_str(handle, CURLOPT_ACCEPT_ENCODING, "")
        _ = ccurl_easy_setopt_write_cb(handle, curlWriteCallback)
        _ = ccurl_easy_setopt_header_cb(handle, curlHeaderCallback)
        _ = ccurl_easy_setopt_read_cb(handle, curlReadCallback)
        _ = ccurl_easy_setopt_seek_cb(handle, curlSeekCallback)
    }

    /// Removes the handle from `multi` (when given) and frees it with its memory.
    func release(from multi: UnsafeMutableRawPointer?) {
        if let multi { curl_multi_remove_handle(multi, handle) }
        curl_easy_cleanup(handle)
        if let ownedHeaderList { curl_slist_free_all(ownedHeaderList) }
        bodyCopy?.deallocate()
        errorBuffer.deallocate()
    }

    /// Removes the handle from `multi` and forgets the finished transfer, so that nothing of it
    /// reaches the next: the user pointers curl passes to callbacks are cleared (a callback
    /// without one does nothing), the body copy and the header list made for it are freed, the
    /// error text is blanked. Every option a request decides is set again by `configure`.
    mutating func detachForReuse(from multi: UnsafeMutableRawPointer) {
        curl_multi_remove_handle(multi, handle)
        for option in [CURLOPT_PRIVATE, CURLOPT_WRITEDATA, CURLOPT_HEADERDATA, CURLOPT_READDATA, CURLOPT_SEEKDATA] {
            _ = ccurl_easy_setopt_ptr(handle, option, nil)
        }
        _ = ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, nil)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_POSTFIELDS, nil)
        if let ownedHeaderList { curl_slist_free_all(ownedHeaderList) }
        ownedHeaderList = nil
        bodyCopy?.deallocate()
        bodyCopy = nil
        errorBuffer.pointee = 0
    }

    /// curl's own words for a failed `result`: the error buffer's, or `curl_easy_strerror`'s.
    func errorDetail(_ result: CURLcode) -> String {
        if errorBuffer.pointee != 0 { return String(cString: errorBuffer) }
        return String(cString: curl_easy_strerror(result))
    }

    // MARK: configuration

    /// Applies `request` (every option a request decides, so a reused handle keeps nothing of
    /// the last one's); `transfer` is the opaque pointer curl passes back to every callback.
    /// `headerList` is the multi's shared list for these headers, nil to make one for this
    /// transfer. When the body is to be read through the read callback (see `setBody`), returns it.
    mutating func configure(
        for request: UpstreamRequest, transfer: UnsafeMutableRawPointer, headerList: UnsafeMutablePointer<curl_slist>?
    ) -> [UInt8]? {
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_PRIVATE, transfer)
        _ = ccurl_easy_setopt_str(handle, CURLOPT_URL, request.url)
        setTimeouts(request)
        setTLS(request)
        setConnection(request)
        let uploadBody = setBody(request, transfer: transfer)
        if let headerList {
            _ = ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)
        } else {
            ownedHeaderList = Self.headerList(request.headers)
            _ = ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, ownedHeaderList)
        }
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_WRITEDATA, transfer)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_HEADERDATA, transfer)
        return uploadBody
    }

    private func setTimeouts(_ request: UpstreamRequest) {
        _ = ccurl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeout.wholeMilliseconds)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, request.totalTimeout.wholeMilliseconds)
    }

    private mutating func setTLS(_ request: UpstreamRequest) {
        _ = ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, request.verifyTLS ? 1 : 0)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, request.verifyTLS ? 2 : 0)
        if let file = request.caFile, file != caFile {
            _ = ccurl_easy_setopt_str(handle, CURLOPT_CAINFO, file)
            caFile = file
        }
    }

    private func setConnection(_ request: UpstreamRequest) {
        let version: Int
        switch request.httpVersion {
        case .auto: version = CURL_HTTP_VERSION_2TLS
        case .http1_1: version = CURL_HTTP_VERSION_1_1
        case .http2: version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
        }
        _ = ccurl_easy_setopt_long(handle, CURLOPT_HTTP_VERSION, version)
        // Where HTTP/2 is possible, a burst of transfers waits for the first connection to say
        // whether it multiplexes instead of each opening (and with TLS, handshaking) its own.
        // Not for plain HTTP/1.1, where waiting would only delay the burst. (The receive buffer
        // stays at curl's 16 KB: over HTTP/2, libcurl 7.88 stalls a transfer whose DATA frame is
        // larger than it.)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_PIPEWAIT, request.mayMultiplex ? 1 : 0)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_FRESH_CONNECT, request.freshConnection ? 1 : 0)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_FORBID_REUSE, request.freshConnection ? 1 : 0)
    }

    /// From this size on, an HTTP/1.1 body is read through the read callback rather than copied for
    /// `POSTFIELDS`. Smaller bodies are copied: curl then sends them with the head in one write.
    static let largeBodyBytes = 256 * 1024

    /// The method and body. Returns the body when curl is to read it through the read callback.
    private mutating func setBody(_ request: UpstreamRequest, transfer: UnsafeMutableRawPointer) -> [UInt8]? {
        var uploadBody: [UInt8]?
        let hasBody = request.method == "POST" || !request.body.isEmpty
        if hasBody && (request.mayMultiplex || request.body.count >= Self.largeBodyBytes) {
            // Over HTTP/2 curl reads the body through its upload buffer anyway; reading it from
            // the transfer lets it go once the answer has begun (a Claude Code request is 50 KB or
            // more, held for a whole stream otherwise). Rewinding works until then, for curl's
            // retry of a request whose reused connection turned out dead. A large body goes this
            // way over HTTP/1.1 too: the array is shared with the caller (who keeps it for a retry),
            // where `POSTFIELDS` would need a copy of it for as long as the request is sent.
            uploadBody = request.body
            _ = ccurl_easy_setopt_long(handle, CURLOPT_POST, 1)
            // No `POSTFIELDS` (a reused handle's last body): curl reads through the callback.
            _ = ccurl_easy_setopt_ptr(handle, CURLOPT_POSTFIELDS, nil)
            _ = ccurl_easy_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            _ = ccurl_easy_setopt_ptr(handle, CURLOPT_READDATA, transfer)
            _ = ccurl_easy_setopt_ptr(handle, CURLOPT_SEEKDATA, transfer)
        } else if hasBody {
            let copy = UnsafeMutableRawPointer.allocate(byteCount: max(request.body.count, 1), alignment: 1)
            request.body.withUnsafeBytes { source in
                if let base = source.baseAddress { copy.copyMemory(from: base, byteCount: source.count) }
            }
            bodyCopy = copy
            _ = ccurl_easy_setopt_long(handle, CURLOPT_POST, 1)
            _ = ccurl_easy_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            _ = ccurl_easy_setopt_ptr(handle, CURLOPT_POSTFIELDS, copy)
        } else {
            // Also what a reused handle needs to forget a last request's body.
            _ = ccurl_easy_setopt_long(handle, CURLOPT_HTTPGET, 1)
        }
        if request.method != "POST" && request.method != "GET" {
            _ = ccurl_easy_setopt_str(handle, CURLOPT_CUSTOMREQUEST, request.method)
            customMethod = true
        } else if customMethod {
            _ = ccurl_easy_setopt_ptr(handle, CURLOPT_CUSTOMREQUEST, nil)
            customMethod = false
        }
        return uploadBody
    }

    /// The headers as curl sends them.
    static func headerList(_ headers: [(name: String, value: String)]) -> UnsafeMutablePointer<curl_slist>? {
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in headers {
            list = curl_slist_append(list, name + ": " + value)
        }
        // curl would otherwise send `Expect: 100-continue` for large bodies and wait.
        list = curl_slist_append(list, "Expect:")
        return list
    }
}
