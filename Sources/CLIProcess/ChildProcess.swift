// ChildProcess: one spawned child with its stdout and stderr piped into the loop.
//
// The three handles are EventLoop's `LoopHandle`s (libuv `handle.rst`: each is closed once and freed
// in its close callback). The child object keeps itself alive from spawn until `onFinished`, so a
// task whose owner let go of it still reports its end.
//
// The child leads a new session and process group (UV_PROCESS_DETACHED is setsid()), so signals sent
// to the group reach the tools it started, and a Ctrl+C on the server's terminal (which signals the
// terminal's foreground group) leaves it to the server to stop them in order.

import EventLoop
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a child ended: `code` follows Python's `returncode` (the exit status, or minus the signal
/// number when a signal killed it).
struct ChildExit: Equatable {
    let exitStatus: Int64
    let termSignal: Int32
    var code: Int { termSignal != 0 ? -Int(termSignal) : Int(exitStatus) }
}

/// A failed `uv_spawn` (missing executable, missing working directory, no permission...).
struct SpawnFailure: Error {
    let error: UVError
}

/// Loop-confined.
final class ChildProcess {
    let loop: EventLoop
    private(set) var pid: Int32 = 0
    /// How long to keep reading after the child exited while something it started still holds the
    /// pipes open (a `sleep 300 &` inherits stdout): long enough for buffered output to arrive, short
    /// enough that a task never hangs on a grandchild, as the reference does.
    let drainAfterExit: Duration

    var onStdout: ((UnsafeRawBufferPointer) -> Void)?
    var onStderr: ((UnsafeRawBufferPointer) -> Void)?
    /// The process has exited (output may still be arriving).
    var onExit: ((ChildExit) -> Void)?
    /// The process has exited and both pipes are done: the last callback.
    var onFinished: ((ChildExit) -> Void)?

    private var process: SpawnedProcess?
    private var stdoutPipe: PipeStream?
    private var stderrPipe: PipeStream?
    /// Held from spawn to `onFinished`.
    private var selfRetain: ChildProcess?

    private(set) var exit: ChildExit?
    private var finished = false
    private var drainTimer: Timer?

    private init(loop: EventLoop, drainAfterExit: Duration) {
        self.loop = loop
        self.drainAfterExit = drainAfterExit
    }

    var isRunning: Bool { pid != 0 && exit == nil }

    /// Starts `arguments[0]` (looked up in the child's `PATH`). Callbacks start after this returns.
    static func spawn(loop: EventLoop, arguments: [String], environment: [String], workingDirectory: String,
                      drainAfterExit: Duration,
                      configure: (ChildProcess) -> Void) throws(SpawnFailure) -> ChildProcess {
        let child = ChildProcess(loop: loop, drainAfterExit: drainAfterExit)
        configure(child)
        do {
            try child.start(arguments: arguments, environment: environment, workingDirectory: workingDirectory)
        } catch {
            child.stdoutPipe?.close()
            child.stderrPipe?.close()
            child.onStdout = nil; child.onStderr = nil; child.onExit = nil; child.onFinished = nil
            throw SpawnFailure(error: error)
        }
        return child
    }

    private func start(arguments: [String], environment: [String], workingDirectory: String) throws(UVError) {
        let stdoutPipe = try PipeStream(loop: loop)
        self.stdoutPipe = stdoutPipe
        let stderrPipe = try PipeStream(loop: loop)
        self.stderrPipe = stderrPipe
        // stdin is /dev/null: a `-p` run needs no input, and the CLI must not read the server's terminal.
        process = try SpawnedProcess.spawn(
            loop: loop, arguments: arguments, environment: environment, workingDirectory: workingDirectory,
            detached: true, standardIO: [.ignore, .outputPipe(stdoutPipe), .outputPipe(stderrPipe)]
        ) { [unowned self] status, signal in
            processExited(ChildExit(exitStatus: status, termSignal: signal))
        }
        pid = process?.pid ?? 0
        selfRetain = self
        for pipe in [stdoutPipe, stderrPipe] {
            do {
                try pipe.startReading(onData: { [unowned self, unowned pipe] bytes in
                    if pipe === self.stdoutPipe { onStdout?(bytes) } else { onStderr?(bytes) }
                }, onEnd: { [unowned self, unowned pipe] _ in
                    // EOF, or an error that ends the stream just the same (EPIPE, ECONNRESET).
                    pipeDone(pipe)
                })
            } catch {
                pipeDone(pipe)
            }
        }
    }

    /// Sends `signal` to the child's process group. False when the child is gone or the kill failed.
    @discardableResult
    func signalGroup(_ signal: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(-pid, signal) == 0
    }

    /// Whether any process of the child's group is still alive (zombies count until reaped).
    var groupIsAlive: Bool {
        guard pid > 0 else { return false }
        return kill(-pid, 0) == 0 || errno == EPERM
    }

    // MARK: events

    private var pipesDone: Bool { stdoutPipe?.isClosed != false && stderrPipe?.isClosed != false }

    private func pipeDone(_ pipe: PipeStream) {
        guard !pipe.isClosed else { return }
        pipe.close()
        finishIfDone()
    }

    private func processExited(_ status: ChildExit) {
        guard exit == nil else { return }
        exit = status
        process?.close()
        onExit?(status)
        if !pipesDone && !finished {
            do {
                let timer = try Timer(loop: loop)
                drainTimer = timer
                try timer.start(after: drainAfterExit) { [unowned self] in closePipes() }
            } catch {
                closePipes()
            }
        }
        finishIfDone()
    }

    private func closePipes() {
        stdoutPipe?.close()
        stderrPipe?.close()
        finishIfDone()
    }

    private func finishIfDone() {
        guard let exit, pipesDone, !finished else { return }
        finished = true
        drainTimer?.close()
        drainTimer = nil
        let callback = onFinished
        onStdout = nil; onStderr = nil; onExit = nil; onFinished = nil
        callback?(exit)
        selfRetain = nil
    }
}

@available(*, unavailable)
extension ChildProcess: Sendable {}
