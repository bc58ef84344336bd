@testable import CLIProcess
import EventLoop
import JSON
import Testing
import TestSupport

@Suite struct CLISessionManagerTests {
    func makeManager(_ loop: EventLoop, maxSessions: Int = 10, registry: ProcessRegistry = ProcessRegistry()) -> CLISessionManager {
        CLISessionManager(loop: loop, maxSessions: maxSessions) {
            makeSession(loop, registry: registry, killEscalation: .milliseconds(500))
        }
    }

    /// Starts a task that keeps the session busy until stopped; returns when the CLI runs.
    func makeBusy(_ session: CLISession, events: @escaping (JSONValue) -> Void = { _ in }) {
        session.startTask(prompt: "echo up; sleep 300", onEvent: events)
        while !session.isBusy { session.loop.runOnce() }
    }

    // Reference: test_manager_create_session.
    @Test func createSession() throws {
        try withLoop { loop in
            let manager = makeManager(loop, maxSessions: 5)
            let (session, id, isNew) = try manager.getOrCreateSession()
            #expect(id.hasPrefix("pending_"))
            #expect(id.count == 16)
            #expect(id.dropFirst(8).allSatisfy { $0.isHexDigit && !$0.isUppercase })
            #expect(isNew)
            #expect(!session.isBusy)
        }
    }

    // Reference: test_manager_reuse_session.
    @Test func reuseSession() throws {
        try withLoop { loop in
            let manager = makeManager(loop)
            let (s1, id1, _) = try manager.getOrCreateSession()
            let (s2, id2, isNew2) = try manager.getOrCreateSession(sessionID: id1)
            #expect(s1 === s2)
            #expect(id2 == id1)
            #expect(!isNew2)
        }
    }

    /// Two managers under one shared limit: either one refuses at it, naming the shared limit, and an
    /// idle active session of the asking manager is dropped first to make room.
    @Test func sharedLimitAcrossManagers() throws {
        try withLoop { loop in
            var managers: [CLISessionManager] = []
            let shared = SharedSessionLimit(limit: 2) {
                managers.reduce(0) { $0 + $1.getStats().activeSessions + $1.getStats().pendingSessions }
            }
            for _ in 0..<2 {
                managers.append(CLISessionManager(loop: loop, maxSessions: 10, sharedLimit: shared) {
                    makeSession(loop, registry: ProcessRegistry(), killEscalation: .milliseconds(500))
                })
            }
            let (_, first, _) = try managers[0].getOrCreateSession()
            _ = try managers[1].getOrCreateSession()
            for manager in managers {
                #expect(throws: CLISessionManagerError.maxSessionsReached(2)) { try manager.getOrCreateSession() }
            }
            #expect(CLISessionManagerError.maxSessionsReached(2).description == "Maximum concurrent sessions (2) reached.")
            // An idle active session of the asking manager makes room; one of another manager does not.
            #expect(managers[0].registerRealSessionID(tempID: first, realSessionID: "real"))
            #expect(throws: CLISessionManagerError.maxSessionsReached(2)) { try managers[1].getOrCreateSession() }
            let (_, _, isNew) = try managers[0].getOrCreateSession()
            #expect(isNew)
            #expect(managers[0].getStats().activeSessions == 0)
        }
    }

    // Reference: test_manager_stats.
    @Test func stats() throws {
        try withLoop { loop in
            let manager = makeManager(loop, maxSessions: 10)
            let stats = manager.getStats()
            #expect(stats == CLISessionStats(activeSessions: 0, pendingSessions: 0, maxSessions: 10, busyCount: 0))
            #expect(stats.json.compactString() == #"{"active_sessions":0,"pending_sessions":0,"max_sessions":10,"busy_count":0}"#)
        }
    }

    // Reference: test_register_real_session_id_moves_pending_to_active_and_maps.
    @Test func registerRealSessionID() throws {
        try withLoop { loop in
            let manager = makeManager(loop)
            let (session, tempID, isNew) = try manager.getOrCreateSession()
            #expect(isNew)
            #expect(manager.registerRealSessionID(tempID: tempID, realSessionID: "real_1"))
            #expect(manager.getRealSessionID(tempID: tempID) == "real_1")
            let (s2, id2, isNew2) = try manager.getOrCreateSession(sessionID: tempID)
            #expect(s2 === session)
            #expect(id2 == "real_1")
            #expect(!isNew2)
            let (s3, id3, _) = try manager.getOrCreateSession(sessionID: "real_1")
            #expect(s3 === session && id3 == "real_1")
            #expect(manager.getStats().activeSessions == 1 && manager.getStats().pendingSessions == 0)
        }
    }

    // Reference: test_register_real_session_id_missing_temp_id_returns_false.
    @Test func registerUnknownTempID() throws {
        try withLoop { loop in
            let manager = makeManager(loop)
            #expect(!manager.registerRealSessionID(tempID: "missing", realSessionID: "real_1"))
            #expect(manager.getRealSessionID(tempID: "missing") == nil)
            // Registering twice: the second time the temp id is no longer pending.
            let (_, tempID, _) = try manager.getOrCreateSession()
            #expect(manager.registerRealSessionID(tempID: tempID, realSessionID: "a"))
            #expect(!manager.registerRealSessionID(tempID: tempID, realSessionID: "b"))
        }
    }

    @Test func unknownIDBecomesAPendingSessionUnderThatID() throws {
        try withLoop { loop in
            let manager = makeManager(loop)
            let (_, id, isNew) = try manager.getOrCreateSession(sessionID: "sess_from_store")
            #expect(id == "sess_from_store" && isNew)
            #expect(manager.getStats().pendingSessions == 1)
        }
    }

    // Reference: test_remove_session_pending_stops_and_returns_true, with a running CLI.
    @Test func removePendingStopsItsCLI() throws {
        try withLoop { loop in
            let manager = makeManager(loop)
            let (session, tempID, _) = try manager.getOrCreateSession()
            var events: [JSONValue] = []
            makeBusy(session) { events.append($0) }
            var removed = false
            #expect(manager.removeSession(sessionID: tempID) { removed = true })
            #expect(manager.getStats().pendingSessions == 0)
            loop.run()
            #expect(removed)
            #expect(events.last == ["type": "exit", "code": -15, "stderr": nil])
            #expect(!manager.removeSession(sessionID: tempID))
        }
    }

    // Reference: test_remove_session_active_removes_temp_mapping.
    @Test func removeActiveDropsTempMappings() throws {
        try withLoop { loop in
            let manager = makeManager(loop)
            let (_, tempID, _) = try manager.getOrCreateSession()
            manager.registerRealSessionID(tempID: tempID, realSessionID: "real_1")
            var completed = false
            #expect(manager.removeSession(sessionID: "real_1") { completed = true })
            #expect(manager.getRealSessionID(tempID: tempID) == nil)
            #expect(manager.getStats().activeSessions == 0)
            loop.run()
            #expect(completed)
            #expect(!manager.removeSession(sessionID: "unknown"))
        }
    }

    // Reference: test_get_or_create_session_cleans_up_idle_sessions_when_at_limit.
    @Test func idleSessionsAreDroppedAtTheLimit() throws {
        try withLoop { loop in
            let manager = makeManager(loop, maxSessions: 1)
            let (idle, tempID, _) = try manager.getOrCreateSession()
            manager.registerRealSessionID(tempID: tempID, realSessionID: "s1")
            let (fresh, id, isNew) = try manager.getOrCreateSession()
            #expect(fresh !== idle)
            #expect(id.hasPrefix("pending_") && isNew)
            #expect(manager.getStats() == CLISessionStats(activeSessions: 0, pendingSessions: 1, maxSessions: 1, busyCount: 0))
            // The temp mapping of a cleaned-up session stays, as in the reference; asking for it again
            // creates a new pending session under the temp id itself.
            #expect(manager.getRealSessionID(tempID: tempID) == "s1")
        }
    }

    @Test func cleanupTakesAtMostThreeOldestIdleSessions() throws {
        try withLoop { loop in
            let manager = makeManager(loop, maxSessions: 5)
            var temps: [String] = []
            for i in 0..<5 {
                let (_, tempID, _) = try manager.getOrCreateSession()
                manager.registerRealSessionID(tempID: tempID, realSessionID: "r\(i)")
                temps.append(tempID)
            }
            _ = try manager.getOrCreateSession()
            #expect(manager.getStats().activeSessions == 2)
            #expect(manager.getStats().pendingSessions == 1)
            // r0..r2 went; r3 and r4 remain.
            #expect(try manager.getOrCreateSession(sessionID: "r3").isNew == false)
            #expect(try manager.getOrCreateSession(sessionID: "r4").isNew == false)
            let (_, staleID, staleIsNew) = try manager.getOrCreateSession(sessionID: temps[0])
            #expect(staleID == temps[0] && staleIsNew)
        }
    }

    @Test func pendingSessionsAreNeverCleanedUp() throws {
        try withLoop { loop in
            let manager = makeManager(loop, maxSessions: 2)
            _ = try manager.getOrCreateSession()
            _ = try manager.getOrCreateSession()
            #expect(throws: CLISessionManagerError.maxSessionsReached(2)) { try manager.getOrCreateSession() }
            // Known ids are still served at the limit.
            #expect(manager.getStats().pendingSessions == 2)
        }
    }

    // Reference: test_get_or_create_session_raises_when_max_sessions_reached_with_busy_sessions.
    @Test func busySessionsAtTheLimitRefuse() throws {
        try withLoop { loop in
            let manager = makeManager(loop, maxSessions: 1)
            let (busy, tempID, _) = try manager.getOrCreateSession()
            manager.registerRealSessionID(tempID: tempID, realSessionID: "s1")
            makeBusy(busy)
            #expect(manager.getStats().busyCount == 1)
            do throws(CLISessionManagerError) {
                _ = try manager.getOrCreateSession()
                Issue.record("expected maxSessionsReached")
            } catch {
                #expect(error == .maxSessionsReached(1))
                #expect(error.description == "Maximum concurrent sessions (1) reached.")
            }
            #expect(try manager.getOrCreateSession(sessionID: "s1").session === busy)
            var stopped = false
            manager.stopAll { stopped = true }
            loop.run()
            #expect(stopped)
        }
    }

    @Test func busyCountIgnoresPendingSessions() throws {
        try withLoop { loop in
            let manager = makeManager(loop)
            let (pending, _, _) = try manager.getOrCreateSession()
            makeBusy(pending)
            #expect(manager.getStats().busyCount == 0)
            manager.stopAll()
            loop.run()
        }
    }

    // Reference: test_stop_all_handles_stop_exceptions, with real CLIs.
    @Test func stopAllStopsEveryCLIAndForgetsEverything() throws {
        try withLoop { loop in
            let registry = ProcessRegistry()
            let manager = makeManager(loop, registry: registry)
            let (active, tempID, _) = try manager.getOrCreateSession()
            manager.registerRealSessionID(tempID: tempID, realSessionID: "a")
            let (pending, _, _) = try manager.getOrCreateSession()
            _ = try manager.getOrCreateSession() // idle, nothing to stop
            var exits: [JSONValue] = []
            makeBusy(active) { if type($0) == "exit" { exits.append($0) } }
            makeBusy(pending) { if type($0) == "exit" { exits.append($0) } }
            #expect(registry.tracked.count == 2)
            var completions = 0
            manager.stopAll { completions += 1 }
            #expect(manager.getStats() == CLISessionStats(activeSessions: 0, pendingSessions: 0, maxSessions: 10, busyCount: 0))
            #expect(manager.getRealSessionID(tempID: tempID) == nil)
            loop.run()
            #expect(completions == 1)
            #expect(exits == [["type": "exit", "code": -15, "stderr": nil], ["type": "exit", "code": -15, "stderr": nil]])
            #expect(registry.tracked.isEmpty)
        }
    }

    @Test func stopAllWithNothingCompletesOnTheLoop() throws {
        try withLoop { loop in
            let manager = makeManager(loop)
            var completed = false
            manager.stopAll { completed = true }
            #expect(!completed)
            loop.run()
            #expect(completed)
        }
    }

    @Test func orderedSessionsFollowPythonDictOrder() throws {
        let loop = try EventLoop()
        let a = makeSession(loop), b = makeSession(loop)
        var map = OrderedSessions()
        map["x"] = a
        map["y"] = b
        map["x"] = b // replacing keeps the place
        #expect(map.keys == ["x", "y"])
        _ = map.removeValue(forKey: "x")
        map["x"] = a // back at the end
        #expect(map.keys == ["y", "x"])
        #expect(map.sessions.map { $0 === a } == [false, true])
        try loop.close()
    }
}
