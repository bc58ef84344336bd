// The C callbacks curl calls, as non-capturing closures that recover their Swift owner from the
// user pointer and call one method (swift-nio's `HTTPDecoder` pattern).

import CCurl

let curlSocketCallback: @convention(c) (UnsafeMutableRawPointer?, curl_socket_t, Int32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32 = { _, s, what, userp, _ in
    guard let userp else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().socketEvent(s, what)
    return 0
}

let curlTimerCallback: @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeMutableRawPointer?) -> Int32 = { _, timeoutMs, userp in
    guard let userp else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(userp).takeUnretainedValue().timerRequested(timeoutMs)
    return 0
}

let curlWriteCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { ptr, size, n, userp in
    guard let userp else { return 0 }
    let t = Unmanaged<UpstreamTransfer>.fromOpaque(userp).takeUnretainedValue()
    return t.body(UnsafeRawBufferPointer(start: ptr, count: size * n))
}

let curlReadCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { ptr, size, n, userp in
    guard let userp, let ptr else { return 0 }
    let t = Unmanaged<UpstreamTransfer>.fromOpaque(userp).takeUnretainedValue()
    return t.readBody(into: UnsafeMutableRawBufferPointer(start: ptr, count: size * n))
}

let curlSeekCallback: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, Int32) -> Int32 = { userp, offset, origin in
    guard let userp else { return Int32(ccurl_seekfunc_cantseek) }
    return Unmanaged<UpstreamTransfer>.fromOpaque(userp).takeUnretainedValue().seekBody(to: Int(offset), origin: origin)
}

let curlHeaderCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { ptr, size, n, userp in
    guard let userp else { return 0 }
    let t = Unmanaged<UpstreamTransfer>.fromOpaque(userp).takeUnretainedValue()
    t.headerLine(UnsafeRawBufferPointer(start: ptr, count: size * n))
    return size * n
}
