import BotAPI
import EventLoop
import JSON
import ProxyConfig
import App
import TestSupport
import Testing
import Text
#if canImport(Glibc)
import Glibc
#endif

/// The fake `claude` of the CLIProcess tests: it runs its `-p` prompt as shell code.
let fakeClaude = Fixture.path("fake-claude", in: .targetNamed("CLIProcessTests"))

let cliEnvironment: [(key: String, value: String)] = [("PATH", "/usr/local/bin:/usr/bin:/bin")]

/// A fresh empty directory under the system temp dir.
func makeTempDirectory() -> String {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    var template = Array((base + "/botapi-test-XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed")
    return String(cBuffer: template)
}

func readText(_ path: String) -> String? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

func writeText(_ path: String, _ text: String) {
    let f = fopen(path, "wb")!
    _ = text.withCString { fputs($0, f) }
    fclose(f)
}

func json(_ text: String) -> JSONValue { try! JSONValue.parse(text) }

/// The token the harness's CLIs get (fixed, so tests can present it).
let testCLIToken = "cli-test-token"

/// One server (ProxyApp + BotAPI) on 127.0.0.1:0 and helpers to call it; `finish()` shuts it down.
/// PROXY_AUTH_TOKEN is `test-token` unless `configure` changes it: without one the bot API is closed.
final class Harness {
    let loop: EventLoop
    let app: ProxyApp
    let api: BotAPI
    let port: Int
    var token: String?

    init(loop: EventLoop, workspace: String, configure: (inout Settings) -> Void = { _ in }) throws {
        var settings = Settings()
        settings.http.host = "127.0.0.1"
        settings.http.port = 0
        settings.http.authToken = "test-token"
        settings.cli.workspace = workspace
        settings.cli.executable = fakeClaude
        configure(&settings)
        self.loop = loop
        let credentials = Credentials(operatorToken: settings.http.authToken, cliToken: testCLIToken)
        let listening = ListeningAddress(host: settings.http.host)
        // The middleware `main` assembles.
        app = ProxyApp(loop: loop, settings: settings, log: .silent, middleware: [
            BrowserDefenses.hostAndOrigin(listening: listening, credentials: credentials),
            AccessControl.tokenCheck(credentials),
            BrowserDefenses.jsonBodies(),
        ])
        api = BotAPI.install(into: app, settings: settings, log: .silent, credentials: credentials,
                             listening: listening, inheritedEnvironment: cliEnvironment,
                             killEscalation: .seconds(2), storeSaveDelay: .milliseconds(50))
        port = try app.start()
        listening.port = port
        token = settings.http.authToken
    }

    var authHeaders: [(String, String)] {
        var h: [(String, String)] = [("Content-Type", "application/json")]
        if let token { h.append(("x-api-key", token)) }
        return h
    }

    func call(_ method: String, _ path: String, _ body: String = "", headers: [(String, String)]? = nil,
              _ then: @escaping (TestResponse?) -> Void) {
        LoopHTTPClient.fetch(loop, port: port, method: method, path: path, headers: headers ?? authHeaders,
                             body: Array(body.utf8), then)
    }

    /// Runs `calls` one after another and hands all responses to `then`.
    func sequence(_ calls: [(String, String, String)], _ then: @escaping ([TestResponse?]) -> Void) {
        var out: [TestResponse?] = []
        func next(_ i: Int) {
            guard i < calls.count else { return then(out) }
            call(calls[i].0, calls[i].1, calls[i].2) { r in
                out.append(r)
                next(i + 1)
            }
        }
        next(0)
    }

    /// A server on a fresh loop that answers `calls` one after another, then shuts down.
    static func responses(workspace: String, configure: (inout Settings) -> Void = { _ in },
                          sourceLocation: SourceLocation = #_sourceLocation,
                          _ calls: [(String, String, String)]) throws -> [TestResponse?] {
        var responses: [TestResponse?] = []
        try withLoop(sourceLocation: sourceLocation) { loop in
            let h = try Harness(loop: loop, workspace: workspace, configure: configure)
            h.sequence(calls) { out in
                responses = out
                h.finish()
            }
        }
        return responses
    }

    func after(ms: UInt64, _ body: @escaping () -> Void) {
        let timer = try! Timer(loop: loop)
        try! timer.start(after: .milliseconds(ms)) {
            timer.close()
            body()
        }
    }

    /// Stops CLIs, writes the store, closes the server.
    func finish(_ then: @escaping () -> Void = {}) {
        api.shutdown { [self] in
            app.shutdown(timeout: .seconds(1)) { then() }
        }
    }
}

func result(_ r: TestResponse?) -> JSONValue? { r?.json?["result"] }
func errorType(_ r: TestResponse?) -> String? { r?.json?["error"]?["type"]?.stringValue }

/// NDJSON lines of a streamed body.
func ndjsonEvents(_ r: TestResponse?) -> [JSONValue] {
    guard let r else { return [] }
    return r.text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
}

/// Shell for the fake CLI: print each JSON text on its own line.
func printLines(_ lines: [String]) -> String {
    lines.map { "printf '%s\\n' '\($0)'" }.joined(separator: "; ")
}

/// A JSON string literal for embedding `text` in a request body.
func quoted(_ text: String) -> String { JSONValue.string(text).compactString() }
