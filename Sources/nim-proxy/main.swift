// nim-proxy: Claude Code (Anthropic Messages API) on NVIDIA NIM (OpenAI chat completions).
//
// Startup: flags, then `.env` and the environment, validated strictly; any problem is printed
// and the process exits with status 2 before binding anything.

#if canImport(Glibc)
import Glibc
#endif
import BotAPI
import CLIProcess
import CProcessControl
import EventLoop
import Logging
import NIMProvider
import ProxyConfig
import App
import Tokenizer

func fail(_ message: String, status: Int32 = 2) -> Never {
    let line = Array(("nim-proxy: " + message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(status)
}

// `nim-proxy claude ...` and `nim-proxy stop` (Launcher.swift) never run the server in this process.
if let launch = LauncherRequest.parse(Array(CommandLine.arguments.dropFirst())) { runLauncher(launch) }

// First of all, before any secret is read: the Claude Code CLIs this server runs have the same user,
// and a dumpable process lets them read its environment (`/proc/<pid>/environ`) and memory.
if nimproxy_set_not_dumpable() != 0 {
    fail("cannot make the process non-dumpable (prctl PR_SET_DUMPABLE): \(String(cString: strerror(errno)))", status: 1)
}

let options: CommandLineOptions
do {
    options = try CommandLineOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    fail("\(error)\n\n\(CommandLineOptions.usage)")
}
if options.showHelp {
    print(CommandLineOptions.usage)
    exit(0)
}
if options.printSettingsTable {
    print(Settings.markdownTable(), terminator: "")
    exit(0)
}

var dotEnv: String?
let envPath = options.envFile ?? ".env"
if access(envPath, F_OK) == 0 {
    let bytes: [UInt8]
    switch readWholeFile(envPath) {
    case .success(let b): bytes = b
    case .failure(let error): fail("cannot read env file: \(error)")
    }
    guard let text = String(validating: bytes, as: UTF8.self) else { fail("env file \(envPath) is not UTF-8") }
    dotEnv = text
} else if options.envFile != nil {
    fail("env file \(envPath) does not exist")
}

let environment = ProcessEnvironment.dictionary
var settings: Settings
do {
    settings = try Settings.load(environment: environment, dotEnv: dotEnv)
} catch {
    fail(error.description)
}
if let problem = NIMProvider.startupProblem(settings) { fail(problem) }
if let host = options.host { settings.http.host = host }
if let port = options.port { settings.http.port = port }
if let problem = AccessControl.startupProblem(host: settings.http.host, token: settings.http.authToken) {
    fail(problem)
}
// The CLIs' own token, new at each start; it opens the Anthropic endpoints only (see Credentials).
guard let cliToken = Credentials.makeCLIToken() else {
    fail("cannot get random bytes for the CLI token (getentropy): \(String(cString: strerror(errno)))", status: 1)
}
let credentials = Credentials(operatorToken: settings.http.authToken, cliToken: cliToken)
let listening = ListeningAddress(host: settings.http.host)

let log = Logger(minimum: {
    switch settings.logging.level {
    case .debug: .debug
    case .info: .info
    case .warning: .warning
    case .error: .error
    }
}())

// A reference `.env` works unchanged; what it sets that this server does not use is said once.
let ignoredKeys = Settings.ignoredKeysSet(environment: environment, dotEnv: dotEnv)
if !ignoredKeys.isEmpty {
    log.info("settings accepted and ignored", [("keys", .string(ignoredKeys.joined(separator: ", ")))])
}

// A client that disconnects must not kill the process: libuv reports EPIPE instead.
signal(SIGPIPE, SIG_IGN)
// Claude CLI processes we start must not outlive us, also when we crash or exit early.
ProcessRegistry.installExitHooks()

// One loop per core unless WORKERS says otherwise: the cores this process may run on (its CPU
// affinity, as `taskset` or a container's cpuset leave it), else those online.
func usableCores() -> Int {
    let allowed = Int(nimproxy_usable_cpus())
    return allowed > 0 ? allowed : max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}
let loopCount = settings.http.workers ?? min(usableCores(), SettingKind<Int?>.maxWorkers)

let loop: EventLoop
/// Where the worker loops reach this one; a single loop has none.
let mailbox: LoopMailbox?
do {
    loop = try EventLoop()
    mailbox = loopCount > 1 ? try LoopMailbox(loop: loop) : nil
} catch {
    fail("cannot create the event loop: \(error)", status: 1)
}

// Every request passes these steps, in this order, before the router sees it: a page in a browser
// is turned away first (foreign Host or Origin), then the token decides, then a body declared as
// anything but JSON is refused. Each loop has its own list (the steps are loop-confined).
@Sendable func middleware(listening: ListeningAddress, credentials: Credentials) -> [Middleware] {
    [
        BrowserDefenses.hostAndOrigin(listening: listening, credentials: credentials),
        AccessControl.tokenCheck(credentials),
        BrowserDefenses.jsonBodies(),
    ]
}

/// One loop's app and upstream client; the main loop's and every worker's are made alike, all with
/// the process's one admission per provider (rate window, 429 block, concurrency places).
@Sendable func makeApp(loop: EventLoop, listening: ListeningAddress, settings: Settings, log: Logger,
                       credentials: Credentials, admissions: ProviderAdmissions) throws -> (ProxyApp, NIMProvider) {
    let app = ProxyApp(loop: loop, settings: settings, log: log,
                       middleware: middleware(listening: listening, credentials: credentials))
    let provider = try NIMProvider(loop: loop, settings: settings, log: log, admissions: admissions)
    app.streamer = provider
    provider.observer = { [unowned app] observation in app.metrics.record(observation) }
    return (app, provider)
}

let app: ProxyApp
let provider: NIMProvider
let admissions: ProviderAdmissions
do {
    admissions = try ProviderAdmissions.makeAll(settings: settings)
    (app, provider) = try makeApp(
        loop: loop, listening: listening, settings: settings, log: log, credentials: credentials, admissions: admissions)
} catch {
    fail("cannot set up the upstream client: \(error)", status: 1)
}
// The bot-facing API: CLI sessions and the session store (docs/bot-api.md). Installing it creates
// the workspace and loads the sessions file; a failure is logged and the store answers 503. It
// stays on this loop: the other loops forward its routes here.
let botAPI = BotAPI.install(into: app, settings: settings, log: log, credentials: credentials, listening: listening)
if let warning = botAPI.startupWarning { log.warning(warning) }
// The one listening socket, bound before any worker starts: a port in use fails here.
let port: Int
do {
    port = try app.start()
} catch {
    fail("cannot listen on \(settings.http.host):\(settings.http.port): \(error)", status: 1)
}
listening.port = port

// The other loops, each on its own thread. They take connections as soon as each is set up.
let workers: WorkerLoops?
if let mailbox {
    let settings = settings
    let group = WorkerLoops(
        main: app, mailbox: mailbox, workers: loopCount - 1,
        // Asked for every request a worker gets: the Anthropic paths are passed at the first check.
        forwardToMain: { path in !path.hasPrefix("/v1/") && AccessControl.isBotPath(path) },
        makeWorker: { loop, _ in
            let (app, provider) = try makeApp(
                loop: loop, listening: ListeningAddress(host: settings.http.host, port: port), settings: settings,
                log: log, credentials: credentials, admissions: admissions)
            return WorkerParts(app: app, close: { provider.close() })
        })
    group.onProblem = { problem in log.error(problem) }
    do {
        try group.start { [unowned group] in
            if group.readyCount < group.count { fail("not every worker loop could start (see the log)", status: 1) }
        }
    } catch {
        fail("cannot start the worker threads: \(error)", status: 1)
    }
    workers = group
} else {
    workers = nil
}
log.info("listening", [
    ("host", .string(settings.http.host)), ("port", .int(port)), ("model", .string(settings.upstream.model)),
    ("upstream", .string(settings.upstream.baseURL)),
    ("providers", .string(settings.providersInUse.map(\.rawValue).joined(separator: ", "))),
    ("workers", .int(loopCount)),
])

// The tokenizer's tables (about 6 MB) are built on first use rather than at start: an idle
// proxy stays small, and the first count costs some 30 ms once. Every loop shares them.

var shuttingDown = false
/// The loops still draining; the main loop's own part (CLIs, store, upstream client) ends last.
var drainsLeft = 0
let signals = [SIGINT, SIGTERM].compactMap { sig -> SignalWatcher? in
    guard let watcher = try? SignalWatcher(loop: loop) else { return nil }
    try? watcher.start(signal: sig) { received in
        if shuttingDown {
            log.warning("second signal, exiting now", [("signal", .int(Int(received)))])
            _ = ProcessRegistry.shared.killAll()
            exit(1)
        }
        shuttingDown = true
        log.info("shutting down", [("signal", .int(Int(received)))])
        // Stop accepting and let streams finish (bounded) on every loop, the workers closing
        // theirs; then stop every CLI session and write the session store, then release the
        // upstream client. Bot calls forwarded from workers are answered until the workers closed.
        let drained = {
            drainsLeft -= 1
            guard drainsLeft == 0 else { return }
            botAPI.shutdown {
                provider.close()
                mailbox?.close()
                log.info("stopped")
                loop.stop()
            }
        }
        drainsLeft = workers == nil ? 1 : 2
        app.shutdown(timeout: settings.http.shutdownTimeout, completion: drained)
        workers?.shutdown(timeout: settings.http.shutdownTimeout, completion: drained)
    }
    return watcher
}

loop.run()
for watcher in signals { watcher.close() }
exit(0)
