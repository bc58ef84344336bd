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
import ProxyServer
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
    private let storeProblem: String?
    /// The CLI each session runs (`CLAUDE_CLI_BIN`).
    public let executable: String
    /// Environment for the CLI; nil inherits this process's at each start.
    private let cliEnvironment: [(key: String, value: String)]?
    private let killEscalationMs: UInt64

    private var managers: [String: CLISessionManager] = [:]
    private var sessionsByHandle: [String: SessionSlot] = [:]
    private var handleByObject: [ObjectIdentifier: String] = [:]
    /// Distinguishes handles of this run from those of an earlier one.
    private let runTag = String(UInt32.random(in: .min ... .max), radix: 16)
    private var nextHandle = 1

    /// A session as long as a manager holds it or a task of it runs (the task's process keeps it
    /// alive); a handle the bot still knows after both ended answers 404.
    private final class SessionSlot {
        weak var session: CLISession?
        let object: ObjectIdentifier
        init(_ session: CLISession) {
            self.session = session
            object = ObjectIdentifier(session)
        }
    }

    /// Adds the routes and the access gate to `app`, and loads the store from
    /// `<CLAUDE_WORKSPACE>/sessions.json` (creating the directory, as the reference does).
    /// `cliEnvironment` replaces the environment the CLI inherits (tests); by default it is this
    /// process's, with `ANTHROPIC_API_KEY` set to the proxy token when one is configured so the CLI
    /// can call this server back.
    @discardableResult
    public static func install(into app: ProxyApp, settings: Settings, log: Logger,
                               cliEnvironment: [(key: String, value: String)]? = nil,
                               killEscalationMs: UInt64 = 5_000,
                               storeSaveDelay: Duration = .milliseconds(500)) -> BotAPI {
        let api = BotAPI(app: app, settings: settings, log: log, cliEnvironment: cliEnvironment,
                         killEscalationMs: killEscalationMs, storeSaveDelay: storeSaveDelay)
        api.registerRoutes()
        app.healthContributors.append { [unowned api] in api.healthFields }
        return api
    }

    private init(app: ProxyApp, settings: Settings, log: Logger, cliEnvironment: [(key: String, value: String)]?,
                 killEscalationMs: UInt64, storeSaveDelay: Duration) {
        self.app = app
        self.settings = settings
        self.log = log
        self.executable = settings.claudeCliBin
        self.killEscalationMs = killEscalationMs
        let token = settings.proxyAuthToken ?? ""
        if token.isEmpty {
            self.cliEnvironment = cliEnvironment
        } else {
            var env = cliEnvironment ?? ProcessEnvironment.entries
            env.removeAll { $0.key == "ANTHROPIC_API_KEY" || $0.key == "ANTHROPIC_AUTH_TOKEN" }
            env.append((key: "ANTHROPIC_API_KEY", value: token))
            self.cliEnvironment = env
        }

        let directory = settings.claudeWorkspace
        let path = (directory.hasSuffix("/") ? directory : directory + "/") + "sessions.json"
        var store: SessionStoreService?
        var problem: String?
        do {
            if let problem = ProcessEnvironment.makeDirectories(directory) {
                throw DirectoryError(description: problem)
            }
            let cap = PythonText.messageLogCap(
                environmentValue: ProcessEnvironment.dictionary["MAX_MESSAGE_LOG_ENTRIES_PER_CHAT"])
            store = try SessionStoreService(
                loop: app.loop, path: path, messageLogCap: cap, delay: storeSaveDelay,
                onSaveError: { error in log.error("session store save failed", [("error", .string(error.description))]) })
            if let q = store?.quarantine {
                log.warning("sessions file was unreadable and has been moved aside; starting empty", [
                    ("path", .string(q.originalPath)), ("moved_to", .string(q.quarantinePath)),
                    ("reason", .string(q.reason)),
                ])
            }
        } catch {
            problem = "\(error)"
            log.error("session store unavailable", [("path", .string(path)), ("error", .string(problem!))])
        }
        self.store = store
        self.storeProblem = problem
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
        AccessControl.startupWarning(host: settings.host, token: settings.proxyAuthToken)
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

    private func registerRoutes() {
        let previousGate = app.requestGate
        app.requestGate = { [unowned self] request, responder in
            if let token = settings.proxyAuthToken, !token.isEmpty,
               !AccessControl.isAuthorized(request, token: token) {
                app.respondError(AccessControl.missingTokenError, responder)
                return false
            }
            return previousGate?(request, responder) ?? true
        }
        app.register(method: "POST", path: "/stop") { [unowned self] request, responder in
            guard guardBotEndpoint(responder) else { return }
            stopAll { [self] in
                // The reference's answer when it has a CLI manager but no message handler, which is
                // this server's situation: the bot (and its task queue) lives in another process.
                app.respondJSON(status: 200, body: ["status": "stopped", "source": "cli_manager"], responder)
            }
        }
        app.register(prefix: "/store/") { [unowned self] request, responder in
            let method = String(request.path.dropFirst("/store/".count))
            guard Self.storeMethods.contains(method) else { return false }
            guard guardBotEndpoint(responder), requirePOST(request, responder) else { return true }
            handleStore(method: method, request, responder)
            return true
        }
        app.register(prefix: "/cli/") { [unowned self] request, responder in
            routeCLI(request, responder)
        }
    }

    static let storeMethods: Set<String> = [
        "record_message_id", "get_message_ids_for_chat", "clear_all", "save_tree", "get_tree",
        "get_tree_root_for_node", "register_node", "get_all_trees", "get_node_mapping",
        "sync_from_tree_data", "cleanup_old_trees", "flush_pending_save",
    ]

    static let managerMethods: Set<String> = [
        "get_or_create_session", "register_real_session_id", "get_real_session_id", "remove_session",
        "stop_all", "get_stats",
    ]

    private func guardBotEndpoint(_ responder: HTTPResponder) -> Bool {
        if AccessControl.botEndpointsAllowed(host: settings.host, token: settings.proxyAuthToken) { return true }
        app.respondError(AccessControl.unprotectedBindError, responder)
        return false
    }

    private func requirePOST(_ request: HTTPRequest, _ responder: HTTPResponder) -> Bool {
        if request.method == "POST" { return true }
        app.respondError(APIError(status: 405, type: "invalid_request_error",
                                  message: "Method Not Allowed: \(request.method) \(request.path) (use POST)"),
                         responder)
        return false
    }

    private func result(_ value: JSONValue, _ responder: HTTPResponder) {
        app.respondJSON(status: 200, body: .object(JSONObject([("result", value)])), responder)
    }

    // MARK: store

    private func handleStore(method: String, _ request: HTTPRequest, _ responder: HTTPResponder) {
        guard let store else {
            app.respondError(.api("The session store is unavailable: \(storeProblem ?? "not loaded")", status: 503), responder)
            return
        }
        let written: (SessionFileIOError?) -> Void = { [self] failure in
            if let failure {
                app.respondError(.api("Could not write the sessions file: \(failure)"), responder)
            } else {
                result(.null, responder)
            }
        }
        do throws(APIError) {
            let args = try Arguments(method: method, body: request.body)
            switch method {
            case "record_message_id":
                let platform = try args.text("platform"), chat = try args.text("chat_id")
                let message = try args.nullableText("message_id")
                let direction = try args.text("direction"), kind = try args.text("kind")
                store.mutate { $0.recordMessageID(platform: platform, chatID: chat, messageID: message,
                                                  direction: direction, kind: kind, now: currentUTCTime()) }
                result(.null, responder)
            case "get_message_ids_for_chat":
                let ids = store.state.messageIDs(platform: try args.text("platform"), chatID: try args.text("chat_id"))
                result(.array(ids.map { .string($0) }), responder)
            case "clear_all":
                store.mutate({ $0.clearAll() }, onWritten: written)
            case "flush_pending_save":
                store.flush(written)
            case "save_tree":
                let root = try args.text("root_id"), tree = try args.jsonObject("tree_data")
                do {
                    try store.mutate { (state: inout SessionStoreState) throws(SessionStoreError) in
                        try state.saveTree(rootID: root, treeData: tree)
                    }
                } catch {
                    throw APIError.invalidRequest("save_tree(): \(error)")
                }
                result(.null, responder)
            case "get_tree":
                result(store.state.tree(rootID: try args.text("root_id")).map { .object($0) } ?? .null, responder)
            case "get_tree_root_for_node":
                result(store.state.treeRoot(forNode: try args.text("node_id")).map { .string($0) } ?? .null, responder)
            case "register_node":
                let node = try args.text("node_id"), root = try args.text("root_id")
                store.mutate { $0.registerNode(node, rootID: root) }
                result(.null, responder)
            case "get_all_trees":
                result(.object(store.state.allTrees()), responder)
            case "get_node_mapping":
                result(.object(store.state.nodeMapping()), responder)
            case "sync_from_tree_data":
                let trees = try args.jsonObject("trees"), mapping = try args.jsonObject("node_to_tree")
                do {
                    try store.mutate { (state: inout SessionStoreState) throws(SessionStoreError) in
                        try state.syncFromTreeData(trees: trees, nodeToTree: mapping)
                    }
                } catch {
                    throw APIError.invalidRequest("sync_from_tree_data(): \(error)")
                }
                result(.null, responder)
            case "cleanup_old_trees":
                let days = try args.int("max_age_days", default: 30)
                let removed = store.mutate { $0.cleanupOldTrees(maxAgeDays: days, now: currentUTCTime()) }
                result(.int(removed), responder)
            default:
                app.respondError(.notFound("Unknown store method: \(method)"), responder)
            }
        } catch {
            app.respondError(error, responder)
        }
    }

    // MARK: CLI

    private func routeCLI(_ request: HTTPRequest, _ responder: HTTPResponder) -> Bool {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        // "", "cli", kind, ...
        guard parts.count >= 3 else { return false }
        switch (parts[2], parts.count) {
        case ("managers", 3):
            guard guardBotEndpoint(responder), requirePOST(request, responder) else { return true }
            openManager(request, responder)
        case ("managers", 5) where Self.managerMethods.contains(parts[4]):
            guard guardBotEndpoint(responder), requirePOST(request, responder) else { return true }
            handleManager(id: parts[3], method: parts[4], request, responder)
        case ("sessions", 4):
            guard guardBotEndpoint(responder) else { return true }
            guard request.method == "GET" || request.method == "HEAD" else {
                app.respondError(APIError(status: 405, type: "invalid_request_error",
                                          message: "Method Not Allowed: \(request.method) \(request.path) (use GET)"),
                                 responder)
                return true
            }
            guard let session = session(handle: parts[3], responder) else { return true }
            result(describe(session, handle: parts[3]), responder)
        case ("sessions", 5) where parts[4] == "start_task" || parts[4] == "stop":
            guard guardBotEndpoint(responder), requirePOST(request, responder) else { return true }
            guard let session = session(handle: parts[3], responder) else { return true }
            if parts[4] == "stop" {
                session.stop { [self] stopped in result(.bool(stopped), responder) }
            } else {
                startTask(session, request, responder)
            }
        default:
            return false
        }
        return true
    }

    /// The reference constructs a manager from these four arguments; the same arguments give the
    /// same manager (and id), so several clients built alike share sessions.
    private func openManager(_ request: HTTPRequest, _ responder: HTTPResponder) {
        do throws(APIError) {
            let args = try Arguments(method: "CLISessionManager", body: request.body)
            let workspace = try args.string("workspace_path")
            let apiURL = try args.string("api_url")
            let allowed = try args.stringList("allowed_dirs")
            let maxSessions = try args.int("max_sessions", default: 10)
            guard maxSessions >= 1 else { throw APIError.invalidRequest("CLISessionManager(): max_sessions must be >= 1") }
            let id = Self.managerID(workspace: workspace, apiURL: apiURL, allowedDirs: allowed, maxSessions: maxSessions)
            if managers[id] == nil {
                managers[id] = CLISessionManager(loop: app.loop, maxSessions: maxSessions) { [unowned self] in
                    let session = CLISession(loop: app.loop, workspace: workspace, apiURL: apiURL,
                                             allowedDirectories: allowed, executable: executable,
                                             killEscalationMs: killEscalationMs, inheritedEnvironment: cliEnvironment)
                    registerHandle(for: session)
                    return session
                }
                log.info("CLI session manager created", [("manager_id", .string(id)), ("max_sessions", .int(maxSessions))])
            }
            result(.object(JSONObject([("manager_id", .string(id))])), responder)
        } catch {
            app.respondError(error, responder)
        }
    }

    /// A stable id for a manager configuration: FNV-1a (64 bit) over its canonical JSON, so a client
    /// may keep using it across a server restart after re-opening the manager.
    static func managerID(workspace: String, apiURL: String, allowedDirs: [String], maxSessions: Int) -> String {
        let canonical = JSONValue.array([.string(workspace), .string(apiURL), .array(allowedDirs.map { .string($0) }),
                                         .int(maxSessions)]).compactBytes()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonical {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return "mgr_" + zeroPaddedHex(hash, width: 16)
    }

    private func registerHandle(for session: CLISession) {
        // Drop slots of sessions that are gone first: their object identifiers may be reused.
        for (handle, slot) in sessionsByHandle where slot.session == nil {
            sessionsByHandle.removeValue(forKey: handle)
            handleByObject.removeValue(forKey: slot.object)
        }
        let handle = "cs_\(runTag)_\(nextHandle)"
        nextHandle += 1
        let slot = SessionSlot(session)
        sessionsByHandle[handle] = slot
        handleByObject[slot.object] = handle
    }

    private func handle(of session: CLISession) -> String? {
        handleByObject[ObjectIdentifier(session)]
    }

    private func session(handle: String, _ responder: HTTPResponder) -> CLISession? {
        if let session = sessionsByHandle[handle]?.session { return session }
        app.respondError(.notFound("Unknown CLI session handle: \(handle) (removed, or from before a restart)"), responder)
        return nil
    }

    private func describe(_ session: CLISession, handle: String) -> JSONValue {
        .object(JSONObject([
            ("session_handle", .string(handle)),
            ("is_busy", .bool(session.isBusy)),
            ("current_session_id", session.currentSessionID.map { .string($0) } ?? .null),
        ]))
    }

    private func handleManager(id: String, method: String, _ request: HTTPRequest, _ responder: HTTPResponder) {
        guard let manager = managers[id] else {
            app.respondError(.notFound("Unknown CLI session manager: \(id) (open it with POST /cli/managers)"), responder)
            return
        }
        do throws(APIError) {
            let args = try Arguments(method: method, body: request.body)
            switch method {
            case "get_or_create_session":
                let requested = try args.optionalString("session_id")
                do {
                    let (session, sessionID, isNew) = try manager.getOrCreateSession(sessionID: requested)
                    guard let handle = handle(of: session) else {
                        throw APIError.api("CLI session has no handle")
                    }
                    result(.object(JSONObject([
                        ("session_handle", .string(handle)), ("session_id", .string(sessionID)), ("is_new", .bool(isNew)),
                    ])), responder)
                } catch let error as CLISessionManagerError {
                    // The reference raises RuntimeError with this text; the client raises it again.
                    throw APIError(status: 429, type: "rate_limit_error", message: error.description)
                } catch let error as APIError {
                    throw error
                } catch {
                    throw APIError.unexpected
                }
            case "register_real_session_id":
                let temp = try args.string("temp_id"), real = try args.string("real_session_id")
                result(.bool(manager.registerRealSessionID(tempID: temp, realSessionID: real)), responder)
            case "get_real_session_id":
                result(manager.getRealSessionID(tempID: try args.string("temp_id")).map { .string($0) } ?? .null, responder)
            case "remove_session":
                let sessionID = try args.string("session_id")
                var removed = false
                removed = manager.removeSession(sessionID: sessionID) { [self] in
                    result(.bool(removed), responder)
                }
                if !removed { result(.bool(false), responder) }
            case "stop_all":
                manager.stopAll { [self] in result(.null, responder) }
            case "get_stats":
                result(manager.getStats().json, responder)
            default:
                app.respondError(.notFound("Unknown manager method: \(method)"), responder)
            }
        } catch {
            app.respondError(error, responder)
        }
    }

    /// Stops every manager's sessions, and tasks of sessions no manager holds any more.
    private func stopAll(_ completion: @escaping () -> Void) {
        var remaining = 1
        func done() {
            remaining -= 1
            if remaining == 0 { completion() }
        }
        let orphans = sessionsByHandle.values.compactMap(\.session).filter(\.isBusy)
        for manager in managers.values {
            remaining += 1
            manager.stopAll { done() }
        }
        for session in orphans {
            remaining += 1
            session.stop { _ in done() }
        }
        done()
    }

    // MARK: streaming a task

    private func startTask(_ session: CLISession, _ request: HTTPRequest, _ responder: HTTPResponder) {
        let prompt: String, sessionID: String?, fork: Bool
        do throws(APIError) {
            let args = try Arguments(method: "start_task", body: request.body)
            prompt = try args.string("prompt")
            sessionID = try args.optionalString("session_id")
            fork = args.flag("fork_session")
        } catch {
            app.respondError(error, responder)
            return
        }
        let format = StreamFormat(request)
        responder.startStream(status: 200, headers: [
            ("Content-Type", format.contentType), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
        ])
        let loop = app.loop
        var task: CLITask?
        // The session is held until the stream ends, so a manager dropping it mid-task loses nothing.
        task = session.startTask(prompt: prompt, sessionID: sessionID, forkSession: fork) { event in
            responder.write(format.encode(event))
            guard event["type"] == "exit" else { return }
            // A stdout line may itself say `"type":"exit"`; the real one is the last event, after
            // which the task is finished. Check on the next turn, when the session has recorded it.
            loop.onNextTurn {
                if task?.state == .finished {
                    responder.finish()
                    task = nil
                    withExtendedLifetime(session) {}
                }
            }
        }
        responder.onClientGone = {
            // As cancelling the reference's consumer: a waiting task is withdrawn, a running CLI stopped.
            task?.cancel()
            task = nil
        }
    }
}

@available(*, unavailable)
extension BotAPI: Sendable {}

/// How `start_task` frames events: NDJSON (one JSON object a line) unless the client asks for
/// Server-Sent Events (`Accept: text/event-stream` or `?format=sse`), then `data: <json>` blocks.
struct StreamFormat {
    let sse: Bool

    init(sse: Bool) { self.sse = sse }

    init(_ request: HTTPRequest) {
        let query = request.query ?? ""
        if query.split(separator: "&").contains(where: { $0 == "format=sse" }) {
            sse = true
        } else if query.split(separator: "&").contains(where: { $0 == "format=ndjson" }) {
            sse = false
        } else {
            sse = request.header("accept")?.lowercased().contains("text/event-stream") ?? false
        }
    }

    var contentType: String { sse ? "text/event-stream" : "application/x-ndjson" }

    func encode(_ event: JSONValue) -> [UInt8] {
        if sse { return Array("data: ".utf8) + event.compactBytes() + [0x0A, 0x0A] }
        return event.compactBytes() + [0x0A]
    }
}

struct DirectoryError: Error, CustomStringConvertible {
    let description: String
}
