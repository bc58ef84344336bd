// SpawnedProcess: a `uv_process_t` made by `uv_spawn` (`process.rst`).
//
// libuv initializes the handle even when the spawn fails (its `test-spawn.c` closes it either way),
// so a failed spawn closes its handle before throwing.

import CLibUV
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A child process. Loop-confined; the owner keeps it until `onExit` ran, then closes it.
public final class SpawnedProcess: LoopHandle {
    /// How the child ended: exit status, and the signal that killed it (0 when none).
    public typealias ExitHandler = (_ exitStatus: Int64, _ termSignal: Int32) -> Void

    /// What one of the child's standard descriptors is connected to.
    public enum StandardIO {
        /// `/dev/null`.
        case ignore
        /// A pipe the child writes to, read from `pipe` here (which must not be reading yet).
        case outputPipe(PipeStream)
    }

    public private(set) var pid: Int32 = 0
    private var onExit: ExitHandler?

    private init(loop: EventLoop, onExit: @escaping ExitHandler) {
        self.onExit = onExit
        super.init(loop: loop, memory: UnsafeMutableRawPointer(UnsafeMutablePointer<uv_process_t>.allocate(capacity: 1)))
    }

    private var process: UnsafeMutablePointer<uv_process_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_process_t.self)
    }

    /// Starts `arguments[0]` (looked up in the child's `PATH`) with `environment` (`NAME=value`
    /// entries) in `workingDirectory`, its stdin, stdout and stderr as `standardIO` says. With
    /// `detached`, the child leads a new session and process group (`setsid()`). `onExit` runs on the
    /// loop, never inside this call.
    public static func spawn(loop: EventLoop, arguments: [String], environment: [String],
                             workingDirectory: String, detached: Bool,
                             standardIO: [StandardIO],
                             onExit: @escaping ExitHandler) throws(UVError) -> SpawnedProcess {
        let child = SpawnedProcess(loop: loop, onExit: onExit)
        var stdio = standardIO.map { io -> uv_stdio_container_t in
            var container = uv_stdio_container_t()
            switch io {
            case .ignore:
                container.flags = UV_IGNORE
            case .outputPipe(let pipe):
                container.flags = uv_stdio_flags(rawValue: UV_CREATE_PIPE.rawValue | UV_WRITABLE_PIPE.rawValue)
                container.data.stream = pipe.stream
            }
            return container
        }
        let argv = CStringArray(arguments)
        let envp = CStringArray(environment)
        let rc: Int32 = withExtendedLifetime((argv, envp)) {
            stdio.withUnsafeMutableBufferPointer { stdioBuffer in
                workingDirectory.withCString { cwd in
                    var options = uv_process_options_t()
                    options.exit_cb = { handle, status, signal in
                        LoopHandle.wrapper(UnsafeMutableRawPointer(handle), as: SpawnedProcess.self)?
                            .exited(status: status, signal: signal)
                    }
                    options.file = UnsafePointer(argv.pointers[0])
                    options.args = argv.base
                    options.env = envp.base
                    options.cwd = cwd
                    options.flags = detached ? UInt32(UV_PROCESS_DETACHED.rawValue) : 0
                    options.stdio_count = Int32(stdioBuffer.count)
                    options.stdio = stdioBuffer.baseAddress
                    return uv_spawn(loop.raw, child.process, &options)
                }
            }
        }
        child.didInitialize()
        if rc < 0 {
            child.close()
            throw UVError(code: rc, operation: "uv_spawn")
        }
        child.pid = child.process.pointee.pid
        return child
    }

    private func exited(status: Int64, signal: Int32) {
        let callback = onExit
        onExit = nil
        callback?(status, signal)
    }

    override func willClose() {
        onExit = nil
    }
}

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
