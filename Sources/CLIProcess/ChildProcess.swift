// ChildProcess: one `uv_spawn`ed child with its stdout and stderr piped into the loop.
//
// Handle lifetimes follow STYLE.md (libuv `handle.rst`, uvloop `handle.pyx`): the three handles are
// allocated apart from this object, their `data` points at it unretained, the object retains itself
// while any handle is open and releases itself from the last close callback, where the memory is freed.
//
// The child leads a new session and process group (UV_PROCESS_DETACHED is setsid()), so signals sent
// to the group reach the tools it started, and a Ctrl+C on the server's terminal (which signals the
// terminal's foreground group) leaves it to the server to stop them in order.

import CLibUV
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
    let drainAfterExitMs: UInt64

    var onStdout: ((UnsafeRawBufferPointer) -> Void)?
    var onStderr: ((UnsafeRawBufferPointer) -> Void)?
    /// The process has exited (output may still be arriving).
    var onExit: ((ChildExit) -> Void)?
    /// The process has exited and both pipes are done: the last callback.
    var onFinished: ((ChildExit) -> Void)?

    private let process: UnsafeMutablePointer<uv_process_t>
    private let stdoutPipe: UnsafeMutablePointer<uv_pipe_t>
    private let stderrPipe: UnsafeMutablePointer<uv_pipe_t>
    private var openHandles = 0
    private var selfRetain: Unmanaged<ChildProcess>?
    private var readBuffer: UnsafeMutableRawBufferPointer?

    private(set) var exit: ChildExit?
    private var stdoutDone = false
    private var stderrDone = false
    private var finished = false
    private var drainTimer: Timer?

    private init(loop: EventLoop, drainAfterExitMs: UInt64) {
        self.loop = loop
        self.drainAfterExitMs = drainAfterExitMs
        process = .allocate(capacity: 1)
        stdoutPipe = .allocate(capacity: 1)
        stderrPipe = .allocate(capacity: 1)
    }

    deinit {
        readBuffer?.deallocate()
    }

    var isRunning: Bool { pid != 0 && exit == nil }

    /// Starts `arguments[0]` (looked up in the child's `PATH`). Callbacks start after this returns.
    static func spawn(loop: EventLoop, arguments: [String], environment: [String], workingDirectory: String,
                      drainAfterExitMs: UInt64,
                      configure: (ChildProcess) -> Void) throws(SpawnFailure) -> ChildProcess {
        let child = ChildProcess(loop: loop, drainAfterExitMs: drainAfterExitMs)
        configure(child)
        try child.start(arguments: arguments, environment: environment, workingDirectory: workingDirectory)
        return child
    }

    private func start(arguments: [String], environment: [String], workingDirectory: String) throws(SpawnFailure) {
        let raw = loop.uvLoopPointer
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        // From here every handle is initialized and must be closed, whatever happens next.
        selfRetain = Unmanaged.passRetained(self)
        for pipe in [stdoutPipe, stderrPipe] {
            uv_pipe_init(raw, pipe, 0)
            pipe.pointee.data = opaque
            openHandles += 1
        }

        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3)
        // stdin is /dev/null: a `-p` run needs no input, and the CLI must not read the server's terminal.
        stdio[0].flags = UV_IGNORE
        let writable = uv_stdio_flags(rawValue: UV_CREATE_PIPE.rawValue | UV_WRITABLE_PIPE.rawValue)
        stdio[1].flags = writable
        stdio[1].data.stream = UnsafeMutableRawPointer(stdoutPipe).assumingMemoryBound(to: uv_stream_t.self)
        stdio[2].flags = writable
        stdio[2].data.stream = UnsafeMutableRawPointer(stderrPipe).assumingMemoryBound(to: uv_stream_t.self)

        let argv = CStringArray(arguments)
        let envp = CStringArray(environment)
        let rc: Int32 = withExtendedLifetime((argv, envp)) {
            stdio.withUnsafeMutableBufferPointer { stdioBuffer in
                workingDirectory.withCString { cwd in
                    var options = uv_process_options_t()
                    options.exit_cb = { handle, status, signal in
                        guard let data = handle?.pointee.data else { return }
                        Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue()
                            .processExited(ChildExit(exitStatus: status, termSignal: signal))
                    }
                    options.file = UnsafePointer(argv.pointers[0])
                    options.args = argv.base
                    options.env = envp.base
                    options.cwd = cwd
                    options.flags = UInt32(UV_PROCESS_DETACHED.rawValue)
                    options.stdio_count = 3
                    options.stdio = stdioBuffer.baseAddress
                    process.pointee.data = opaque
                    return uv_spawn(raw, process, &options)
                }
            }
        }
        // libuv `test-spawn.c`: even a failed spawn leaves a handle that must be closed.
        openHandles += 1
        if rc < 0 {
            closeHandle(process)
            closeHandle(stdoutPipe)
            closeHandle(stderrPipe)
            exit = ChildExit(exitStatus: 0, termSignal: 0)
            finished = true
            onStdout = nil; onStderr = nil; onExit = nil; onFinished = nil
            throw SpawnFailure(error: UVError(code: rc, operation: "uv_spawn"))
        }
        pid = process.pointee.pid
        for pipe in [stdoutPipe, stderrPipe] {
            let stream = UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self)
            let started = uv_read_start(stream, { handle, _, buffer in
                guard let handle, let data = handle.pointee.data, let buffer else { return }
                Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue().allocate(buffer)
            }, { stream, nread, buffer in
                guard let stream, let data = stream.pointee.data else { return }
                let child = Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue()
                child.didRead(UnsafeMutableRawPointer(stream), count: nread, buffer: buffer)
            })
            if started < 0 { pipeDone(UnsafeMutableRawPointer(pipe)) }
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

    // MARK: libuv callbacks

    private func allocate(_ buffer: UnsafeMutablePointer<uv_buf_t>) {
        // One buffer for both pipes: libuv calls alloc and read back to back, and the bytes are consumed
        // inside the read callback.
        let storage = readBuffer ?? UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        readBuffer = storage
        buffer.pointee = uv_buf_init(storage.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(storage.count))
    }

    private func didRead(_ stream: UnsafeMutableRawPointer, count: Int, buffer: UnsafePointer<uv_buf_t>?) {
        if count > 0, let base = buffer?.pointee.base {
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(base), count: count)
            if stream == UnsafeMutableRawPointer(stdoutPipe) { onStdout?(bytes) } else { onStderr?(bytes) }
        } else if count < 0 {
            // EOF, or an error that ends the stream just the same (EPIPE, ECONNRESET).
            pipeDone(stream)
        }
    }

    private func pipeDone(_ stream: UnsafeMutableRawPointer) {
        if stream == UnsafeMutableRawPointer(stdoutPipe) {
            guard !stdoutDone else { return }
            stdoutDone = true
            closeHandle(stdoutPipe)
        } else {
            guard !stderrDone else { return }
            stderrDone = true
            closeHandle(stderrPipe)
        }
        finishIfDone()
    }

    private func processExited(_ status: ChildExit) {
        guard exit == nil else { return }
        exit = status
        closeHandle(process)
        onExit?(status)
        if !(stdoutDone && stderrDone) && !finished {
            do {
                let timer = try Timer(loop: loop)
                drainTimer = timer
                try timer.start(afterMs: drainAfterExitMs) { [self] in
                    pipeDone(UnsafeMutableRawPointer(stdoutPipe))
                    pipeDone(UnsafeMutableRawPointer(stderrPipe))
                }
            } catch {
                pipeDone(UnsafeMutableRawPointer(stdoutPipe))
                pipeDone(UnsafeMutableRawPointer(stderrPipe))
            }
        }
        finishIfDone()
    }

    private func finishIfDone() {
        guard let exit, stdoutDone, stderrDone, !finished else { return }
        finished = true
        drainTimer?.close()
        drainTimer = nil
        let callback = onFinished
        onStdout = nil; onStderr = nil; onExit = nil; onFinished = nil
        callback?(exit)
    }

    // MARK: closing

    private func closeHandle<T>(_ pointer: UnsafeMutablePointer<T>) {
        let handle = UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: uv_handle_t.self)
        guard uv_is_closing(handle) == 0 else { return }
        uv_close(handle) { handle in
            guard let handle, let data = handle.pointee.data else { return }
            handle.pointee.data = nil
            let child = Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue()
            withExtendedLifetime(child) { child.handleClosed(UnsafeMutableRawPointer(handle)) }
        }
    }

    private func handleClosed(_ memory: UnsafeMutableRawPointer) {
        memory.deallocate()
        openHandles -= 1
        if openHandles == 0 {
            let retain = selfRetain
            selfRetain = nil
            retain?.release()
        }
    }
}

@available(*, unavailable)
extension ChildProcess: Sendable {}

/// A NULL-terminated `char*` array that owns its strings.
private final class CStringArray {
    let pointers: [UnsafeMutablePointer<CChar>?]
    let base: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>

    init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
        base = .allocate(capacity: pointers.count)
        base.initialize(from: pointers, count: pointers.count)
    }

    deinit {
        for pointer in pointers { free(pointer) }
        base.deallocate()
    }
}
