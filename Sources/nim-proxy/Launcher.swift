// The launcher: `nim-proxy claude [ARGS...]` and `nim-proxy stop`, the one command a user types
// (as `ccr code` is for claude-code-router). It runs before any loop exists, with blocking calls:
// a health check over a plain socket, posix_spawn for the server and for `claude`, waitpid.

#if canImport(Glibc)
import Glibc
#endif
import EventLoop
import ProxyConfig

/// What the launcher was asked to do, with the `--env-file` given before the subcommand.
struct LauncherRequest {
    enum Command {
        /// Run `claude` with these arguments, passed through untouched.
        case claude([String])
        case stop
    }

    var envFile: String?
    var command: Command

    /// `[--env-file FILE] claude ARGS...` or `[--env-file FILE] stop`; nil for the server's own flags.
    static func parse(_ args: [String]) -> LauncherRequest? {
        var i = 0
        var envFile: String?
        if let first = args.first, first == "--env-file" || first.hasPrefix("--env-file=") {
            if first == "--env-file" {
                guard args.count > 1 else { return nil }
                envFile = args[1]
                i = 2
            } else {
                envFile = String(first.dropFirst("--env-file=".count))
                i = 1
            }
        }
        guard i < args.count else { return nil }
        switch args[i] {
        case "claude": return LauncherRequest(envFile: envFile, command: .claude(Array(args[(i + 1)...])))
        case "stop" where i + 1 == args.count: return LauncherRequest(envFile: envFile, command: .stop)
        default: return nil
        }
    }
}

/// Where the launcher keeps things: its settings (never the project folder's `.env`), and the
/// background server's log, pid file and workspace.
struct LauncherPaths {
    var envFile: String
    var envFileGiven: Bool
    var stateDirectory: String
    var log: String { stateDirectory + "/server.log" }
    var pidFile: String { stateDirectory + "/server.pid" }

    init(envFile: String?, environment: [String: String]) {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        func xdg(_ key: String, _ fallback: String) -> String {
            // The XDG spec: a relative value is invalid and ignored.
            if let value = environment[key], value.hasPrefix("/") { return value }
            return home + "/" + fallback
        }
        self.envFile = envFile ?? xdg("XDG_CONFIG_HOME", ".config") + "/nim-proxy/.env"
        envFileGiven = envFile != nil
        stateDirectory = xdg("XDG_STATE_HOME", ".local/state") + "/nim-proxy"
    }
}

func runLauncher(_ request: LauncherRequest) -> Never {
    let environment = ProcessEnvironment.dictionary
    let paths = LauncherPaths(envFile: request.envFile, environment: environment)
    var dotEnv: String?
    if access(paths.envFile, F_OK) == 0 {
        guard case .success(let bytes) = readWholeFile(paths.envFile) else { fail("cannot read env file \(paths.envFile)") }
        guard let text = String(validating: bytes, as: UTF8.self) else { fail("env file \(paths.envFile) is not UTF-8") }
        dotEnv = text
    } else if paths.envFileGiven {
        fail("env file \(paths.envFile) does not exist")
    }
    let settings: Settings
    do {
        settings = try Settings.load(environment: environment, dotEnv: dotEnv)
    } catch {
        fail("\(error.description)\n(settings read from \(paths.envFile) and the environment)")
    }
    guard settings.http.port != 0 else {
        fail("PORT=0 cannot be used with the launcher: it must know where the server listens")
    }
    let address = ServerAddress(host: settings.http.host, port: settings.http.port, token: settings.http.authToken)

    switch request.command {
    case .stop:
        stopServer(paths)
    case .claude(let args):
        if !address.isHealthy() {
            if address.accepts() {
                fail("something other than nim-proxy answers on \(address.url); set PORT in \(paths.envFile)")
            }
            if dotEnv == nil {
                warn("no settings file at \(paths.envFile): create it with NVIDIA_NIM_API_KEY=nvapi-... (and MODEL=...)")
            }
            startServer(paths, address, shutdownTimeout: settings.http.shutdownTimeout)
        }
        exit(runClaude(settings.cli.executable, args, address))
    }
}

private func warn(_ message: String) {
    let line = Array(("nim-proxy: " + message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

// MARK: - The server

/// Where the server listens, as the launcher and `claude` reach it.
struct ServerAddress {
    var host: String
    var port: Int
    var token: String?

    init(host: String, port: Int, token: String?) {
        // A wildcard address is reached over loopback.
        switch host {
        case "0.0.0.0", "": self.host = "127.0.0.1"
        case "::", "[::]": self.host = "::1"
        default: self.host = host
        }
        self.port = port
        self.token = token
    }

    var url: String { host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }

    /// A connected socket, or nil; the connection attempt gives up after `timeoutMs`.
    private func connect(timeoutMs: Int32) -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let a = entry {
            entry = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { continue }
            if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 || errno == EINPROGRESS {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                var soError: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                if poll(&p, 1, timeoutMs) == 1, getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len) == 0, soError == 0 {
                    return fd
                }
            }
            close(fd)
        }
        return nil
    }

    /// Whether anything accepts connections there.
    func accepts() -> Bool {
        guard let fd = connect(timeoutMs: 1000) else { return false }
        close(fd)
        return true
    }

    /// Whether a nim-proxy answers `GET /health` there, within two seconds.
    func isHealthy() -> Bool {
        guard let fd = connect(timeoutMs: 1000) else { return false }
        defer { close(fd) }
        var head = "GET /health HTTP/1.1\r\nHost: \(host.contains(":") ? "[\(host)]" : host):\(port)\r\nConnection: close\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        head += "\r\n"
        let bytes = Array(head.utf8)
        var sent = 0
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        var waited: Int32 = 0
        while waited < 2000 && response.count < 1 << 20 {
            var p = pollfd(fd: fd, events: Int16(sent < bytes.count ? POLLOUT : POLLIN), revents: 0)
            guard poll(&p, 1, 100) >= 0 else { return false }
            waited += 100
            if sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 { sent += n } else if n < 0 && errno != EAGAIN { return false }
                continue
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 { if errno == EAGAIN { continue } else { return false } }
            response += buffer[..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        return text.hasPrefix("HTTP/1.1 200") && text.contains(#""status":"healthy""#)
    }
}

/// Starts the server in its own session (no controlling terminal), its output appended to the log,
/// its working directory the state directory (so its default workspace lands there too), and
/// waits until it answers `/health`.
private func startServer(_ paths: LauncherPaths, _ address: ServerAddress, shutdownTimeout: Duration) {
    if let problem = ProcessEnvironment.makeDirectories(paths.stateDirectory) { fail(problem) }
    let executable = ownExecutable()
    let logFD = open(paths.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard logFD >= 0 else { fail("cannot open \(paths.log): \(String(cString: strerror(errno)))") }
    defer { close(logFD) }
    let envFile = access(paths.envFile, F_OK) == 0 ? paths.envFile : "/dev/null"
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, logFD, 1)
    posix_spawn_file_actions_adddup2(&actions, logFD, 2)
    var attributes = spawnAttributes(flags: posixSpawnSetSID)
    defer { posix_spawnattr_destroy(&attributes) }
    // The child inherits the working directory (glibc's addchdir_np is not imported into Swift).
    let here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard chdir(paths.stateDirectory) == 0 else { fail("cannot enter \(paths.stateDirectory)") }
    var pid: pid_t = 0
    let status = withCStrings([executable, "--env-file", envFile]) { argv in
        posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    }
    if here >= 0 {
        _ = fchdir(here)
        close(here)
    }
    guard status == 0 else { fail("cannot start the server \(executable): \(String(cString: strerror(status)))") }

    // The first start builds nothing big; 20 s covers a loaded machine.
    for _ in 0..<200 {
        var waitStatus: Int32 = 0
        if waitpid(pid, &waitStatus, WNOHANG) == pid {
            fail("the server stopped at start; its log, \(paths.log), says:\n\(tail(paths.log))")
        }
        if address.isHealthy() {
            writePIDFile(paths.pidFile, pid)
            warn("started the server on \(address.url) (log: \(paths.log); `nim-proxy stop` stops it)")
            return
        }
        usleep(100_000)
    }
    kill(pid, SIGTERM)
    fail("the server did not answer on \(address.url) within 20 s; see \(paths.log)")
}

/// Runs `claude` on the terminal with the proxy's address and returns its exit status (128 plus
/// the signal's number when a signal ended it, as a shell reports it).
private func runClaude(_ executable: String, _ args: [String], _ address: ServerAddress) -> Int32 {
    var environment = ProcessEnvironment.entries.filter {
        // A real Anthropic key would make Claude Code send it instead of the token.
        $0.key != "ANTHROPIC_BASE_URL" && $0.key != "ANTHROPIC_AUTH_TOKEN" && $0.key != "ANTHROPIC_API_KEY"
    }.map { "\($0.key)=\($0.value)" }
    environment.append("ANTHROPIC_BASE_URL=\(address.url)")
    environment.append("ANTHROPIC_AUTH_TOKEN=\(address.token ?? "nim-proxy")")
    // Like system(3): the terminal's Ctrl-C and Ctrl-\ are claude's to handle, not the launcher's.
    signal(SIGINT, SIG_IGN)
    signal(SIGQUIT, SIG_IGN)
    var attributes = spawnAttributes(flags: 0)
    defer { posix_spawnattr_destroy(&attributes) }
    var pid: pid_t = 0
    let status = withCStrings([executable] + args) { argv in
        withCStrings(environment) { envp in posix_spawnp(&pid, executable, nil, &attributes, argv, envp) }
    }
    guard status == 0 else {
        warn("cannot run \(executable) (CLAUDE_CLI_BIN): \(String(cString: strerror(status))); is Claude Code installed?")
        return status == ENOENT ? 127 : 126
    }
    var waitStatus: Int32 = 0
    while waitpid(pid, &waitStatus, 0) < 0 {
        guard errno == EINTR else { return 1 }
    }
    // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
    let termSignal = waitStatus & 0x7f
    if termSignal == 0 { return (waitStatus >> 8) & 0xff }
    return 128 + termSignal
}

/// `nim-proxy stop`: SIGTERM to the background server named in the pid file, then wait for it to
/// finish its streams (bounded), SIGKILL if it will not.
private func stopServer(_ paths: LauncherPaths) -> Never {
    guard case .success(let bytes) = readWholeFile(paths.pidFile),
        let pid = Int32(String(decoding: bytes, as: UTF8.self).filter { $0.isNumber })
    else {
        warn("no background server is running (no \(paths.pidFile))")
        exit(0)
    }
    guard pid > 1, isNimProxy(pid) else {
        unlink(paths.pidFile)
        warn("no background server is running (process \(pid) is gone)")
        exit(0)
    }
    kill(pid, SIGTERM)
    for _ in 0..<150 where kill(pid, 0) == 0 && isNimProxy(pid) {
        usleep(100_000)
    }
    if kill(pid, 0) == 0 && isNimProxy(pid) {
        kill(pid, SIGKILL)
        warn("the server did not stop within 15 s: killed")
    } else {
        warn("stopped the server (pid \(pid))")
    }
    unlink(paths.pidFile)
    exit(0)
}

/// Whether `pid` runs nim-proxy (a pid file can outlive its process and the pid be reused).
private func isNimProxy(_ pid: Int32) -> Bool {
    guard case .success(let bytes) = readWholeFile("/proc/\(pid)/cmdline") else { return false }
    let program = bytes.split(separator: 0, omittingEmptySubsequences: false).first ?? []
    let name = String(decoding: program, as: UTF8.self).split(separator: "/").last ?? ""
    return name.hasPrefix("nim-proxy")
}

private func ownExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return CommandLine.arguments[0] }
    return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func writePIDFile(_ path: String, _ pid: pid_t) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    let text = Array("\(pid)\n".utf8)
    _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

/// The last lines of a log, for a start-up failure message.
private func tail(_ path: String) -> String {
    guard case .success(let bytes) = readWholeFile(path) else { return "(no log)" }
    let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    return lines.suffix(10).joined(separator: "\n")
}

/// glibc's POSIX_SPAWN_SETSID (spawn.h, glibc 2.26), hidden from Swift behind _GNU_SOURCE: the
/// child starts a new session, so it has no controlling terminal and no terminal signal reaches it.
private let posixSpawnSetSID: Int32 = 0x80

/// Spawn attributes that give the child default signal handling and an empty signal mask, whatever
/// the launcher ignores or blocks.
private func spawnAttributes(flags: Int32) -> posix_spawnattr_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for sig in [SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, sig) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attributes, &mask)
    posix_spawnattr_setflags(&attributes, Int16(flags | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    return attributes
}

/// A NULL-terminated `char *[]` for `body`, freed afterwards.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { for p in pointers { free(p) } }
    return body(pointers)
}
