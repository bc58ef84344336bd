// CLISession: runs the Claude Code CLI for one conversation, one task at a time (the reference's
// `cli/session.py`).

import EventLoop
import JSON
import Text
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One started (or waiting) `startTask` call.
///
/// All methods are called from within the session's EventLoop.
public final class CLITask {
    public enum State: Equatable { case waiting, running, finished }

    public let prompt: String
    public let sessionID: String?
    public let forkSession: Bool
    public private(set) var state: State = .waiting
    /// The CLI's pid while it runs.
    public var pid: Int32? { child?.pid }

    fileprivate var onEvent: ((JSONValue) -> Void)?
    fileprivate var child: ChildProcess?
    fileprivate weak var session: CLISession?

    fileprivate init(prompt: String, sessionID: String?, forkSession: Bool, onEvent: @escaping (JSONValue) -> Void) {
        self.prompt = prompt
        self.sessionID = sessionID
        self.forkSession = forkSession
        self.onEvent = onEvent
    }

    /// Withdraws a waiting task (it never runs and delivers nothing) or stops a running one (its
    /// events continue up to `exit`), as cancelling the reference's consumer does.
    public func cancel() {
        session?.cancel(self)
    }

    fileprivate func deliver(_ event: JSONValue) {
        onEvent?(event)
    }

    fileprivate func markRunning() { state = .running }

    fileprivate func markFinished() {
        state = .finished
        onEvent = nil
        child = nil
    }
}

@available(*, unavailable)
extension CLITask: Sendable {}

/// A persistent Claude Code CLI session: each task runs `claude -p ... --output-format stream-json`
/// and streams its output as JSON events.
///
/// Event order for a task: for each stdout line, `session_info` (once, for the first id seen) then the
/// parsed line (or `{"type":"raw","content":...}` for non-JSON); then one `error` event when stderr
/// held text; then `{"type":"exit","code":N,"stderr":...}`. A CLI that cannot start yields an `error`
/// and an `exit` with code 127 (not found) or 126.
///
/// Tasks are serialised like the reference's lock: a second `startTask` while one runs waits and starts
/// when the first has delivered `exit`.
///
/// All methods are called from within the EventLoop.
public final class CLISession {
    public let loop: EventLoop
    /// `os.path.normpath(os.path.abspath(workspace))`.
    public let workspace: String
    public let apiURL: String
    /// Each `os.path.normpath`ed (not made absolute, as in the reference).
    public let allowedDirectories: [String]
    /// The CLI to run: a name looked up in `PATH` or a path (the app passes `CLAUDE_CLI_BIN`).
    public let executable: String
    /// Delay between SIGTERM and SIGKILL in `stop()`.
    public let killEscalation: Duration
    /// How long output is still read after the CLI exited while a process it left behind holds its pipes.
    public let drainAfterExit: Duration
    /// The environment the CLI inherits before the session's overrides; nil means this process's.
    public let inheritedEnvironment: [(key: String, value: String)]?
    public let registry: ProcessRegistry
    /// When set, the workspace and every allowed directory are resolved again before each run and the
    /// run is refused if one now lies outside (a symlink made inside the root since the check).
    public let confinement: Confinement?

    /// The id from the CLI's output, once one was seen.
    public private(set) var currentSessionID: String?
    public var isBusy: Bool { running != nil }

    private var running: CLITask?
    private var waiting: [CLITask] = []
    private var stopWaiters: [(Bool) -> Void] = []
    /// SIGKILL timers by CLI pid; one may outlive its task while stray group members are given their grace.
    private var escalations: [Int32: Timer] = [:]

    public init(loop: EventLoop, workspace: String, apiURL: String, allowedDirectories: [String] = [],
                executable: String = "claude", killEscalation: Duration = .seconds(5), drainAfterExit: Duration = .seconds(2),
                inheritedEnvironment: [(key: String, value: String)]? = nil,
                registry: ProcessRegistry = .shared, confinement: Confinement? = nil) {
        self.loop = loop
        self.workspace = CLIText.absolutePath(workspace, currentDirectory: Self.currentDirectory())
        self.apiURL = apiURL
        self.allowedDirectories = allowedDirectories.map(CLIText.normalizePath)
        self.executable = executable
        self.killEscalation = killEscalation
        self.drainAfterExit = drainAfterExit
        self.inheritedEnvironment = inheritedEnvironment
        self.registry = registry
        self.confinement = confinement
    }

    /// The command line for a task, as the reference builds it.
    public func command(prompt: String, sessionID: String?, forkSession: Bool) -> CLICommand {
        CLICommand(
            arguments: CLICommand.arguments(executable: executable, prompt: prompt, sessionID: sessionID,
                                            forkSession: forkSession, allowedDirectories: allowedDirectories),
            environment: CLICommand.environment(inherited: inheritedEnvironment ?? Self.processEnvironment(),
                                                apiURL: apiURL))
    }

    /// Runs the CLI with `prompt`, resuming `sessionID` unless it is absent or a `pending_` temp id.
    /// `onEvent` is called on the loop, never from inside this call, and last with the `exit` event.
    @discardableResult
    public func startTask(prompt: String, sessionID: String? = nil, forkSession: Bool = false,
                          onEvent: @escaping (JSONValue) -> Void) -> CLITask {
        let task = CLITask(prompt: prompt, sessionID: sessionID, forkSession: forkSession, onEvent: onEvent)
        task.session = self
        waiting.append(task)
        if running == nil { scheduleNext() }
        return task
    }

    /// Stops the running CLI: SIGTERM to its process group, SIGKILL to the group after
    /// `killEscalation` if the CLI, or anything left in its group, is still alive. `completion`
    /// receives true once the CLI has exited, false at once (on the loop) when nothing was running.
    /// Waiting tasks are not touched, as with the reference's lock.
    public func stop(completion: ((Bool) -> Void)? = nil) {
        guard let child = running?.child, child.isRunning else {
            if let completion { deferToLoop { completion(false) } }
            return
        }
        if let completion { stopWaiters.append(completion) }
        guard escalations[child.pid] == nil else { return }
        child.signalGroup(SIGTERM)
        do {
            let timer = try Timer(loop: loop)
            escalations[child.pid] = timer
            // Strong captures: the timer is closed when it fires or when the group is gone.
            try timer.start(after: killEscalation) { [self] in
                escalate(child)
            }
        } catch {
            // Without a timer there is no grace period to give.
            escalate(child)
        }
    }

    fileprivate func cancel(_ task: CLITask) {
        if let index = waiting.firstIndex(where: { $0 === task }) {
            waiting.remove(at: index)
            task.markFinished()
        } else if running === task {
            stop()
        }
    }

    // MARK: running

    private func scheduleNext() {
        // A zero-delay timer, so a task never starts (nor fails) inside the caller's `startTask`.
        deferToLoop { [self] in
            guard running == nil, !waiting.isEmpty else { return }
            run(waiting.removeFirst())
        }
    }

    private func run(_ task: CLITask) {
        running = task
        task.markRunning()
        if let problem = confinementProblem() {
            refuse(task, message: problem, code: 126)
            return
        }
        let command = self.command(prompt: task.prompt, sessionID: task.sessionID, forkSession: task.forkSession)
        var decoder = CLIOutputDecoder()
        var lines = LineSplitter()
        var stderr: [UInt8] = []

        func deliverLine(_ line: [UInt8]) {
            for event in decoder.events(forLine: line) {
                if case .object(let object) = event, object["type"] == "session_info" {
                    currentSessionID = decoder.sessionID
                }
                task.deliver(event)
            }
        }

        do throws(SpawnFailure) {
            let child = try ChildProcess.spawn(
                loop: loop, arguments: command.arguments,
                environment: command.environment.map { "\($0.key)=\($0.value)" },
                workingDirectory: workspace, drainAfterExit: drainAfterExit
            ) { child in
                child.onStdout = { bytes in
                    for line in lines.feed(bytes) { deliverLine(line) }
                }
                child.onStderr = { bytes in stderr.append(contentsOf: bytes) }
                // Strong captures: a session dropped by its manager mid-task still delivers `exit`; the
                // child clears these closures when it finishes, which breaks the cycle.
                child.onExit = { [self, unowned child] _ in
                    processExited(child)
                }
                child.onFinished = { [self] exit in
                    if let tail = lines.finish() { deliverLine(tail) }
                    for event in CLIOutputDecoder.closingEvents(stderr: stderr, exitCode: exit.code) {
                        task.deliver(event)
                    }
                    taskFinished(task)
                }
            }
            task.child = child
            registry.register(pid: child.pid, processGroup: child.pid)
        } catch {
            let message = "Failed to start Claude CLI '\(executable)': \(error.error.name) (\(error.error.message))"
            refuse(task, message: message, code: error.error.isNotFound ? 127 : 126)
        }
    }

    /// Ends a task that could not run: an `error` event, then `exit` with `code`.
    private func refuse(_ task: CLITask, message: String, code: Int) {
        task.deliver(CLIOutputDecoder.errorEvent(message: message))
        task.deliver(.object(JSONObject([("type", "exit"), ("code", .int(code)), ("stderr", .null)])))
        taskFinished(task)
    }

    /// Why the directories may not be used now, or nil when they all still resolve inside the root.
    private func confinementProblem() -> String? {
        guard let confinement else { return nil }
        for path in [workspace] + allowedDirectories {
            if case .failure(let error) = confinement.admit(path) {
                return "Refused to start Claude CLI: \(error)"
            }
        }
        return nil
    }

    private func processExited(_ child: ChildProcess) {
        if escalations[child.pid] != nil, child.groupIsAlive {
            // Something the CLI started ignored SIGTERM: the escalation timer still covers it, so the
            // group stays registered until then.
        } else {
            closeEscalation(child.pid)
            registry.unregister(pid: child.pid)
        }
        let waiters = stopWaiters
        stopWaiters = []
        for waiter in waiters { waiter(true) }
    }

    private func escalate(_ child: ChildProcess) {
        closeEscalation(child.pid)
        if child.isRunning || child.groupIsAlive {
            child.signalGroup(SIGKILL)
        }
        if !child.isRunning {
            registry.unregister(pid: child.pid)
        }
    }

    private func closeEscalation(_ pid: Int32) {
        escalations.removeValue(forKey: pid)?.close()
    }

    private func taskFinished(_ task: CLITask) {
        task.markFinished()
        if running === task { running = nil }
        if !waiting.isEmpty { scheduleNext() }
    }

    private func deferToLoop(_ body: @escaping () -> Void) {
        loop.onNextTurn(body)
    }

    // MARK: process state

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(cBuffer: buffer)
    }

    static func processEnvironment() -> [(key: String, value: String)] {
        ProcessEnvironment.entries
    }
}

@available(*, unavailable)
extension CLISession: Sendable {}
