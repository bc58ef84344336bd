// SessionStoreService: the loop's owner of the bot's session store (the reference's `SessionStore`
// with its lock, debounce timer and file), built from the pure `SessionStoreState` and `SaveDebouncer`.

import EventLoop
import SessionStore
import SessionStoreFile
#if canImport(Glibc)
import Glibc
#endif

/// The current UTC time (the store's only wall-clock read, made here on the loop).
func currentUTCTime() -> UTCTime {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UTCTime(secondsSinceEpoch: Int64(ts.tv_sec), microseconds: Int64(ts.tv_nsec) / 1000)
}

/// Owns the store's state on the loop: mutations change the value at once, saves are debounced as in
/// the reference (0.5 s after the last change; `clear_all`/`flush_pending_save` at once) and written on
/// a worker thread from a snapshot, so the loop never waits for the disk.
///
/// All methods are called from within the EventLoop.
public final class SessionStoreService {
    public let loop: EventLoop
    /// `<CLAUDE_WORKSPACE>/sessions.json`.
    public let path: String
    public private(set) var state: SessionStoreState
    /// Set when the file at start could not be loaded and was moved aside.
    public let quarantine: SessionFileQuarantine?

    private var debouncer: SaveDebouncer<LoopInstant>
    private var timer: Timer?
    /// Waiting for the next save to start (and then finish): flushes asked while one was running.
    private var nextSaveWaiters: [(SessionFileIOError?) -> Void] = []
    /// Waiting for the save in progress.
    private var currentSaveWaiters: [(SessionFileIOError?) -> Void] = []
    private let onSaveError: (SessionFileIOError) -> Void
    private var isClosed = false

    /// Loads (or quarantines) the file. This blocking read is meant for start-up, before the loop
    /// serves anything. Throws when a bad file could not be moved aside: saving would destroy it.
    public static func load(loop: EventLoop, path: String, messageLogCap: Int? = nil,
                            delay: Duration = SaveDebouncer<LoopInstant>.referenceDelay,
                            onSaveError: @escaping (SessionFileIOError) -> Void = { _ in }) throws(SessionFileIOError)
        -> SessionStoreService
    {
        let loaded = try SessionFilePersistence.loadOrQuarantine(path: path, now: currentUTCTime(),
                                                                  messageLogCap: messageLogCap)
        return SessionStoreService(loop: loop, path: path, state: loaded.state, quarantine: loaded.quarantine,
                                   delay: delay, onSaveError: onSaveError)
    }

    private init(loop: EventLoop, path: String, state: SessionStoreState, quarantine: SessionFileQuarantine?,
                 delay: Duration, onSaveError: @escaping (SessionFileIOError) -> Void) {
        self.loop = loop
        self.path = path
        self.state = state
        self.quarantine = quarantine
        self.debouncer = SaveDebouncer(delay: delay)
        self.onSaveError = onSaveError
    }

    /// Nothing unsaved and no write in flight.
    public var isIdle: Bool { debouncer.isIdle }

    /// Applies one of the store's methods to the state and schedules the save it asks for.
    /// `onWritten` is called after the write of a change that must be written at once (`clearAll`,
    /// `flushPendingSave`); for any other change it is called at once with nil.
    @discardableResult
    public func mutate<R, E: Error>(_ body: (inout SessionStoreState) throws(E) -> R,
                                    onWritten: ((SessionFileIOError?) -> Void)? = nil) throws(E) -> R {
        let result: R
        do {
            result = try body(&state)
        } catch {
            // A refused call changes nothing, but may have raised a request before failing.
            scheduleSave(state.takePendingSave(), onWritten: nil)
            throw error
        }
        scheduleSave(state.takePendingSave(), onWritten: onWritten)
        return result
    }

    /// Writes the current state now (or right after the write in progress) and calls `completion`
    /// with nil once it is on disk, or with the error.
    public func flush(_ completion: @escaping (SessionFileIOError?) -> Void) {
        mutate({ $0.flushPendingSave() }, onWritten: completion)
    }

    /// Stops the debounce timer; call after a final `flush`. Changes made later are not saved.
    public func close() {
        isClosed = true
        timer?.close()
        timer = nil
    }

    // MARK: saving

    private var now: LoopInstant { loop.now }

    private func scheduleSave(_ request: SaveRequest, onWritten: ((SessionFileIOError?) -> Void)?) {
        switch request {
        case .none, .debounced:
            if request == .debounced { perform(debouncer.mutated(now: now)) }
            onWritten?(nil)
        case .immediate:
            if let onWritten { nextSaveWaiters.append(onWritten) }
            perform(debouncer.flush(now: now))
        }
    }

    private func perform(_ action: SaveDebouncer<LoopInstant>.Action) {
        switch action {
        case .none:
            break
        case .armTimer(let deadline):
            armTimer(deadline)
        case .cancelTimer:
            timer?.stop()
        case .startSave:
            timer?.stop()
            startSave()
        }
    }

    private func armTimer(_ deadline: LoopInstant) {
        guard !isClosed else { return }
        do {
            if timer == nil { timer = try Timer(loop: loop) }
            try timer?.start(after: loop.now.duration(to: deadline)) { [unowned self] in timerFired() }
        } catch {
            // Without a timer the change is written at once instead of after the pause.
            perform(debouncer.flush(now: now))
        }
    }

    private func timerFired() {
        perform(debouncer.timerFired(now: now))
        // A stale timer for a deadline that moved on: keep waiting for the current one.
        if let deadline = debouncer.deadline, timer?.isActive != true { armTimer(deadline) }
    }

    private func startSave() {
        currentSaveWaiters = nextSaveWaiters
        nextSaveWaiters = []
        let snapshot = state
        let path = self.path
        let write: @Sendable () -> SessionFileIOError? = {
            do throws(SessionFileIOError) {
                try SessionFilePersistence.writeAtomically(path: path, bytes: snapshot.serialize())
                return nil
            } catch {
                return error
            }
        }
        do {
            try loop.runOnWorker(write) { [self] failure in saveFinished(failure) }
        } catch {
            // No worker available: writing here blocks the loop once, which beats losing the data.
            saveFinished(write())
        }
    }

    private func saveFinished(_ failure: SessionFileIOError?) {
        if let failure { onSaveError(failure) }
        let waiters = currentSaveWaiters
        currentSaveWaiters = []
        perform(debouncer.saveCompleted(now: now, succeeded: failure == nil))
        for waiter in waiters { waiter(failure) }
    }
}

@available(*, unavailable)
extension SessionStoreService: Sendable {}
