// BotAPI: the HTTP face of the reference's in-process `CLISessionManager`, `CLISession` and
// `SessionStore`, so a bot can run them in this server. See docs/bot-api.md for the wire format:
// every call is `POST <object path>/<method name>` with the reference method's keyword arguments as
// a JSON object, answered `{"result": <return value>}`; `start_task` streams NDJSON or SSE.

import AnthropicAPI
import CLIProcess
import EventLoop
import HTTPServer
import JSON
import Logging
import ProxyConfig
import App
import SessionStore
import SessionStoreFile
import Text

/// The bot-facing routes of one `ProxyApp`.
///
/// All methods are called from within the EventLoop.
public final class BotAPI {
    public let app: ProxyApp
    public let settings: Settings
    public let log: Logger
    /// Nil when the sessions file could not be loaded nor moved aside (then `/store/*` answers 503).
    public let store: SessionStoreService?
    let storeProblem: String?
    /// The CLI each session runs (`CLAUDE_CLI_BIN`).
    public let executable: String
    /// The environment every CLI starts from: this process's without its secrets, plus the CLI token.
    let cliEnvironment: [(key: String, value: String)]
    /// Where the server listens: the CLIs call it back there, whatever `api_url` a client names.
    let listening: ListeningAddress
    /// The tree CLI sessions may work in (`ALLOWED_DIR`, by default `CLAUDE_WORKSPACE`), or why it
    /// cannot be used (then opening a manager answers 503).
    let confinement: Result<Confinement, ConfinementError>
    let killEscalation: Duration

    var managers: [String: CLISessionManager] = [:]
    var sessionsByHandle: [String: SessionSlot] = [:]
    var handleByObject: [ObjectIdentifier: String] = [:]
    /// Distinguishes handles of this run from those of an earlier one.
    let runTag = String(UInt32.random(in: .min ... .max), radix: 16)
    var nextHandle = 1

    /// A session as long as a manager holds it or a task of it runs (the task's process keeps it
    /// alive); a handle the bot still knows after both ended answers 404.
    final class SessionSlot {
        weak var session: CLISession?
        let object: ObjectIdentifier
        init(_ session: CLISession) {
            self.session = session
            object = ObjectIdentifier(session)
        }
    }

    /// Opens the store from `<CLAUDE_WORKSPACE>/sessions.json` (creating the directory, as the
    /// reference does; a failure is logged and `/store/*` then answers 503), creates and resolves the
    /// directory CLI sessions are confined to, and adds the routes to `app`. Access control is not
    /// added here: it is a middleware step of the app (see `main`). The CLIs get `credentials`' CLI
    /// token and call the server back at `listening`. `inheritedEnvironment` replaces this process's
    /// environment as the one CLIs start from (tests); secrets are removed from either.
    @discardableResult
    public static func install(into app: ProxyApp, settings: Settings, log: Logger, credentials: Credentials,
                               listening: ListeningAddress,
                               inheritedEnvironment: [(key: String, value: String)]? = nil,
                               killEscalation: Duration = .seconds(5),
                               storeSaveDelay: Duration = .milliseconds(500)) -> BotAPI {
        let store = openStore(loop: app.loop, settings: settings, log: log, saveDelay: storeSaveDelay)
        let environment = CLICommand.childEnvironment(
            inherited: inheritedEnvironment ?? ProcessEnvironment.entries,
            secretValues: [settings.upstream.apiKey, credentials.operatorToken ?? ""],
            credential: credentials.cliToken)
        let api = BotAPI(app: app, settings: settings, log: log, store: store, cliEnvironment: environment,
                         listening: listening, confinement: openConfinement(settings: settings, log: log),
                         killEscalation: killEscalation)
        api.registerRoutes()
        app.healthContributors.append { [unowned api] in api.healthFields }
        return api
    }

    private init(app: ProxyApp, settings: Settings, log: Logger, store: Result<SessionStoreService, StoreUnavailable>,
                 cliEnvironment: [(key: String, value: String)], listening: ListeningAddress,
                 confinement: Result<Confinement, ConfinementError>, killEscalation: Duration) {
        self.app = app
        self.settings = settings
        self.log = log
        self.executable = settings.cli.executable
        self.killEscalation = killEscalation
        self.cliEnvironment = cliEnvironment
        self.listening = listening
        self.confinement = confinement
        switch store {
        case .success(let service):
            self.store = service
            self.storeProblem = nil
        case .failure(let unavailable):
            self.store = nil
            self.storeProblem = unavailable.description
        }
    }

    /// `ALLOWED_DIR`, or `CLAUDE_WORKSPACE` when it is empty, created as the reference creates it
    /// and resolved once (symlinks included) so every later check compares resolved paths.
    private static func openConfinement(settings: Settings, log: Logger) -> Result<Confinement, ConfinementError> {
        let root = settings.cli.allowedDir.isEmpty ? settings.cli.workspace : settings.cli.allowedDir
        let confinement = Confinement.creating(root)
        if case .failure(let error) = confinement {
            log.error("the directory CLI sessions are confined to is unavailable: every manager is refused", [
                ("setting", .string(settings.cli.allowedDir.isEmpty ? "CLAUDE_WORKSPACE" : "ALLOWED_DIR")),
                ("error", .string(error.description)),
            ])
        }
        return confinement
    }

    struct StoreUnavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// The start-up step that touches the disk: creates the workspace and loads (or quarantines)
    /// the sessions file, logging what happened.
    private static func openStore(loop: EventLoop, settings: Settings, log: Logger,
                                  saveDelay: Duration) -> Result<SessionStoreService, StoreUnavailable> {
        let directory = settings.cli.workspace
        let path = (directory.hasSuffix("/") ? directory : directory + "/") + "sessions.json"
        do {
            if let problem = ProcessEnvironment.makeDirectories(directory) {
                throw DirectoryError(description: problem)
            }
            let store = try SessionStoreService.load(
                loop: loop, path: path, messageLogCap: settings.cli.messageLogCap, delay: saveDelay,
                onSaveError: { error in log.error("session store save failed", [("error", .string(error.description))]) })
            if let q = store.quarantine {
                log.warning("sessions file was unreadable and has been moved aside; starting empty", [
                    ("path", .string(q.originalPath)), ("moved_to", .string(q.quarantinePath)),
                    ("reason", .string(q.reason)),
                ])
            }
            return .success(store)
        } catch {
            let problem = "\(error)"
            log.error("session store unavailable", [("path", .string(path)), ("error", .string(problem))])
            return .failure(StoreUnavailable(description: problem))
        }
    }

    /// CLI session counts over every manager, and the store's state, for `GET /health`.
    var healthFields: [(String, JSONValue)] {
        var active = 0, pending = 0, busy = 0
        for manager in managers.values {
            let s = manager.getStats()
            active += s.activeSessions
            pending += s.pendingSessions
            busy += s.busyCount
        }
        var store = JSONObject([("available", .bool(self.store != nil))])
        if let service = self.store { store["save_pending"] = .bool(!service.isIdle) }
        return [
            ("cli", .object(JSONObject([
                ("managers", .int(managers.count)), ("active_sessions", .int(active)),
                ("pending_sessions", .int(pending)), ("busy_sessions", .int(busy)),
                ("tracked_processes", .int(ProcessRegistry.shared.tracked.count)),
            ]))),
            ("session_store", .object(store)),
        ]
    }

    /// The warning `main` should log at start, if any.
    public var startupWarning: String? {
        AccessControl.startupWarning(host: settings.http.host, token: settings.http.authToken)
    }

    /// Sessions that exist across every manager, including ones no manager holds any more whose
    /// CLI still runs: what `MAX_CLI_SESSIONS` caps.
    var liveSessions: Int {
        sessionsByHandle.values.reduce(0) { $0 + ($1.session == nil ? 0 : 1) }
    }

    /// Stops every CLI and writes the store; call when the server shuts down.
    public func shutdown(_ completion: @escaping () -> Void) {
        stopAll { [self] in
            guard let store else {
                completion()
                return
            }
            store.flush { _ in
                store.close()
                completion()
            }
        }
    }

    // MARK: routing

    /// Every path of docs/bot-api.md. The method names come from the tables, so a method is added
    /// in one place.
    private func registerRoutes() {
        app.register("POST", "/stop") { [unowned self] _, _, responder in
            stopAll {
                // The reference's answer when it has a CLI manager but no message handler, which is
                // this server's situation: the bot (and its task queue) lives in another process.
                responder.respondJSON(status: 200, body: ["status": "stopped", "source": "cli_manager"])
            }
        }
        for (name, method) in Self.storeMethods {
            botCall("POST", "/store/\(name)") { [unowned self] request, _, reply in
                callStore(name, method, request, reply)
            }
        }
        botCall("POST", "/cli/managers") { [unowned self] request, _, reply in
            openManager(request, reply)
        }
        for (name, method) in Self.managerMethods {
            botCall("POST", "/cli/managers/{manager}/\(name)") { [unowned self] request, parameters, reply in
                callManager(parameters["manager"], name, method, request, reply)
            }
        }
        botCall("GET", "/cli/sessions/{handle}") { [unowned self] _, parameters, reply in
            let handle = parameters["handle"]
            guard let session = session(handle: handle, reply) else { return }
            reply.result(describe(session, handle: handle))
        }
        for (name, method) in Self.sessionMethods {
            botCall("POST", "/cli/sessions/{handle}/\(name)") { [unowned self] request, parameters, reply in
                guard let session = session(handle: parameters["handle"], reply) else { return }
                method(self, session, request, reply)
            }
        }
    }

    /// A route of the CLI and store endpoints; another HTTP method gets 405 naming the one to use.
    /// Who may call it is decided before routing (`AccessControl`, a middleware step).
    private func botCall(_ method: String, _ pattern: String, _ handler: @escaping (HTTPRequest, RouteParameters, Reply) -> Void) {
        precondition(AccessControl.isBotPath(pattern), "\(pattern) is outside the paths access control guards")
        app.register(method, pattern) { request, parameters, responder in
            handler(request, parameters, Reply(responder: responder))
        }
        app.refuseOtherMethods(pattern) { request, _, responder in
            responder.respondError(APIError(status: 405, type: "invalid_request_error",
                                            message: "Method Not Allowed: \(request.method) \(request.path) (use \(method))"))
        }
    }
}

@available(*, unavailable)
extension BotAPI: Sendable {}

/// Where a bot call answers: `{"result": <value>}` or an Anthropic-shaped error.
struct Reply {
    let responder: HTTPResponder

    func result(_ value: JSONValue) {
        responder.respondJSON(status: 200, body: .object(JSONObject([("result", value)])))
    }

    func error(_ error: APIError) {
        responder.respondError(error)
    }
}

struct DirectoryError: Error, CustomStringConvertible {
    let description: String
}
