// Cutting one client's TCP connection in the middle of a response.
//
// HTTPResponder offers no way to drop a connection without finishing the body, yet the "cut"
// scenario must look to the client exactly like a server that died mid-stream: FIN with no final
// chunk. The HTTPServer owns the socket, so we do not close it; we `shutdown(2)` it. The client
// reads end-of-file; our own side reads end-of-file too, so HTTPServer notices, closes its
// connection through its normal path and reports `onClientGone`. The socket is found among this
// process's descriptors by its two addresses (our listening port and the client's address).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Text

enum ConnectionCutter {
    /// Shuts down the accepted socket whose local port is `localPort` and whose peer is
    /// `remoteAddress` ("host:port", "[v6]:port"). Returns whether one was found.
    static func cut(localPort: Int, remoteAddress: String) -> Bool {
        guard let fd = findSocket(localPort: localPort, remoteAddress: remoteAddress) else { return false }
        return shutdown(fd, Int32(SHUT_RDWR)) == 0
    }

    static func findSocket(localPort: Int, remoteAddress: String) -> Int32? {
        for fd in candidateDescriptors() {
            guard let local = address(of: fd, peer: false), local.port == localPort,
                  let peer = address(of: fd, peer: true), peer.text == remoteAddress else { continue }
            return fd
        }
        return nil
    }

    /// Open descriptors from /proc/self/fd when there is one, else every number below the limit.
    private static func candidateDescriptors() -> [Int32] {
        if let directory = opendir("/proc/self/fd") {
            defer { closedir(directory) }
            var fds: [Int32] = []
            while let entry = readdir(directory) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if let fd = Int32(name) { fds.append(fd) }
            }
            // Newest connections have the highest numbers.
            return fds.sorted(by: >)
        }
        var limit = rlimit()
        let count = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? min(Int(limit.rlim_cur), 65536) : 4096
        return (0..<Int32(count)).reversed()
    }

    private static func address(of fd: Int32, peer: Bool) -> (text: String, port: Int)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
            }
        }
        guard rc == 0 else { return nil }
        var text = [CChar](repeating: 0, count: 64)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    guard inet_ntop(AF_INET, &addr, &text, socklen_t(text.count)) != nil else { return nil }
                    let port = Int(UInt16(bigEndian: sin.pointee.sin_port))
                    return ("\(String(cBuffer: text)):\(port)", port)
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    guard inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count)) != nil else { return nil }
                    let port = Int(UInt16(bigEndian: sin6.pointee.sin6_port))
                    return ("[\(String(cBuffer: text))]:\(port)", port)
                }
            }
        default:
            return nil
        }
    }
}
