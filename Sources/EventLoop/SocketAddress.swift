// Socket address helpers: numeric IPv4/IPv6 text <-> sockaddr, for binding, connecting and logging.

import CLibUV
import Text

/// An IPv4 or IPv6 socket address. Only numeric hosts; "localhost" is taken as 127.0.0.1 because a
/// resolver call would block the loop.
public struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    var storage: sockaddr_storage

    public init(host: String, port: Int) throws(UVError) {
        guard (0...65535).contains(port) else {
            throw UVError(code: UV_EINVAL.rawValue, operation: "uv_ip_addr", detail: "port \(port) out of range")
        }
        storage = sockaddr_storage()
        let numericHost = host == "localhost" ? "127.0.0.1" : host
        let rc4 = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { uv_ip4_addr(numericHost, Int32(port), $0) }
        }
        if rc4 == 0 { return }
        let rc6 = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { uv_ip6_addr(numericHost, Int32(port), $0) }
        }
        if rc6 != 0 {
            throw UVError(code: rc6, operation: "uv_ip_addr", detail: "not a numeric address: \(host)")
        }
    }

    init(storage: sockaddr_storage) { self.storage = storage }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.host == rhs.host && lhs.port == rhs.port
    }

    var isIPv6: Bool { Int32(storage.ss_family) == AF_INET6 }

    /// Numeric host text.
    public var host: String {
        var copy = storage
        var text = [CChar](repeating: 0, count: 64)
        let rc: Int32 = withUnsafePointer(to: &copy) { pointer in
            if isIPv6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { uv_ip6_name($0, &text, text.count) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { uv_ip4_name($0, &text, text.count) }
        }
        if rc != 0 { return "?" }
        return String(cBuffer: text)
    }

    public var port: Int {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer in
            if isIPv6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    /// "host:port", with brackets around IPv6 hosts.
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1, body)
        }
    }

    /// Reads a socket's own or peer address via `getter` (`uv_tcp_getsockname` / `uv_tcp_getpeername`).
    static func read(_ operation: String,
                     _ getter: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<Int32>) -> Int32) throws(UVError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getter($0, &length) }
        }
        try UVError.check(rc, operation)
        return SocketAddress(storage: storage)
    }
}
