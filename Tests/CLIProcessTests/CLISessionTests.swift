import CLIProcess
import EventLoop
import JSON
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct CLISessionTests {
    // Reference: test_session_init.
    @Test func initNormalizesPaths() throws {
        let loop = try EventLoop()
        let session = CLISession(loop: loop, workspace: "/srv/test/../test/", apiURL: "http://localhost:8082/v1",
                                 allowedDirectories: ["/home/user/projects/", "rel/./dir"])
        #expect(session.workspace == "/srv/test")
        #expect(session.allowedDirectories == ["/home/user/projects", "rel/dir"])
        #expect(session.apiURL == "http://localhost:8082/v1")
        #expect(!session.isBusy)
        #expect(session.currentSessionID == nil)
        try loop.close()
    }

    // Reference: test_start_task_basic_flow, run through a real process.
    @Test func eventsInOrderEndingWithExit() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            let events = try runTask(session, prompt: #"echo '{"type": "message", "content": "Hello"}'; echo '{"session_id": "sess_1"}'"#)
            #expect(events == [
                ["type": "message", "content": "Hello"],
                ["type": "session_info", "session_id": "sess_1"],
                ["session_id": "sess_1"],
                ["type": "exit", "code": 0, "stderr": nil],
            ])
            #expect(session.currentSessionID == "sess_1")
            #expect(!session.isBusy)
        }
    }

    @Test func commandLineReachesTheCLI() throws {
        try withLoop { loop in
            let session = makeSession(loop, allowedDirectories: ["/dir1", "/dir2/"])
            let prompt = #"print_args "$@""#
            let events = try runTask(session, prompt: prompt, sessionID: "sess_abc", forkSession: true)
            #expect(rawLines(events) == ["--resume=sess_abc", "--fork-session", "-p", "--output-format",
                                         "stream-json", "--dangerously-skip-permissions", "--verbose",
                                         "--add-dir", "/dir1", "--add-dir", "/dir2", "--", prompt].map { "arg:" + $0 })
        }
    }

    @Test func environmentAndWorkingDirectory() throws {
        try withLoop { loop in
            let session = makeSession(loop, apiURL: "http://127.0.0.1:9000/v1")
            let events = try runTask(session, prompt: "print_env")
            #expect(rawLines(events) == [
                "env:ANTHROPIC_API_KEY=sk-placeholder-key-for-proxy",
                "env:ANTHROPIC_AUTH_TOKEN=<unset>",
                "env:ANTHROPIC_API_URL=http://127.0.0.1:9000/v1",
                "env:ANTHROPIC_BASE_URL=http://127.0.0.1:9000",
                "env:TERM=dumb",
                "env:PYTHONIOENCODING=utf-8",
                "env:FAKE_INHERITED=kept",
                "cwd:" + fixturesDirectory,
            ])
        }
    }

    @Test func processEnvironmentIsInheritedByDefault() throws {
        try withLoop { loop in
            let session = CLISession(loop: loop, workspace: fixturesDirectory, apiURL: "http://x/v1",
                                     executable: fakeClaude, registry: ProcessRegistry())
            let events = try runTask(session, prompt: #"printf 'path:%s\n' "$PATH""#)
            let path = String(cString: getenv("PATH"))
            #expect(rawLines(events) == ["path:" + path])
        }
    }

    // Reference: test_start_task_process_failure_with_stderr.
    @Test func stderrThenExitCode() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            let events = try runTask(session, prompt: "echo 'Fatal error' >&2; exit 1")
            #expect(events == [
                ["type": "error", "error": ["message": "Fatal error"]],
                ["type": "exit", "code": 1, "stderr": "Fatal error"],
            ])
        }
    }

    @Test func stderrIsReportedOnceAtTheEndWhateverItsTiming() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            let events = try runTask(session, prompt: #"echo one >&2; echo '{"a":1}'; echo two >&2; echo plain; exit 7"#)
            #expect(events == [
                ["a": 1],
                ["type": "raw", "content": "plain"],
                ["type": "error", "error": ["message": "one\ntwo"]],
                ["type": "exit", "code": 7, "stderr": "one\ntwo"],
            ])
        }
    }

    @Test func exitCodes() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            for code in [0, 3, 255] {
                let events = try runTask(session, prompt: "exit \(code)")
                #expect(events == [["type": "exit", "code": .int(code), "stderr": nil]])
            }
            // A signal death is minus the signal number, like Python's returncode.
            let events = try runTask(session, prompt: "kill -9 $$")
            #expect(events == [["type": "exit", "code": -9, "stderr": nil]])
        }
    }

    // Reference: test_start_task_remnant_buffer and test_start_task_json_error through a pipe.
    @Test func remnantRawAndBlankLines() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            let events = try runTask(session, prompt: #"echo 'Not valid json'; echo; echo '   '; printf '\r\n{"x":1}\r\n'; printf '{"type": "message", "content": "Remnant"}'"#)
            #expect(events == [
                ["type": "raw", "content": "Not valid json"],
                ["x": 1],
                ["type": "message", "content": "Remnant"],
                ["type": "exit", "code": 0, "stderr": nil],
            ])
        }
    }

    @Test func veryLongLinesAndSplitUTF8() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            let events = try runTask(session, prompt: "long_line 2000000; long_line 300000 €; echo done")
            #expect(events.count == 4)
            #expect(events[0]["text"]?.stringValue?.utf8.count == 2_000_000)
            let euros = events[1]["text"]?.stringValue
            #expect(euros?.count == 300_000)
            #expect(euros?.allSatisfy { $0 == "€" } == true)
            #expect(events[2] == ["type": "raw", "content": "done"])
            #expect(events[3] == ["type": "exit", "code": 0, "stderr": nil])
        }
    }

    @Test func missingExecutableIsAnErrorAndExit() throws {
        try withLoop { loop in
            for executable in [fixturesDirectory + "/no-such-claude", "no-such-claude-binary-on-path"] {
                let session = makeSession(loop, executable: executable)
                var events: [JSONValue] = []
                let task = session.startTask(prompt: "hi") { events.append($0) }
                #expect(events.isEmpty, "events are never delivered inside startTask")
                loop.run()
                #expect(task.state == .finished)
                #expect(events.count == 2)
                #expect(type(events[0]) == "error")
                #expect(events[0]["error"]?["message"]?.stringValue?.contains("ENOENT") == true)
                #expect(events[1] == ["type": "exit", "code": 127, "stderr": nil])
                #expect(!session.isBusy)
            }
        }
    }

    @Test func nonExecutableFileIsRefused() throws {
        try withLoop { loop in
            let session = makeSession(loop, executable: fixturesDirectory + "/../Support.swift")
            let events = try runTask(session, prompt: "hi")
            #expect(type(events[0]) == "error")
            #expect(events.last == ["type": "exit", "code": 126, "stderr": nil])
        }
    }

    // The reference's lock: a second task waits for the first.
    @Test func tasksRunOneAtATime() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            var log: [String] = []
            var busyDuringFirst = false
            let first = session.startTask(prompt: "echo first; sleep 0.2; echo first-end") { event in
                if let content = event["content"]?.stringValue { log.append(content) }
                if type(event) == "exit" { log.append("exit1") }
                busyDuringFirst = busyDuringFirst || session.isBusy
            }
            let second = session.startTask(prompt: "echo second") { event in
                if let content = event["content"]?.stringValue { log.append(content) }
                if type(event) == "exit" { log.append("exit2") }
            }
            #expect(first.state == .waiting && second.state == .waiting)
            loop.run()
            #expect(log == ["first", "first-end", "exit1", "second", "exit2"])
            #expect(busyDuringFirst)
            #expect(first.state == .finished && second.state == .finished)
        }
    }

    @Test func cancellingAWaitingTaskDropsIt() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            var firstEvents: [JSONValue] = []
            var secondEvents: [JSONValue] = []
            session.startTask(prompt: "echo first") { firstEvents.append($0) }
            let second = session.startTask(prompt: "echo second") { secondEvents.append($0) }
            second.cancel()
            loop.run()
            #expect(firstEvents.count == 2)
            #expect(secondEvents.isEmpty)
            #expect(second.state == .finished)
        }
    }

    @Test func stopWhenIdleReportsFalse() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            var result: Bool?
            session.stop { result = $0 }
            #expect(result == nil)
            loop.run()
            #expect(result == false)
        }
    }

    // Reference: test_stop_session, with a real process group.
    @Test func stopKillsTheCLIAndItsChild() throws {
        try withLoop { loop in
            let registry = ProcessRegistry()
            let session = makeSession(loop, registry: registry)
            var events: [JSONValue] = []
            var childPID: Int32 = 0
            var cliPID: Int32 = 0
            var stopped: Bool?
            var trackedWhileRunning: [TrackedProcess] = []
            var task: CLITask?
            task = session.startTask(prompt: "start_child; sleep 300") { event in
                events.append(event)
                if type(event) == "child" {
                    childPID = Int32(event["pid"]?.intValue ?? 0)
                    cliPID = task?.pid ?? 0
                    trackedWhileRunning = registry.tracked
                    session.stop { stopped = $0 }
                }
            }
            loop.run()
            #expect(stopped == true)
            #expect(trackedWhileRunning == [TrackedProcess(pid: cliPID, processGroup: cliPID)])
            #expect(registry.tracked.isEmpty)
            #expect(events.last == ["type": "exit", "code": -15, "stderr": nil])
            #expect(childPID > 0)
            let held178 = try eventually(loop) { !processIsAlive(childPID) }
            #expect(held178, "!processIsAlive(childPID)")
            let held585 = try eventually(loop) { kill(-cliPID, 0) != 0 }
            #expect(held585, "kill(-cliPID, 0) != 0")
            reap(childPID)
        }
    }

    // Reference: test_stop_session_timeout_force_kill.
    @Test func sigkillWhenSIGTERMIsIgnored() throws {
        try withLoop { loop in
            let registry = ProcessRegistry()
            let session = makeSession(loop, registry: registry, killEscalation: .milliseconds(200))
            var childPID: Int32 = 0
            var stopped: Bool?
            var events: [JSONValue] = []
            session.startTask(prompt: "trap '' TERM; start_child; sleep 300") { event in
                events.append(event)
                if type(event) == "child" {
                    childPID = Int32(event["pid"]?.intValue ?? 0)
                    session.stop { stopped = $0 }
                }
            }
            loop.run()
            #expect(stopped == true)
            #expect(events.last == ["type": "exit", "code": -9, "stderr": nil])
            let held178 = try eventually(loop) { !processIsAlive(childPID) }
            #expect(held178, "!processIsAlive(childPID)")
            #expect(registry.tracked.isEmpty)
            reap(childPID)
        }
    }

    @Test func strayChildIgnoringSIGTERMIsKilledAfterTheCLIExits() throws {
        try withLoop { loop in
            let registry = ProcessRegistry()
            let session = makeSession(loop, registry: registry, killEscalation: .milliseconds(300), drainAfterExit: .milliseconds(100))
            var childPID: Int32 = 0
            var events: [JSONValue] = []
            var trackedAtExit: [TrackedProcess] = []
            session.startTask(prompt: "start_stubborn_child; sleep 300") { event in
                events.append(event)
                if type(event) == "child" {
                    childPID = Int32(event["pid"]?.intValue ?? 0)
                    session.stop()
                }
                if type(event) == "exit" { trackedAtExit = registry.tracked }
            }
            loop.run()
            // The CLI died of SIGTERM; its stubborn child held the pipes until the drain gave up.
            #expect(events.last == ["type": "exit", "code": -15, "stderr": nil])
            #expect(trackedAtExit.count == 1, "the group stays tracked until its grace period ends")
            let held178 = try eventually(loop) { !processIsAlive(childPID) }
            #expect(held178, "!processIsAlive(childPID)")
            #expect(registry.tracked.isEmpty)
            reap(childPID)
        }
    }

    @Test func cancellingARunningTaskStopsIt() throws {
        try withLoop { loop in
            let session = makeSession(loop)
            var events: [JSONValue] = []
            var task: CLITask?
            task = session.startTask(prompt: "echo started; sleep 300") { event in
                events.append(event)
                if event["content"] == "started" { task?.cancel() }
            }
            loop.run()
            #expect(events == [["type": "raw", "content": "started"], ["type": "exit", "code": -15, "stderr": nil]])
        }
    }

    @Test func naturalExitWithABackgroundChildStillFinishes() throws {
        try withLoop { loop in
            let session = makeSession(loop, drainAfterExit: .milliseconds(100))
            var childPID: Int32 = 0
            let events = try runTask(session, prompt: "start_child; echo bye; exit 4")
            childPID = Int32(events.first?["pid"]?.intValue ?? 0)
            #expect(Array(events.dropFirst()) == [["type": "raw", "content": "bye"], ["type": "exit", "code": 4, "stderr": nil]])
            // Like the reference, a normal exit leaves what the CLI started alone.
            #expect(processIsAlive(childPID))
            reap(childPID)
            let held178 = try eventually(loop) { !processIsAlive(childPID) }
            #expect(held178, "!processIsAlive(childPID)")
        }
    }

    @Test func sessionSurvivesBeingDroppedMidTask() throws {
        try withLoop { loop in
            var events: [JSONValue] = []
            do {
                let session = makeSession(loop)
                session.startTask(prompt: "echo hi") { events.append($0) }
            }
            loop.run()
            #expect(events == [["type": "raw", "content": "hi"], ["type": "exit", "code": 0, "stderr": nil]])
        }
    }
}
