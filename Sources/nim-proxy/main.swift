// nim-proxy: Claude Code (Anthropic Messages API) on NVIDIA NIM (OpenAI chat completions).
//
// Startup: flags, then `.env` and the environment, validated strictly; any problem is printed
// and the process exits with status 2 before binding anything.

#if canImport(Glibc)
import Glibc
#endif
import BotAPI
import CLIProcess
import EventLoop
import Foundation
import NIMProvider
import ProxyConfig
import ProxyServer
import Tokenizer

func fail(_ message: String, status: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data(("nim-proxy: " + message + "\n").utf8))
    exit(status)
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

var dotEnv: String?
let envPath = options.envFile ?? ".env"
if FileManager.default.fileExists(atPath: envPath) {
    // FileHandle rather than FileManager.contents: the latter refuses special files
    // such as /dev/null, a common way to say "no .env".
    guard let handle = FileHandle(forReadingAtPath: envPath), let data = try? handle.readToEnd() ?? Data() else {
        fail("cannot read env file \(envPath)")
    }
    guard let text = String(data: data, encoding: .utf8) else { fail("env file \(envPath) is not UTF-8") }
    dotEnv = text
} else if options.envFile != nil {
    fail("env file \(envPath) does not exist")
}

var settings: Settings
do {
    settings = try Settings.load(environment: ProcessInfo.processInfo.environment, dotEnv: dotEnv)
} catch {
    fail(error.description)
}
if let host = options.host { settings.host = host }
if let port = options.port { settings.port = port }

let logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(name:)) ?? .info
let log = Logger(minimum: logLevel)

// A client that disconnects must not kill the process: libuv reports EPIPE instead.
signal(SIGPIPE, SIG_IGN)
// Claude CLI processes we start must not outlive us, also when we crash or exit early.
ProcessRegistry.installExitHooks()

let loop: EventLoop
do {
    loop = try EventLoop()
} catch {
    fail("cannot create the event loop: \(error)", status: 1)
}

let app = ProxyApp(loop: loop, settings: settings, log: log)
let provider: NIMProvider
do {
    provider = try NIMProvider(loop: loop, settings: settings, log: log)
} catch {
    fail("cannot set up the upstream client: \(error)", status: 1)
}
app.streamer = provider
// The bot-facing API: CLI sessions and the session store (docs/bot-api.md).
let botAPI = BotAPI.install(into: app, settings: settings, log: log)
if let warning = botAPI.startupWarning { log.warning(warning) }
let port: Int
do {
    port = try app.start()
} catch {
    fail("cannot listen on \(settings.host):\(settings.port): \(error)", status: 1)
}
log.info("listening", [
    ("host", .string(settings.host)), ("port", .int(port)), ("model", .string(settings.model)),
    ("upstream", .string(settings.nvidiaNimBaseURL)),
])

// Load the tokenizer's ranks off the loop so the first count_tokens does not pay for it.
try? loop.runOnWorker({ CL100KTokenizer.shared.count("warm") }) { _ in }

var shuttingDown = false
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
        // Stop accepting and let streams finish (bounded), then stop every CLI session and
        // write the session store, then release the upstream client.
        app.shutdown(timeoutMs: UInt64(settings.shutdownTimeoutSeconds * 1000)) {
            botAPI.shutdown {
                provider.close()
                log.info("stopped")
                loop.stop()
            }
        }
    }
    return watcher
}

loop.run()
for watcher in signals { watcher.close() }
exit(0)
