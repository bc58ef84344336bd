import CLIProcess
import EventLoop
import JSON
import TestSupport
import Testing
import Text
#if canImport(Glibc)
import Glibc
#endif

/// The directory holding the fake CLI; also the workspace the fake runs in.
let fixturesDirectory = Fixture.directory()

let fakeClaude = fixturesDirectory + "/fake-claude"

/// The environment the fake inherits in tests: enough to find `sleep`, `head` and `tr`.
let testEnvironment: [(key: String, value: String)] = [
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("FAKE_INHERITED", "kept"),
]

func makeSession(_ loop: EventLoop, registry: ProcessRegistry = ProcessRegistry(), apiURL: String = "http://127.0.0.1:8082/v1",
                 allowedDirectories: [String] = [], killEscalation: Duration = .seconds(5),
                 drainAfterExit: Duration = .milliseconds(300), executable: String = fakeClaude) -> CLISession {
    CLISession(loop: loop, workspace: fixturesDirectory, apiURL: apiURL, allowedDirectories: allowedDirectories,
               executable: executable, killEscalation: killEscalation, drainAfterExit: drainAfterExit,
               inheritedEnvironment: testEnvironment, registry: registry)
}

/// Runs one task to its `exit` event and returns every event.
func runTask(_ session: CLISession, prompt: String, sessionID: String? = nil, forkSession: Bool = false) throws -> [JSONValue] {
    var events: [JSONValue] = []
    session.startTask(prompt: prompt, sessionID: sessionID, forkSession: forkSession) { events.append($0) }
    session.loop.run()
    return events
}

func type(_ event: JSONValue) -> String? { event["type"]?.stringValue }

/// Contents of the `raw` events, which is how the fake reports its arguments and environment.
func rawLines(_ events: [JSONValue]) -> [String] {
    events.filter { type($0) == "raw" }.compactMap { $0["content"]?.stringValue }
}

/// Whether `pid` is a live process: zombies count as dead (the container's init may be slow to reap
/// orphans, and a zombie holds no resources a test cares about).
func processIsAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let file = fopen("/proc/\(pid)/stat", "r") else { return false }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 512)
    guard fgets(&buffer, Int32(buffer.count), file) != nil else { return false }
    let line = String(cBuffer: buffer)
    // "pid (comm) S ...": the state follows the last ')'.
    guard let close = line.lastIndex(of: ")") else { return true }
    let state = line[line.index(after: close)...].trimmingPrefix(" ").first
    return state != "Z" && state != "X"
}

/// Polls `condition` on the loop until it holds or `limitMs` passes; true when it held. Signals are
/// asynchronous, so a killed process may need a moment to be gone.
func eventually(_ loop: EventLoop, limitMs: UInt64 = 5_000, _ condition: @escaping () -> Bool) throws -> Bool {
    if condition() { return true }
    let timer = try Timer(loop: loop)
    var held = false
    var waited: UInt64 = 0
    try timer.start(after: .milliseconds(20), repeating: .milliseconds(20)) {
        waited += 20
        if condition() {
            held = true
            timer.close()
        } else if waited >= limitMs {
            timer.close()
        }
    }
    loop.run()
    return held
}

/// Kills a process a test left behind on purpose (best effort).
func reap(_ pid: Int32) {
    if pid > 0 { kill(pid, SIGKILL) }
}
