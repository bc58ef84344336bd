import CLIProcess
import EventLoop
import JSON
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ProcessRegistryTests {
    // Reference: test_process_registry_register_unregister_does_not_crash.
    @Test func registerAndUnregister() {
        let registry = ProcessRegistry()
        registry.register(pid: 12345, processGroup: nil)
        registry.register(pid: 777, processGroup: 777)
        #expect(registry.tracked == [TrackedProcess(pid: 12345, processGroup: nil), TrackedProcess(pid: 777, processGroup: 777)])
        registry.unregister(pid: 12345)
        registry.unregister(pid: 4242)
        #expect(registry.tracked == [TrackedProcess(pid: 777, processGroup: 777)])
        registry.unregister(pid: 777)
        #expect(registry.tracked.isEmpty)
    }

    @Test func zeroAndNegativePIDsAreIgnored() {
        let registry = ProcessRegistry()
        registry.register(pid: 0, processGroup: nil)
        registry.register(pid: -1, processGroup: nil)
        #expect(registry.tracked.isEmpty)
    }

    @Test func reRegisteringReplaces() {
        let registry = ProcessRegistry()
        registry.register(pid: 5, processGroup: nil)
        registry.register(pid: 5, processGroup: 5)
        #expect(registry.tracked == [TrackedProcess(pid: 5, processGroup: 5)])
    }

    // Reference: test_process_registry_kill_all_best_effort_empty_is_noop.
    @Test func killAllWhenEmpty() {
        #expect(ProcessRegistry().killAll() == 0)
    }

    @Test func killAllToleratesVanishedProcesses() {
        let registry = ProcessRegistry()
        // A pid far above pid_max: kill fails with ESRCH and is ignored.
        registry.register(pid: 0x3FFF_FFF0, processGroup: 0x3FFF_FFF0)
        #expect(registry.killAll() == 0)
        #expect(registry.tracked.isEmpty)
    }

    @Test func killAllTakesTheWholeGroup() throws {
        try withLoop { loop in
            let registry = ProcessRegistry()
            let session = makeSession(loop, registry: registry)
            var childPID: Int32 = 0
            var killed = -1
            var events: [JSONValue] = []
            session.startTask(prompt: "start_child; sleep 300") { event in
                events.append(event)
                if type(event) == "child" {
                    childPID = Int32(event["pid"]?.intValue ?? 0)
                    killed = registry.killAll()
                }
            }
            loop.run()
            #expect(killed == 1)
            #expect(events.last == ["type": "exit", "code": -9, "stderr": nil])
            let held178 = try eventually(loop) { !processIsAlive(childPID) }
            #expect(held178, "!processIsAlive(childPID)")
            #expect(registry.tracked.isEmpty)
            reap(childPID)
        }
    }

    @Test func finishedTasksAreUnregistered() throws {
        try withLoop { loop in
            let registry = ProcessRegistry()
            let session = makeSession(loop, registry: registry)
            var trackedDuring: [TrackedProcess] = []
            var pid: Int32?
            let task = session.startTask(prompt: "echo x") { _ in
                if trackedDuring.isEmpty { trackedDuring = registry.tracked }
            }
            _ = task
            loop.run()
            pid = trackedDuring.first?.pid
            #expect(trackedDuring.count == 1)
            #expect(pid != nil && trackedDuring.first?.processGroup == pid)
            #expect(registry.tracked.isEmpty)
        }
    }

    @Test func installingExitHooksTwiceIsHarmless() {
        ProcessRegistry.installExitHooks()
        ProcessRegistry.installExitHooks()
        #expect(ProcessRegistry.shared.tracked.allSatisfy { $0.pid > 0 })
    }
}
