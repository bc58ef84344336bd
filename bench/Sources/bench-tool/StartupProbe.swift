// startup: spawns the server, polls its port until a connection is accepted, then times one
// `GET /health` answer; after an idle pause reads the process's resident memory from
// /proc/<pid>/status and stops it with SIGTERM.

#if canImport(Glibc)
import Glibc
#endif

/// Reads a `kB` field such as VmRSS or VmHWM from /proc/<pid>/status.
func procStatusKB(pid: pid_t, field: String) -> Int? {
    let text = String(decoding: readFileOrFail("/proc/\(pid)/status"), as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
    }
    return nil
}

/// A blocking loopback connect; nil when refused.
private func tryConnect(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if rc == 0 { return fd }
    close(fd)
    return nil
}

func runStartupProbe(_ flags: Flags) {
    let port = flags.int("port", 0)
    guard port > 0, !flags.rest.isEmpty else { fail("startup needs --port and -- COMMAND") }
    let idleMs = flags.int("idle-ms", 1000)
    let timeoutMicros = UInt64(flags.double("timeout-s", 10) * 1e6)

    var cArguments = flags.rest.map { strdup($0) } + [nil]
    defer { for pointer in cArguments { free(pointer) } }
    var pid: pid_t = 0
    let startedAt = monotonicMicros()
    let spawned = posix_spawnp(&pid, flags.rest[0], nil, nil, &cArguments, environ)
    guard spawned == 0 else { fail("cannot start \(flags.rest[0]): \(String(cString: strerror(spawned)))") }

    var connectedAt: UInt64 = 0
    var answeredAt: UInt64 = 0
    var failure: String?
    while failure == nil {
        if let fd = tryConnect(port: port) {
            connectedAt = monotonicMicros()
            let request = Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            var head: [UInt8] = []
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                if answeredAt == 0 { answeredAt = monotonicMicros() }
                if head.count < 64 { head += buffer[0..<min(n, 64)] }
            }
            close(fd)
            if !String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 200") { failure = "health check did not answer 200" }
            break
        }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { failure = "server exited with status \(status)"; break }
        if monotonicMicros() - startedAt > timeoutMicros { failure = "no connection within the timeout"; break }
        usleep(100)
    }

    var rss = 0
    var peak = 0
    if failure == nil {
        usleep(UInt32(idleMs) * 1000)
        rss = procStatusKB(pid: pid, field: "VmRSS") ?? 0
        peak = procStatusKB(pid: pid, field: "VmHWM") ?? 0
    }
    kill(pid, SIGTERM)
    var status: Int32 = 0
    waitpid(pid, &status, 0)

    if let failure { fail(failure) }
    var line = JSONLine()
    line.add("start_to_connect_ms", Double(connectedAt - startedAt) / 1000)
    line.add("start_to_first_response_ms", Double(answeredAt - startedAt) / 1000)
    line.add("rss_idle_kb", rss)
    line.add("rss_peak_kb", peak)
    writeAll(line.text + "\n", to: 1)
}
