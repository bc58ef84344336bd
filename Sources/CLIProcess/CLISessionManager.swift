// CLISessionManager: the pool of CLI sessions, one per conversation (the reference's `cli/manager.py`).
//
// The reference guards its maps with an asyncio lock; here every method runs on the loop, so each one is
// atomic by construction. Stopping a process is the only thing that takes time: the maps change at once
// and completions report when the processes are gone.

import EventLoop
import JSON
import Text

/// Refusals of `getOrCreateSession`.
public enum CLISessionManagerError: Error, Equatable, CustomStringConvertible {
    case maxSessionsReached(Int)

    /// The reference's RuntimeError text, which the bot shows to the user.
    public var description: String {
        switch self {
        case .maxSessionsReached(let max): return "Maximum concurrent sessions (\(max)) reached."
        }
    }
}

/// `get_stats()`.
public struct CLISessionStats: Equatable, Sendable {
    public var activeSessions: Int
    public var pendingSessions: Int
    public var maxSessions: Int
    /// Busy sessions among the active ones only (pending sessions are not counted, as in the reference).
    public var busyCount: Int

    /// The reference's dictionary, keys in its order.
    public var json: JSONValue {
        .object(JSONObject([
            ("active_sessions", .int(activeSessions)),
            ("pending_sessions", .int(pendingSessions)),
            ("max_sessions", .int(maxSessions)),
            ("busy_count", .int(busyCount)),
        ]))
    }
}

/// Sessions by id, in insertion order, with Python `dict` semantics (replacing a key keeps its place,
/// a removed key that comes back goes last). Idle cleanup depends on that order.
struct OrderedSessions {
    private(set) var keys: [String] = []
    private var values: [String: CLISession] = [:]

    var count: Int { keys.count }
    var sessions: [CLISession] { keys.map { values[$0]! } }

    subscript(key: String) -> CLISession? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    mutating func removeValue(forKey key: String) -> CLISession? {
        let value = values[key]
        self[key] = nil
        return value
    }

    mutating func removeAll() {
        keys = []
        values = [:]
    }
}

/// A session limit several managers share (the server's `MAX_CLI_SESSIONS`): `inUse` counts the
/// sessions that exist across all of them, including ones no manager holds any more whose CLI still runs.
public struct SharedSessionLimit {
    public let limit: Int
    public let inUse: () -> Int

    public init(limit: Int, inUse: @escaping () -> Int) {
        self.limit = limit
        self.inUse = inUse
    }
}

/// Pool of `CLISession`s: new conversations get a session under a temporary `pending_xxxxxxxx` id,
/// which moves to the CLI's real session id once the CLI reports it.
///
/// All methods are called from within the EventLoop.
public final class CLISessionManager {
    public let loop: EventLoop
    public let maxSessions: Int
    /// Checked besides `maxSessions` before a session is created.
    public let sharedLimit: SharedSessionLimit?
    private let makeSession: () -> CLISession
    private var sessions = OrderedSessions()
    private var pendingSessions = OrderedSessions()
    private var tempToReal: [String: String] = [:]
    /// Source of temp ids; replaceable so tests can predict them.
    var makeTempID: () -> String = {
        "pending_" + zeroPaddedHex(UInt32.random(in: .min ... .max), width: 8)
    }

    /// `makeSession` builds each new session (workspace, API URL, allowed dirs, executable...).
    public init(loop: EventLoop, maxSessions: Int = 10, sharedLimit: SharedSessionLimit? = nil,
                makeSession: @escaping () -> CLISession) {
        self.loop = loop
        self.maxSessions = maxSessions
        self.sharedLimit = sharedLimit
        self.makeSession = makeSession
    }

    /// The reference's constructor: every session runs in `workspace` against `apiURL`.
    public convenience init(loop: EventLoop, workspace: String, apiURL: String, allowedDirectories: [String] = [],
                            maxSessions: Int = 10, executable: String = "claude",
                            killEscalation: Duration = .seconds(5), registry: ProcessRegistry = .shared) {
        self.init(loop: loop, maxSessions: maxSessions) {
            CLISession(loop: loop, workspace: workspace, apiURL: apiURL, allowedDirectories: allowedDirectories,
                       executable: executable, killEscalation: killEscalation, registry: registry)
        }
    }

    /// The session for `sessionID` (a real id, or a temp id that was registered or is still pending);
    /// otherwise a new pending session under `sessionID` itself, or under a fresh `pending_` id when
    /// none is given. At the limit (this manager's, or the shared one), up to three idle active
    /// sessions of this manager are dropped first; if that frees nothing, throws `maxSessionsReached`
    /// with the limit that was hit.
    public func getOrCreateSession(sessionID: String? = nil) throws(CLISessionManagerError)
        -> (session: CLISession, sessionID: String, isNew: Bool)
    {
        if let sessionID, !sessionID.isEmpty {
            let lookup = tempToReal[sessionID] ?? sessionID
            if let session = sessions[lookup] { return (session, lookup, false) }
            if let session = pendingSessions[lookup] { return (session, lookup, false) }
        }
        if reachedLimit() != nil {
            cleanupIdleSessions()
            if let limit = reachedLimit() {
                throw .maxSessionsReached(limit)
            }
        }
        let id = (sessionID?.isEmpty == false) ? sessionID! : makeTempID()
        let session = makeSession()
        pendingSessions[id] = session
        return (session, id, true)
    }

    /// Moves a pending session to `realSessionID`. False when `tempID` is not pending.
    @discardableResult
    public func registerRealSessionID(tempID: String, realSessionID: String) -> Bool {
        guard let session = pendingSessions.removeValue(forKey: tempID) else { return false }
        sessions[realSessionID] = session
        tempToReal[tempID] = realSessionID
        return true
    }

    public func getRealSessionID(tempID: String) -> String? {
        tempToReal[tempID]
    }

    /// Forgets the session (pending or active, by the id it is stored under) and stops its CLI; for an
    /// active session, also the temp ids that pointed at it. False when unknown. `completion` runs once
    /// the CLI is gone (or at once, on the loop, when none ran).
    @discardableResult
    public func removeSession(sessionID: String, completion: (() -> Void)? = nil) -> Bool {
        if let session = pendingSessions.removeValue(forKey: sessionID) {
            session.stop { _ in completion?() }
            return true
        }
        if let session = sessions.removeValue(forKey: sessionID) {
            session.stop { _ in completion?() }
            tempToReal = tempToReal.filter { $0.value != sessionID }
            return true
        }
        return false
    }

    /// Stops every session's CLI and forgets all sessions and ids. `completion` runs when all CLIs are
    /// gone (their SIGKILL escalation included).
    public func stopAll(completion: (() -> Void)? = nil) {
        let all = sessions.sessions + pendingSessions.sessions
        sessions.removeAll()
        pendingSessions.removeAll()
        tempToReal.removeAll()
        guard !all.isEmpty else {
            if let completion { loop.onNextTurn(completion) }
            return
        }
        var remaining = all.count
        for session in all {
            session.stop { _ in
                remaining -= 1
                if remaining == 0 { completion?() }
            }
        }
    }

    public func getStats() -> CLISessionStats {
        CLISessionStats(activeSessions: sessions.count, pendingSessions: pendingSessions.count,
                        maxSessions: maxSessions,
                        busyCount: sessions.sessions.filter(\.isBusy).count)
    }

    /// The limit a new session would exceed, if any.
    private func reachedLimit() -> Int? {
        if sessions.count + pendingSessions.count >= maxSessions { return maxSessions }
        if let sharedLimit, sharedLimit.inUse() >= sharedLimit.limit { return sharedLimit.limit }
        return nil
    }

    /// Drops up to three idle active sessions, oldest first. Their temp-id mappings stay, as in the
    /// reference.
    private func cleanupIdleSessions() {
        let idle = sessions.keys.filter { !(sessions[$0]!.isBusy) }
        for id in idle.prefix(3) {
            sessions.removeValue(forKey: id)?.stop()
        }
    }
}

@available(*, unavailable)
extension CLISessionManager: Sendable {}
