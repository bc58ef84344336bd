// ProcessRegistry: every CLI process we start, so none outlives the server.
//
// The reference keeps a set of pids and SIGKILLs them from `atexit` (its safety net for a Ctrl+C that
// interrupts the lifespan cleanup). We start each CLI as the leader of its own process group, so the
// registry kills the group: the tools the CLI started (shells, `sleep 300 &`, dev servers) go with it.
//
// Besides the mutex-guarded map, targets are mirrored into a fixed table of atomics that a fatal-signal
// handler can read without taking a lock (a lock is not async-signal-safe; `kill` is).

import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A tracked child: its pid and, when it leads one, its process group.
public struct TrackedProcess: Equatable, Sendable {
    public let pid: Int32
    public let processGroup: Int32?

    public init(pid: Int32, processGroup: Int32?) {
        self.pid = pid
        self.processGroup = processGroup
    }

    /// What `kill` receives: the negated group id for a group, else the pid.
    var killTarget: Int32 { processGroup.map { -$0 } ?? pid }
}

/// Thread-safe set of the children we started.
public final class ProcessRegistry: Sendable {
    /// The registry sessions use by default and the exit hooks drain.
    public static let shared = ProcessRegistry()

    /// Capacity of the signal-safe mirror; further entries are still killed by `killAll()` on the
    /// normal path, only not from a crash handler.
    static let signalTableCapacity = 1024

    private let entries = Mutex<[TrackedProcess]>([])
    private let signalTable: SignalSafeTable

    public init() {
        signalTable = SignalSafeTable(capacity: Self.signalTableCapacity)
    }

    public func register(pid: Int32, processGroup: Int32?) {
        guard pid > 0 else { return }
        let entry = TrackedProcess(pid: pid, processGroup: processGroup)
        entries.withLock { list in
            list.removeAll { $0.pid == pid }
            list.append(entry)
            signalTable.insert(entry.killTarget)
        }
    }

    public func unregister(pid: Int32) {
        guard pid > 0 else { return }
        entries.withLock { list in
            for entry in list where entry.pid == pid { signalTable.remove(entry.killTarget) }
            list.removeAll { $0.pid == pid }
        }
    }

    public var tracked: [TrackedProcess] { entries.withLock { $0 } }

    /// Sends `signal` (SIGKILL by default, as the reference) to every tracked process group (or pid)
    /// and forgets them. Returns how many were still there to receive it. Best effort: errors such as
    /// "no such process" are ignored.
    @discardableResult
    public func killAll(signal: Int32 = SIGKILL) -> Int {
        let list: [TrackedProcess] = entries.withLock { list in
            let snapshot = list
            for entry in list { signalTable.remove(entry.killTarget) }
            list.removeAll()
            return snapshot
        }
        var delivered = 0
        for entry in list where kill(entry.killTarget, signal) == 0 {
            delivered += 1
        }
        return delivered
    }

    /// Lock-free variant for a signal handler or `atexit`: SIGKILLs every mirrored target.
    func killAllFromSignalContext() {
        signalTable.killAll()
    }

    /// Installs, once per process, the paths that run when the server goes away without its orderly
    /// shutdown: an `atexit` hook (a normal `exit()` that skipped `CLISessionManager.stopAll`) and
    /// handlers for the fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP) that kill
    /// the shared registry's groups and then hand the signal to whatever handler was there before
    /// (e.g. the Swift runtime's backtracer). SIGINT and SIGTERM are not taken: the app watches
    /// them on its loop and stops the sessions in order.
    ///
    /// SIGKILL of the server itself cannot be caught; children then survive, as in the reference.
    public static func installExitHooks() {
        FatalSignalHooks.installOnce()
    }
}

/// Fixed table of kill targets, readable from a signal handler.
private final class SignalSafeTable: @unchecked Sendable {
    // @unchecked: the pointer never changes and every slot is an atomic; writers hold the registry's
    // mutex, the crash path reads whole values without a lock.
    private let slots: UnsafeMutablePointer<Atomic<Int32>>
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        slots = UnsafeMutablePointer<Atomic<Int32>>.allocate(capacity: capacity)
        for i in 0..<capacity { (slots + i).initialize(to: Atomic<Int32>(0)) }
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    func insert(_ target: Int32) {
        for i in 0..<capacity where slots[i].load(ordering: .relaxed) == 0 {
            slots[i].store(target, ordering: .releasing)
            return
        }
    }

    func remove(_ target: Int32) {
        for i in 0..<capacity where slots[i].load(ordering: .relaxed) == target {
            slots[i].store(0, ordering: .releasing)
            return
        }
    }

    func killAll() {
        for i in 0..<capacity {
            let target = slots[i].exchange(0, ordering: .acquiringAndReleasing)
            if target != 0 { _ = kill(target, SIGKILL) }
        }
    }
}

/// Process-wide hooks; state lives in globals because C handlers cannot capture context.
private enum FatalSignalHooks {
    static let fatalSignals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP]
    static let installed = Mutex(false)

    static func installOnce() {
        let first = installed.withLock { done -> Bool in
            if done { return false }
            done = true
            return true
        }
        guard first else { return }
        atexit { ProcessRegistry.shared.killAllFromSignalContext() }
        for signal in fatalSignals {
            var action = sigaction()
            sigemptyset(&action.sa_mask)
            // SA_RESETHAND: if the previous handler is the default, re-raising terminates as usual.
            action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND))
            action.__sigaction_handler.sa_handler = { signum in
                ProcessRegistry.shared.killAllFromSignalContext()
                FatalSignalHooks.restorePrevious(signum)
                _ = raise(signum)
            }
            var previous = sigaction()
            if sigaction(signal, &action, &previous) == 0 {
                previousActions.store(signal: signal, action: previous)
            }
        }
    }

    static let previousActions = PreviousActions()

    static func restorePrevious(_ signum: Int32) {
        guard var action = previousActions.action(for: signum) else { return }
        _ = sigaction(signum, &action, nil)
    }
}

/// The handlers we replaced, written once at install time (before any of our handlers can run) and
/// only read afterwards.
private final class PreviousActions: @unchecked Sendable {
    // @unchecked: written under FatalSignalHooks.installed's one-time path, then read-only.
    private let storage = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
    private let present = UnsafeMutablePointer<Bool>.allocate(capacity: 65)

    init() { present.initialize(repeating: false, count: 65) }

    func store(signal: Int32, action: sigaction) {
        guard signal > 0 && signal < 65 else { return }
        storage[Int(signal)] = action
        present[Int(signal)] = true
    }

    func action(for signal: Int32) -> sigaction? {
        guard signal > 0 && signal < 65, present[Int(signal)] else { return nil }
        return storage[Int(signal)]
    }
}
