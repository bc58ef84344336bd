// The CLI's RPC: `CLISessionManager` objects under `/cli/managers`, `CLISession` objects under
// `/cli/sessions/<handle>`. Each method table maps the reference's method name to its handler and
// gives the routes their names.

import AnthropicAPI
import CLIProcess
import EventLoop
import HTTPServer
import JSON
import App

/// One `CLISessionManager` method: reads its keyword arguments, calls the manager, answers.
typealias ManagerMethod = @Sendable (BotAPI, CLISessionManager, Arguments, Reply) throws(APIError) -> Void
/// One `CLISession` method, given the whole request (`start_task` streams its answer).
typealias SessionMethod = @Sendable (BotAPI, CLISession, HTTPRequest, Reply) -> Void

extension BotAPI {
    static let managerMethods: [(name: String, call: ManagerMethod)] = [
        ("get_or_create_session", { api, manager, args, reply throws(APIError) in
            let requested = try args.optionalSessionID("session_id")
            do {
                let (session, sessionID, isNew) = try manager.getOrCreateSession(sessionID: requested)
                guard let handle = api.handle(of: session) else {
                    throw APIError.api("CLI session has no handle")
                }
                reply.result(.object(JSONObject([
                    ("session_handle", .string(handle)), ("session_id", .string(sessionID)), ("is_new", .bool(isNew)),
                ])))
            } catch let error as CLISessionManagerError {
                // The reference raises RuntimeError with this text; the client raises it again.
                throw APIError(status: 429, type: "rate_limit_error", message: error.description)
            } catch let error as APIError {
                throw error
            } catch {
                throw APIError.unexpected
            }
        }),
        ("register_real_session_id", { _, manager, args, reply throws(APIError) in
            let temp = try args.sessionID("temp_id"), real = try args.sessionID("real_session_id")
            reply.result(.bool(manager.registerRealSessionID(tempID: temp, realSessionID: real)))
        }),
        ("get_real_session_id", { _, manager, args, reply throws(APIError) in
            reply.result(manager.getRealSessionID(tempID: try args.sessionID("temp_id")).map { .string($0) } ?? .null)
        }),
        ("remove_session", { _, manager, args, reply throws(APIError) in
            let sessionID = try args.sessionID("session_id")
            var removed = false
            removed = manager.removeSession(sessionID: sessionID) {
                reply.result(.bool(removed))
            }
            if !removed { reply.result(.bool(false)) }
        }),
        ("stop_all", { _, manager, _, reply in
            manager.stopAll { reply.result(.null) }
        }),
        ("get_stats", { _, manager, _, reply in
            reply.result(manager.getStats().json)
        }),
    ]

    /// 404 for a manager this run does not know; otherwise the arguments are read and the call applied.
    func callManager(_ id: String, _ name: String, _ method: ManagerMethod, _ request: HTTPRequest, _ reply: Reply) {
        guard let manager = managers[id] else {
            reply.error(.notFound("Unknown CLI session manager: \(id) (open it with POST /cli/managers)"))
            return
        }
        do throws(APIError) {
            try method(self, manager, try Arguments(method: name, body: request.body), reply)
        } catch {
            reply.error(error)
        }
    }

    static let sessionMethods: [(name: String, call: SessionMethod)] = [
        ("start_task", { api, session, request, reply in
            api.startTask(session, request, reply)
        }),
        // `CLISession.stop()` takes no arguments: the body is not read.
        ("stop", { _, session, _, reply in
            session.stop { stopped in reply.result(.bool(stopped)) }
        }),
    ]

    /// The reference constructs a manager from these four arguments, all chosen by the bot. Here the
    /// server has the last word: the workspace and every allowed directory must resolve inside
    /// `ALLOWED_DIR` (403 otherwise), `max_sessions` is capped by `MAX_CLI_SESSIONS`, and `api_url` is
    /// accepted and ignored (the CLIs always call this server back). The same resolved configuration
    /// gives the same manager (and id), so several clients built alike share sessions.
    func openManager(_ request: HTTPRequest, _ reply: Reply) {
        do throws(APIError) {
            let args = try Arguments(method: "CLISessionManager", body: request.body)
            let workspaceArgument = try args.string("workspace_path")
            let allowedArguments = try args.stringList("allowed_dirs")
            let requested = try args.int("max_sessions", default: 10)
            guard requested >= 1 else { throw APIError.invalidRequest("CLISessionManager(): max_sessions must be >= 1") }
            let confinement: Confinement
            switch self.confinement {
            case .success(let c): confinement = c
            case .failure(let error):
                throw APIError.api("CLI sessions are unavailable: ALLOWED_DIR \(error)", status: 503)
            }
            let workspace = try admit(workspaceArgument, "workspace_path", confinement)
            var allowed: [String] = []
            for directory in allowedArguments {
                allowed.append(try admit(directory, "allowed_dirs", confinement))
            }
            let maxSessions = min(requested, settings.cli.maxSessions)
            let id = Self.managerID(workspace: workspace, allowedDirs: allowed, maxSessions: maxSessions)
            if managers[id] == nil {
                let shared = SharedSessionLimit(limit: settings.cli.maxSessions) { [unowned self] in liveSessions }
                managers[id] = CLISessionManager(loop: app.loop, maxSessions: maxSessions, sharedLimit: shared) {
                    [unowned self] in
                    let session = CLISession(loop: app.loop, workspace: workspace, apiURL: listening.localURL + "/v1",
                                             allowedDirectories: allowed, executable: executable,
                                             killEscalation: killEscalation, inheritedEnvironment: cliEnvironment,
                                             confinement: confinement)
                    registerHandle(for: session)
                    return session
                }
                log.info("CLI session manager created", [
                    ("manager_id", .string(id)), ("workspace", .string(workspace)), ("max_sessions", .int(maxSessions)),
                ])
            }
            reply.result(.object(JSONObject([("manager_id", .string(id))])))
        } catch {
            reply.error(error)
        }
    }

    /// `path` resolved, or 403 when it lies outside the confinement.
    private func admit(_ path: String, _ argument: String, _ confinement: Confinement) throws(APIError) -> String {
        switch confinement.admit(path) {
        case .success(let resolved):
            return resolved
        case .failure(let error):
            throw APIError.permission(
                "CLISessionManager(): \(argument) \(error); CLI sessions may only work inside ALLOWED_DIR "
                    + "(\(confinement.root)).")
        }
    }

    /// A stable id for a manager configuration: FNV-1a (64 bit) over its canonical JSON, so a client
    /// may keep using it across a server restart after re-opening the manager.
    static func managerID(workspace: String, allowedDirs: [String], maxSessions: Int) -> String {
        let canonical = JSONValue.array([.string(workspace), .array(allowedDirs.map { .string($0) }),
                                         .int(maxSessions)]).compactBytes()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonical {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "mgr_" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    func registerHandle(for session: CLISession) {
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

    func handle(of session: CLISession) -> String? {
        handleByObject[ObjectIdentifier(session)]
    }

    func session(handle: String, _ reply: Reply) -> CLISession? {
        if let session = sessionsByHandle[handle]?.session { return session }
        reply.error(.notFound("Unknown CLI session handle: \(handle) (removed, or from before a restart)"))
        return nil
    }

    func describe(_ session: CLISession, handle: String) -> JSONValue {
        .object(JSONObject([
            ("session_handle", .string(handle)),
            ("is_busy", .bool(session.isBusy)),
            ("current_session_id", session.currentSessionID.map { .string($0) } ?? .null),
        ]))
    }

    /// Stops every manager's sessions, and tasks of sessions no manager holds any more.
    func stopAll(_ completion: @escaping () -> Void) {
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

    func startTask(_ session: CLISession, _ request: HTTPRequest, _ reply: Reply) {
        let responder = reply.responder
        let prompt: String, sessionID: String?, fork: Bool
        do throws(APIError) {
            let args = try Arguments(method: "start_task", body: request.body)
            prompt = try args.argument("prompt")
            sessionID = try args.optionalSessionID("session_id")
            fork = args.flag("fork_session")
        } catch {
            reply.error(error)
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
