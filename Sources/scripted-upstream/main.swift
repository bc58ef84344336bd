// scripted-upstream: the ScriptedUpstream as a process, for end-to-end scripts and benchmarks.
//
//   scripted-upstream [--host 127.0.0.1] [--port 0] [--http2] [--default-scenario NAME]
//                     [--chunks N] [--chunk-bytes B] [--delay-ms D]
//                     [--record FILE] [--scenario-file FILE]
//
// The first line on stdout is "listening <port>", so a script can start it with --port 0 and read
// the port. A request whose model is "scenario:NAME" plays that catalog scenario; any other model
// plays the default. --chunks/--chunk-bytes/--delay-ms shape the "synthetic" scenario.
// --scenario-file FILE holds a JSON list of chunks (or {"chunks": [...]}) played as scenario
// "file", the default unless --default-scenario says otherwise. --record FILE appends every
// request body as one JSON line. --http2 serves HTTP/2 instead of HTTP/1.1, to clients that open
// with the HTTP/2 preface (prior knowledge over plain TCP, as the proxy does with
// UPSTREAM_HTTP_VERSION=2), so concurrent streams share connections; a "cut" then resets the
// stream instead of closing the connection. SIGINT or SIGTERM: close everything and exit 0.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EventLoop
import JSON
import ScriptedUpstream

struct Options {
    var host = "127.0.0.1"
    var port = 0
    var defaultScenario: String?
    var chunks = 20
    var chunkBytes = 16
    var delayMs: UInt64 = 0
    var recordPath: String?
    var scenarioPath: String?
    var http2 = false
}

/// Unbuffered write to a descriptor: the "listening" line must reach a pipe at once, and the C
/// `stdout`/`stderr` globals are shared mutable state that Swift 6 refuses to touch.
func emit(_ text: String, to fd: Int32) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { return }
        offset += n
    }
}

func fail(_ message: String) -> Never {
    emit("scripted-upstream: \(message)\n", to: 2)
    exit(2)
}

func parseOptions(_ arguments: [String]) -> Options {
    var options = Options()
    var index = 0
    func value(_ flag: String) -> String {
        index += 1
        guard index < arguments.count else { fail("\(flag) needs a value") }
        return arguments[index]
    }
    func number(_ flag: String) -> Int {
        let text = value(flag)
        guard let n = Int(text), n >= 0 else { fail("\(flag) wants a non-negative integer, got \(text)") }
        return n
    }
    while index < arguments.count {
        let flag = arguments[index]
        switch flag {
        case "--host": options.host = value(flag)
        case "--port":
            options.port = number(flag)
            if options.port > 65535 { fail("--port out of range") }
        case "--default-scenario": options.defaultScenario = value(flag)
        case "--chunks": options.chunks = number(flag)
        case "--chunk-bytes": options.chunkBytes = number(flag)
        case "--delay-ms": options.delayMs = UInt64(number(flag))
        case "--record": options.recordPath = value(flag)
        case "--scenario-file": options.scenarioPath = value(flag)
        case "--http2": options.http2 = true
        case "--help", "-h":
            print("usage: scripted-upstream [--host H] [--port N] [--http2] [--default-scenario NAME] [--chunks N] "
                + "[--chunk-bytes B] [--delay-ms D] [--record FILE] [--scenario-file FILE]")
            print("scenarios: " + Scenario.catalogNames.joined(separator: ", ") + ", file")
            exit(0)
        default: fail("unknown option \(flag)")
        }
        index += 1
    }
    return options
}

func readFile(_ path: String) -> [UInt8] {
    switch readWholeFile(path) {
    case .success(let bytes): return bytes
    case .failure(let error): fail("\(error)")
    }
}

func scenarioFromFile(_ path: String, delayMs: UInt64) -> Scenario {
    let json: JSONValue
    do {
        json = try JSONValue.parse(readFile(path))
    } catch {
        fail("\(path): \(error)")
    }
    guard let chunks = json.arrayValue ?? json["chunks"]?.arrayValue else {
        fail("\(path): expected a JSON list of chunks or an object with \"chunks\"")
    }
    return .stream(chunks: chunks, delayMs: delayMs, name: "file")
}

let options = parseOptions(Array(CommandLine.arguments.dropFirst()))

let loop: EventLoop
do {
    loop = try EventLoop()
} catch {
    fail("\(error)")
}
let upstream = ScriptedUpstream(loop: loop)
// Benchmarks send hundreds of thousands of requests; the record file keeps what scripts need.
upstream.keepsRecords = false
upstream.namedScenarios["synthetic"] = .synthetic(chunkCount: options.chunks, chunkBytes: options.chunkBytes,
                                                  delayMs: options.delayMs)
if let path = options.scenarioPath {
    upstream.namedScenarios["file"] = scenarioFromFile(path, delayMs: options.delayMs)
}
let defaultName = options.defaultScenario ?? (options.scenarioPath != nil ? "file" : "text")
guard let defaultScenario = upstream.namedScenarios[defaultName] ?? Scenario.named(defaultName) else {
    fail("unknown scenario \(defaultName); known: \(Scenario.catalogNames.joined(separator: ", "))")
}
upstream.defaultScenario = defaultScenario

if let path = options.recordPath {
    guard let file = fopen(path, "ab") else { fail("cannot open \(path): \(String(cString: strerror(errno)))") }
    upstream.onRequest = { request in
        // One line per body: compact JSON when it parses, else the raw text as a JSON string.
        var line = request.json?.compactBytes() ?? JSONValue.string(String(decoding: request.body, as: UTF8.self)).compactBytes()
        line.append(10)
        _ = line.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fflush(file)
    }
}

let port: Int
do {
    port = try upstream.start(host: options.host, port: options.port, http2: options.http2)
} catch {
    fail("cannot listen on \(options.host):\(options.port): \(error)")
}
emit("listening \(port)\n", to: 1)

var watchers: [SignalWatcher] = []
for signalNumber in [SIGINT, SIGTERM] {
    do {
        let watcher = try SignalWatcher(loop: loop)
        try watcher.start(signal: signalNumber) { _ in
            for watcher in watchers { watcher.close() }
            upstream.shutdown {}
        }
        watchers.append(watcher)
    } catch {
        fail("cannot watch signals: \(error)")
    }
}

loop.run()
do {
    try loop.close()
} catch {
    emit("scripted-upstream: \(error)\n", to: 2)
}
emit("scripted-upstream: \(upstream.scenariosPlayed) scenarios played\n", to: 2)
exit(0)
